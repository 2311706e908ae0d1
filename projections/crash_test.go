package projections

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// crashClone is a copy of the views' filesystem as a crash at one moment could have left it.
type crashClone struct {
	fs    *vfs.MemFS
	where string // what the views were doing
	// when taken from the commit hook: the view and the batch's checkpoint
	view     string
	seq      uint64
	point    string
	unsynced int // percent of the unsynced writes the clone kept
}

// TestCommitCrashSafety is the storage-layer proof of the commit: the views run over a real
// JetStream stream on Pebble's crash-simulating filesystem while events flow, and crash clones
// of that filesystem are taken just before and just after commits (from the commit hook) and at
// random moments in between (from another goroutine, so also in the middle of a commit and its
// fsync), keeping none, some or all of the writes not yet synced. Every clone is reopened as
// after a crash, and then
//
//   - each view's data is exactly the data of a build stopped at the view's stored checkpoint,
//     key by key (the checkpoint and the data were committed together or not at all);
//   - a batch whose commit had returned is there, whatever was lost of the unsynced writes;
//     a batch not yet committed is not;
//   - the views, started again and caught up with the stream, equal a fresh build, key by key.
func TestCommitCrashSafety(t *testing.T) {
	h := newHarness(t)
	g := newHistGen(77)
	history := g.take(500)
	r := rand.New(rand.NewPCG(7, 8))
	var rmu sync.Mutex
	pick := func(n int) int {
		rmu.Lock()
		defer rmu.Unlock()
		return r.IntN(n)
	}
	fs := vfs.NewCrashableMem()
	var cmu sync.Mutex
	var clones []crashClone
	clone := func(c crashClone) {
		c.unsynced = []int{0, 0, 30, 70, 100}[pick(5)]
		cfg := vfs.CrashCloneCfg{UnsyncedDataPercent: c.unsynced}
		if c.unsynced > 0 {
			cmu.Lock()
			cfg.RNG = rand.New(rand.NewPCG(uint64(len(clones)), 99))
			cmu.Unlock()
		}
		c.fs = fs.CrashClone(cfg)
		cmu.Lock()
		clones = append(clones, c)
		cmu.Unlock()
	}

	cfg := h.config("/views")
	cfg.FS = fs
	cfg.DisableFeed = true
	cfg.BatchMaxCount = 1 + pick(40)
	cfg.testHook = func(view, point string, seq uint64) error {
		if pick(4) == 0 {
			clone(crashClone{where: "commit hook", view: view, point: point, seq: seq})
		}
		return nil
	}
	v := h.open(cfg)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // crashes at any moment
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(1+pick(4)) * time.Millisecond):
				clone(crashClone{where: "any moment"})
			}
		}
	})
	for i := 0; i < len(history); i += 25 { // events flow all along
		h.publish(history[i:min(i+25, len(history))]...)
		time.Sleep(2 * time.Millisecond)
	}
	last := h.seq.Load()
	h.wait(v, last)
	close(stop)
	wg.Wait()
	if err := v.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	fresh := h.open(h.config(t.TempDir()))
	h.wait(fresh, last)
	// refs are the views built up to a sequence and no further: what a view whose checkpoint
	// is that sequence must hold
	refs := map[uint64]map[string]map[string]string{0: {ViewCounters: {}, ViewReview: {}, ViewStructure: {}}}
	ref := func(seq uint64) map[string]map[string]string {
		if d, ok := refs[seq]; ok {
			return d
		}
		rc := Config{Dir: t.TempDir(), JS: h.js, DisableFeed: true, Until: time.Now().Add(time.Hour), testUntilSeq: seq}
		rv, err := Open(h.ctx, rc)
		if err != nil {
			t.Fatal(err)
		}
		defer rv.Close(context.Background())
		if err := rv.Start(h.ctx); err != nil {
			t.Fatal(err)
		}
		<-rv.once.done
		d := map[string]map[string]string{}
		for _, name := range ViewNames {
			d[name] = dumpView(t, rv, name)
		}
		refs[seq] = d
		return d
	}

	if len(clones) < 30 {
		t.Fatalf("only %d crash clones were taken: the test did not exercise the commits", len(clones))
	}
	cks := map[uint64]bool{}
	mixed, behind := 0, 0
	for i, c := range clones {
		what := fmt.Sprintf("clone %d (%s", i, c.where)
		if c.view != "" {
			what += fmt.Sprintf(", %s %s at seq %d", c.point, c.view, c.seq)
		}
		what += fmt.Sprintf(", %d%% of unsynced writes kept)", c.unsynced)
		rcfg := h.config("/views")
		rcfg.FS, rcfg.DisableFeed = c.fs, true
		cv, err := Open(h.ctx, rcfg)
		if err != nil {
			t.Fatalf("%s: reopening after the crash: %v", what, err)
		}
		seen := map[uint64]bool{}
		for _, name := range ViewNames {
			ck, err := cv.Checkpoint(h.ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			cks[ck], seen[ck] = true, true
			if ck < last {
				behind++
			}
			if d := diffDumps(dumpView(t, cv, name), ref(ck)[name]); d != "" {
				t.Errorf("%s: view %s at checkpoint %d differs from the build stopped at %d:\n%s", what, name, ck, ck, d)
			}
			if name == c.view {
				switch {
				case c.point == "committed" && ck < c.seq:
					t.Errorf("%s: view %s reopened at checkpoint %d: the batch committed at %d is lost", what, name, ck, c.seq)
				case c.point == "applied" && ck >= c.seq:
					t.Errorf("%s: view %s reopened at checkpoint %d: the batch to %d was not committed yet", what, name, ck, c.seq)
				}
			}
		}
		if len(seen) > 1 {
			mixed++
		}
		if err := cv.Start(h.ctx); err != nil {
			t.Fatal(err)
		}
		h.wait(cv, last)
		sameViews(t, cv, fresh)
		if err := cv.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	// the clones must have caught the views at many points, and views apart from each other
	if len(cks) < 10 || behind == 0 || mixed == 0 {
		t.Fatalf("the clones caught %d distinct checkpoints, %d views behind the stream and %d clones with views at "+
			"different checkpoints: the crashes did not land in the middle of the work", len(cks), behind, mixed)
	}
	t.Logf("%d crash clones, %d distinct checkpoints, %d views behind, %d clones with views apart", len(clones), len(cks), behind, mixed)
}
