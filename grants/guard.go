package grants

import (
	"math"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// Limiter is a keyed token-bucket limiter (throttle.Keyed is one); a rate
// of zero or less is no limit.
type Limiter interface {
	// Allow takes a token from key's bucket, or says how long until one is
	// there.
	Allow(key string, perSecond float64, burst int) (bool, time.Duration)
	// Wait says how long until key's bucket has a token, taking none.
	Wait(key string, perSecond float64, burst int) time.Duration
	// Take takes a token from key's bucket if it holds one.
	Take(key string, perSecond float64, burst int)
}

// Limits are the guards every call that checks a secret runs before it:
// callers may be held to AddressRate requests per second per address, and
// guessing is slowed: every failed secret, password or signature costs the
// caller's address one of AuthFailuresPerMinute, and a failed password also
// costs what it protects (an account, a takeover) one of
// PasswordFailuresPerMinute. A caller whose bucket is empty is refused
// before anything is checked, with the same answer whether or not the
// identifier exists. Successes cost nothing, so a busy game server is never
// slowed by its own traffic. Zero is no bound.
type Limits struct {
	AddressRate               float64
	AuthFailuresPerMinute     int
	PasswordFailuresPerMinute int
}

// guard is one guarded check: the caller's address and, for a password,
// what the password belongs to ("" for none).
type guard struct {
	limiter    Limiter
	limits     Limits
	addr       string
	identifier string
}

func perMinute(n int) (float64, int) { return float64(n) / 60, n }

// admit refuses a check whose caller or identifier has no failures left,
// or whose caller is over the address rate (each check counts against it).
func (g guard) admit() error {
	r := g.limits.AddressRate
	if ok, wait := g.limiter.Allow("rate:addr:"+g.addr, r, int(math.Ceil(r))); !ok {
		return broker.RateLimited(wait)
	}
	rate, burst := perMinute(g.limits.AuthFailuresPerMinute)
	wait := g.limiter.Wait("addr:"+g.addr, rate, burst)
	if g.identifier != "" {
		rate, burst := perMinute(g.limits.PasswordFailuresPerMinute)
		wait = max(wait, g.limiter.Wait("id:"+g.identifier, rate, burst))
	}
	if wait > 0 {
		return broker.RateLimited(wait)
	}
	return nil
}

// failed pays for a failed check.
func (g guard) failed() {
	rate, burst := perMinute(g.limits.AuthFailuresPerMinute)
	g.limiter.Take("addr:"+g.addr, rate, burst)
	if g.identifier != "" {
		rate, burst := perMinute(g.limits.PasswordFailuresPerMinute)
		g.limiter.Take("id:"+g.identifier, rate, burst)
	}
}
