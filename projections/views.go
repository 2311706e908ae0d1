package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/nats-io/nats.go/jetstream"

	"compact/ledger"
)

// Names of the views.
const (
	ViewCounters  = "counters"
	ViewReview    = "review"
	ViewStructure = "structure"
)

// ViewNames lists the views in the order status reports them.
var ViewNames = []string{ViewCounters, ViewReview, ViewStructure}

// genRecord names a generation of a view and the projection version that wrote it.
type genRecord struct {
	Gen     uint64 `json:"gen"`
	Version int    `json:"version"`
}

// Views holds every view in one Pebble and the goroutines that follow the ledger into them.
// Its methods are safe for concurrent use.
type Views struct {
	cfg   Config
	db    *pebble.DB
	log   *slog.Logger
	m     *metrics
	feed  *feed
	projs map[string]Projection
	cache reviewCache
	index indexer

	ctx    context.Context // lives until Close; parent of every follower
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	started  bool
	closed   bool
	live     map[string]*follower
	rebuilds map[string]*rebuildJob
	once     *group // the group of a build as known

	dbMu     sync.RWMutex // queries hold it shared; Close takes it to close Pebble under nobody
	dbClosed bool
}

// Open opens (or creates) the views' Pebble store, checks the generations and prepares the
// change feed. It does not read the ledger yet: Start does.
func Open(ctx context.Context, cfg Config) (*Views, error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	db, err := pebble.Open(cfg.Dir, pebbleOptions(cfg))
	if err != nil {
		return nil, fmt.Errorf("open views store %s: %w (is another compact process using it?)", cfg.Dir, err)
	}
	v := &Views{
		cfg: cfg, db: db, log: cfg.Logger,
		projs: map[string]Projection{
			ViewCounters:  &countersView{version: countersVersion},
			ViewReview:    &reviewView{version: reviewVersion},
			ViewStructure: &structureView{version: structureVersion},
		},
		live: map[string]*follower{}, rebuilds: map[string]*rebuildJob{},
	}
	for name, ver := range cfg.testVersions {
		switch p := v.projs[name].(type) {
		case *countersView:
			p.version = ver
		case *reviewView:
			p.version = ver
		case *structureView:
			p.version = ver
		}
	}
	fail := func(err error) (*Views, error) {
		_ = db.Close()
		return nil, err
	}
	if err := v.initGenerations(); err != nil {
		return fail(fmt.Errorf("views store %s: %w", cfg.Dir, err))
	}
	if err := v.loadIndex(); err != nil {
		return fail(fmt.Errorf("views store %s: %w", cfg.Dir, err))
	}
	if v.m, err = newMetrics(cfg.Registry); err != nil {
		return fail(err)
	}
	for _, name := range ViewNames {
		v.m.rebuildCk.WithLabelValues(name).Set(0) // a resumed rebuild sets its own when it starts
		// The counters are there at 0 from the start: one that appeared with its first
		// increment would have it missed by rate() and increase(), which need two samples.
		v.m.applied.WithLabelValues(name)
		v.m.duplicates.WithLabelValues(name)
		v.m.batchSeconds.WithLabelValues(name)
		v.m.feedErrors.WithLabelValues(name)
		v.m.rebuilds.WithLabelValues(name)
	}
	if !cfg.DisableFeed {
		if v.feed, err = newFeed(ctx, &cfg, v.log, v.m); err != nil {
			return fail(err)
		}
	}
	v.ctx, v.cancel = context.WithCancel(context.Background())
	return v, nil
}

// initGenerations gives every view a live generation, drops a rebuild left by another version
// of the code and deletes generations nothing points to (left by a crash during a swap).
func (v *Views) initGenerations() error {
	b := v.db.NewBatch()
	defer b.Close()
	for _, name := range ViewNames {
		live, ok, err := v.genRec(v.db, metaLive, name)
		if err != nil {
			return err
		}
		if !ok {
			live = genRecord{Gen: v.nextGen(b, name), Version: v.projs[name].Version()}
			if err := setJSON(b, []byte(metaLive+name), live); err != nil {
				return err
			}
		}
		keep := []uint64{live.Gen}
		building, ok, err := v.genRec(v.db, metaBuilding, name)
		if err != nil {
			return err
		}
		if ok && building.Version == v.projs[name].Version() {
			keep = append(keep, building.Gen)
		} else if ok {
			if err := b.Delete([]byte(metaBuilding+name), nil); err != nil {
				return err
			}
		}
		if err := v.dropGenerations(b, name, keep); err != nil {
			return err
		}
	}
	return b.Commit(pebble.Sync)
}

// nextGen hands out a new generation number for a view, recorded in b.
func (v *Views) nextGen(b *pebble.Batch, view string) uint64 {
	k := []byte(metaNextGen + view)
	var cur uint64
	if val, closer, err := b.Get(k); err == nil {
		cur = getU64(val)
		_ = closer.Close()
	} else if val, closer, err := v.db.Get(k); err == nil {
		cur = getU64(val)
		_ = closer.Close()
	}
	_ = b.Set(k, u64(cur+1), nil)
	return cur + 1
}

func (v *Views) dropGenerations(b *pebble.Batch, view string, keep []uint64) error {
	space := viewSpace(view)
	it, err := v.db.NewIter(&pebble.IterOptions{LowerBound: space, UpperBound: prefixEnd(space)})
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; {
		k := it.Key()
		if len(k) < len(space)+8 {
			ok = it.Next()
			continue
		}
		gen := getU64(k[len(space) : len(space)+8])
		p := genPrefix(view, gen)
		if !slices.Contains(keep, gen) {
			v.log.Info("views: dropping an unused generation", "view", view, "generation", gen)
			if err := b.DeleteRange(p, prefixEnd(p), nil); err != nil {
				return err
			}
		}
		ok = it.SeekGE(prefixEnd(p))
	}
	return nil
}

func (v *Views) genRec(r pebble.Reader, meta, view string) (genRecord, bool, error) {
	var g genRecord
	val, closer, err := r.Get([]byte(meta + view))
	if errors.Is(err, pebble.ErrNotFound) {
		return g, false, nil
	}
	if err != nil {
		return g, false, err
	}
	defer closer.Close()
	if err := json.Unmarshal(val, &g); err != nil {
		return g, false, fmt.Errorf("generation record of view %s is corrupt: %w", view, err)
	}
	return g, true, nil
}

func setJSON(b *pebble.Batch, k []byte, v any) error {
	val, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Set(k, val, nil)
}

func (v *Views) storedU64(r pebble.Reader, key []byte) (uint64, error) {
	val, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer closer.Close()
	return getU64(val), nil
}

// Start begins following the ledger: one group follows every view's live generation from its
// checkpoint + 1, and another rebuilds the views whose stored version differs from the code's
// (the old generation keeps answering until the new one has caught up) or resumes an
// interrupted rebuild. With Config.Until set it builds the views as known at that time and the
// group stops there.
func (v *Views) Start(ctx context.Context) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return ErrClosed
	}
	if v.started {
		return nil
	}
	v.started = true
	if !v.cfg.Until.IsZero() {
		return v.startOnce(ctx)
	}
	live := v.newGroup("live")
	var resume []*follower
	var stale []string
	for _, name := range ViewNames {
		lg, _, err := v.genRec(v.db, metaLive, name)
		if err != nil {
			return err
		}
		v.live[name] = live.add(name, lg.Gen, modeLive, nil)
		building, ok, err := v.genRec(v.db, metaBuilding, name)
		if err != nil {
			return err
		}
		switch {
		case ok:
			v.log.Info("views: resuming a rebuild", "view", name, "generation", building.Gen)
			resume = append(resume, v.rebuildMember(nil, name, building.Gen))
		case lg.Version != v.projs[name].Version():
			v.log.Info("views: stored version differs from the code, rebuilding beside the live copy",
				"view", name, "stored", lg.Version, "code", v.projs[name].Version())
			stale = append(stale, name)
		}
	}
	v.run(live)
	if len(resume) > 0 {
		g := v.newGroup("rebuild")
		for _, f := range resume {
			g.adopt(f)
			v.rebuilds[f.view] = f.job
		}
		v.run(g)
	}
	if len(stale) > 0 {
		if _, err := v.startRebuildsLocked(stale); err != nil {
			return err
		}
	}
	return nil
}

func (v *Views) startOnce(ctx context.Context) error {
	s, err := v.cfg.JS.Stream(ctx, v.cfg.Stream)
	if err != nil {
		return fmt.Errorf("views as known: look up stream %s: %w", v.cfg.Stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return fmt.Errorf("views as known: stream %s info: %w", v.cfg.Stream, err)
	}
	g := v.newGroup("as known")
	g.once, g.endSeq, g.until = true, info.State.LastSeq, v.cfg.Until
	if u := v.cfg.testUntilSeq; u > 0 && u < g.endSeq {
		g.endSeq = u
	}
	for _, name := range ViewNames {
		live, _, err := v.genRec(v.db, metaLive, name)
		if err != nil {
			return err
		}
		v.live[name] = g.add(name, live.Gen, modeOnce, nil)
	}
	v.once = g
	v.run(g)
	return nil
}

func (v *Views) newGroup(kind string) *group {
	return &group{v: v, kind: kind, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// add makes generation gen of a view a member of the group (before it runs).
func (g *group) add(view string, gen uint64, mode followMode, job *rebuildJob) *follower {
	f := &follower{v: g.v, view: view, proj: g.v.projs[view], gen: gen, base: genPrefix(view, gen),
		gone: make(chan struct{}), job: job}
	f.mode.Store(int32(mode))
	g.adopt(f)
	return f
}

func (g *group) adopt(f *follower) {
	f.g = g
	g.members = append(g.members, f)
}

// run starts the group's goroutine; Close stops it.
func (v *Views) run(g *group) {
	ctx, cancel := context.WithCancel(v.ctx)
	g.cancel = cancel
	v.wg.Add(1)
	go func() {
		defer v.wg.Done()
		defer cancel()
		g.run(ctx)
	}()
}

// Close stops every follower and waits for them (as long as ctx allows), then closes Pebble.
func (v *Views) Close(ctx context.Context) error {
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return nil
	}
	v.closed = true
	v.mu.Unlock()
	v.cancel()
	done := make(chan struct{})
	go func() {
		v.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("close views: followers still running: %w; the store %s stays open", ctx.Err(), v.cfg.Dir)
	}
	v.dbMu.Lock()
	defer v.dbMu.Unlock()
	v.dbClosed = true
	return v.db.Close()
}

// BuildAsKnown builds the views from the events the ledger had appended up to until (ledger
// time) into dir, which must be empty or not exist, and returns them built and no longer
// following: it stops at the first message with a ledger time after until, or at the stream's
// last sequence when it started. The change feed is off. The caller closes the views and
// removes dir.
func BuildAsKnown(ctx context.Context, js jetstream.JetStream, until time.Time, dir string) (*Views, error) {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("%w: %s holds files: build the views as known into a fresh directory", ErrNotEmpty, dir)
	}
	if until.IsZero() {
		return nil, fmt.Errorf("%w: until is zero: give the ledger time to build as known", ErrConfig)
	}
	v, err := Open(ctx, Config{Dir: dir, JS: js, DisableFeed: true, Until: until})
	if err != nil {
		return nil, err
	}
	if err := v.Start(ctx); err != nil {
		_ = v.Close(context.Background())
		return nil, err
	}
	select {
	case <-v.once.done:
	case <-ctx.Done():
		_ = v.Close(context.Background())
		return nil, fmt.Errorf("views as known at %s: %w", until.Format(time.RFC3339Nano), ctx.Err())
	}
	return v, nil
}

// Compacting reports whether the views' store is compacting or flushing now: the state right
// after a build from a long ledger, which measurements wait out. (Pebble's estimated debt is
// no sign of work to come: it stays above zero while level 0 holds any table, below the number
// of tables from which Pebble compacts level 0.)
func (v *Views) Compacting() bool {
	m := v.db.Metrics()
	return m.Compact.NumInProgress > 0 || m.Flush.NumInProgress > 0
}

// Flush writes what the views' store holds in memory to its tables and waits for it: a
// measurement starts from that known state rather than wherever the last writes left the
// memtable.
func (v *Views) Flush() error { return v.db.Flush() }

// pebbleOptions sizes the store for the views' access pattern. Most point reads during a build
// look for keys that do not exist (the index entry of a new event), so every level has a Bloom
// filter and such a read costs no data block. Pebble counts its memtables against the block
// cache: with the 8 MB default the cache held no block at all once the memtables had grown, so
// every read went to the file system.
//
// A build from a long ledger writes hundreds of megabytes of keys spread over the whole key
// space (items by source and id, listings by period), so with Pebble's defaults most of the
// build's compaction work rewrote Lbase for every few L0 files. Larger memtables, compacting L0
// at four sublevels rather than two (Pebble scores L0 as 2 × sublevels ÷ L0CompactionThreshold,
// and a flush of the views spans the whole key space, so each adds one) and an Lbase of 512 MB
// (the views of a million events fit in it) cut that work: a build from 1,000,000 events went from ~88k to ~113k events/s, with review
// and counters reads right after it no slower (measured with `compact bench --quick
// --rebuild-events 1000000`, ledger/perf/NOTES.md).
func pebbleOptions(cfg Config) *pebble.Options {
	o := &pebble.Options{
		Logger:                pebbleLogger{cfg.Logger},
		FS:                    cfg.FS,
		CacheSize:             pebbleCacheBytes,
		MemTableSize:          pebbleMemTableBytes,
		L0CompactionThreshold: 8,
		L0StopWritesThreshold: 24,
		LBaseMaxBytes:         512 << 20,
	}
	o.Levels[0].FilterPolicy = bloom.FilterPolicy(10) // later levels inherit it
	return o
}

// Sizes of the Pebble store's memory. Pebble counts its memtables against the block cache, so
// the cache holds the two memtables it may have at once plus at least 64 MB of blocks: 192 MB
// in all, which leaves a projections process well under the 512 MB it is meant to fit in. The
// size is ledger's, which counts it when it sets the collector's soft limit (ledger.TuneGC).
const (
	pebbleCacheBytes    = ledger.ViewsPebbleBytes
	pebbleMemTableBytes = 64 << 20
)

type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug("pebble: " + fmt.Sprintf(format, args...))
}
func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error("pebble: " + fmt.Sprintf(format, args...))
}
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := "pebble: " + fmt.Sprintf(format, args...)
	p.l.Error(msg)
	panic(msg)
}
