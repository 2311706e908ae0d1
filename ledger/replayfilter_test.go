package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"compact/ledger"
	"compact/ledger/natstest"
)

// replayStream is a COMPACT stream holding four events, two of UNODC then two of CTED, and
// the ledger time of each (index 0 is seq 1).
func replayStream(t *testing.T) (jetstream.JetStream, []time.Time) {
	t.Helper()
	s := natstest.Start(t)
	_, js := natstest.Connect(t, s)
	ctx := t.Context()
	if err := ledger.EnsureStreams(ctx, js, ledger.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, ledger.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	var times []time.Time
	for i, e := range []string{"UNODC", "UNODC", "CTED", "CTED"} {
		ack, err := js.Publish(ctx, ledger.EventSubject(e, "compact.meeting.held"), []byte(activity(e, fmt.Sprintf("r-%d", i), "an event")))
		if err != nil {
			t.Fatal(err)
		}
		m, err := st.GetMsg(ctx, ack.Sequence)
		if err != nil {
			t.Fatal(err)
		}
		times = append(times, m.Time)
	}
	return js, times
}

// A replay from a sequence with a --since that none of the events from there on reach
// returns nothing; it used to wait for a next event that would pass the filter, holding
// `compact replay --from-seq 2 --since <now>` open on a ledger at rest until new events came.
func TestReplayFromSeqAndSinceEndsWhenNothingMatches(t *testing.T) {
	js, times := replayStream(t)
	after := times[3].Add(time.Second)
	for _, tc := range []struct {
		name string
		f    ledger.ReplayFilter
		want []uint64
	}{
		{"since after every event", ledger.ReplayFilter{FromSeq: 2, Since: after}, nil},
		{"since after the entity's last event", ledger.ReplayFilter{FromSeq: 2, Since: times[2], Entity: "UNODC"}, nil},
		{"since before the last events", ledger.ReplayFilter{FromSeq: 2, Since: times[2]}, []uint64{3, 4}},
		{"since before from_seq", ledger.ReplayFilter{FromSeq: 3, Since: times[0]}, []uint64{3, 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The deadline only ends a replay that would otherwise wait for ever.
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			var got []uint64
			err := ledger.Replay(ctx, js, tc.f, func(seq uint64, _ time.Time, _ []byte) error {
				got = append(got, seq)
				return nil
			})
			if err != nil {
				t.Fatalf("replay %+v: %v (got %v)", tc.f, err, got)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("replay %+v: seqs %v, want %v", tc.f, got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("replay %+v: seqs %v, want %v", tc.f, got, tc.want)
				}
			}
		})
	}
}

// A replay leaves no consumer behind: each used to stay on the server, with its goroutines,
// for the ordered consumer's five minutes of inactivity, so that an auditor's script
// replaying in a loop (or clients that hang up mid-stream) piled them up.
func TestReplayLeavesNoConsumer(t *testing.T) {
	js, _ := replayStream(t)
	ctx := t.Context()
	stop := errors.New("enough")
	for _, f := range []ledger.ReplayFilter{{}, {Entity: "CTED"}, {FromSeq: 3}} {
		if err := ledger.Replay(ctx, js, f, func(uint64, time.Time, []byte) error { return nil }); err != nil {
			t.Fatal(err)
		}
		// and one whose reader stops after the first event, as a client that hangs up
		if err := ledger.Replay(ctx, js, f, func(uint64, time.Time, []byte) error { return stop }); !errors.Is(err, stop) {
			t.Fatal(err)
		}
	}
	st, err := js.Stream(ctx, ledger.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range st.ListConsumers(ctx).Info() {
		names = append(names, n.Name)
	}
	if len(names) > 0 {
		t.Errorf("consumers left after the replays ended: %v", names)
	}
}
