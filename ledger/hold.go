package ledger

import (
	"context"
	"fmt"
	"sync"
)

// A request authenticated by a bearer token is checked once, when it starts. Most requests
// end within milliseconds, but a watch of a review's changes, a replay of the history or
// an auditor's read of every message can last hours: a hold ends such a request when the
// registry, reloaded, no longer lets its caller in — the token revoked or reissued, the
// entity removed or moved to a role the endpoint refuses. NATS connections need no hold:
// the server's reload closes those whose nkey it no longer knows.

// holds are the requests that hold the registry's permission open.
type holds struct {
	mu  sync.Mutex
	set map[*hold]struct{}
}

type hold struct {
	tokenHash, entity string
	allow             func(Role) bool
	cancel            context.CancelCauseFunc
}

// Hold returns a context derived from ctx that the registry cancels, with a cause wrapping
// ErrUnauthenticated or ErrForbidden, at the first reload that no longer authenticates token
// as p's entity with a role allow accepts. release must be called when the request ends;
// it cancels the context too. A token that does not authenticate now gets a context that is
// cancelled already.
func (r *Registry) Hold(ctx context.Context, token string, p Principal, allow func(Role) bool) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	h := &hold{tokenHash: hashToken(token), entity: p.Entity, allow: allow, cancel: cancel}
	r.holds.mu.Lock()
	if r.holds.set == nil {
		r.holds.set = make(map[*hold]struct{})
	}
	r.holds.set[h] = struct{}{}
	r.holds.mu.Unlock()
	// Checked after registering, so that a reload between the caller's Authenticate and
	// this call is not missed.
	r.recheck(h)
	return ctx, func() {
		r.holds.mu.Lock()
		delete(r.holds.set, h)
		r.holds.mu.Unlock()
		cancel(nil)
	}
}

// recheckHolds ends every held request whose caller the registry no longer lets in.
func (r *Registry) recheckHolds() {
	r.holds.mu.Lock()
	hs := make([]*hold, 0, len(r.holds.set))
	for h := range r.holds.set {
		hs = append(hs, h)
	}
	r.holds.mu.Unlock()
	for _, h := range hs {
		r.recheck(h)
	}
}

func (r *Registry) recheck(h *hold) {
	r.mu.RLock()
	e, ok := r.byToken[h.tokenHash]
	r.mu.RUnlock()
	switch {
	case !ok || e.TokenSHA256 == "" || e.Entity != h.entity:
		h.cancel(fmt.Errorf("%w: the token of %s was revoked or replaced while the request ran", ErrUnauthenticated, h.entity))
	case !h.allow(e.Role):
		h.cancel(fmt.Errorf("%w: %s became %s while the request ran, a role this endpoint refuses", ErrForbidden, h.entity, e.Role))
	}
}
