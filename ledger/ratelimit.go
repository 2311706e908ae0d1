package ledger

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// RateLimiter limits requests per bearer token: a token bucket each, refilled at Rate
// requests per second up to Burst. Requests without a token are not limited here (they
// are public reads, or refused by authentication anyway).
type RateLimiter struct {
	Rate  rate.Limit
	Burst int

	mu       sync.Mutex
	limiters map[string]*rate.Limiter // by token hash; the token itself is never kept
}

// NewRateLimiter limits each token to perSecond requests per second, with bursts of
// 2×perSecond. perSecond ≤ 0 disables limiting.
func NewRateLimiter(perSecond float64) *RateLimiter {
	if perSecond <= 0 {
		return &RateLimiter{Rate: rate.Inf}
	}
	return &RateLimiter{Rate: rate.Limit(perSecond), Burst: int(math.Max(1, 2*perSecond))}
}

// Wrap answers 429 with Retry-After when the request's token is over its rate.
func (l *RateLimiter) Wrap(h http.Handler) http.Handler {
	if l.Rate == rate.Inf {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || token == "" {
			h.ServeHTTP(w, r)
			return
		}
		lim := l.limiter(hashToken(strings.TrimSpace(token)))
		res := lim.Reserve()
		if delay := res.Delay(); delay > 0 {
			res.Cancel()
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(delay.Seconds()))))
			WriteError(w, http.StatusTooManyRequests, "too many requests for this token: retry after "+delay.Round(time.Millisecond).String())
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (l *RateLimiter) limiter(key string) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.limiters == nil {
		l.limiters = make(map[string]*rate.Limiter)
	}
	lim, ok := l.limiters[key]
	if !ok {
		lim = rate.NewLimiter(l.Rate, l.Burst)
		l.limiters[key] = lim
	}
	return lim
}
