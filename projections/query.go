package projections

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Queries read one Pebble snapshot, so an answer never mixes two batches or two generations:
// a rebuild swapping a view in changes the answer between queries, never inside one.

type snapshot struct {
	snap *pebble.Snapshot
	v    *Views
}

func (v *Views) read(fn func(s *snapshot) error) error {
	v.dbMu.RLock()
	defer v.dbMu.RUnlock()
	if v.dbClosed {
		return ErrClosed
	}
	snap := v.db.NewSnapshot()
	defer snap.Close()
	return fn(&snapshot{snap: snap, v: v})
}

func (s *snapshot) live(view string) (genRecord, error) {
	g, ok, err := s.v.genRec(s.snap, metaLive, view)
	if err == nil && !ok {
		err = fmt.Errorf("view %s has no live generation in %s: the store was not opened by Open", view, s.v.cfg.Dir)
	}
	return g, err
}

// data returns a reader of the live generation's projection keys, its record and checkpoint.
func (s *snapshot) data(view string) (*reader, genRecord, uint64, error) {
	g, err := s.live(view)
	if err != nil {
		return nil, g, 0, err
	}
	p := genPrefix(view, g.Gen)
	ck, err := s.v.storedU64(s.snap, sub(p, subCheckpoint))
	return &reader{r: s.snap, prefix: sub(p, subData)}, g, ck, err
}

func checkView(view string) error {
	if !slices.Contains(ViewNames, view) {
		return fmt.Errorf("%w: %q: the views are %v", ErrUnknownView, view, ViewNames)
	}
	return nil
}

// today is the default as-of date: the current UTC date.
func today() string { return time.Now().UTC().Format(time.DateOnly) }

// Counters returns "Compact in numbers" as of a date (YYYY-MM-DD, activity time; "" means today,
// UTC): everything whose activity date is on or before it. Seq is the view's checkpoint.
// It costs at most 18 point reads and a seek, however long the ledger (23 more once events
// dated before 1900 or after 2258-11-11 are counted: fenwick.go).
func (v *Views) Counters(ctx context.Context, asOf string) (*Counters, error) {
	if asOf == "" {
		asOf = today()
	}
	if _, err := ParseDate(asOf); err != nil {
		return nil, err
	}
	var out Counters
	err := v.read(func(s *snapshot) error {
		r, _, ck, err := s.data(ViewCounters)
		if err != nil {
			return err
		}
		out, err = countersAt(r, asOf)
		out.Seq = ck
		return err
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Structure returns the Compact's structure as of a date ("" means today, UTC).
func (v *Views) Structure(ctx context.Context, asOf string) (*Structure, error) {
	if asOf == "" {
		asOf = today()
	}
	if _, err := ParseDate(asOf); err != nil {
		return nil, err
	}
	var out *Structure
	err := v.read(func(s *snapshot) error {
		r, _, _, err := s.data(ViewStructure)
		if err != nil {
			return err
		}
		out, err = structureAt(r, asOf)
		return err
	})
	return out, err
}

// historyLen is how many periods' counters a review carries: this one and the five before.
const historyLen = 6

// Review returns a period's review: its sections in order (every section, possibly empty), the
// counters as of the period's last day, History (the counters as of the last day of this and the
// five previous periods, oldest first; fewer when FirstPeriod is among those), the structure as
// of the last day, the period's version and provenance. Reading it touches that period's keys
// and a bounded number of counter and structure keys: its cost does not grow with the ledger. A
// period with no items is an empty review, not an error; a malformed period is ErrBadPeriod.
//
// The parts of a review are immutable for a given state of their view, so each is kept in
// memory (reviewCache) under what identifies that state: the sections under the period's
// version, the history under the counters' checkpoint, the structure under the structure's. A
// review asked again costs a snapshot, a few point reads and a copy; only a part whose view
// changed is read again.
func (v *Views) Review(ctx context.Context, period string) (*Review, error) {
	from, to, err := PeriodBounds(period)
	if err != nil {
		return nil, err
	}
	title, _ := PeriodTitle(period)
	out := &Review{Period: period, Title: title, From: from, To: to}
	err = v.read(func(s *snapshot) error {
		rr, rg, rck, err := s.data(ViewReview)
		if err != nil {
			return err
		}
		vb, _, err := rr.Get(cat([]byte{'v'}, []byte(period)))
		if err != nil {
			return err
		}
		sk := sectionsKey{gen: rg.Gen, period: period, version: getU64(vb)}
		sec, ok := v.cache.sections(sk)
		if !ok {
			sec.sections, sec.version, sec.firstSeq, err = reviewRead(rr, period)
			if err != nil {
				return err
			}
			v.cache.putSections(sk, sec)
		}
		out.Sections, out.Version = cloneSections(sec.sections), sec.version
		out.Provenance = Provenance{FirstSeq: sec.firstSeq, LastSeq: rck, ViewVersion: rg.Version}

		cr, cg, cck, err := s.data(ViewCounters)
		if err != nil {
			return err
		}
		hk := historyKey{gen: cg.Gen, ck: cck, period: period}
		hist, ok := v.cache.history(hk)
		if !ok {
			if hist, err = historyRead(cr, period, cck); err != nil {
				return err
			}
			v.cache.putHistory(hk, hist)
		}
		out.History = slices.Clone(hist)
		out.Counters = out.History[len(out.History)-1]

		sr, sg, sck, err := s.data(ViewStructure)
		if err != nil {
			return err
		}
		stk := structureKey{gen: sg.Gen, ck: sck, asOf: to}
		st, ok := v.cache.structure(stk)
		if !ok {
			if st, err = structureAt(sr, to); err != nil {
				return err
			}
			v.cache.putStructure(stk, st)
		}
		out.Structure = cloneStructure(st)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// historyRead reads the counters as of the last day of a period and the five before it; the
// walk back stops at FirstPeriod, so a review of one of the first periods of year 0000 has a
// shorter history rather than none.
func historyRead(cr *reader, period string, ck uint64) ([]Counters, error) {
	p := period
	hist := make([]Counters, historyLen)
	i := historyLen - 1
	for ; ; i-- {
		_, last, err := PeriodBounds(p)
		if err != nil {
			return nil, err
		}
		if hist[i], err = countersAt(cr, last); err != nil {
			return nil, err
		}
		hist[i].Seq = ck
		if i == 0 || p == FirstPeriod {
			break
		}
		if p, err = PreviousPeriod(p); err != nil {
			return nil, err
		}
	}
	return hist[i:], nil
}

// Periods lists the periods that have at least one item, newest first.
func (v *Views) Periods(ctx context.Context) ([]string, error) {
	var out []string
	err := v.read(func(s *snapshot) error {
		r, _, _, err := s.data(ViewReview)
		if err != nil {
			return err
		}
		out, err = periodsRead(r)
		return err
	})
	if out == nil {
		out = []string{}
	}
	return out, err
}

// Checkpoint returns the last stream sequence applied by the live generation of a view.
func (v *Views) Checkpoint(ctx context.Context, view string) (uint64, error) {
	if err := checkView(view); err != nil {
		return 0, err
	}
	var ck uint64
	err := v.read(func(s *snapshot) error {
		var err error
		_, _, ck, err = s.data(view)
		return err
	})
	return ck, err
}

// Applied returns the lowest checkpoint of the views' live generations: every view has
// applied the stream up to it, so what a change message up to that sequence announces (from
// this process or another replica) can be read here.
func (v *Views) Applied(ctx context.Context) (uint64, error) {
	var low uint64
	err := v.read(func(s *snapshot) error {
		for i, name := range ViewNames {
			_, _, ck, err := s.data(name)
			if err != nil {
				return err
			}
			if i == 0 || ck < low {
				low = ck
			}
		}
		return nil
	})
	return low, err
}

// WaitFor waits until every view's live generation has applied sequence seq (or ctx ends).
// Tools and tests use it to read their own writes.
func (v *Views) WaitFor(ctx context.Context, seq uint64) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		behind := ""
		for _, name := range ViewNames {
			ck, err := v.Checkpoint(ctx, name)
			if err != nil {
				return err
			}
			if ck < seq {
				behind = name
				break
			}
		}
		if behind == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for view %s to apply seq %d: %w", behind, seq, ctx.Err())
		case <-t.C:
		}
	}
}
