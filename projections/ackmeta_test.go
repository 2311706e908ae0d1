package projections

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
)

// TestParseAckReplyLikeNats: the runtime's reading of an ack subject takes what nats.go's
// parser takes and reads the same stream sequence, pending count and timestamp (nats.Msg's
// Metadata uses the parser jetstream.Msg's does).
func TestParseAckReplyLikeNats(t *testing.T) {
	subjects := []string{
		"$JS.ACK.LEDGER.c1.1.42.42.1700000000123456789.7",
		"$JS.ACK._.acchash.LEDGER.c1.1.42.42.1700000000123456789.0.tok",
		"$JS.ACK.dom.acchash.LEDGER.c1.3.18446744073709551615.9.1.99",
		"$JS.ACK.dom.acchash.LEDGER.c1.3.5.9.1.99.tok.more",
		"$JS.ACK.LEDGER.c1.1.4x2.42.17.7", "$JS.ACK.LEDGER.c1.1..42.17.",
		"$JS.ACK.LEDGER.c1.1.42.42.17", "$JS.ACK.a.b.LEDGER.c1.1.42.42.17.7",
		"$JS.ACK.LEDGER.c1.1.42.42.17.7.x", "$JS.ACK", "$JS.ACK.", "", "_INBOX.abc",
		"$JS.NAK.LEDGER.c1.1.42.42.17.7", "$js.ack.LEDGER.c1.1.42.42.17.7", "$JS.ACK.........",
		"$JS.ACK.LEDGER.c1.1.-4.42.17.7", "$JS.ACK.LEDGER.c1.1.+4.42.17.7",
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 5000 {
		parts := []string{"$JS", "ACK"}
		for range 7 + r.IntN(6) {
			parts = append(parts, []string{"", "0", "1", "42", "LEDGER", "x", "1700000000123456789", "99999999999999999999"}[r.IntN(8)])
		}
		subjects = append(subjects, strings.Join(parts, "."))
	}
	took := 0
	for _, s := range subjects {
		want, werr := (&nats.Msg{Reply: s, Sub: &nats.Subscription{}}).Metadata()
		got, ok := parseAckReply(s)
		if ok != (werr == nil) {
			t.Fatalf("parseAckReply(%q) ok = %v; nats.go: %v", s, ok, werr)
		}
		if !ok {
			continue
		}
		took++
		if got.seq != want.Sequence.Stream || got.pending != want.NumPending || !got.ts.Equal(want.Timestamp) {
			t.Fatalf("parseAckReply(%q) = %+v; nats.go: %+v", s, got, want)
		}
	}
	if took < 1000 {
		t.Fatalf("took %d of %d subjects", took, len(subjects))
	}
}

func TestParseAckReplyAllocs(t *testing.T) {
	s := "$JS.ACK._.acchash.LEDGER.c1.1.42.42.1700000000123456789.0.tok"
	if n := testing.AllocsPerRun(100, func() { _, _ = parseAckReply(s) }); n != 0 {
		t.Errorf("parseAckReply allocates %v times", n)
	}
}
