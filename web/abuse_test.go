package web_test

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"
)

// addressGuard allows 3 failed checks per minute per address;
// identifierGuard 2 failed passwords per minute per identifier.
func addressGuard(o *settings)    { o.Limits.AuthFailuresPerMinute = 3 }
func identifierGuard(o *settings) { o.Limits.PasswordFailuresPerMinute = 2 }

// retryAfter checks a rate-limit refusal's Retry-After: whole seconds, at
// least 1, at most max.
func retryAfter(t *testing.T, r response, max int) {
	t.Helper()
	n, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || n < 1 || n > max {
		t.Errorf("Retry-After %q, want 1..%d seconds", r.Header.Get("Retry-After"), max)
	}
}

// TestFailedSecretsSlowAnAddress: after 3 wrong client secrets from one
// address, every secret check from it is refused (429 slow_down) — even a
// right one — until a failure's worth of time has passed; successes never
// count.
func TestFailedSecretsSlowAnAddress(t *testing.T) {
	t.Parallel()
	eachStoreWith(t, addressGuard, func(t *testing.T, f *fixture) {
		id, secret := f.client(t, gameServer("game"))
		cc := url.Values{"grant_type": {"client_credentials"}}
		for range 10 { // successes are free
			f.mustToken(t, id, secret, cc)
		}
		for i := range 3 {
			if r := f.token(t, id, "bks_wrong", cc); r.Status != http.StatusUnauthorized {
				t.Fatalf("wrong secret %d: %d %s", i, r.Status, r.Raw)
			}
		}
		for _, r := range []response{
			f.token(t, id, secret, cc),              // the token endpoint
			f.introspect(t, id, secret, "anything"), // introspection checks the secret too
			f.token(t, id, "bks_wrong_again", cc),   // and a 4th wrong one is not even checked
		} {
			if r.Status != http.StatusTooManyRequests || r.str("error") != "slow_down" {
				t.Fatalf("after 3 failures: %d %s, want 429 slow_down", r.Status, r.Raw)
			}
			retryAfter(t, r, 20)
		}
		f.Clock.Advance(20 * time.Second) // 3 per minute: one failure's worth
		f.mustToken(t, id, secret, cc)
	})
}

// TestFailedPasswordsSlowAnIdentifier: wrong account passwords slow down
// that account only, and an unknown account exactly as a known one, so the
// refusal tells nothing about existence. GS2 answers 503 (its SDKs know no
// 429).
func TestFailedPasswordsSlowAnIdentifier(t *testing.T) {
	t.Parallel()
	eachStoreWith(t, identifierGuard, func(t *testing.T, f *fixture) {
		clientID, project := f.gs2Project(t, "game")
		hdr := trusted(clientID, project)
		victim := f.gs2CreateAccount(t, hdr, "game")
		other := f.gs2CreateAccount(t, hdr, "game")
		for _, userID := range []string{victim["userId"].(string), "no-such-user"} {
			for range 2 {
				if r := f.gs2Authenticate(t, hdr, "game", userID, "", "wrong-password"); r.Status != http.StatusUnauthorized && r.Status != http.StatusNotFound {
					t.Fatalf("wrong password for %s: %d %s", userID, r.Status, r.Raw)
				}
			}
			r := f.gs2Authenticate(t, hdr, "game", userID, "", "wrong-password")
			if it := checkGS2Error(t, r, http.StatusServiceUnavailable, "account"); it.Code != "account.request.tooManyRequests" {
				t.Errorf("%s: code %q", userID, it.Code)
			}
			retryAfter(t, r, 30)
		}
		// The right password waits too, for the slowed account only.
		if r := f.gs2Authenticate(t, hdr, "game", victim["userId"].(string), "", victim["password"].(string)); r.Status != http.StatusServiceUnavailable {
			t.Errorf("right password while slowed: %d %s", r.Status, r.Raw)
		}
		if r := f.gs2Authenticate(t, hdr, "game", other["userId"].(string), "", other["password"].(string)); r.Status != http.StatusOK {
			t.Errorf("another account: %d %s", r.Status, r.Raw)
		}
		f.Clock.Advance(30 * time.Second)
		if r := f.gs2Authenticate(t, hdr, "game", victim["userId"].(string), "", victim["password"].(string)); r.Status != http.StatusOK {
			t.Errorf("after the wait: %d %s", r.Status, r.Raw)
		}
	})
}

// TestWrongTakeOverPasswordsSlowAnIdentifier: doTakeOver guesses against
// one identifier are slowed whether or not the takeover exists.
func TestWrongTakeOverPasswordsSlowAnIdentifier(t *testing.T) {
	t.Parallel()
	eachStoreWith(t, identifierGuard, func(t *testing.T, f *fixture) {
		clientID, project := f.gs2Project(t, "game")
		hdr := trusted(clientID, project)
		a := f.gs2CreateAccount(t, hdr, "game")
		if r := f.gs2Send(t, gs2Call{path: "/gs2/account/game/account/" + a["userId"].(string) + "/takeover", header: hdr,
			body: `{"type":1,"userIdentifier":"known@example.com","password":"right-pass"}`}); r.Status != http.StatusOK {
			t.Fatalf("createTakeOver: %d %s", r.Status, r.Raw)
		}
		do := func(identifier, password string) response {
			return f.gs2Send(t, gs2Call{path: "/gs2/account/game/takeover/type/1", header: hdr,
				body: `{"userIdentifier":"` + identifier + `","password":"` + password + `"}`})
		}
		for _, identifier := range []string{"known@example.com", "unknown@example.com"} {
			for range 2 {
				if it := checkGS2Error(t, do(identifier, "guess"), http.StatusUnauthorized, "account"); it.Code != "account.password.invalid" {
					t.Fatalf("%s: %q", identifier, it.Code)
				}
			}
			if it := checkGS2Error(t, do(identifier, "guess"), http.StatusServiceUnavailable, "takeOver"); it.Code != "takeOver.request.tooManyRequests" {
				t.Errorf("%s slowed: %q", identifier, it.Code)
			}
		}
		f.Clock.Advance(30 * time.Second)
		if r := do("known@example.com", "right-pass"); r.Status != http.StatusOK {
			t.Errorf("after the wait: %d %s", r.Status, r.Raw)
		}
	})
}

// Not parallel, TestClientRateLimit and TestAddressRateLimit: their limits
// are per second on the fixture's clock, which follows real time, so their
// requests must come within a fraction of a second, which a machine busy with
// the parallel tests does not promise.

// TestClientRateLimit: a client held to --rate-limit 2 gets 429 slow_down
// with Retry-After on the token endpoint once its burst is spent; another
// client is not affected.
func TestClientRateLimit(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		spec := gameServer("game")
		spec.RateLimit = 2
		id, secret := f.client(t, spec)
		free, freeSecret := f.client(t, gameServer("game"))
		cc := url.Values{"grant_type": {"client_credentials"}}
		f.mustToken(t, id, secret, cc)
		f.mustToken(t, id, secret, cc)
		r := f.token(t, id, secret, cc)
		if r.Status != http.StatusTooManyRequests || r.str("error") != "slow_down" {
			t.Fatalf("3rd request at 2/s: %d %s", r.Status, r.Raw)
		}
		retryAfter(t, r, 1)
		// Only an authenticated client spends its budget: a wrong secret
		// under its ID is refused as such, and costs it nothing.
		if r := f.token(t, id, "bks_wrong", cc); r.Status != http.StatusUnauthorized {
			t.Errorf("wrong secret while limited: %d", r.Status)
		}
		for range 5 {
			f.mustToken(t, free, freeSecret, cc)
		}
		f.Clock.Advance(time.Second)
		f.mustToken(t, id, secret, cc)
	})
}

// TestAddressRateLimit: with address_rate_limit set, one address's calls
// to the token endpoint are held to it, successes included.
func TestAddressRateLimit(t *testing.T) {
	eachStoreWith(t, func(o *settings) { o.Limits.AddressRate = 5 }, func(t *testing.T, f *fixture) {
		id, secret := f.client(t, gameServer("game"))
		cc := url.Values{"grant_type": {"client_credentials"}}
		for range 5 {
			f.mustToken(t, id, secret, cc)
		}
		r := f.token(t, id, secret, cc)
		if r.Status != http.StatusTooManyRequests {
			t.Fatalf("6th request at 5/s: %d %s", r.Status, r.Raw)
		}
		retryAfter(t, r, 1)
		f.Clock.Advance(time.Second)
		f.mustToken(t, id, secret, cc)
	})
}
