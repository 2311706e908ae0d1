package ledger

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// CheckParams refuses a query parameter that an API endpoint does not take, or one it takes
// given twice. Ignored, a misspelt one (?asof=, ?entitiy=) would be answered as if it had not
// been asked, with a 200, and a repeated one by its first value. It returns the first
// offending parameter (in name order) as field, and every problem in err.
func CheckParams(q url.Values, allowed ...string) (field string, err error) {
	var problems []string
	for _, k := range slices.Sorted(maps.Keys(q)) {
		var p string
		switch {
		case !slices.Contains(allowed, k) && len(allowed) == 0:
			p = fmt.Sprintf("%q: this endpoint takes no parameters", k)
		case !slices.Contains(allowed, k):
			p = fmt.Sprintf("%q is not a parameter of this endpoint: it takes %s", k, strings.Join(allowed, ", "))
		case len(q[k]) > 1:
			p = fmt.Sprintf("%s given %d times: give it once", k, len(q[k]))
		default:
			continue
		}
		if field == "" {
			field = k
		}
		problems = append(problems, p)
	}
	if len(problems) == 0 {
		return "", nil
	}
	return field, fmt.Errorf("%s", strings.Join(problems, "; "))
}

// Params wraps h, an API endpoint that takes the query parameters allowed, so that a request
// CheckParams refuses is answered 400, {"error": {"field": <the parameter>, "message"}}.
func Params(h http.Handler, allowed ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if field, err := CheckParams(r.URL.Query(), allowed...); err != nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"field": field, "message": err.Error()}})
			return
		}
		h.ServeHTTP(w, r)
	})
}
