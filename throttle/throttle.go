// Package throttle limits how often a caller, named by a key (a client ID,
// an address, an identifier), may do something: one token bucket per key,
// from golang.org/x/time/rate, in this process. throttle/shared keeps
// such buckets in a store that every replica shares.
package throttle

import (
	"context"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Keyed is a set of token buckets by key. Idle keys are forgotten once the
// set holds max of them, so memory stays bounded whatever the keys are.
type Keyed struct {
	mu      sync.Mutex
	buckets map[string]*bucket
	max     int
	now     func() time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// New makes a Keyed of at most size keys (at least 1); now is the clock.
func New(size int, now func() time.Time) *Keyed {
	return &Keyed{buckets: make(map[string]*bucket), max: max(size, 1), now: now}
}

// Allow takes one token from key's bucket, which refills perSecond and
// holds burst. When the bucket is empty it takes nothing and says how long
// until a token is there. perSecond <= 0 is unlimited. The buckets are in
// memory, so no call of Keyed waits on ctx; it is there so that a Keyed
// serves where a limiter whose buckets are elsewhere would.
func (k *Keyed) Allow(_ context.Context, key string, perSecond float64, burst int) (bool, time.Duration) {
	if perSecond <= 0 {
		return true, 0
	}
	now := k.now()
	k.mu.Lock()
	defer k.mu.Unlock()
	lim := k.bucket(key, perSecond, burst, now)
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// Wait says how long until key's bucket holds a token (0: it holds one
// now), without taking one: a guard that only failures pay into.
func (k *Keyed) Wait(_ context.Context, key string, perSecond float64, burst int) time.Duration {
	if perSecond <= 0 {
		return 0
	}
	now := k.now()
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.buckets[key]; !ok {
		return 0
	}
	tokens := k.bucket(key, perSecond, burst, now).TokensAt(now)
	if tokens >= 1 {
		return 0
	}
	return time.Duration((1 - tokens) / perSecond * float64(time.Second))
}

// Take takes a token from key's bucket if it holds one: a failure paid.
func (k *Keyed) Take(_ context.Context, key string, perSecond float64, burst int) {
	if perSecond <= 0 {
		return
	}
	now := k.now()
	k.mu.Lock()
	defer k.mu.Unlock()
	k.bucket(key, perSecond, burst, now).AllowN(now, 1)
}

// bucket is key's limiter, made or re-rated as asked; k.mu is held.
func (k *Keyed) bucket(key string, perSecond float64, burst int, now time.Time) *rate.Limiter {
	burst = max(burst, 1)
	b := k.buckets[key]
	if b == nil {
		if len(k.buckets) >= k.max {
			k.evict(now)
		}
		b = &bucket{lim: rate.NewLimiter(rate.Limit(perSecond), burst)}
		k.buckets[key] = b
	} else if b.lim.Limit() != rate.Limit(perSecond) || b.lim.Burst() != burst {
		// The configured rate changed.
		b.lim.SetLimitAt(now, rate.Limit(perSecond))
		b.lim.SetBurstAt(now, burst)
	}
	b.seen = now
	return b.lim
}

// evict drops the keys idle longest: every key not seen in the last
// minute, or, when all are recent, half of them (the older half).
func (k *Keyed) evict(now time.Time) {
	for key, b := range k.buckets {
		if now.Sub(b.seen) > time.Minute {
			delete(k.buckets, key)
		}
	}
	if len(k.buckets) < k.max {
		return
	}
	var total time.Duration
	for _, b := range k.buckets {
		total += now.Sub(b.seen)
	}
	mean := total / time.Duration(len(k.buckets))
	for key, b := range k.buckets {
		if now.Sub(b.seen) >= mean {
			delete(k.buckets, key)
		}
	}
}

// RetryAfter is d as a Retry-After header value: whole seconds, at least 1.
func RetryAfter(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
