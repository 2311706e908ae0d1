package projections

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The change feed (README, "The change feed"): after each committed batch that changed them, the counters'
// totals go to SubjectCounters and a changed period's new version to SubjectReviewPrefix+period;
// the same bodies are kept as the latest values of the KV bucket (keys "counters" and
// "review.<period>"), so `nats kv watch COMPACT_VIEWS` follows them. The feed is a notification:
// a crash between a commit and its message loses that message, never the view's data, and the
// next change sends the new state. The KV always ends at the latest: a failed update is sent
// again (publish, retry), and a start sends what the bucket holds behind the view (reconcile).
const (
	SubjectCounters     = "compact.views.counters"
	SubjectReviewPrefix = "compact.views.review."
	KVKeyCounters       = "counters"
	KVKeyReviewPrefix   = "review."
)

// ReviewChange is the body of a compact.views.review.<period> message.
type ReviewChange struct {
	Period  string `json:"period"`
	Version uint64 `json:"version"`
	Seq     uint64 `json:"seq"` // the review view's checkpoint after the change
}

type feed struct {
	nc  *nats.Conn
	kv  jetstream.KeyValue
	log *slog.Logger
	m   *metrics

	// unsent holds, per view, the notes whose message or KV update failed: the view's live
	// generation sends them again (with the state as it is then) at its next commit or, when
	// none comes, between batches once retryAt has passed, so that the bucket ends at the
	// latest value even when the last change's update failed. A rebuild swapped in meanwhile
	// sends them too.
	mu     sync.Mutex
	unsent map[string]*unsentNotes
	// seen holds, per key, what this feed last put or read in the bucket: an update is
	// conditional on its revision (putNewer), so that another replica's put in between is seen.
	seen map[string]kvSeen
}

type unsentNotes struct {
	notes   map[string]struct{}
	retryAt time.Time
	backoff time.Duration
}

// feedRetryMin and feedRetryMax bound the wait before a failed message or update is sent again.
const (
	feedRetryMin = 250 * time.Millisecond
	feedRetryMax = 30 * time.Second
)

func newFeed(ctx context.Context, cfg *Config, log *slog.Logger, m *metrics) (*feed, error) {
	kv, err := cfg.JS.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      cfg.FeedBucket,
		Description: "Compact ledger: latest counters and review versions (change feed)",
		History:     1,
		Replicas:    cfg.FeedReplicas,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("change feed: create KV bucket %s: %w (the projections' NATS user needs JetStream "+
			"rights on $KV.%s; or run this replica with the feed off: serve --no-feed, Config.DisableFeed)", cfg.FeedBucket, err, cfg.FeedBucket)
	}
	return &feed{nc: cfg.NC, kv: kv, log: log, m: m}, nil
}

// publish sends what a committed batch of f changed, with whatever f could not send before.
// Errors are logged and counted, and the notes kept to be sent again: the feed never holds a
// view back.
func (fd *feed) publish(ctx context.Context, f *follower, notes map[string]struct{}) {
	fd.mu.Lock()
	u := fd.unsent[f.view]
	delete(fd.unsent, f.view)
	fd.mu.Unlock()
	if u != nil {
		merged := make(map[string]struct{}, len(notes)+len(u.notes))
		for n := range notes {
			merged[n] = struct{}{}
		}
		for n := range u.notes {
			merged[n] = struct{}{}
		}
		notes = merged
	}
	var failed map[string]struct{}
	for note := range notes {
		var subject, key string
		var body []byte
		var err error
		switch {
		case note == ViewCounters && f.view == ViewCounters:
			subject, key = SubjectCounters, KVKeyCounters
			body, err = fd.countersBody(f)
		case strings.HasPrefix(note, "review:") && f.view == ViewReview:
			period := strings.TrimPrefix(note, "review:")
			subject, key = SubjectReviewPrefix+period, KVKeyReviewPrefix+period
			body, err = fd.reviewBody(f, period)
		default:
			continue
		}
		if err == nil {
			err = fd.nc.Publish(subject, body)
		}
		if err == nil {
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err = fd.putNewer(pctx, key, body)
			cancel()
		}
		if err != nil {
			fd.m.feedErrors.WithLabelValues(f.view).Inc()
			fd.log.Warn("views: change feed not sent; it is sent again", "view", f.view, "subject", subject, "err", err)
			if failed == nil {
				failed = map[string]struct{}{}
			}
			failed[note] = struct{}{}
		}
	}
	if failed == nil {
		return
	}
	backoff := feedRetryMin
	if u != nil {
		backoff = min(2*u.backoff, feedRetryMax)
	}
	fd.mu.Lock()
	defer fd.mu.Unlock()
	if fd.unsent == nil {
		fd.unsent = map[string]*unsentNotes{}
	}
	fd.unsent[f.view] = &unsentNotes{notes: failed, retryAt: time.Now().Add(backoff), backoff: backoff}
}

// putNewer puts body under key unless the bucket holds a value sent at a later checkpoint:
// every replica feeds the bucket, and one that is behind (catching up from sequence 1, or
// slower) would otherwise put older states over newer ones, and leave the bucket there if it
// stopped before it caught up, since the replica ahead has nothing new to send. The put is
// conditional on the revision this feed last saw, so that another replica's put in between is
// read and compared. Equal checkpoints are put: with the same code they are the same state,
// and after a rebuild for new code the swap's body is the one to keep.
func (fd *feed) putNewer(ctx context.Context, key string, body []byte) error {
	mine := sentSeq(body)
	see := func(rev, seq uint64) {
		fd.mu.Lock()
		defer fd.mu.Unlock()
		if fd.seen == nil {
			fd.seen = map[string]kvSeen{}
		}
		fd.seen[key] = kvSeen{rev: rev, seq: seq}
	}
	const tries = 5
	for range tries {
		fd.mu.Lock()
		last, known := fd.seen[key]
		fd.mu.Unlock()
		if known && last.seq > mine {
			return nil // a replica further on put it; every put since is at least as far
		}
		var rev uint64
		var err error
		if known {
			rev, err = fd.kv.Update(ctx, key, body, last.rev)
		} else {
			rev, err = fd.kv.Create(ctx, key, body) // over a deleted key too
		}
		if err == nil {
			see(rev, mine)
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) && !errors.Is(err, jetstream.ErrKeyExists) {
			return err
		}
		e, err := fd.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			fd.mu.Lock()
			delete(fd.seen, key)
			fd.mu.Unlock()
			continue
		}
		if err != nil {
			return err
		}
		see(e.Revision(), sentSeq(e.Value()))
		if bytes.Equal(e.Value(), body) {
			return nil // another replica put the same
		}
	}
	return fmt.Errorf("KV key %s: other replicas kept updating it (%d tries)", key, tries)
}

// kvSeen is a key's revision in the bucket as this feed last put or read it, and the
// checkpoint its value was sent at.
type kvSeen struct{ rev, seq uint64 }

// sentSeq is the checkpoint a feed body was sent at (both bodies have it); 0 when it has none.
func sentSeq(body []byte) uint64 {
	var b struct {
		Seq uint64 `json:"seq"`
	}
	_ = json.Unmarshal(body, &b)
	return b.Seq
}

// retry sends again what the view of f, its live generation, could not send, once the wait
// has passed. The group calls it between batches, so that a failure is repaired even when no
// further change comes.
func (fd *feed) retry(ctx context.Context, f *follower) {
	fd.mu.Lock()
	u := fd.unsent[f.view]
	due := u != nil && !time.Now().Before(u.retryAt)
	fd.mu.Unlock()
	if due {
		fd.publish(ctx, f, nil)
	}
}

// unannounced returns the notes to send when f, a rebuilt generation, is swapped in for the
// generation at prefix old, stopped at its final checkpoint and not deleted yet. The counters
// are always sent once more (README). A review period is sent when its version in f differs
// from its version in the old generation: f changed it in events past the old generation's
// final checkpoint, which the old generation never applied and f, building, never announced.
// The old generation announced each period at the version it holds (the feed follows every
// commit), and with the same code versions depend only on the events applied, so a period f
// did not change since then is at the same version and is not sent again. A rebuild for new
// code (sameCode false: another projection version) may count a period's changes otherwise,
// fewer even: every period either generation holds is sent, so that no subscriber keeps a
// version the view no longer has. It reads the old generation's keys rather than remembering
// what f applied, so it also holds for a rebuild resumed after a restart. A failure is logged
// and counted: the swap goes on.
func (fd *feed) unannounced(f *follower, old []byte, sameCode bool) map[string]struct{} {
	notes := map[string]struct{}{ViewCounters: {}}
	if f.view != ViewReview {
		return notes
	}
	lo, hi := []byte{'v'}, []byte{'v' + 1}
	err := f.v.read(func(s *snapshot) error {
		was := map[string]uint64{}
		r := &reader{r: s.snap, prefix: sub(old, subData)}
		err := r.Scan(lo, hi, func(k, val []byte) (bool, error) {
			was[string(k[1:])] = getU64(val)
			return true, nil
		})
		if err != nil {
			return err
		}
		r = &reader{r: s.snap, prefix: sub(f.base, subData)}
		err = r.Scan(lo, hi, func(k, val []byte) (bool, error) {
			if period := string(k[1:]); !sameCode || getU64(val) != was[period] {
				notes["review:"+period] = struct{}{}
			}
			return true, nil
		})
		if !sameCode {
			for period := range was { // a period the new code no longer has: its version is 0
				notes["review:"+period] = struct{}{}
			}
		}
		return err
	})
	if err != nil {
		fd.m.feedErrors.WithLabelValues(f.view).Inc()
		fd.log.Warn("views: change feed: what the rebuilt generation changed before its swap is not sent",
			"view", f.view, "generation", f.gen, "err", err)
	}
	return notes
}

// countersBody reads f's own generation (it may not be the one queries read yet, during a swap).
func (fd *feed) countersBody(f *follower) ([]byte, error) {
	var c Counters
	err := f.v.read(func(s *snapshot) error {
		var err error
		c, err = countersTotal(&reader{r: s.snap, prefix: sub(f.base, subData)})
		return err
	})
	if err != nil {
		return nil, err
	}
	c.Seq = f.ck.Load()
	return json.Marshal(c)
}

func (fd *feed) reviewBody(f *follower, period string) ([]byte, error) {
	rc := ReviewChange{Period: period, Seq: f.ck.Load()}
	err := f.v.read(func(s *snapshot) error {
		r := &reader{r: s.snap, prefix: sub(f.base, subData)}
		b, _, err := r.Get(append([]byte{'v'}, period...))
		rc.Version = getU64(b)
		return err
	})
	if err != nil {
		return nil, err
	}
	return json.Marshal(rc)
}

// reconcile runs once when f, a live generation, starts following: a crash between a commit
// and its change feed (or between a rebuild's swap and the notes it sends) left the bucket
// behind the view, and with no new event nothing would ever send the state it missed. It sends
// the counters when the bucket's differ and are older than f's checkpoint, and every review
// period whose version in f differs from the bucket's (or that the bucket lacks), unless the
// bucket's was sent at f's checkpoint or after: what another replica further on put is left
// alone. The versions are compared for difference, not order: a rebuild for new code may hold
// a period at a lower version than the bucket kept from the code before. Errors are logged and counted, as publish's are.
func (fd *feed) reconcile(ctx context.Context, f *follower) {
	ck := f.ck.Load()
	if ck == 0 {
		return
	}
	notes := map[string]struct{}{}
	fail := func(err error) {
		fd.m.feedErrors.WithLabelValues(f.view).Inc()
		fd.log.Warn("views: change feed: the bucket could not be brought up to the view after the start", "view", f.view, "err", err)
	}
	// one deadline for all of it: a bucket out of reach holds the view back that long at most
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	kvGet := func(key string) ([]byte, bool, error) {
		e, err := fd.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, err
		}
		return e.Value(), true, nil
	}
	switch f.view {
	case ViewCounters:
		mine, err := fd.countersBody(f)
		if err != nil {
			fail(err)
			return
		}
		val, ok, err := kvGet(KVKeyCounters)
		if err != nil {
			fail(err)
			return
		}
		var have, want Counters
		_ = json.Unmarshal(mine, &want)
		if ok && json.Unmarshal(val, &have) == nil {
			seq := have.Seq
			have.Seq, want.Seq = 0, 0
			if have == want || seq >= ck {
				return
			}
		}
		notes[ViewCounters] = struct{}{}
	case ViewReview:
		versions := map[string]uint64{}
		err := f.v.read(func(s *snapshot) error {
			r := &reader{r: s.snap, prefix: sub(f.base, subData)}
			return r.Scan([]byte{'v'}, []byte{'v' + 1}, func(k, val []byte) (bool, error) {
				versions[string(k[1:])] = getU64(val)
				return true, nil
			})
		})
		if err != nil {
			fail(err)
			return
		}
		for period, version := range versions {
			val, ok, err := kvGet(KVKeyReviewPrefix + period)
			if err != nil {
				fail(err)
				return
			}
			var have ReviewChange
			if ok && json.Unmarshal(val, &have) == nil && (have.Version == version || have.Seq >= ck) {
				continue
			}
			notes["review:"+period] = struct{}{}
		}
	}
	if len(notes) > 0 {
		fd.log.Info("views: change feed: sending what a stop before the feed left unsent", "view", f.view, "checkpoint", ck, "changes", len(notes))
		fd.publish(ctx, f, notes)
	}
}
