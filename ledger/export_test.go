package ledger

import "time"

// LoseAcks makes a's writer ignore the next n acknowledgements of its atomic batches, as if
// they were lost on the way: the append times out and its outcome is learnt from the stream.
func LoseAcks(a *Appender, n int) { a.loseAcks.Store(int32(n)) }

// SetRateLimiterClock makes l read the time from now instead of the clock.
func SetRateLimiterClock(l *RateLimiter, now func() time.Time) { l.now = now }

// RateLimiterTokens is the number of tokens l keeps a bucket for.
func RateLimiterTokens(l *RateLimiter) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.limiters)
}

// HoldIngest makes s wait before handling each request it takes until release is called,
// so that a test can keep requests in flight. Call it before any request is sent.
func HoldIngest(s *IngestService) (release func()) {
	hold := make(chan struct{})
	s.hold.Store(&hold)
	return func() { close(hold) }
}

// MaxInFlightPerEntity is the bound on one entity's requests handled at once.
const MaxInFlightPerEntity = maxInFlightPerEntity

// HoldsHeld is the number of requests r holds open (hold.go).
func HoldsHeld(r *Registry) int {
	r.holds.mu.Lock()
	defer r.holds.mu.Unlock()
	return len(r.holds.set)
}
