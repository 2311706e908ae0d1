package projections

import (
	"context"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type answers struct {
	counters  *Counters
	review    *Review
	structure *Structure
}

func query(v *Views) (answers, error) {
	ctx := context.Background()
	var a answers
	var err error
	if a.counters, err = v.Counters(ctx, "2025-06-30"); err != nil {
		return a, err
	}
	if a.review, err = v.Review(ctx, "2025-05"); err != nil {
		return a, err
	}
	a.structure, err = v.Structure(ctx, "2025-06-30")
	return a, err
}

// TestRebuildWhileQuerying: queries keep answering, with the same answers, while every view is
// rebuilt beside the live one; after the swap the answers are equal and the generations new.
func TestRebuildWhileQuerying(t *testing.T) {
	h := newHarness(t)
	g := newHistGen(9)
	last := h.publish(g.take(1500)...)
	cfg := h.config(t.TempDir())
	cfg.BatchMaxCount = 50 // a slower rebuild, so that queries overlap it
	v := h.open(cfg)
	h.wait(v, last)
	before, err := query(v)
	if err != nil {
		t.Fatal(err)
	}
	dumps := map[string]map[string]string{}
	st0, _ := v.Status(t.Context())
	for _, name := range ViewNames {
		dumps[name] = dumpView(t, v, name)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var queries, sawRebuild atomic.Int64
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				a, err := query(v)
				if err != nil {
					t.Errorf("a query failed during the rebuild: %v", err)
					return
				}
				if !reflect.DeepEqual(a, before) {
					t.Errorf("a query during the rebuild answered differently:\n%+v\nvs\n%+v", a.counters, before.counters)
					return
				}
				if st, err := v.Status(context.Background()); err == nil {
					for _, vs := range st.Views {
						if vs.Rebuild != nil {
							sawRebuild.Add(1)
						}
					}
				}
				queries.Add(1)
			}
		}()
	}
	if err := v.Rebuild(t.Context(), ""); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	if queries.Load() == 0 || sawRebuild.Load() == 0 {
		t.Fatalf("%d queries ran during the rebuild and %d saw it in progress: the test did not overlap them", queries.Load(), sawRebuild.Load())
	}
	after, err := query(v)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(after, before) {
		t.Errorf("answers changed across the rebuild")
	}
	st, _ := v.Status(t.Context())
	for i, vs := range st.Views {
		if vs.Generation == st0.Views[i].Generation || vs.Rebuild != nil || !vs.Running || vs.Checkpoint != last {
			t.Errorf("after the rebuild, %s: %+v (before %+v)", vs.View, vs, st0.Views[i])
		}
		if d := diffDumps(dumps[vs.View], dumpView(t, v, vs.View)); d != "" {
			t.Errorf("rebuilt %s differs from the old generation:\n%s", vs.View, d)
		}
	}
	// the old generations are gone
	for _, name := range ViewNames {
		if n := countKeys(t, v, viewSpace(name)); n != len(dumps[name]) {
			t.Errorf("view %s holds %d keys after the swap, want %d: an old generation is left", name, n, len(dumps[name]))
		}
	}
	// and the rebuilt views go on following
	more := g.take(50)
	last = h.publish(more...)
	h.wait(v, last)
	checkCounters(t, v, append(g.all[:0:0], g.all...))
}

func countKeys(t *testing.T, v *Views, prefix []byte) int {
	n := 0
	err := v.read(func(s *snapshot) error {
		r := &reader{r: s.snap, prefix: prefix}
		return r.Scan(nil, nil, func(_, _ []byte) (bool, error) { n++; return true, nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRebuildWhileEventsFlow: a rebuild that has to catch up with a moving live view swaps in
// equal to a view built from scratch.
func TestRebuildWhileEventsFlow(t *testing.T) {
	h := newHarness(t)
	g := newHistGen(10)
	h.publish(g.take(500)...)
	cfg := h.config(t.TempDir())
	cfg.BatchMaxCount = 20
	v := h.open(cfg)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 10 {
			h.publish(g.take(30)...)
			time.Sleep(5 * time.Millisecond)
		}
	}()
	if err := v.Rebuild(t.Context(), ViewCounters); err != nil {
		t.Fatal(err)
	}
	<-done
	last := h.seq.Load()
	h.wait(v, last)
	fresh := h.open(h.config(t.TempDir()))
	h.wait(fresh, last)
	sameViews(t, v, fresh)
}

// TestStartupRebuildOnNewVersion: a view whose version in code is newer than the stored one is
// rebuilt at start-up while the old copy answers.
func TestStartupRebuildOnNewVersion(t *testing.T) {
	h := newHarness(t)
	g := newHistGen(12)
	last := h.publish(g.take(300)...)
	dir := t.TempDir()
	v, err := Open(h.ctx, h.config(dir))
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Start(h.ctx); err != nil {
		t.Fatal(err)
	}
	h.wait(v, last)
	before, _ := query(v)
	st0, _ := v.Status(t.Context())
	if err := v.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	cfg := h.config(dir)
	cfg.testVersions = map[string]int{ViewReview: reviewVersion + 1}
	v = h.open(cfg)
	// the old copy answers at once, before the rebuild is done
	if a, err := query(v); err != nil || !reflect.DeepEqual(a.review.Sections, before.review.Sections) {
		t.Fatalf("the old copy does not answer during the start-up rebuild: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := v.Status(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		rv := st.Views[1]
		if rv.StoredVersion == reviewVersion+1 && rv.Rebuild == nil {
			if rv.Generation == st0.Views[1].Generation || st.Views[0].Generation != st0.Views[0].Generation {
				t.Errorf("only the review is rebuilt: %+v vs %+v", st.Views, st0.Views)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the start-up rebuild did not finish: %+v", rv)
		}
		time.Sleep(10 * time.Millisecond)
	}
	after, _ := query(v)
	after.review.Provenance.ViewVersion = reviewVersion
	if !reflect.DeepEqual(after, before) {
		t.Error("answers differ after the start-up rebuild")
	}
}
