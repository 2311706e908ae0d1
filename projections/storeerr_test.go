package projections

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// A read of the views' store that fails while a view applies an event is the store's
// trouble, not the event's: the batch is tried again, and the event applied once the store
// reads again. It used to be quarantined for good — a valid event left out of the view
// until a rebuild, the view differing from a fresh build.
func TestAStoreReadErrorIsRetriedNotQuarantined(t *testing.T) {
	h := newHarness(t)
	var failing atomic.Bool
	var injected atomic.Int64
	fs := errorfs.Wrap(vfs.NewMem(), errorfs.InjectorFunc(func(op errorfs.Op) error {
		if failing.Load() && (op.Kind == errorfs.OpFileReadAt || op.Kind == errorfs.OpFileRead) && strings.HasSuffix(op.Path, ".sst") {
			injected.Add(1)
			return errorfs.ErrInjected
		}
		return nil
	}))
	cfg := h.config("views")
	cfg.FS = fs
	v := h.open(cfg)
	last := h.publish(act("UNODC", "a-1", "compact.meeting.held", "2025-05-10", nil))
	h.wait(v, last)
	if err := v.db.Flush(); err != nil { // the view's records now live in tables only
		t.Fatal(err)
	}
	failing.Store(true)
	last = h.publish(correct("UNODC", "c-1", "a-1", obj{"title": "UNODC a-1, corrected", "start": "2025-05-11",
		"organizers": []obj{{"entity": "UNODC"}}, "format": "expert_meeting"}))
	deadline := time.Now().Add(30 * time.Second)
	for injected.Load() == 0 { // the views met the failing store
		if time.Now().After(deadline) {
			t.Fatal("no read of a table failed: the test reads nothing from the store")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // a few tries against the failing store
	failing.Store(false)
	h.wait(v, last)
	for _, view := range ViewNames {
		q, err := v.Quarantine(context.Background(), view, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(q) != 0 {
			t.Fatalf("view %s quarantined %+v after a failed read of its store", view, q)
		}
	}
	r, err := v.Review(context.Background(), "2025-05")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(r); !strings.Contains(string(b), "a-1, corrected") {
		t.Fatalf("the correction is not in the review: %s", b)
	}
}
