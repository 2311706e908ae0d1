package projections

import (
	"context"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// A rebuild writes a fresh generation of a view from sequence 1 beside the live one, which keeps
// answering queries. When the new generation has caught up with the live one, the live follower
// is stopped, the new generation applies what the old one applied last, and one Pebble batch
// (Sync) points the view at the new generation and deletes the old one. The new follower then
// simply goes on as the live one. At the swap the change feed gets the counters and every review
// period the new generation changed past the old one's final checkpoint (feed.unannounced):
// while building it published nothing, and the old generation never applied those events. A
// rebuild interrupted by a crash resumes from its own checkpoint at the next Start.
type rebuildJob struct {
	view string
	gen  uint64
	f    *follower // the rebuild's follower: its last error is the status's
	done chan struct{}
	err  error
}

// Rebuild rebuilds a view ("" rebuilds all of them) without downtime and waits until the new
// generation is swapped in or ctx ends; a rebuild already running is joined, not restarted.
// When ctx ends first the rebuild goes on in the background.
func (v *Views) Rebuild(ctx context.Context, view string) error {
	jobs, err := v.StartRebuild(view)
	if err != nil {
		return err
	}
	var errs []error
	for _, j := range jobs {
		select {
		case <-j.done:
			errs = append(errs, j.err)
		case <-ctx.Done():
			return fmt.Errorf("rebuild of %s still running in the background: %w", j.view, ctx.Err())
		}
	}
	return errors.Join(errs...)
}

// StartRebuild starts rebuilding a view ("" all) and returns at once; Rebuild waits.
func (v *Views) StartRebuild(view string) ([]*rebuildJob, error) {
	names := ViewNames
	if view != "" {
		if err := checkView(view); err != nil {
			return nil, err
		}
		names = []string{view}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	switch {
	case v.closed:
		return nil, ErrClosed
	case !v.cfg.Until.IsZero():
		return nil, fmt.Errorf("%w: views built as known at a time are not rebuilt: build them again", ErrConfig)
	case !v.started:
		// Start resumes every recorded rebuild and follows the generation the store names live:
		// a generation a rebuild begun before it already follows would get a second follower.
		return nil, fmt.Errorf("%w: views of %s not started: call Start before rebuilding", ErrConfig, v.cfg.Dir)
	}
	return v.startRebuildsLocked(names)
}

// startRebuildsLocked starts rebuilding the views named, all in one new group that reads the
// stream once for them; a view already being rebuilt keeps its rebuild.
func (v *Views) startRebuildsLocked(names []string) ([]*rebuildJob, error) {
	var jobs []*rebuildJob
	var g *group
	b := v.db.NewBatch()
	defer b.Close()
	for _, view := range names {
		if j := v.rebuilds[view]; j != nil {
			jobs = append(jobs, j)
			continue
		}
		rec := genRecord{Gen: v.nextGen(b, view), Version: v.projs[view].Version()}
		if err := setJSON(b, []byte(metaBuilding+view), rec); err != nil {
			return nil, err
		}
		if g == nil {
			g = v.newGroup("rebuild")
		}
		f := v.rebuildMember(g, view, rec.Gen)
		jobs = append(jobs, f.job)
	}
	if g == nil {
		return jobs, nil
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return nil, fmt.Errorf("start rebuild of %v: %w", names, err)
	}
	for _, f := range g.members {
		v.log.Info("views: rebuild started", "view", f.view, "generation", f.gen, "version", f.proj.Version())
		v.m.rebuilds.WithLabelValues(f.view).Inc()
		v.rebuilds[f.view] = f.job
	}
	v.run(g)
	return jobs, nil
}

// rebuildMember makes the follower of a rebuilt generation, with its job, in g (nil: none yet).
func (v *Views) rebuildMember(g *group, view string, gen uint64) *follower {
	j := &rebuildJob{view: view, gen: gen, done: make(chan struct{})}
	f := &follower{v: v, view: view, proj: v.projs[view], gen: gen, base: genPrefix(view, gen),
		gone: make(chan struct{}), job: j}
	j.f = f
	f.mode.Store(int32(modeBuilding))
	if g != nil {
		g.adopt(f)
	}
	return f
}

// maybeSwap runs in the rebuilding follower's group goroutine between its batches.
func (v *Views) maybeSwap(ctx context.Context, f *follower) error {
	live, _, err := v.genRec(v.db, metaLive, f.view)
	if err != nil {
		return err
	}
	liveCk, err := v.storedU64(v.db, sub(genPrefix(f.view, live.Gen), subCheckpoint))
	if err != nil {
		return err
	}
	if !f.liveStopped {
		if f.ck.Load() < liveCk {
			return nil
		}
		// Caught up: stop the old generation so that it stops moving, then finish what it did last.
		v.mu.Lock()
		old := v.live[f.view]
		v.mu.Unlock()
		if old != nil && old != f {
			old.stop()
		}
		f.liveStopped = true
		if f.target, err = v.storedU64(v.db, sub(genPrefix(f.view, live.Gen), subCheckpoint)); err != nil {
			return err
		}
	}
	if f.ck.Load() < f.target {
		return nil
	}
	return v.swap(ctx, f, live)
}

func (v *Views) swap(ctx context.Context, f *follower, old genRecord) error {
	// The old generation stopped at its final checkpoint, f.target; f may have applied events past
	// it (its last batch went beyond, or it was ahead of the live group), and a building
	// generation publishes nothing: what they changed was never announced. Find it while the old
	// generation's keys are still there, and send it once f is live.
	notes := map[string]struct{}{ViewCounters: {}} // subscribers see the rebuilt totals at once
	if v.feed != nil && old.Gen != f.gen {
		notes = v.feed.unannounced(f, genPrefix(f.view, old.Gen), old.Version == f.proj.Version())
	}
	if err := v.swapLocked(f, old); err != nil {
		return err
	}
	if v.feed != nil {
		v.feed.publish(ctx, f, notes)
	}
	close(f.job.done)
	return nil
}

// swapLocked points the view at f's generation and deletes the old one, in one batch.
func (v *Views) swapLocked(f *follower, old genRecord) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	b := v.db.NewBatch()
	defer b.Close()
	if err := setJSON(b, []byte(metaLive+f.view), genRecord{Gen: f.gen, Version: f.proj.Version()}); err != nil {
		return err
	}
	if err := b.Delete([]byte(metaBuilding+f.view), nil); err != nil {
		return err
	}
	if old.Gen != f.gen {
		p := genPrefix(f.view, old.Gen)
		if err := b.DeleteRange(p, prefixEnd(p), nil); err != nil {
			return err
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("swap rebuilt view %s in: %w", f.view, err)
	}
	v.log.Info("views: rebuilt generation swapped in", "view", f.view, "generation", f.gen, "checkpoint", f.ck.Load())
	v.live[f.view] = f
	f.mode.Store(int32(modeLive))
	if j := v.rebuilds[f.view]; j == f.job {
		delete(v.rebuilds, f.view)
	}
	v.m.observeSwap(f)
	return nil
}
