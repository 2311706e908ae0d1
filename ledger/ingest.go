package ledger

import (
	"context"
	"errors"

	"compact/schemas"
)

// Ingester is the ingest path shared by the NATS service and HTTP: decode, validate,
// authorize, append. It is safe for concurrent use.
type Ingester struct {
	Appender  *Appender
	Validator *schemas.Validator
	Metrics   *Metrics
}

// Reply is the answer to one ingest request.
type Reply struct {
	Results []Result `json:"results"`
	// Error is set when the request as a whole was refused (no result per event).
	Error *FieldError `json:"error,omitempty"`
}

// Ingest handles one request body (one event or a batch) from principal p.
func (in *Ingester) Ingest(ctx context.Context, p Principal, body []byte) Reply {
	if len(body) > MaxRequestBytes {
		fe := &FieldError{Message: "request too large: at most 8 MiB; split the batch", Kind: ErrTooLarge}
		in.Metrics.rejectedRequest(fe)
		return Reply{Error: fe}
	}
	if !p.Role.CanPublish() {
		fe := &FieldError{Message: "role " + string(p.Role) + " may not publish events", Kind: ErrForbidden}
		in.Metrics.rejectedRequest(fe)
		return Reply{Error: fe}
	}
	raws, err := SplitBatch(body)
	if err != nil {
		var fe *FieldError
		errors.As(err, &fe)
		in.Metrics.rejectedRequest(fe)
		return Reply{Error: fe}
	}
	results := make([]Result, len(raws))
	cands := make([]*Candidate, 0, len(raws))
	idx := make([]int, 0, len(raws))
	for i, raw := range raws {
		c, fe := Decode(raw, p, in.Validator)
		if fe != nil {
			results[i] = Result{ID: bestEffortID(raw), Error: fe}
			continue
		}
		cands = append(cands, c)
		idx = append(idx, i)
	}
	if len(cands) > 0 {
		for j, r := range in.Appender.Append(ctx, cands) {
			if r.Duplicate && r.Error == nil {
				r = in.Appender.sameAsStored(ctx, cands[j], r)
			}
			results[idx[j]] = r
		}
	}
	in.Metrics.results(results)
	return Reply{Results: results}
}
