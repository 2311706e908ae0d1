package projections

import (
	"context"
	"encoding/json"
	"math"
	"time"
)

// QuarantineEntry is an event a view could not apply. It stays in the view's generation: a
// rebuild applies the same events with the same code and quarantines the same ones, unless the
// projection was fixed.
type QuarantineEntry struct {
	View       string `json:"view"`
	Seq        uint64 `json:"seq"`
	Subject    string `json:"subject"`
	Source     string `json:"source,omitempty"`
	ID         string `json:"id,omitempty"`
	Type       string `json:"type,omitempty"`
	LedgerTime string `json:"ledger_time"`
	Error      string `json:"error"`
}

func (f *follower) quarantineEntry(it *item, err error) *QuarantineEntry {
	qe := &QuarantineEntry{View: f.view, Seq: it.seq, Subject: it.subject,
		LedgerTime: it.ts.UTC().Format(time.RFC3339Nano)}
	ae := &ApplyError{View: f.view, Seq: it.seq, Err: err}
	if ev := it.ev; ev != nil {
		qe.Source, qe.ID, qe.Type = ev.Source, ev.ID, ev.Type
		ae.Source, ae.ID, ae.Type = ev.Source, ev.ID, ev.Type
	}
	qe.Error = ae.Error()
	return qe
}

// quarantine records qe in the batch, with the view's quarantine count; earlier is how many
// events the batch quarantined before it.
func (f *follower) quarantine(tx *Tx, qe *QuarantineEntry, earlier uint64) error {
	b, err := json.Marshal(qe)
	if err != nil {
		return err
	}
	tx.batch.put(string(sub(f.base, subQuarantine, u64(qe.Seq))), value{val: b})
	tx.batch.put(string(sub(f.base, subQCount)), value{val: u64(f.qcount.Load() + earlier + 1)})
	return nil
}

// Quarantine lists the events the live generation of a view could not apply, oldest first:
// those after stream sequence after, at most limit of them (all when limit is 0).
func (v *Views) Quarantine(ctx context.Context, view string, after uint64, limit int) ([]QuarantineEntry, error) {
	if err := checkView(view); err != nil {
		return nil, err
	}
	out := []QuarantineEntry{}
	err := v.read(func(s *snapshot) error {
		g, err := s.live(view)
		if err != nil {
			return err
		}
		r := &reader{r: s.snap, prefix: sub(genPrefix(view, g.Gen), subQuarantine)}
		if after == math.MaxUint64 {
			return nil // no sequence comes after it
		}
		return r.Scan(u64(after+1), nil, func(_, val []byte) (bool, error) {
			var qe QuarantineEntry
			if err := json.Unmarshal(val, &qe); err != nil {
				return false, err
			}
			out = append(out, qe)
			return ctx.Err() == nil && (limit == 0 || len(out) < limit), ctx.Err()
		})
	})
	return out, err
}
