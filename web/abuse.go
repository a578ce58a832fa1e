package web

import (
	"math"
	"net"
	"net/http"
	"strconv"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/throttle"
)

// Callers of the token endpoint and of every secret-checking call may be
// held to AddressRateLimit requests per second per address. Guessing is
// slowed down: every failed secret, password or signature
// check costs its caller's address a token of a bucket that holds
// AuthFailuresPerMinute, and a failed password also costs the identifier
// (account, takeover) one of PasswordFailuresPerMinute. A caller whose
// bucket is empty is refused before anything is checked, with the same
// answer whether or not the identifier exists. Successes cost nothing, so
// a busy game server is never slowed by its own traffic.

// guessCheck names a guarded check: the caller's address and, for a
// password, what the password belongs to ("" for none).
type guessCheck struct {
	addr, identifier string
}

func (s *Server) guess(r *http.Request, identifier string) guessCheck {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return guessCheck{addr: "addr:" + host, identifier: identifier}
}

func perMinute(n int) (float64, int) { return float64(n) / 60, n }

// allowed refuses, with a *broker.RateLimited, a check whose caller or
// identifier has no failures left, or whose caller is over the address
// rate (each check counts against that).
func (s *Server) allowed(g guessCheck) error {
	if ok, wait := s.limits.Allow("rate:"+g.addr, s.addressRate, int(math.Ceil(s.addressRate))); !ok {
		return &broker.RateLimited{RetryAfter: wait}
	}
	rate, burst := perMinute(s.authFailures)
	wait := s.limits.Wait(g.addr, rate, burst)
	if g.identifier != "" {
		rate, burst := perMinute(s.passwordFailures)
		wait = max(wait, s.limits.Wait("id:"+g.identifier, rate, burst))
	}
	if wait > 0 {
		return &broker.RateLimited{RetryAfter: wait}
	}
	return nil
}

// failed pays for a failed check.
func (s *Server) failed(g guessCheck) {
	rate, burst := perMinute(s.authFailures)
	s.limits.Take(g.addr, rate, burst)
	if g.identifier != "" {
		rate, burst := perMinute(s.passwordFailures)
		s.limits.Take("id:"+g.identifier, rate, burst)
	}
}

// setRetryAfter sets Retry-After for a rate-limit refusal.
func setRetryAfter(w http.ResponseWriter, rl *broker.RateLimited) {
	w.Header().Set("Retry-After", strconv.Itoa(throttle.RetryAfter(rl.RetryAfter)))
}
