package audit

import (
	"context"
	"encoding/base64"
	"errors"
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

// TestCheckpointHeadOfDamagedNote: a checkpoint message whose body does not parse is an
// error naming it, not "no checkpoint", for the latest and for one at a time.
func TestCheckpointHeadOfDamagedNote(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, js := natstest.Connect(t, natstest.Start(t))
	if _, err := js.CreateStream(ctx, ledger.CheckpointStreamConfig(ledger.StreamOptions{})); err != nil {
		t.Fatal(err)
	}
	for _, data := range [][]byte{checkpointBody(1), []byte("compact-ledger/COMPACT\ntwo\nAAAA\n\n— sig\n")} {
		if _, err := js.Publish(ctx, ledger.CheckpointSubject, data); err != nil {
			t.Fatal(err)
		}
	}
	src := JetStreamSource{JS: js}
	for name, get := range map[string]func() (*CheckpointHead, error){
		"latest": func() (*CheckpointHead, error) { return src.LatestCheckpoint(ctx) },
		"at":     func() (*CheckpointHead, error) { return src.CheckpointAt(ctx, time.Now().Add(time.Hour)) },
	} {
		h, err := get()
		var ce *CheckpointError
		if !errors.As(err, &ce) || ce.StreamSeq != 2 || !errors.Is(err, ErrBadCheckpoint) {
			t.Errorf("%s: %+v, %v; want a CheckpointError naming checkpoint-stream seq 2", name, h, err)
		}
	}
}
