package ledger

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// RateLimiter limits requests per bearer token: a token bucket each, refilled at Rate
// requests per second up to Burst. Requests without a token are not limited here (they
// are public reads, or refused by authentication anyway).
//
// The limit applies before authentication, so any string sent as a token gets a bucket.
// Buckets full again (a token unused for at most Burst/Rate seconds, 2 s) are dropped: a
// full bucket decides exactly as a new one, so dropping it changes no answer. The map so
// holds at most about twice the tokens used within the last Burst/Rate seconds (or
// minSweep), not every token ever sent.
type RateLimiter struct {
	Rate  rate.Limit
	Burst int
	// Refused, if set, is called with each request refused with 429 (for metrics).
	Refused func(*http.Request)

	mu       sync.Mutex
	limiters map[string]*rate.Limiter // by token hash; the token itself is never kept
	// sweepAt is the size at which the map is next swept of full buckets: twice what the
	// last sweep kept, so that sweeping costs O(1) per new token.
	sweepAt int
	now     func() time.Time // time.Now; tests move it
}

// minSweep is the smallest map that is swept: below it, sweeping would cost more than the
// memory it frees.
const minSweep = 1024

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
		token, ok := bearerToken(r)
		if !ok || token == "" {
			h.ServeHTTP(w, r)
			return
		}
		now := time.Now()
		if l.now != nil {
			now = l.now()
		}
		lim := l.limiter(hashToken(token), now)
		res := lim.ReserveN(now, 1)
		if delay := res.DelayFrom(now); delay > 0 {
			res.CancelAt(now)
			if l.Refused != nil {
				l.Refused(r)
			}
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(delay.Seconds()))))
			WriteError(w, http.StatusTooManyRequests, "too many requests for this token: retry after "+delay.Round(time.Millisecond).String())
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (l *RateLimiter) limiter(key string, now time.Time) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.limiters == nil {
		l.limiters = make(map[string]*rate.Limiter)
	}
	lim, ok := l.limiters[key]
	if ok {
		return lim
	}
	if len(l.limiters) >= l.sweepAt {
		for k, lim := range l.limiters {
			if lim.TokensAt(now) >= float64(l.Burst) {
				delete(l.limiters, k)
			}
		}
		l.sweepAt = max(minSweep, 2*len(l.limiters))
	}
	lim = rate.NewLimiter(l.Rate, l.Burst)
	l.limiters[key] = lim
	return lim
}
