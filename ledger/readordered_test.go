package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"compact/ledger"
	"compact/ledger/natstest"
)

// A read that has taken every message and waits for more calls Stalled at each tick with no
// message, with the sequence it expects next and the ticks in a row, from its own goroutine;
// Stalled's error ends the read, and fn is called for nothing after that.
func TestReadOrderedStalls(t *testing.T) {
	_, js := natstest.Connect(t, natstest.Start(t))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, err := js.Publish(ctx, fmt.Sprintf("s.%d", i), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	var stalls [][2]uint64
	enough := errors.New("enough")
	err = ledger.ReadOrdered(ctx, cons, ledger.ReadOptions{
		Idle: 20 * time.Millisecond,
		Stalled: func(next uint64, n int) error {
			stalls = append(stalls, [2]uint64{next, uint64(n)})
			if n == 3 {
				return enough
			}
			return nil
		},
	}, func(m jetstream.Msg) (bool, error) {
		meta, err := m.Metadata()
		if err != nil {
			return true, err
		}
		seqs = append(seqs, meta.Sequence.Stream)
		return false, nil // never done: wait for more
	})
	if !errors.Is(err, enough) {
		t.Fatalf("read ended with %v, want Stalled's error", err)
	}
	if want := []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}; !slices.Equal(seqs, want) {
		t.Fatalf("fn had seqs %v, want %v", seqs, want)
	}
	if want := [][2]uint64{{11, 1}, {11, 2}, {11, 3}}; !slices.Equal(stalls, want) {
		t.Fatalf("Stalled had (next, stalls) %v, want %v", stalls, want)
	}
	// A message stored after the end is not given to fn.
	if _, err := js.Publish(ctx, "s.late", []byte("x")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // room for a late delivery to show itself
	if len(seqs) != 10 {
		t.Fatalf("fn called after the read ended: seqs %v", seqs)
	}
}
