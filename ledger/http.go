package ledger

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Media types of the ingest endpoint.
const (
	MediaEvent = "application/cloudevents+json"
	MediaBatch = "application/cloudevents-batch+json"
)

// Auth authenticates HTTP requests with bearer tokens from the registry.
type Auth struct {
	Registry *Registry
}

type principalKey struct{}

// PrincipalFrom returns the principal a Require* middleware put in the request's context.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// Principal authenticates r.
func (a *Auth) Principal(r *http.Request) (Principal, error) {
	token, ok := bearerToken(r)
	if !ok {
		return Principal{}, fmt.Errorf("%w: the Authorization header is not \"Bearer <token>\": send Authorization: Bearer <token>", ErrUnauthenticated)
	}
	return a.Registry.Authenticate(token)
}

// bearerToken is r's Authorization: Bearer token ("" when there is no header); ok is false
// when the header holds anything else. The scheme is matched without regard to case, as
// RFC 9110 §11.1 has it. The rate limiter reads the token here too: a header it did not
// take as a token must not authenticate, or the limit is bypassed (a bare token was once
// accepted by the one and ignored by the other).
func bearerToken(r *http.Request) (token string, ok bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", true
	}
	scheme, token, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(token), true
}

// Require wraps h so that it runs only for a principal whose role allow accepts.
func (a *Auth) Require(what string, allow func(Role) bool, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.Principal(r)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="compact"`)
			WriteError(w, http.StatusUnauthorized, err.Error())
			return
		}
		if !allow(p.Role) {
			WriteError(w, http.StatusForbidden, fmt.Sprintf("role %s may not %s", p.Role, what))
			return
		}
		ctx := context.WithValue(r.Context(), principalKey{}, p)
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			// A read may stream for hours (a watch, a replay): it ends when the caller loses
			// the right to it (hold.go). A write is left to finish as it was authorized:
			// cutting it short would leave its outcome unknown to the caller.
			var release func()
			token, _ := bearerToken(r)
			ctx, release = a.Registry.Hold(ctx, token, p, allow)
			defer release()
			// and it ends even when its client has stopped reading (stall.go)
			defer endWrites(ctx, w)()
		}
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

// AnyRole is the guard of private reads: any registered token.
func (a *Auth) AnyRole(h http.Handler) http.Handler {
	return a.Require("read", func(Role) bool { return true }, h)
}

// History is the guard of raw history: auditors and admins.
func (a *Auth) History(h http.Handler) http.Handler {
	return a.Require("read the raw history (auditor or admin only)", Role.CanReadHistory, h)
}

// Admin is the guard of operations.
func (a *Auth) Admin(h http.Handler) http.Handler {
	return a.Require("run operations (admin only)", func(r Role) bool { return r == RoleAdmin }, h)
}

// refuseRequest answers a POST /v1/events refused before the ingester saw it as the ingester
// answers one it refused as a whole: {"results": null, "error": {"field", "message"}}.
func refuseRequest(w http.ResponseWriter, status int, msg string) {
	b, _ := Reply{Error: &FieldError{Message: msg}}.MarshalJSON()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// WriteError writes {"error": {"message": ...}} with the status.
func WriteError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"field": "", "message": msg}})
}

// HTTPHandlers serves the write side and the raw history over HTTP.
type HTTPHandlers struct {
	Ingester *Ingester
	Auth     *Auth
	JS       jetstream.JetStream
	Logger   *slog.Logger
}

// Routes registers POST /v1/events (publishers) and GET /v1/events (auditors).
func (h *HTTPHandlers) Routes(mux *http.ServeMux) {
	mux.Handle(IngestRoute, http.HandlerFunc(h.postEvents))
	mux.Handle("GET /v1/events", NoHead(h.Auth.History(Params(http.HandlerFunc(h.getEvents), replayParams...))))
}

func (h *HTTPHandlers) postEvents(w http.ResponseWriter, r *http.Request) {
	m := h.Ingester.Metrics
	defer m.request(TransportHTTP, time.Now())
	// refuse answers a request refused before the ingester saw it, and counts it.
	refuse := func(status int, kind error, msg string) {
		m.rejectedRequest(&FieldError{Kind: kind})
		refuseRequest(w, status, msg)
	}
	p, err := h.Auth.Principal(r)
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="compact"`)
		refuse(http.StatusUnauthorized, ErrUnauthenticated, err.Error())
		return
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mt != MediaEvent && mt != MediaBatch && mt != "application/json") {
		refuse(http.StatusUnsupportedMediaType, ErrInvalid, "Content-Type must be "+MediaEvent+" (one event) or "+MediaBatch+" (a JSON array)")
		return
	}
	if ce := r.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		// Decoded as it came, a compressed body would be refused as "not valid UTF-8".
		w.Header().Set("Accept-Encoding", "identity") // RFC 9110 §12.5.3
		refuse(http.StatusUnsupportedMediaType, ErrInvalid, "Content-Encoding "+quoteShort(ce)+" is not taken: send the body uncompressed")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			refuse(http.StatusRequestEntityTooLarge, ErrTooLarge, fmt.Sprintf("request body over %d bytes: split the batch", MaxRequestBytes))
			return
		}
		refuse(http.StatusBadRequest, ErrInvalid, "reading the body: "+err.Error())
		return
	}
	if start := bytes.TrimLeft(body, " \t\r\n"); mt == MediaBatch && (len(start) == 0 || start[0] != '[') {
		msg := MediaBatch + " needs a JSON array of events"
		if bytes.HasPrefix(start, utf8BOM) {
			msg = "the body starts with a byte order mark (U+FEFF): send UTF-8 JSON without one"
		}
		refuse(http.StatusBadRequest, ErrInvalid, msg)
		return
	}
	reply := h.Ingester.Ingest(r.Context(), p, body)
	w.Header().Set("Content-Type", "application/json")
	status := replyStatus(reply)
	if status == http.StatusServiceUnavailable {
		// the stream is out of reach for now; nothing of the request was stored
		w.Header().Set("Retry-After", "1")
	}
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(reply)
}

// replyStatus: 201 all stored, 200 all duplicates, 207 mixed, 4xx/503 when all failed alike.
func replyStatus(r Reply) int {
	if r.Error != nil {
		return kindStatus(r.Error.Kind)
	}
	var stored, dups, failed int
	var kind error
	sameKind := true
	for _, res := range r.Results {
		switch {
		case res.Error != nil:
			if failed > 0 && !errors.Is(res.Error.Kind, kind) {
				sameKind = false
			}
			kind = res.Error.Kind
			failed++
		case res.Duplicate:
			dups++
		default:
			stored++
		}
	}
	switch {
	case failed == 0 && dups == 0:
		return http.StatusCreated
	case failed == 0 && stored == 0:
		return http.StatusOK
	case failed == len(r.Results) && sameKind:
		return kindStatus(kind)
	case failed == len(r.Results):
		return http.StatusBadRequest
	default:
		return http.StatusMultiStatus
	}
}

func kindStatus(kind error) int {
	switch {
	case errors.Is(kind, ErrForbidden):
		return http.StatusForbidden
	case errors.Is(kind, ErrUnauthenticated):
		return http.StatusUnauthorized
	case errors.Is(kind, ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(kind, ErrUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(kind, ErrConflict):
		return http.StatusConflict
	default:
		return http.StatusBadRequest
	}
}

// replayParams are the parameters of GET /v1/events.
var replayParams = []string{"from_seq", "since", "until", "entity", "type"}

// ParseReplayQuery reads from_seq, since, until, entity and type. Other parameters, and
// repeated ones, are the route's to refuse (Params, in Routes).
func ParseReplayQuery(q map[string][]string) (ReplayFilter, error) {
	var f ReplayFilter
	var errs []error
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	if v := get("from_seq"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			errs = append(errs, paramErrorf("from_seq", "from_seq %s: not a sequence number", quoteShort(v)))
		}
		f.FromSeq = n
	}
	for _, k := range []string{"since", "until"} {
		if v := get(k); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				errs = append(errs, paramErrorf(k, "%s %s: not an RFC 3339 time with its zone, e.g. 2025-07-01T00:00:00Z", k, quoteShort(v)))
			}
			if k == "since" {
				f.Since = t
			} else {
				f.Until = t
			}
		}
	}
	f.Entity, f.Type = get("entity"), get("type")
	if len(errs) == 0 {
		errs = append(errs, f.Validate())
	}
	return f, errors.Join(errs...)
}

func (h *HTTPHandlers) getEvents(w http.ResponseWriter, r *http.Request) {
	f, err := ParseReplayQuery(r.URL.Query())
	if err != nil {
		field := ""
		if pe := (*ParamError)(nil); errors.As(err, &pe) {
			field = pe.Param // the first at fault, as Params names it
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"field": field, "message": err.Error()}})
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	bw := bufio.NewWriterSize(w, 64<<10)
	flusher, _ := w.(http.Flusher)
	n := 0
	err = Replay(r.Context(), h.JS, f, func(seq uint64, t time.Time, body []byte) error {
		bw.Write(StoredLine(seq, t, body))
		bw.WriteByte('\n')
		if n++; n%1000 == 0 {
			bw.Flush()
			if flusher != nil {
				flusher.Flush()
			}
		}
		return nil
	})
	if err != nil && n == 0 && r.Context().Err() == nil {
		// Nothing written yet (the stream could not be read at all): the status can still
		// say the server failed, as GET /v1/checkpoints does, rather than a 200 of one line.
		h.Logger.Warn("replay failed", "err", err)
		WriteError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	if err != nil {
		// The status is gone with the first line; end the stream with an error line a
		// reader can recognise.
		if r.Context().Err() != nil {
			err = context.Cause(r.Context()) // the caller gone, or no longer let in (hold.go)
		}
		if errors.Is(err, context.Canceled) {
			// The caller hung up (`compact replay | head`), or the server is stopping: the
			// normal end of a replay that was not read to its end, not a fault of the ledger.
			h.Logger.Info("replay ended before its end: the caller went away", "lines", n)
		} else {
			h.Logger.Warn("replay failed", "lines", n, "err", err)
		}
		// JSON-encoded: %q is Go's quoting, not JSON's, for some characters
		line, _ := json.Marshal(map[string]map[string]string{"error": {"message": err.Error()}})
		bw.Write(append(line, '\n'))
	}
	bw.Flush()
}

// Unreachable wraps the error of a request to the ledger at server that got no answer, with
// what to do about it: a certificate the client does not trust (serve's --tls-cert signed
// by a CA of one's own) is not a server that is down.
func Unreachable(err error, server string) error {
	var unknownCA x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var hostname x509.HostnameError
	var verify *tls.CertificateVerificationError
	switch {
	case errors.As(err, &unknownCA):
		return fmt.Errorf("%w (the certificate of %s is not trusted here: set SSL_CERT_FILE to the PEM file of the CA that signed it, or of the certificate itself)", err, server)
	case errors.As(err, &invalid), errors.As(err, &hostname), errors.As(err, &verify):
		return fmt.Errorf("%w (the certificate of %s does not verify: it must name the host of --server and be valid now)", err, server)
	}
	return fmt.Errorf("%w (is compact serve running at %s? set --server or COMPACT_SERVER)", err, server)
}
