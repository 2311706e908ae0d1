package ledger

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"compact/schemas"
)

// ReplayFilter selects part of the history. The zero value is everything.
type ReplayFilter struct {
	FromSeq uint64    // first sequence (inclusive); 0 or 1 for the beginning
	Since   time.Time // first ledger time (inclusive)
	Until   time.Time // last ledger time (inclusive); zero for no bound
	Entity  string    // only events of this entity
	Type    string    // only events of this type (e.g. compact.meeting.held)
}

// Validate reports every problem of the filter at once, each a *ParamError.
func (f ReplayFilter) Validate() error {
	var errs []error
	if f.Entity != "" && !acronymPattern.MatchString(f.Entity) {
		errs = append(errs, paramErrorf("entity", "entity %s: must be 2-24 characters of A-Z 0-9 -", quoteShort(f.Entity)))
	}
	// Only a type the ledger accepts can be in the stream: a misspelt one, or a prefix such
	// as compact.meeting, would replay nothing, which reads as "there were none".
	if f.Type != "" && !schemas.Known(f.Type) {
		errs = append(errs, paramErrorf("type", "type %s: not an event type (one of schemas/, such as compact.meeting.held; no prefixes or wildcards)", quoteShort(f.Type)))
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && f.Until.Before(f.Since) {
		errs = append(errs, paramErrorf("until", "until is before since"))
	}
	return errors.Join(errs...)
}

// ParamError is a query parameter with a value its endpoint does not take; Param names it,
// for the "field" of the API's error answer.
type ParamError struct {
	Param   string
	Message string
}

func (e *ParamError) Error() string { return e.Message }

func paramErrorf(param, format string, args ...any) *ParamError {
	return &ParamError{Param: param, Message: fmt.Sprintf(format, args...)}
}

// subject is the stream subject filter of f.
func (f ReplayFilter) subject() string {
	entity := "*"
	if f.Entity != "" {
		entity = f.Entity
	}
	if f.Type != "" {
		return EventSubjectPrefix + entity + "." + strings.TrimPrefix(f.Type, TypePrefix)
	}
	return EventSubjectPrefix + entity + ".>"
}

// StoredLine is one line of a replay: the stored event with "seq" and "ledgertime" as
// CloudEvents extension attributes in front, the event's own bytes unchanged after them.
func StoredLine(seq uint64, ledgerTime time.Time, body []byte) []byte {
	line := make([]byte, 0, len(body)+64)
	line = append(line, `{"seq":`...)
	line = strconv.AppendUint(line, seq, 10)
	line = append(line, `,"ledgertime":"`...)
	line = ledgerTime.UTC().AppendFormat(line, time.RFC3339Nano)
	line = append(line, `",`...)
	line = append(line, body[1:]...) // body is a JSON object: drop its "{"
	return line
}

// Replay calls fn for every stored message that f selects, in sequence order, up to the
// stream's last sequence when Replay started. It streams: memory does not grow with the
// history. fn must not keep body after it returns.
func Replay(ctx context.Context, js jetstream.JetStream, f ReplayFilter, fn func(seq uint64, ledgerTime time.Time, body []byte) error) error {
	if err := f.Validate(); err != nil {
		return err
	}
	stream, err := js.Stream(ctx, StreamName)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	last := stream.CachedInfo().State.LastSeq
	if f.FromSeq > last || last == 0 {
		return nil
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{f.subject()}}
	switch {
	case f.FromSeq > 1:
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, f.FromSeq
	case !f.Since.IsZero():
		t := f.Since
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &t
	}
	cons, err := stream.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	defer DropConsumer(js, StreamName, cons)
	// A filtered consumer may have nothing to deliver at all: ask before waiting.
	if info, err := cons.Info(ctx); err == nil && info.NumPending == 0 {
		return nil
	}
	var fnErr error // fn's, returned as it is; the read's own errors say "replay"
	err = ReadOrdered(ctx, cons, ReadOptions{}, func(msg jetstream.Msg) (bool, error) {
		md, err := msg.Metadata()
		if err != nil {
			return true, err
		}
		seq := md.Sequence.Stream
		if seq > last || (!f.Until.IsZero() && md.Timestamp.After(f.Until)) {
			return true, nil
		}
		// From a sequence, the events before Since are read and passed over; the last one
		// read ends the replay all the same, or it would wait for an event yet to come.
		if f.Since.IsZero() || !md.Timestamp.Before(f.Since) {
			if fnErr = fn(seq, md.Timestamp, msg.Data()); fnErr != nil {
				return true, fnErr
			}
		}
		return md.NumPending == 0 || seq == last, nil
	})
	if err != nil && err != fnErr {
		return fmt.Errorf("replay: %w", err)
	}
	return err
}
