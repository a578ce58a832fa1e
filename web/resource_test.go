package web_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"golang.org/x/oauth2"
)

// Resource indicators (RFC 8707, issue 13 item 4).

const (
	matchmaking = "https://matchmaking.example/"
	inventory   = "https://inventory.example/api"
)

// TestResourceIndicators: a resource the client may use becomes the
// access token's audience, for the session's whole life; one it may not
// is invalid_target; without one the audience is the client, as before.
func TestResourceIndicators(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		spec := gameServer("game")
		spec.Resources = []string{matchmaking, inventory}
		id, secret := f.client(t, spec)
		with := func(form url.Values, resource string) url.Values {
			form.Set("resource", resource)
			return form
		}
		aud := func(t *testing.T, r response) any {
			t.Helper()
			if r.Status != http.StatusOK {
				t.Fatalf("token: %d %s", r.Status, r.Raw)
			}
			return xsVerify(t, f, r.str("access_token"))["aud"]
		}
		cc := url.Values{"grant_type": {"client_credentials"}}
		if a := aud(t, f.token(t, id, secret, with(cc, matchmaking))); a != matchmaking {
			t.Errorf("client_credentials for matchmaking: aud %v", a)
		}
		if a := aud(t, f.token(t, id, secret, url.Values{"grant_type": {"client_credentials"}})); a != id {
			t.Errorf("client_credentials without resource: aud %v, want the client %s", a, id)
		}
		login := f.token(t, id, secret, with(customID("player-7"), inventory))
		if a := aud(t, login); a != inventory {
			t.Errorf("server_custom_id for inventory: aud %v", a)
		}
		// The session keeps its resource; naming it again is fine, another not.
		next := f.token(t, id, secret, refresh(login.str("refresh_token")))
		if a := aud(t, next); a != inventory {
			t.Errorf("refresh: aud %v, want the session's %s", a, inventory)
		}
		wantOAuthError(t, f.token(t, id, secret, with(refresh(next.str("refresh_token")), matchmaking)), http.StatusBadRequest, "invalid_target")
		if a := aud(t, f.token(t, id, secret, with(refresh(next.str("refresh_token")), inventory))); a != inventory {
			t.Errorf("refresh naming the session's resource: aud %v", a)
		}
		// Resource servers introspect their tokens; the broker's own APIs
		// are no resource server of them.
		if in := f.introspect(t, id, secret, login.str("access_token")); in.str("active") != "" || in.Body["active"] != true {
			t.Errorf("introspection: %s", in.Raw)
		} else if auds, _ := in.Body["aud"].([]any); len(auds) != 1 || auds[0] != inventory {
			t.Errorf("introspection aud: %v", in.Body["aud"])
		}
		if u := f.bearer(t, http.MethodGet, "/userinfo", login.str("access_token"), nil); u.Status != http.StatusUnauthorized {
			t.Errorf("should fail because /userinfo got a token for another resource: %d %s", u.Status, u.Raw)
		}
		for _, tc := range []struct {
			name, resource string
		}{
			{"the client may not use the resource", "https://chat.example/"},
			{"the resource is relative", "/api"},
			{"the resource has a fragment", matchmaking + "#x"},
		} {
			t.Run("should fail because "+tc.name, func(t *testing.T) {
				wantOAuthError(t, f.token(t, id, secret, with(customID("player-7"), tc.resource)), http.StatusBadRequest, "invalid_target")
			})
		}
		plain, plainSecret := f.client(t, gameServer("game"))
		t.Run("should fail because the client has no resources", func(t *testing.T) {
			wantOAuthError(t, f.token(t, plain, plainSecret, with(url.Values{"grant_type": {"client_credentials"}}, matchmaking)), http.StatusBadRequest, "invalid_target")
		})
	})
}

// TestResourceThroughTheBrowser: the authorization request's resource is
// the audience of the tokens its code gives, and of their refreshes; the
// token request may name it again, no other.
func TestResourceThroughTheBrowser(t *testing.T) {
	t.Parallel()
	eachFlowStore(t, func(t *testing.T, f *flowEnv) {
		spec := nativeSpec("game")
		spec.Resources = []string{matchmaking, inventory}
		id, _ := f.client(t, spec)
		cfg := f.oauthConfig(id, "", nativeRedirect, "openid", "game")
		f.queue("google", "resource-player")
		a := newAttempt(cfg, "google", oauth2.SetAuthURLParam("resource", matchmaking))
		resp, err := newBrowser(t, nativeRedirect).Get(a.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, _ := url.Parse(resp.Header.Get("Location"))
		code := loc.Query().Get("code")
		if code == "" {
			t.Fatalf("no code: %s", resp.Header.Get("Location"))
		}
		t.Run("should fail because the token request names another resource", func(t *testing.T) {
			other := newAttempt(cfg, "google", oauth2.SetAuthURLParam("resource", matchmaking))
			f.queue("google", "resource-player")
			resp, err := newBrowser(t, nativeRedirect).Get(other.URL)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			l, _ := url.Parse(resp.Header.Get("Location"))
			r := f.send(t, call{body: url.Values{"grant_type": {"authorization_code"}, "code": {l.Query().Get("code")}, "client_id": {id},
				"redirect_uri": {nativeRedirect}, "code_verifier": {other.Verifier}, "resource": {inventory}}.Encode()})
			wantOAuthError(t, r, http.StatusBadRequest, "invalid_target")
		})
		tok, err := cfg.Exchange(context.Background(), code, oauth2.VerifierOption(a.Verifier))
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		if aud := xsVerify(t, f.fixture, tok.AccessToken)["aud"]; aud != matchmaking {
			t.Errorf("aud %v, want %s", aud, matchmaking)
		}
		next, err := cfg.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		if aud := xsVerify(t, f.fixture, next.AccessToken)["aud"]; aud != matchmaking {
			t.Errorf("after a refresh aud %v, want %s", aud, matchmaking)
		}
	})
}
