package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

func TestRefreshRotates(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		id, secret := f.client(t, gameServer("game"))
		login := f.mustToken(t, id, secret, customID("p1"))
		rt := login.str("refresh_token")

		next := f.mustToken(t, id, secret, refresh(rt))
		if next.str("refresh_token") == "" || next.str("refresh_token") == rt || next.str("userId") != login.str("userId") {
			t.Fatalf("rotation: %s", next.Raw)
		}
		// A retry inside the grace window (a lost response) gets the same pair.
		retry := f.mustToken(t, id, secret, refresh(rt))
		if retry.str("refresh_token") != next.str("refresh_token") {
			t.Errorf("retry in grace got another successor")
		}
		// The chain goes on.
		third := f.mustToken(t, id, secret, refresh(next.str("refresh_token")))
		if third.str("refresh_token") == next.str("refresh_token") {
			t.Error("second rotation returned its input")
		}
		// Another client of the same namespace cannot use it.
		otherID, otherSecret := f.client(t, gameServer("game"))
		if r := f.token(t, otherID, otherSecret, refresh(third.str("refresh_token"))); r.Status != http.StatusBadRequest || r.str("error") != "invalid_grant" {
			t.Errorf("other client: %d %s", r.Status, r.Raw)
		}
		// ... and that attempt spent nothing: the owner still rotates it.
		f.mustToken(t, id, secret, refresh(third.str("refresh_token")))
	})
}

// TestRefreshReuseRevokesFamily: a spent token presented after the grace
// window is reuse; the whole family dies, access tokens included.
func TestRefreshReuseRevokesFamily(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		id, secret := f.client(t, gameServer("game"))
		login := f.mustToken(t, id, secret, customID("p1"))
		next := f.mustToken(t, id, secret, refresh(login.str("refresh_token")))
		if r := f.introspect(t, id, secret, next.str("access_token")); r.Body["active"] != true {
			t.Fatalf("fresh access token inactive: %s", r.Raw)
		}

		f.Clock.Advance(6 * time.Second)
		reuse := f.token(t, id, secret, refresh(login.str("refresh_token")))
		if reuse.Status != http.StatusBadRequest || reuse.str("error") != "invalid_grant" {
			t.Fatalf("reuse: %d %s", reuse.Status, reuse.Raw)
		}
		if e := wantAudit(t, f, broker.AuditRefreshReuse, login.str("userId"), ""); e.Target == "" || e.Actor != "broker" {
			t.Errorf("reuse event: %+v", e)
		}
		if r := f.token(t, id, secret, refresh(next.str("refresh_token"))); r.str("error") != "invalid_grant" {
			t.Errorf("successor after reuse: %d %s", r.Status, r.Raw)
		}
		for name, tok := range map[string]string{
			"first access": login.str("access_token"), "second access": next.str("access_token"),
			"successor refresh": next.str("refresh_token"),
		} {
			if r := f.introspect(t, id, secret, tok); r.Status != http.StatusOK || r.Body["active"] != false {
				t.Errorf("%s after reuse: %s", name, r.Raw)
			}
		}
		// Another session of the same user is untouched.
		other := f.mustToken(t, id, secret, customID("p1"))
		f.mustToken(t, id, secret, refresh(other.str("refresh_token")))
	})
}

// TestRefreshReuseOfAnOlderToken: a session keeps only its current token
// and the one before; any older token of it presented after the grace
// window is reuse all the same.
func TestRefreshReuseOfAnOlderToken(t *testing.T) {
	t.Parallel()
	for _, rotations := range []int{2, 3} {
		t.Run(fmt.Sprintf("should revoke the session because a token %d rotations old is presented", rotations), func(t *testing.T) {
			eachStore(t, func(t *testing.T, f *fixture) {
				id, secret := f.client(t, gameServer("game"))
				chain := []string{f.mustToken(t, id, secret, customID("p1")).str("refresh_token")}
				for range rotations {
					f.Clock.Advance(time.Second)
					chain = append(chain, f.mustToken(t, id, secret, refresh(chain[len(chain)-1])).str("refresh_token"))
				}
				f.Clock.Advance(6 * time.Second)
				wantOAuthError(t, f.token(t, id, secret, refresh(chain[0])), http.StatusBadRequest, "invalid_grant")
				if e := wantAudit(t, f, broker.AuditRefreshReuse, "", ""); e.Target == "" {
					t.Errorf("reuse event: %+v", e)
				}
				wantOAuthError(t, f.token(t, id, secret, refresh(chain[len(chain)-1])), http.StatusBadRequest, "invalid_grant")
			})
		})
	}
	t.Run("should fail without revoking anything because the token names no session", func(t *testing.T) {
		eachStore(t, func(t *testing.T, f *fixture) {
			id, secret := f.client(t, gameServer("game"))
			rt := f.mustToken(t, id, secret, customID("p1")).str("refresh_token")
			// Same shape, another family key.
			forged := "rt_" + strings.Repeat("A", len(rt)-len("rt_"))
			wantOAuthError(t, f.token(t, id, secret, refresh(forged)), http.StatusBadRequest, "invalid_grant")
			f.mustToken(t, id, secret, refresh(rt))
		})
	})
}

func TestRefreshConcurrentRotatesOnce(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		id, secret := f.client(t, gameServer("game"))
		rt := f.mustToken(t, id, secret, customID("p1")).str("refresh_token")
		got := parallel(t, 100, func() response { return f.token(t, id, secret, refresh(rt)) })
		successors := map[string]int{}
		for _, r := range got {
			if r.Status != http.StatusOK {
				t.Fatalf("concurrent refresh: %d %s", r.Status, r.Raw)
			}
			successors[r.str("refresh_token")]++
		}
		if len(successors) != 1 {
			t.Fatalf("100 concurrent refreshes made %d different successors", len(successors))
		}
		// Exactly one rotation: the family has the original and one successor.
		for s := range successors {
			row, err := broker.FindRefreshToken(context.Background(), f.Store, s)
			if err != nil || !row.SpentAt.IsZero() {
				t.Fatalf("successor row: %+v, %v", row, err)
			}
		}
	})
}

func TestRefreshScope(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		id, secret := f.client(t, gameServer("game"))
		login := f.mustToken(t, id, secret, url.Values{"grant_type": {"server_custom_id"}, "server_custom_id": {"p"}, "scope": {"game"}})
		wider := refresh(login.str("refresh_token"))
		wider.Set("scope", "game profile")
		if r := f.token(t, id, secret, wider); r.Status != http.StatusBadRequest || r.str("error") != "invalid_scope" {
			t.Fatalf("widening: %d %s", r.Status, r.Raw)
		}
		// The refused widening spent nothing: the token still rotates, and
		// after the grace window too (no reuse).
		f.Clock.Advance(6 * time.Second)
		narrow := f.mustToken(t, id, secret, refresh(login.str("refresh_token")))
		if narrow.str("scope") != "game" {
			t.Errorf("scope = %q", narrow.str("scope"))
		}
		// Narrowing applies to the access token; the family keeps its scope.
		profileLogin := f.mustToken(t, id, secret, customID("q"))
		narrowed := refresh(profileLogin.str("refresh_token"))
		narrowed.Set("scope", "profile")
		n := f.mustToken(t, id, secret, narrowed)
		if n.str("scope") != "profile" {
			t.Errorf("narrowed scope = %q", n.str("scope"))
		}
		if full := f.mustToken(t, id, secret, refresh(n.str("refresh_token"))); full.str("scope") != "game profile" {
			t.Errorf("family scope after narrowing = %q", full.str("scope"))
		}
	})
}

// TestKeyRotationKeepsOldTokens: after `key rotate`, tokens signed by the
// retired key still verify (its key stays in JWKS) and new ones use the new key.
func TestKeyRotationKeepsOldTokens(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		id, secret := f.client(t, gameServer("game"))
		cc := url.Values{"grant_type": {"client_credentials"}}
		old := f.mustToken(t, id, secret, cc).str("access_token")
		if _, err := broker.Rotate(context.Background(), f.Store, f.Secrets, "ES256", time.Hour, f.Clock.Now()); err != nil {
			t.Fatal(err)
		}
		f.Clock.Advance(time.Millisecond) // the new key signs from a millisecond on
		if err := f.Broker.Keys().Load(context.Background()); err != nil {
			t.Fatal(err)
		}
		fresh := f.mustToken(t, id, secret, cc).str("access_token")
		if jwtHeader(t, old)["kid"] == jwtHeader(t, fresh)["kid"] {
			t.Fatal("rotation did not change the signing key")
		}
		v := verifier(t, f, id)
		for name, tok := range map[string]string{"old": old, "new": fresh} {
			if _, err := v.Verify(context.Background(), tok); err != nil {
				t.Errorf("%s token: %v", name, err)
			}
			if r := f.introspect(t, id, secret, tok); r.Body["active"] != true {
				t.Errorf("%s token introspects %s", name, r.Raw)
			}
		}
	})
}
