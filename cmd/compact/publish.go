package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"compact/ledger"
)

func runPublish(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("publish", flag.ContinueOnError)
	var c clientFlags
	c.register(fs)
	batch := fs.Int("batch", 500, "events per request")
	retries := fs.Int("retries", 5, "times to send a request again when the server answers 429 or 503 (it is idempotent: events already stored come back as duplicates)")
	file, err := parseWithOneArg(fs, args, "one FILE, or - for standard input")
	if err != nil {
		return err
	}
	if file == "" {
		return usagef("publish: want one FILE, or - for standard input")
	}
	if *batch < 1 || *batch > ledger.MaxBatchEvents {
		return usagef("--batch must be 1..%d", ledger.MaxBatchEvents)
	}
	if *retries < 0 {
		return usagef("--retries must be 0 or more")
	}
	var in io.Reader = os.Stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	p := &publisher{ctx: ctx, c: &c, batch: *batch, retries: *retries, out: json.NewEncoder(os.Stdout)}
	src := newInput(ctx, in, p.flush)
	defer src.close()
	err = readEvents(src, p.add)
	var (
		se   *sendError
		intr *interruptedError
	)
	switch {
	case errors.As(err, &se):
		// The request failed as a whole: nothing after it is sent.
	case errors.As(err, &intr):
		// A signal: the events read are sent, what the input still held is not.
		if ferr := p.flush(); ferr != nil {
			err = fmt.Errorf("%w; %w", err, ferr)
		}
	case err != nil:
		// The events before a malformed one are sent, as they would have been had more
		// followed.
		if ferr := p.flush(); ferr != nil {
			err = fmt.Errorf("%w; %w", err, ferr)
		}
	case p.read == 0:
		return fmt.Errorf("%s holds no events", file)
	default:
		err = p.flush()
	}
	if p.rejected > 0 {
		fmt.Fprintf(os.Stderr, "compact: %d of %d events rejected\n", p.rejected, p.sent)
		if err == nil {
			return errSilentFailure
		}
	}
	return err
}

// publisher sends the events read in requests of at most batch events, printing each
// result as its answer comes.
type publisher struct {
	ctx            context.Context
	c              *clientFlags
	batch, retries int
	out            *json.Encoder

	pending              []json.RawMessage
	pendingBytes         int // of the request batchBody(pending) makes
	read, sent, rejected int // events read, sent and answered, and rejected of those
}

// add takes one event read, and sends the pending ones when they make a full request: batch
// events, or as many as fit in the server's request limit (large events would otherwise make
// a request of batch events the server refuses whole).
func (p *publisher) add(event json.RawMessage) error {
	p.read++
	size := len(bytes.Trim(event, " \t\r\n")) + 1 // and its comma, or the array's bracket
	if 1+size > ledger.MaxRequestBytes {
		// No request can carry it: the server would refuse the request whole, and the
		// events sent with it. It is answered here as the server answers an event too large.
		if err := p.flush(); err != nil {
			return err
		}
		p.out.Encode(ledger.Result{ID: eventID(event), Error: &ledger.FieldError{Message: fmt.Sprintf(
			"event of %d bytes, more than a request may hold (%d): not sent; an event is at most %d bytes as stored: shorten it", size-1, ledger.MaxRequestBytes, ledger.MaxEventSize)}})
		p.sent++
		p.rejected++
		return nil
	}
	if len(p.pending) > 0 && 1+p.pendingBytes+size > ledger.MaxRequestBytes {
		if err := p.flush(); err != nil {
			return err
		}
	}
	p.pending = append(p.pending, event)
	p.pendingBytes += size
	if len(p.pending) >= p.batch {
		return p.flush()
	}
	return nil
}

// eventID is the id of an event not sent, for its result; "" when it has none.
func eventID(event json.RawMessage) string {
	var head struct {
		ID any `json:"id"`
	}
	json.Unmarshal(event, &head)
	id, _ := head.ID.(string)
	return id
}

// flush sends the pending events, if any, and prints their results.
func (p *publisher) flush() error {
	if len(p.pending) == 0 {
		return nil
	}
	se := &sendError{first: p.sent + 1, last: p.sent + len(p.pending)}
	resp, raw, err := postWithRetries(p.ctx, p.c, batchBody(p.pending), p.retries)
	if err != nil {
		// Only a request that never reached the server is known not to be stored.
		var oe *net.OpError
		se.err, se.unknown = err, !(errors.As(err, &oe) && oe.Op == "dial")
		return se
	}
	var reply ledger.Reply
	if err := json.Unmarshal(raw, &reply); err != nil || (reply.Error == nil && len(reply.Results) != len(p.pending)) {
		se.err, se.unknown = fmt.Errorf("POST /v1/events: %s: %s", resp.Status, bytes.TrimSpace(raw)), true
		return se
	}
	if reply.Error != nil {
		// A 503 may be an append whose outcome the ledger could not learn.
		se.err, se.unknown = fmt.Errorf("POST /v1/events: %s: %s", resp.Status, reply.Error.Message), resp.StatusCode == http.StatusServiceUnavailable
		return se
	}
	for _, r := range reply.Results {
		p.out.Encode(r)
		if r.Error != nil {
			p.rejected++
		}
	}
	p.sent += len(p.pending)
	p.pending, p.pendingBytes = p.pending[:0], 0
	return nil
}

// batchBody is a request of events: each event's bytes as the publisher wrote them, only the
// white space around it left out, in a JSON array. json.Marshal would compact them and escape
// &, < and > as \u0026...: not what the publisher wrote, and six times the bytes of each such
// character, which can push a request over the server's limit.
func batchBody(events []json.RawMessage) []byte {
	n := 2 + len(events)
	for _, e := range events {
		n += len(e)
	}
	b := make([]byte, 0, n)
	b = append(b, '[')
	for i, e := range events {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, bytes.Trim(e, " \t\r\n")...)
	}
	return append(b, ']')
}

// sendError is a request of events that failed as a whole.
type sendError struct {
	first, last int // the events' places in the input, from 1
	unknown     bool
	err         error
}

func (e *sendError) Error() string {
	if e.unknown {
		// The request may have been stored before its answer was lost.
		return fmt.Sprintf("events %d to %d: %v; whether they were stored is unknown (publishing them again is safe)", e.first, e.last, e.err)
	}
	return fmt.Sprintf("events %d to %d not stored: %v", e.first, e.last, e.err)
}

func (e *sendError) Unwrap() error { return e.err }

// interruptedError ends a publish stopped by a signal.
type interruptedError struct {
	read       int  // complete events read: sent unless a request failed
	incomplete bool // the input read so far ends inside an event
}

func (e *interruptedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "interrupted after reading %d event%s", e.read, plural(e.read))
	if e.incomplete {
		b.WriteString(" and part of another (not sent)")
	}
	b.WriteString("; the rest of the input was not read")
	return b.String()
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// errInterrupted is what input returns once a signal has stopped the reading.
var errInterrupted = errors.New("interrupted")

// readEvents decodes one JSON event, JSON arrays of events, or JSON Lines, and passes each
// event to add as soon as it is complete: nothing waits for the input's end, and an array
// is never held whole. Each event is the bytes the input holds for it.
func readEvents(src *input, add func(json.RawMessage) error) error {
	dec := json.NewDecoder(src)
	n := 0
	fail := func(err error) error {
		var se *sendError
		switch {
		case errors.As(err, &se): // a request, full or sent while waiting for input, failed
			return err
		case err == io.EOF: // inside an array: the input ends before its closing bracket
			err = io.ErrUnexpectedEOF
		case errors.Is(err, errInterrupted):
			left := append(bufferedBytes(dec), src.buf...)
			return &interruptedError{read: n, incomplete: len(bytes.Trim(left, " \t\r\n,")) > 0}
		case src.err != nil && errors.Is(err, src.err):
			return err // not the input's JSON: a failed read
		}
		if err == io.ErrUnexpectedEOF {
			err = errors.New("the input ends inside it")
		}
		return fmt.Errorf("reading events (event %d): %w; fix it and publish the input again (the events before it are sent: those stored come back as duplicates)", n+1, err)
	}
	decode := func() error {
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return fail(err)
		}
		n++
		if err := add(v); err != nil {
			return fail(err)
		}
		return nil
	}
	for {
		c, err := src.peek(dec)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fail(err)
		}
		if n == 0 {
			if err := notUTF8(c); err != nil {
				return err
			}
		}
		if c != '[' {
			if err := decode(); err != nil {
				return err
			}
			continue
		}
		if _, err := dec.Token(); err != nil {
			return fail(err)
		}
		for dec.More() {
			if err := decode(); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil { // the array's end, or why it has none
			return fail(err)
		}
	}
}

// notUTF8 says what is wrong with input that starts with c when c marks a text other than
// UTF-8 without a byte order mark (what Windows tools may save), nil otherwise.
func notUTF8(c byte) error {
	switch c {
	case 0xef:
		return errors.New("the input starts with a byte order mark (U+FEFF): save it as UTF-8 without one")
	case 0xfe, 0xff, 0:
		return errors.New("the input is UTF-16: convert it to UTF-8")
	}
	return nil
}

func bufferedBytes(dec *json.Decoder) []byte {
	b, _ := io.ReadAll(dec.Buffered())
	return b
}

// input is what publish reads, as it arrives: a goroutine reads the source, so the
// decoding side can tell input that is not there yet (a producer that has not written
// more) and send what it holds before waiting (idle), rather than waiting for a full
// request or the end of the input. Once ctx is done it takes only what was already read.
type input struct {
	ctx    context.Context
	idle   func() error
	chunks chan chunk
	stop   chan struct{}

	buf   []byte
	err   error // the reading's end: io.EOF, a read error, errInterrupted, or idle's error
	drain int   // after ctx is done: the chunks still to take; -1 before
}

type chunk struct {
	b   []byte
	err error
}

func newInput(ctx context.Context, src io.Reader, idle func() error) *input {
	r := &input{ctx: ctx, idle: idle, chunks: make(chan chunk, 4), stop: make(chan struct{}), drain: -1}
	go func() {
		b := make([]byte, 64<<10)
		for {
			n, err := src.Read(b)
			if n == 0 && err == nil {
				continue
			}
			select {
			case r.chunks <- chunk{bytes.Clone(b[:n]), err}:
			case <-r.stop:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return r
}

// close lets the reading goroutine end, unless it is blocked reading the source (a
// terminal, a pipe), which only the process's end stops.
func (r *input) close() { close(r.stop) }

// fill makes r.buf hold input, or returns why there is no more.
func (r *input) fill() error {
	for len(r.buf) == 0 {
		if r.err != nil {
			return r.err
		}
		if r.ctx.Err() != nil {
			// Only the chunks already read are taken: a producer writing without pause
			// would otherwise keep publish from ever stopping.
			if r.drain < 0 {
				r.drain = len(r.chunks)
			}
			if r.drain == 0 {
				r.err = errInterrupted
				continue
			}
			r.drain--
			r.take(<-r.chunks)
			continue
		}
		select {
		case c := <-r.chunks:
			r.take(c)
			continue
		default:
		}
		if err := r.idle(); err != nil {
			r.err = err
			continue
		}
		select {
		case c := <-r.chunks:
			r.take(c)
		case <-r.ctx.Done():
		}
	}
	return nil
}

func (r *input) take(c chunk) {
	r.buf = c.b
	if c.err != nil {
		r.err = c.err
	}
}

func (r *input) Read(p []byte) (int, error) {
	if err := r.fill(); err != nil {
		return 0, err
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// peek returns the first byte of dec's next top-level value without taking it, or io.EOF
// when there is none: '[' is an array, whose events are decoded one by one.
func (r *input) peek(dec *json.Decoder) (byte, error) {
	// Read byte by byte, not copied: the decoder may hold many events after this one.
	buffered := dec.Buffered()
	br, ok := buffered.(io.ByteReader)
	if !ok {
		br = bufio.NewReader(buffered)
	}
	for {
		c, err := br.ReadByte()
		if err != nil {
			break
		}
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return c, nil
		}
	}
	// dec holds only white space: the value starts in what it has not read yet, and the
	// white space before it can be dropped.
	for {
		if err := r.fill(); err != nil {
			return 0, err
		}
		if r.buf = bytes.TrimLeft(r.buf, " \t\r\n"); len(r.buf) > 0 {
			return r.buf[0], nil
		}
	}
}

// postWithRetries posts one request of events, sending it again while the server answers
// 429 (over the token's rate) or 503 (the ledger unavailable), at most retries times. It
// waits as long as Retry-After says, else 250 ms doubling up to 10 s. Sending again is safe:
// the ledger deduplicates by source and id, so an event stored by an earlier try is
// answered as a duplicate with its sequence. Any other answer is returned as it is.
//
// Once ctx is done (a signal) it sends no request again, but a request under way, or the
// one it is asked to send, goes on to its answer: cut short, its events' outcome would be
// unknown. A second signal ends the process (main).
func postWithRetries(ctx context.Context, c *clientFlags, body []byte, retries int) (*http.Response, []byte, error) {
	backoff := 250 * time.Millisecond
	for attempt := 0; ; attempt++ {
		resp, err := c.do(context.WithoutCancel(ctx), http.MethodPost, "/v1/events", ledger.MediaBatch, bytes.NewReader(body))
		if err != nil {
			return nil, nil, err
		}
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("POST /v1/events: reading the answer: %w", err)
		}
		if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable || attempt == retries {
			return resp, raw, nil
		}
		wait := backoff
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
			wait = min(time.Duration(s)*time.Second, maxRetryWait)
		}
		backoff = min(2*backoff, 10*time.Second)
		fmt.Fprintf(os.Stderr, "compact: POST /v1/events: %s; sending again in %v (%d of %d)\n", resp.Status, wait, attempt+1, retries)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("interrupted while waiting to send again after %s", resp.Status)
		}
	}
}

// maxRetryWait caps a Retry-After: however long the server asks for, the command waits at
// most this long before its next try.
const maxRetryWait = time.Minute
