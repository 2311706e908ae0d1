package ledger

import (
	"fmt"
	"net/http"
)

// NoHead wraps a streaming GET endpoint so that a HEAD of it is refused (405, Allow: GET)
// rather than run. net/http serves HEAD with a GET route's handler and throws the body away,
// which for an ordinary answer costs what a GET costs. For a stream it costs the whole
// stream: a HEAD of a replay read the ledger to its end, one of an as-known review built
// the views, one of a watch held its connection until the client gave up — all for headers
// that say nothing the GET's first bytes would not.
func NoHead(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			w.Header().Set("Allow", http.MethodGet)
			WriteError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s is a stream: ask it with GET (a HEAD would run it to throw its body away)", r.URL.Path))
			return
		}
		h.ServeHTTP(w, r)
	})
}
