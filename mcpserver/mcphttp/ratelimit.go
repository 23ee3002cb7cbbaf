package mcphttp

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// rateLimits is a token bucket (x/time/rate) per key (a token identity):
// rate per period, burst of rate, read at the injected clock. Buckets full
// again are forgotten, so the map stays small.
type rateLimits struct {
	mu      sync.Mutex
	now     func() time.Time
	limit   rate.Limit
	burst   int
	per     time.Duration
	buckets map[string]*rate.Limiter
	swept   time.Time
}

func newRateLimits(n int, per time.Duration, now func() time.Time) *rateLimits {
	return &rateLimits{now: now, limit: rate.Limit(float64(n) / per.Seconds()), burst: n, per: per,
		buckets: map[string]*rate.Limiter{}, swept: now()}
}

// allowN reports whether n more requests of key are within the limit now,
// and counts them if so (all or none).
func (l *rateLimits) allowN(key string, n int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.now()
	if t.Sub(l.swept) > l.per {
		for k, b := range l.buckets {
			if b.TokensAt(t) >= float64(l.burst) {
				delete(l.buckets, k)
			}
		}
		l.swept = t
	}
	b := l.buckets[key]
	if b == nil {
		b = rate.NewLimiter(l.limit, l.burst)
		l.buckets[key] = b
	}
	return b.AllowN(t, n)
}
