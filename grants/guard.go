package grants

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"net/netip"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// Limiter is a keyed token-bucket limiter: throttle.Keyed in one process,
// shared.Limiter across replicas. A rate of zero or less is no limit. ctx
// is the request's, for a limiter whose buckets are in another process;
// a limiter answers every call, whatever happens to its buckets, so that
// no request fails because of it.
type Limiter interface {
	// Allow takes a token from key's bucket, or says how long until one is
	// there.
	Allow(ctx context.Context, key string, perSecond float64, burst int) (bool, time.Duration)
	// Wait says how long until key's bucket has a token, taking none.
	Wait(ctx context.Context, key string, perSecond float64, burst int) time.Duration
	// Take takes a token from key's bucket if it holds one.
	Take(ctx context.Context, key string, perSecond float64, burst int)
}

// Limits are the guards every call that checks a secret runs before it:
// callers may be held to AddressRate requests per second per address, and
// guessing is slowed by failure budgets, each per minute. A failed client
// secret costs the pair (client ID, address) one of AuthFailuresPerMinute;
// a failed password costs (what it protects, address) one of
// PasswordFailuresPerMinute and what it protects one of
// IdentifierFailuresPerMinute; a failed signature costs (no client,
// address) one of AuthFailuresPerMinute; and every failure costs the
// address one of AddressFailuresPerMinute.
//
// The budgets are per pair so that a lockout cannot be aimed: failures
// under one client ID, or against one player's takeover, lock out only the
// address that sent them, not the others behind the same proxy or NAT, nor
// the player signing in from elsewhere. The per-address budget bounds one
// address's guessing across many IDs. A caller whose pair or address budget
// is empty is refused before anything is checked, with the same answer
// whether or not the client or identifier exists. The per-identifier
// budget bounds guessing from many addresses without locking its owner
// out: when it alone is empty the check still runs, the right password
// succeeds and a wrong one is refused as rate limited. Successes cost
// nothing, so a busy game server is never slowed by its own traffic. Zero
// is no bound.
type Limits struct {
	AddressRate                 float64
	AuthFailuresPerMinute       int
	PasswordFailuresPerMinute   int
	AddressFailuresPerMinute    int
	IdentifierFailuresPerMinute int
}

// guard is one guarded check: the caller's address, the client ID it
// presented ("" for none) and, for a password, what the password belongs
// to ("" for none).
type guard struct {
	limiter    Limiter
	limits     Limits
	addr       string
	client     string
	identifier string
}

// network is what the guards count as one caller: the address, or for
// IPv6 its /64, which one subscriber usually holds whole — counting its
// addresses one by one would let a caller rotate past every budget.
func network(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil || !a.Is6() || a.Is4In6() {
		return addr
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// budget is one failure budget: a bucket of perMinute failures.
type budget struct {
	key       string
	perMinute int
}

func (b budget) rate() (float64, int) { return float64(b.perMinute) / 60, b.perMinute }

// digest names a bucket by parts the caller chose (a client ID, an
// identifier) in a fixed length, so that long guesses cannot grow the
// limiter's memory, and unambiguously, so that no two pairs share a key.
func digest(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// upFront are the budgets that refuse a check before it runs: the
// address's, and the pair's (identifier or client, and address).
func (g guard) upFront() []budget {
	pair := budget{"fail:client@addr:" + digest(g.client, g.addr), g.limits.AuthFailuresPerMinute}
	if g.identifier != "" {
		pair = budget{"fail:id@addr:" + digest(g.identifier, g.addr), g.limits.PasswordFailuresPerMinute}
	}
	return []budget{{"fail:addr:" + g.addr, g.limits.AddressFailuresPerMinute}, pair}
}

// identity is the budget of what a password protects, which never refuses
// the right password.
func (g guard) identity() budget {
	return budget{"fail:id:" + digest(g.identifier), g.limits.IdentifierFailuresPerMinute}
}

// admit refuses a check whose address or pair has no failures left, or
// whose caller is over the address rate (each check counts against it).
func (g guard) admit(ctx context.Context) error {
	r := g.limits.AddressRate
	if ok, wait := g.limiter.Allow(ctx, "rate:addr:"+g.addr, r, int(math.Ceil(r))); !ok {
		return broker.RateLimited(wait)
	}
	var wait time.Duration
	for _, b := range g.upFront() {
		rate, burst := b.rate()
		wait = max(wait, g.limiter.Wait(ctx, b.key, rate, burst))
	}
	if wait > 0 {
		return broker.RateLimited(wait)
	}
	return nil
}

// failed pays for a failed check, and turns it into a rate-limit refusal
// when what the password protects had no failures left: a guesser learns
// nothing from it, and the right password would have passed.
func (g guard) failed(ctx context.Context, err error) error {
	budgets := g.upFront()
	var wait time.Duration
	if g.identifier != "" {
		id := g.identity()
		rate, burst := id.rate()
		wait = g.limiter.Wait(ctx, id.key, rate, burst)
		budgets = append(budgets, id)
	}
	for _, b := range budgets {
		rate, burst := b.rate()
		g.limiter.Take(ctx, b.key, rate, burst)
	}
	if wait > 0 {
		return broker.RateLimited(wait)
	}
	return err
}
