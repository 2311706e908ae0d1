package projections

import (
	"context"
)

// Status is what `compact status` and GET /v1/status show about the read side.
type Status struct {
	Stream        string       `json:"stream"`
	StreamLastSeq uint64       `json:"stream_last_seq"`
	StreamError   string       `json:"stream_error,omitempty"` // the stream could not be read
	Views         []ViewStatus `json:"views"`
}

// ViewStatus is one view's position.
type ViewStatus struct {
	View          string         `json:"view"`
	Version       int            `json:"version"`        // the code's
	StoredVersion int            `json:"stored_version"` // the live generation's
	Generation    uint64         `json:"generation"`
	Checkpoint    uint64         `json:"checkpoint"`
	Lag           uint64         `json:"lag"` // stream last sequence - checkpoint
	Quarantined   uint64         `json:"quarantined"`
	Running       bool           `json:"running"`
	LastError     string         `json:"last_error,omitempty"`
	Rebuild       *RebuildStatus `json:"rebuild,omitempty"`
}

// RebuildStatus is a rebuild in progress.
type RebuildStatus struct {
	Generation uint64 `json:"generation"`
	Version    int    `json:"version"`
	Checkpoint uint64 `json:"checkpoint"`
	Lag        uint64 `json:"lag"`
	// LastError is why the rebuild is not going on, while it retries (it retries until it
	// catches up or the process stops): a waiting `compact rebuild` says nothing of it.
	LastError string `json:"last_error,omitempty"`
}

// Status reports the stream's last sequence and each view's checkpoint, lag and quarantine
// count. When the stream cannot be read the views are still reported, with StreamError set.
func (v *Views) Status(ctx context.Context) (*Status, error) {
	st := &Status{Stream: v.cfg.Stream, Views: []ViewStatus{}}
	if s, err := v.cfg.JS.Stream(ctx, v.cfg.Stream); err != nil {
		st.StreamError = err.Error()
	} else if info, err := s.Info(ctx); err != nil {
		st.StreamError = err.Error()
	} else {
		st.StreamLastSeq = info.State.LastSeq
	}
	lag := func(ck uint64) uint64 {
		if st.StreamLastSeq > ck {
			return st.StreamLastSeq - ck
		}
		return 0
	}
	v.mu.Lock()
	live := map[string]*follower{}
	for k, f := range v.live {
		live[k] = f
	}
	rebuilds := map[string]*rebuildJob{}
	for k, j := range v.rebuilds {
		rebuilds[k] = j
	}
	v.mu.Unlock()
	err := v.read(func(s *snapshot) error {
		for _, name := range ViewNames {
			g, err := s.live(name)
			if err != nil {
				return err
			}
			p := genPrefix(name, g.Gen)
			vs := ViewStatus{View: name, Version: v.projs[name].Version(), StoredVersion: g.Version, Generation: g.Gen}
			if vs.Checkpoint, err = v.storedU64(s.snap, sub(p, subCheckpoint)); err != nil {
				return err
			}
			if vs.Quarantined, err = v.storedU64(s.snap, sub(p, subQCount)); err != nil {
				return err
			}
			vs.Lag = lag(vs.Checkpoint)
			if f := live[name]; f != nil && f.gen == g.Gen {
				vs.Running = f.running()
				vs.LastError = f.lastErr()
			}
			b, ok, err := v.genRec(s.snap, metaBuilding, name)
			if err != nil {
				return err
			}
			if ok {
				rs := &RebuildStatus{Generation: b.Gen, Version: b.Version}
				if rs.Checkpoint, err = v.storedU64(s.snap, sub(genPrefix(name, b.Gen), subCheckpoint)); err != nil {
					return err
				}
				rs.Lag = lag(rs.Checkpoint)
				if j := rebuilds[name]; j != nil && j.gen == b.Gen && j.f != nil {
					rs.LastError = j.f.lastErr()
				}
				vs.Rebuild = rs
			}
			st.Views = append(st.Views, vs)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}
