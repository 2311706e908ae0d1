package audit

import (
	"context"
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"compact/ledger"
	"compact/ledger/natstest"
)

// checkpointBody is a checkpoint note's text for tree size n, its root all zero bytes but
// the first, which is n: enough to tell checkpoints apart.
func checkpointBody(n int) []byte {
	var root [32]byte
	root[0] = byte(n)
	return fmt.Appendf(nil, "compact-ledger/COMPACT\n%d\n%s\n\n— sig\n", n, base64.StdEncoding.EncodeToString(root[:]))
}

// TestCheckpointAtFindsTheLatestAppendedByThen: among many checkpoints, the one appended last
// at or before a time, whatever sequences hold no message (damage: the contract's stream
// denies deletes, this one allows them to make the holes).
func TestCheckpointAtFindsTheLatestAppendedByThen(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, js := natstest.Connect(t, natstest.Start(t))
	src := JetStreamSource{JS: js}
	if h, err := src.CheckpointAt(ctx, time.Now()); err != nil || h != nil {
		t.Fatalf("no checkpoint stream: %v, %v", h, err)
	}
	if h, err := src.LatestCheckpoint(ctx); err != nil || h != nil {
		t.Fatalf("no checkpoint stream: latest %v, %v", h, err)
	}
	cfg := ledger.CheckpointStreamConfig(ledger.StreamOptions{})
	cfg.DenyDelete = false
	st, err := js.CreateStream(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if h, err := src.CheckpointAt(ctx, time.Now()); err != nil || h != nil {
		t.Fatalf("no checkpoint at all: %v, %v", h, err)
	}
	if h, err := src.LatestCheckpoint(ctx); err != nil || h != nil {
		t.Fatalf("no checkpoint at all: latest %v, %v", h, err)
	}
	const n = 13
	times := make([]time.Time, n+1) // by sequence
	for seq := 1; seq <= n; seq++ {
		if _, err := js.Publish(ctx, ledger.CheckpointSubject, checkpointBody(seq)); err != nil {
			t.Fatal(err)
		}
		m, err := st.GetMsg(ctx, uint64(seq))
		if err != nil {
			t.Fatal(err)
		}
		times[seq] = m.Time
		time.Sleep(time.Millisecond) // distinct times, so that "just before" is another checkpoint's
	}
	holes := map[uint64]bool{1: true, 5: true, 6: true, 7: true, 13: true}
	for seq := range holes {
		if err := st.DeleteMsg(ctx, seq); err != nil {
			t.Fatal(err)
		}
	}
	// want is the last sequence with a message at or before at, 0 for none.
	want := func(at time.Time) uint64 {
		var w uint64
		for seq := uint64(1); seq <= n; seq++ {
			if !holes[seq] && !times[seq].After(at) {
				w = seq
			}
		}
		return w
	}
	check := func(at time.Time) {
		t.Helper()
		h, err := src.CheckpointAt(ctx, at)
		if err != nil {
			t.Fatal(err)
		}
		var got uint64
		if h != nil {
			got = h.StreamSeq
			if h.Size != got || h.Root[0] != byte(got) || !h.Time.Equal(times[got]) {
				t.Errorf("checkpoint %d read as tree size %d, root %x…, time %s", got, h.Size, h.Root[:2], h.Time)
			}
		}
		if w := want(at); got != w {
			t.Errorf("at %s: checkpoint %d, want %d", at.Format(time.RFC3339Nano), got, w)
		}
	}
	check(times[1].Add(-time.Hour))
	check(times[n].Add(time.Hour))
	for seq := 1; seq <= n; seq++ {
		check(times[seq].Add(-time.Nanosecond))
		check(times[seq])
	}
	h, err := src.LatestCheckpoint(ctx)
	if err != nil || h == nil || h.StreamSeq != n-1 || h.Size != n-1 {
		t.Fatalf("latest checkpoint: %+v, %v; want the one at seq %d", h, err, n-1)
	}
}

// TestCheckpointHeadPassesOverForeignMessages: a message on the checkpoint subject that is
// not a checkpoint (a copy of a ledger event a push consumer delivered there) is passed over,
// for the latest and for one at a time: the checkpoint before it is the answer, none when
// there is none before it.
func TestCheckpointHeadPassesOverForeignMessages(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, js := natstest.Connect(t, natstest.Start(t))
	if _, err := js.CreateStream(ctx, ledger.CheckpointStreamConfig(ledger.StreamOptions{})); err != nil {
		t.Fatal(err)
	}
	src := JetStreamSource{JS: js}
	foreign := []byte(`{"specversion":"1.0","id":"x","source":"UNODC"}`)
	check := func(when string, want uint64) {
		t.Helper()
		for name, get := range map[string]func() (*CheckpointHead, error){
			"latest": func() (*CheckpointHead, error) { return src.LatestCheckpoint(ctx) },
			"at":     func() (*CheckpointHead, error) { return src.CheckpointAt(ctx, time.Now().Add(time.Hour)) },
		} {
			h, err := get()
			var got uint64
			if h != nil {
				got = h.StreamSeq
			}
			if err != nil || got != want {
				t.Errorf("%s, %s: checkpoint at seq %d, %v; want seq %d", when, name, got, err, want)
			}
		}
	}
	for i, data := range [][]byte{foreign, checkpointBody(2), foreign, []byte("compact-ledger/COMPACT\ntwo\nAAAA\n\n— sig\n")} {
		if _, err := js.Publish(ctx, ledger.CheckpointSubject, data); err != nil {
			t.Fatal(err)
		}
		switch i {
		case 0:
			check("only a foreign message", 0)
		case 1:
			check("a checkpoint after it", 2)
		case 3:
			check("two messages after the checkpoint that are not checkpoints", 2)
		}
	}
}
