package projections

import (
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ackMeta is what the runtime reads of a message's JetStream metadata.
type ackMeta struct {
	seq     uint64 // stream sequence
	pending uint64
	ts      time.Time
}

// msgAckMeta reads m's metadata from its reply subject as jetstream.Msg.Metadata does (the
// same token positions and number parsing), without the MsgMetadata it allocates for every
// message; a subject of any other form goes to Metadata, so its errors are Metadata's.
func msgAckMeta(m jetstream.Msg) (ackMeta, error) {
	if a, ok := parseAckReply(m.Reply()); ok {
		return a, nil
	}
	meta, err := m.Metadata()
	if err != nil {
		return ackMeta{}, err
	}
	return ackMeta{seq: meta.Sequence.Stream, pending: meta.NumPending, ts: meta.Timestamp}, nil
}

// parseAckReply reads an ack subject of either form nats.go's parser takes:
//
//	$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<timestamp>.<pending>
//	$JS.ACK.<domain>.<account hash>.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<timestamp>.<pending>[.<token>...]
func parseAckReply(reply string) (ackMeta, bool) {
	const prefix = "$JS.ACK."
	if !strings.HasPrefix(reply, prefix) {
		return ackMeta{}, false
	}
	var skip int // tokens before <stream>
	switch n := strings.Count(reply, ".") + 1; {
	case n == 9:
	case n >= 11:
		skip = 2
	default:
		return ackMeta{}, false
	}
	// after the skipped ones: stream, consumer, delivered, stream seq, consumer seq, timestamp, pending
	var tok [7]string
	rest := reply[len(prefix):]
	for range skip {
		_, rest, _ = strings.Cut(rest, ".")
	}
	for i := range tok {
		tok[i], rest, _ = strings.Cut(rest, ".")
	}
	return ackMeta{seq: ackNum(tok[3]), pending: ackNum(tok[6]), ts: time.Unix(0, int64(ackNum(tok[5])))}, true
}

// ackNum is nats.go's parser.ParseNum: anything but digits is 0, overflow is not detected.
func ackNum(d string) (n uint64) {
	for i := 0; i < len(d); i++ {
		c := d[i]
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + uint64(c-'0')
	}
	return n
}
