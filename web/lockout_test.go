package web_test

import (
	"maps"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// Lockouts an attacker cannot aim: failures are paid per (client ID or
// password's identifier, caller address), under a higher per-address cap,
// and the per-identifier cap never keeps out the right password. The
// fixture listens on loopback; behindProxy trusts it as a reverse proxy, so
// that X-Forwarded-For names the caller.

// behindProxy trusts loopback as a reverse proxy.
func behindProxy(o *settings) {
	o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
}

// Callers, as X-Forwarded-For names them.
const (
	addrX = "198.51.100.1"
	addrY = "198.51.100.2"
)

// tokenFrom posts a client_credentials request as client id with
// client_secret_basic and the given forwarding headers (X-Forwarded-For,
// Forwarded; nil for none).
func (f *fixture) tokenFrom(t *testing.T, header map[string]string, id, secret string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.URL+"/oauth2/token",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", formType)
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return roundTrip(t, req)
}

// xff is an X-Forwarded-For header.
func xff(v string) map[string]string { return map[string]string{"X-Forwarded-For": v} }

// wantStatus checks r's status, and a 429's OAuth2 code.
func wantStatus(t *testing.T, what string, r response, status int) {
	t.Helper()
	if r.Status != status || status == http.StatusTooManyRequests && r.str("error") != "slow_down" {
		t.Fatalf("%s: %d %s, want %d", what, r.Status, r.Raw, status)
	}
}

// TestLockoutFailedSecretsAreKeyedByClientAndAddress: with serve's default
// budgets, 62 wrong secrets under client A from address X spend A's budget
// at X only: A's right secret is refused from X and accepted from Y, and
// client B's right secret is accepted from X. An unknown client ID gets
// exactly the answers a known one does.
func TestLockoutFailedSecretsAreKeyedByClientAndAddress(t *testing.T) {
	t.Parallel()
	eachStoreWith(t, func(o *settings) {
		behindProxy(o)
		o.Limits.AuthFailuresPerMinute, o.Limits.AddressFailuresPerMinute = 60, 600
	}, func(t *testing.T, f *fixture) {
		a, aSecret := f.client(t, gameServer("game"))
		b, bSecret := f.client(t, gameServer("game"))
		for _, id := range []string{a, uuid.NewString()} {
			for i := range 62 {
				want := http.StatusUnauthorized
				if i >= 60 {
					want = http.StatusTooManyRequests
				}
				wantStatus(t, "wrong secret", f.tokenFrom(t, xff(addrX), id, "bks_wrong"), want)
			}
		}
		wantStatus(t, "A's right secret from X", f.tokenFrom(t, xff(addrX), a, aSecret), http.StatusTooManyRequests)
		wantStatus(t, "A's right secret from Y", f.tokenFrom(t, xff(addrY), a, aSecret), http.StatusOK)
		wantStatus(t, "B's right secret from X", f.tokenFrom(t, xff(addrX), b, bSecret), http.StatusOK)
	})
}

// TestLockoutAddressCapBoundsGuessingAcrossClients: one address guessing
// one secret (or password) each under many client IDs, known or not, is
// stopped by the per-address cap; another address is not.
func TestLockoutAddressCapBoundsGuessingAcrossClients(t *testing.T) {
	t.Parallel()
	eachStoreWith(t, func(o *settings) {
		behindProxy(o)
		o.Limits.AuthFailuresPerMinute, o.Limits.AddressFailuresPerMinute = 3, 10
	}, func(t *testing.T, f *fixture) {
		known, knownSecret := f.client(t, gameServer("game"))
		clientID, project := f.gs2Project(t, "game")
		hdr := trusted(clientID, project)
		hdr["X-Forwarded-For"] = addrX
		// A wrong takeover password pays into the same cap.
		if r := f.tkoDo(t, hdr, "game", "0", "nobody@example.com", "guess"); r.Status != http.StatusUnauthorized {
			t.Fatalf("wrong takeover password: %d %s", r.Status, r.Raw)
		}
		wantStatus(t, "wrong secret of a known client", f.tokenFrom(t, xff(addrX), known, "bks_wrong"), http.StatusUnauthorized)
		for i := range 9 {
			want := http.StatusUnauthorized
			if i >= 8 { // the 11th try from X
				want = http.StatusTooManyRequests
			}
			wantStatus(t, "wrong secret of an unknown client", f.tokenFrom(t, xff(addrX), uuid.NewString(), "bks_wrong"), want)
		}
		wantStatus(t, "a right secret from X", f.tokenFrom(t, xff(addrX), known, knownSecret), http.StatusTooManyRequests)
		wantStatus(t, "a right secret from Y", f.tokenFrom(t, xff(addrY), known, knownSecret), http.StatusOK)
	})
}

// TestLockoutForwardingHeaders: X-Forwarded-For and Forwarded name the
// caller only when the peer is a trusted proxy, and only as far as the
// nearest hop that is not one.
func TestLockoutForwardingHeaders(t *testing.T) {
	t.Parallel()
	budget := func(o *settings) { o.Limits.AuthFailuresPerMinute = 3 }
	spend := func(t *testing.T, f *fixture, id string, headers ...map[string]string) {
		t.Helper()
		for _, h := range headers {
			wantStatus(t, "wrong secret", f.tokenFrom(t, h, id, "bks_wrong"), http.StatusUnauthorized)
		}
	}
	t.Run("should share one budget because the peer is no trusted proxy", func(t *testing.T) {
		t.Parallel()
		eachStoreWith(t, budget, func(t *testing.T, f *fixture) {
			id, secret := f.client(t, gameServer("game"))
			spend(t, f, id, xff("198.51.100.11"), xff("198.51.100.12"), map[string]string{"Forwarded": "for=198.51.100.13"})
			wantStatus(t, "right secret from a fourth claimed address", f.tokenFrom(t, xff(addrY), id, secret), http.StatusTooManyRequests)
		})
	})
	t.Run("should keep budgets apart because a trusted proxy names the callers", func(t *testing.T) {
		t.Parallel()
		eachStoreWith(t, func(o *settings) { budget(o); behindProxy(o) }, func(t *testing.T, f *fixture) {
			id, secret := f.client(t, gameServer("game"))
			spend(t, f, id, xff(addrX), xff(addrX), xff(addrX))
			wantStatus(t, "right secret from X", f.tokenFrom(t, xff(addrX), id, secret), http.StatusTooManyRequests)
			wantStatus(t, "right secret from Y", f.tokenFrom(t, xff(addrY), id, secret), http.StatusOK)
			// Forwarded (RFC 7239) names the caller as well.
			forwarded := map[string]string{"Forwarded": `for="198.51.100.3:4711";proto=http`}
			spend(t, f, id, forwarded, forwarded, forwarded)
			wantStatus(t, "right secret from Forwarded's caller", f.tokenFrom(t, forwarded, id, secret), http.StatusTooManyRequests)
			wantStatus(t, "right secret from Y", f.tokenFrom(t, xff(addrY), id, secret), http.StatusOK)
		})
	})
	t.Run("should not believe spoofed hops because an untrusted hop is to their right", func(t *testing.T) {
		t.Parallel()
		eachStoreWith(t, func(o *settings) { budget(o); behindProxy(o) }, func(t *testing.T, f *fixture) {
			id, secret := f.client(t, gameServer("game"))
			// The attacker at X claims to forward for ever new callers, and
			// for Y, the victim; the proxy appends X.
			spend(t, f, id, xff("203.0.113.1, "+addrX), xff("203.0.113.2, "+addrX), xff(addrY+", "+addrX))
			wantStatus(t, "X, claiming Y again", f.tokenFrom(t, xff(addrY+", "+addrX), id, secret), http.StatusTooManyRequests)
			wantStatus(t, "Y itself", f.tokenFrom(t, xff(addrY), id, secret), http.StatusOK)
		})
	})
}

// TestLockoutWrongPasswordsDoNotKeepTheOwnerOut: wrong doTakeOver
// passwords from X spend the identifier's budget at X only; and once the
// identifier's own cap is spent from many addresses, its right password
// still signs in while wrong ones are refused as rate limited (GS2: 503
// tooManyRequests) and paid for, for a known identifier and an unknown one
// alike.
func TestLockoutWrongPasswordsDoNotKeepTheOwnerOut(t *testing.T) {
	t.Parallel()
	setup := func(t *testing.T, f *fixture) (do func(addr, identifier, password string) response) {
		t.Helper()
		clientID, project := f.gs2Project(t, "game")
		hdr := trusted(clientID, project)
		a := f.gs2CreateAccount(t, hdr, "game")
		f.tkoMustCreate(t, hdr, "game", a["userId"].(string), 1, "known@example.com", "right-pass")
		return func(addr, identifier, password string) response {
			h := maps.Clone(hdr)
			h["X-Forwarded-For"] = addr
			return f.tkoDo(t, h, "game", "1", identifier, password)
		}
	}
	refusedAs := func(t *testing.T, r response, status int, component, code string) {
		t.Helper()
		if it := checkGS2Error(t, r, status, component); it.Code != code {
			t.Fatalf("code %q, want %q", it.Code, code)
		}
	}
	t.Run("should sign in from Y because the wrong passwords came from X", func(t *testing.T) {
		t.Parallel()
		eachStoreWith(t, func(o *settings) {
			behindProxy(o)
			o.Limits.PasswordFailuresPerMinute, o.Limits.IdentifierFailuresPerMinute, o.Limits.AddressFailuresPerMinute = 10, 100, 600
		}, func(t *testing.T, f *fixture) {
			do := setup(t, f)
			for range 10 {
				refusedAs(t, do(addrX, "known@example.com", "guess"), http.StatusUnauthorized, "account", "account.password.invalid")
			}
			refusedAs(t, do(addrX, "known@example.com", "right-pass"), http.StatusServiceUnavailable, "takeOver", "takeOver.request.tooManyRequests")
			if r := do(addrY, "known@example.com", "right-pass"); r.Status != http.StatusOK {
				t.Fatalf("right password from Y: %d %s", r.Status, r.Raw)
			}
		})
	})
	t.Run("should sign in because the right password passes the identifier's cap", func(t *testing.T) {
		t.Parallel()
		eachStoreWith(t, func(o *settings) {
			behindProxy(o)
			o.Limits.PasswordFailuresPerMinute, o.Limits.IdentifierFailuresPerMinute = 2, 3
		}, func(t *testing.T, f *fixture) {
			do := setup(t, f)
			for _, identifier := range []string{"known@example.com", "unknown@example.com"} {
				// Three addresses spend the identifier's cap of 3.
				for _, addr := range []string{"203.0.113.1", "203.0.113.1", "203.0.113.2"} {
					refusedAs(t, do(addr, identifier, "guess"), http.StatusUnauthorized, "account", "account.password.invalid")
				}
				// A wrong password from a fresh address is checked, refused
				// as rate limited, and paid for: twice spends that address's
				// budget for the identifier.
				for range 2 {
					refusedAs(t, do("203.0.113.3", identifier, "guess"), http.StatusServiceUnavailable, "takeOver", "takeOver.request.tooManyRequests")
				}
			}
			refusedAs(t, do("203.0.113.3", "known@example.com", "right-pass"), http.StatusServiceUnavailable, "takeOver", "takeOver.request.tooManyRequests")
			if r := do("203.0.113.4", "known@example.com", "right-pass"); r.Status != http.StatusOK {
				t.Fatalf("right password while the identifier's cap is spent: %d %s", r.Status, r.Raw)
			}
		})
	})
}
