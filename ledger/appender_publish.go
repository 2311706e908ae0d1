package ledger

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// How the Appender puts a batch on the stream: one atomic batch (all or none, one fsync
// under SyncAlways) conditional on the stream's last sequence, or a few pipelined
// conditional publishes for a handful of events, and how their acknowledgements are read.

// publish appends ps at the end of the stream, conditional on the stream's last sequence
// being a.last, and returns the sequence of the last one. A few events go as pipelined
// conditional publishes; more as one atomic batch: JetStream stores all or none, with one
// fsync for all of them under SyncAlways.
func (a *Appender) publish(ctx context.Context, ps []*pendingEvent) (lastSeq uint64, err error) {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	defer cancel()
	defer func(start time.Time) { a.cfg.Metrics.appendDone(start, err) }(time.Now())
	if len(ps) < a.cfg.MinAtomicBatch {
		return a.publishPipelined(ctx, ps)
	}
	fl := a.send(&prepared{toStore: ps})
	defer fl.timer.Stop()
	if fl.sendErr != nil {
		return 0, fl.sendErr
	}
	for {
		select {
		case m := <-a.acks:
			if a.lost() {
				continue
			}
			if lastSeq, ok, err := fl.answer(m); ok {
				return lastSeq, err
			}
		case <-fl.timer.C:
			return 0, fl.noAnswer(a.cfg.Timeout)
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// send sends pr as one atomic batch conditional on the stream's last sequence being a.last,
// without waiting: the acknowledgement comes on a.acks (flight.answer).
func (a *Appender) send(pr *prepared) *flight {
	fl := &flight{prepared: pr, id: a.nextID(), first: a.last + 1, lastBefore: a.last, timer: time.NewTimer(a.cfg.Timeout), sentAt: time.Now()}
	fl.reply = a.inbox + "." + fl.id
	// One message and one header, rewritten for each event: PublishMsg encodes them into the
	// connection's buffer before it returns. The header names are canonical already: a
	// literal saves canonicalizing them on every message of every batch.
	seq := []string{""}
	m := &nats.Msg{Header: nats.Header{
		hdrBatchID:      {fl.id},
		hdrBatchSeq:     seq,
		hdrExpectedLast: {strconv.FormatUint(a.last, 10)},
	}}
	for i, p := range pr.toStore {
		m.Subject, m.Data = p.c.Event.Subject(), p.c.Body
		seq[0] = batchSeqText(i + 1)
		if i == 1 {
			delete(m.Header, hdrExpectedLast) // the first message carries the condition
		}
		if i == len(pr.toStore)-1 {
			m.Header[hdrBatchCommit] = []string{"1"}
			m.Reply = fl.reply
		}
		if err := a.cfg.Conn.PublishMsg(m); err != nil {
			// never committed: the server drops the partial batch when it times out
			fl.sendErr = fmt.Errorf("%w: %v", errUncertain, err)
			break
		}
	}
	return fl
}

// nextID returns an id for a batch or a message that names this writer and was never
// given before.
func (a *Appender) nextID() string {
	a.ids++
	return a.writer + "-" + strconv.FormatUint(a.ids, 36)
}

// batchSeqTexts holds the Nats-Batch-Sequence values of a batch, written once.
var batchSeqTexts = func() []string {
	t := make([]string, 1001)
	for i := range t {
		t[i] = strconv.Itoa(i)
	}
	return t
}()

func batchSeqText(i int) string {
	if i < len(batchSeqTexts) {
		return batchSeqTexts[i]
	}
	return strconv.Itoa(i)
}

// answer reads m if it answers fl's commit (ok): the server's PubAck, or a "no responders"
// status when no stream listens on the subjects. Any other message on the inbox is the late
// answer to a batch given up on, settled from the stream since.
func (fl *flight) answer(m *nats.Msg) (lastSeq uint64, ok bool, err error) {
	if m.Subject != fl.reply {
		return 0, false, nil
	}
	if len(m.Data) == 0 && m.Header.Get("Status") == "503" {
		return 0, true, nats.ErrNoResponders
	}
	lastSeq, err = parsePubAck(m.Data)
	return lastSeq, true, err
}

func (fl *flight) noAnswer(after time.Duration) error {
	return fmt.Errorf("no acknowledgement of the atomic batch in %v: %w", after, context.DeadlineExceeded)
}

type pubAckResponse struct {
	Seq   uint64              `json:"seq"`
	Error *jetstream.APIError `json:"error"`
}

func parsePubAck(b []byte) (uint64, error) {
	var r pubAckResponse
	if err := json.Unmarshal(b, &r); err != nil {
		return 0, fmt.Errorf("unexpected JetStream reply %q: %w", b, err)
	}
	if r.Error != nil {
		return 0, r.Error
	}
	if r.Seq == 0 {
		return 0, fmt.Errorf("unexpected JetStream reply %q", b)
	}
	return r.Seq, nil
}

// errUncertain says an append ended without telling which events landed: the stream
// will tell.
var errUncertain = errors.New("append outcome unknown")

// publishPipelined sends each event as its own conditional publish, all in flight at once,
// each expecting the sequence of the one before it and that the one before it is the last
// message stored (see Appender). Events acknowledged get their sequence at once: they are
// ours whatever happens to the rest. A refusal of the rest is returned as the server's
// error (a conflict), anything less definite as errUncertain.
func (a *Appender) publishPipelined(ctx context.Context, ps []*pendingEvent) (uint64, error) {
	futures := make([]jetstream.PubAckFuture, 0, len(ps))
	var sendErr error
	prevID := ""
	for i, p := range ps {
		m := nats.NewMsg(p.c.Event.Subject())
		m.Data = p.c.Body
		m.Header[hdrWriter] = []string{a.writer}
		opts := []jetstream.PublishOpt{jetstream.WithExpectLastSequence(a.last + uint64(i))}
		if prevID != "" {
			opts = append(opts, jetstream.WithExpectLastMsgID(prevID))
		}
		// Only an event that another follows needs an id: the last of a group, and so a
		// lone event, costs the server no entry in its duplicate window.
		prevID = ""
		if i < len(ps)-1 {
			prevID = a.nextID()
			opts = append(opts, jetstream.WithMsgID(prevID))
		}
		f, err := a.js.PublishMsgAsync(m, opts...)
		if err != nil {
			sendErr = err
			break
		}
		futures = append(futures, f)
	}
	var (
		last      uint64
		refused   error // a definite refusal: that event did not land
		uncertain error // no answer: that event may have landed
	)
	for i, f := range futures {
		select {
		case ack := <-f.Ok():
			// Acknowledged: it landed at ack.Sequence, whatever happened to the others.
			ps[i].res.Seq, last = ack.Sequence, ack.Sequence
		case err := <-f.Err():
			var apiErr *jetstream.APIError
			if errors.As(err, &apiErr) {
				refused = cmp.Or(refused, err)
			} else {
				uncertain = cmp.Or(uncertain, err)
			}
		case <-ctx.Done():
			uncertain = ctx.Err()
		}
	}
	uncertain = cmp.Or(uncertain, sendErr)
	switch {
	case uncertain != nil:
		return 0, fmt.Errorf("%w: %v", errUncertain, uncertain)
	case refused != nil:
		return 0, refused
	}
	for _, p := range ps {
		p.res.Seq = 0 // stored() assigns them with the index entries
	}
	return last, nil
}
