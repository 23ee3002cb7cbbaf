package mcphttp

import (
	"sync"
	"time"
)

// rateLimits is a token bucket per key (a token identity): rate per period,
// burst of rate. Buckets full again are forgotten, so the map stays small.
type rateLimits struct {
	mu      sync.Mutex
	now     func() time.Time
	rate    float64
	per     time.Duration
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newRateLimits(rate int, per time.Duration, now func() time.Time) *rateLimits {
	return &rateLimits{now: now, rate: float64(rate), per: per, buckets: map[string]*bucket{}, swept: now()}
}

func (l *rateLimits) allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.now()
	if t.Sub(l.swept) > l.per {
		for k, b := range l.buckets {
			if t.Sub(b.last) > l.per {
				delete(l.buckets, k)
			}
		}
		l.swept = t
	}
	b := l.buckets[key]
	if b == nil {
		b = &bucket{tokens: l.rate, last: t}
		l.buckets[key] = b
	}
	if el := t.Sub(b.last); el > 0 {
		b.tokens = min(l.rate, b.tokens+l.rate*float64(el)/float64(l.per))
		b.last = t
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
