package audit

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/mod/sumdb/tlog"

	"compact/ledger"
)

// MaxLeavesPerRequest bounds GET /v1/audit/leaves.
const MaxLeavesPerRequest = 1 << 16

// Routes registers the audit endpoints:
//
//	GET /v1/key                       the verifier key, text (public)
//	GET /v1/checkpoints               NDJSON of CheckpointRecord, in checkpoint-stream order,
//	                                  then {"end":true}; ?latest=true: the latest Checkpoint
//	                                  as one JSON object
//	GET /v1/audit/messages?from_seq=N NDJSON of the raw messages {"seq","subject","time","data"
//	                                  (base64)}, then {"end":true,"last_seq":N}
//	GET /v1/audit/leaves?from_seq=N&to_seq=M
//	                                  {"from_seq":N,"hashes":[base64...]}, the recorded leaf hashes
//	GET /v1/proofs?seq=N              an inclusion proof (Proof) of the message at seq N
//	GET /v1/proofs?id=ID              an inclusion proof of the event ID, whatever its source
//	GET /v1/proofs/{entity}/{id}      an inclusion proof of the event id of /entities/{entity}
//
// An NDJSON answer whose read fails once its status is sent ends with {"error":"..."}
// instead of its end line: one with neither was cut short, and the client says so rather
// than take what came for the whole.
//
// All but /v1/key go through auditorGuard. None of them asks the auditor to trust the
// server: verify recomputes everything from the raw messages and the signed checkpoints.
func Routes(mux *http.ServeMux, c *Checkpointer, auditorGuard func(http.Handler) http.Handler) {
	h := &handlers{c: c}
	mux.Handle("GET /v1/key", ledger.Params(http.HandlerFunc(h.key)))
	mux.Handle("GET /v1/checkpoints", ledger.NoHead(auditorGuard(ledger.Params(http.HandlerFunc(h.checkpoints), "latest"))))
	mux.Handle("GET /v1/audit/messages", ledger.NoHead(auditorGuard(ledger.Params(http.HandlerFunc(h.messages), "from_seq"))))
	mux.Handle("GET /v1/audit/leaves", auditorGuard(ledger.Params(http.HandlerFunc(h.leaves), "from_seq", "to_seq")))
	mux.Handle("GET /v1/proofs", auditorGuard(ledger.Params(http.HandlerFunc(h.proofBySeq), "seq", "id")))
	mux.Handle("GET /v1/proofs/{entity}/{id}", auditorGuard(ledger.Params(http.HandlerFunc(h.proofByID))))
}

type handlers struct{ c *Checkpointer }

func (h *handlers) key(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, h.c.VerifierKey())
}

func (h *handlers) checkpoints(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("latest") == "true" {
		cp := h.c.Latest()
		if cp == nil {
			ledger.WriteError(w, http.StatusNotFound, "no checkpoint yet: the first comes after the first events are stored")
			return
		}
		writeJSON(w, cp)
		return
	}
	writeCheckpoints(w, r, JetStreamSource{JS: h.c.js, Stream: h.c.cfg.Stream, CheckpointStream: h.c.cfg.CheckpointStream})
}

// checkpointsEnd is the last line of GET /v1/checkpoints, after its CheckpointRecord lines.
type checkpointsEnd struct {
	End   bool   `json:"end,omitempty"`
	Error string `json:"error,omitempty"`
}

// checkpointLinesPerFlush is how many records GET /v1/checkpoints writes between flushes
// (about 64 KB): the client gets them while the server reads on.
const checkpointLinesPerFlush = 64

// writeCheckpoints writes src's checkpoint records, one NDJSON line each, as it reads them.
// The checkpoint stream grows for as long as the ledger runs, and every auditor reads all
// of it: a server that gathered each answer before sending it would hold them all at once.
func writeCheckpoints(w http.ResponseWriter, r *http.Request, src Source) {
	w.Header().Set("Content-Type", "application/x-ndjson")
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	flusher, _ := w.(http.Flusher)
	n := 0 // records given to the writer: past 0, the status may be sent
	err := src.Checkpoints(r.Context(), func(rec CheckpointRecord) error {
		n++
		if err := enc.Encode(rec); err != nil {
			return err
		}
		if n%checkpointLinesPerFlush == 0 {
			if err := bw.Flush(); err != nil {
				return err
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
		return nil
	})
	if err != nil && n == 0 {
		// nothing written yet: the status can still say the server failed
		ledger.WriteError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	if err != nil {
		if r.Context().Err() != nil {
			err = context.Cause(r.Context()) // the caller gone, or no longer let in (ledger/hold.go)
		}
		// The status is sent: the error line tells the client the records it has are not all.
		enc.Encode(checkpointsEnd{Error: err.Error()})
		bw.Flush()
		return
	}
	enc.Encode(checkpointsEnd{End: true})
	bw.Flush()
}

// messageLine is one line of GET /v1/audit/messages.
type messageLine struct {
	Seq     uint64     `json:"seq,omitempty"`
	Subject string     `json:"subject,omitempty"`
	Time    *time.Time `json:"time,omitempty"`
	Data    []byte     `json:"data,omitempty"`
	End     bool       `json:"end,omitempty"`
	LastSeq uint64     `json:"last_seq,omitempty"`
	// StreamLastSeq, in the end line, is the stream's last sequence when the messages after
	// LastSeq could not be read.
	StreamLastSeq uint64 `json:"stream_last_seq,omitempty"`
	Error         string `json:"error,omitempty"`
}

func (h *handlers) messages(w http.ResponseWriter, r *http.Request) {
	from, err := seqParam(r, "from_seq", 1)
	if err != nil {
		ledger.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	flusher, _ := w.(http.Flusher)
	var last uint64
	n := 0
	err = readStream(r.Context(), h.c.js, h.c.cfg.Stream, "", from, 0, func(m Message, _ nats.Header) error {
		t := m.Time.UTC()
		last = m.Seq
		if err := enc.Encode(messageLine{Seq: m.Seq, Subject: m.Subject, Time: &t, Data: m.Data}); err != nil {
			return err
		}
		if n++; n%256 == 0 && flusher != nil {
			bw.Flush()
			flusher.Flush()
		}
		return nil
	})
	var lost *UnreadableError
	if errors.As(err, &lost) {
		// the readable history ended before the stream's last sequence: say so in the end
		// line, so that the client reports the missing messages like a JetStream reader
		enc.Encode(messageLine{End: true, LastSeq: last, StreamLastSeq: lost.Last})
		bw.Flush()
		return
	}
	if err != nil {
		if r.Context().Err() != nil {
			err = context.Cause(r.Context()) // the caller gone, or no longer let in (ledger/hold.go)
		}
		// The status is sent; a line without the end marker tells the client it is cut short.
		enc.Encode(messageLine{Error: err.Error()})
		bw.Flush()
		return
	}
	enc.Encode(messageLine{End: true, LastSeq: last})
	bw.Flush()
}

// leavesResponse is the body of GET /v1/audit/leaves.
type leavesResponse struct {
	FromSeq uint64      `json:"from_seq"`
	Hashes  []tlog.Hash `json:"hashes"`
}

func (h *handlers) leaves(w http.ResponseWriter, r *http.Request) {
	from, err1 := seqParam(r, "from_seq", 0)
	to, err2 := seqParam(r, "to_seq", 0)
	if err := errors.Join(err1, err2); err != nil || from == 0 || to < from || to-from >= MaxLeavesPerRequest {
		ledger.WriteError(w, http.StatusBadRequest, fmt.Sprintf("want 1 ≤ from_seq ≤ to_seq, at most %d leaves per request", MaxLeavesPerRequest))
		return
	}
	hs, err := h.c.LeafHashes(r.Context(), from, to)
	switch {
	case errors.Is(err, ErrEventNotFound): // past the tree: not folded yet, or no such message
		ledger.WriteError(w, http.StatusNotFound, err.Error())
		return
	case err != nil: // the checkpointer's store failed: the server's trouble, not the request's
		ledger.WriteError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	writeJSON(w, leavesResponse{FromSeq: from, Hashes: hs})
}

func (h *handlers) proofBySeq(w http.ResponseWriter, r *http.Request) {
	if q := r.URL.Query(); q.Has("id") && q.Has("seq") {
		ledger.WriteError(w, http.StatusBadRequest, "give ?seq=N or ?id=ID, not both")
		return
	}
	if id := r.URL.Query().Get("id"); id != "" {
		if msg := ledger.EventIDProblem(id); msg != "" {
			// no stored event has it: refused at once rather than searched for in the whole stream
			ledger.WriteError(w, http.StatusBadRequest, fmt.Sprintf("id %.80q is no event id: it %s", id, msg))
			return
		}
		p, err := h.c.ProveEvent(r.Context(), "", id)
		h.writeProof(w, p, err)
		return
	}
	seq, err := seqParam(r, "seq", 0)
	if err != nil || seq == 0 {
		ledger.WriteError(w, http.StatusBadRequest, "want ?seq=N (N ≥ 1), ?id=ID, or /v1/proofs/{entity}/{id}")
		return
	}
	p, err := h.c.Prove(r.Context(), seq)
	h.writeProof(w, p, err)
}

func (h *handlers) proofByID(w http.ResponseWriter, r *http.Request) {
	if id := r.PathValue("id"); ledger.EventIDProblem(id) != "" {
		ledger.WriteError(w, http.StatusBadRequest, fmt.Sprintf("id %.80q is no event id: it %s", id, ledger.EventIDProblem(id)))
		return
	}
	p, err := h.c.ProveEvent(r.Context(), ledger.SourcePrefix+r.PathValue("entity"), r.PathValue("id"))
	h.writeProof(w, p, err)
}

func (h *handlers) writeProof(w http.ResponseWriter, p *Proof, err error) {
	switch {
	case err == nil:
		writeJSON(w, p)
	case errors.Is(err, ErrNotCheckpointed):
		w.Header().Set("Retry-After", strconv.Itoa(int(h.c.cfg.Interval.Seconds()+1)))
		ledger.WriteError(w, http.StatusConflict, err.Error())
	case errors.Is(err, ErrEventNotFound):
		ledger.WriteError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, ErrBehind): // passes by itself, within a fold
		w.Header().Set("Retry-After", "1")
		ledger.WriteError(w, http.StatusServiceUnavailable, err.Error())
	case errors.Is(err, ErrBadSource):
		ledger.WriteError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, ErrAmbiguousID):
		ledger.WriteError(w, http.StatusConflict, err.Error())
	case errors.Is(err, ErrStateMismatch), errors.Is(err, ErrClosed):
		// the checkpointer stopped (a fork, a lost message) or is not running: no retry
		// will help until an operator acts on the reason given
		ledger.WriteError(w, http.StatusServiceUnavailable, err.Error())
	default:
		ledger.WriteError(w, http.StatusInternalServerError, err.Error())
	}
}

func seqParam(r *http.Request, name string, def uint64) (uint64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: want a sequence number", name, s)
	}
	return n, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
