package web_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// jwtClaims decodes a JWS payload without verifying it.
func jwtClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// introspectHint is f.introspect with a token_type_hint.
func (f *fixture) introspectHint(t *testing.T, id, secret, token, hint string) response {
	t.Helper()
	form := url.Values{"token": {token}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	return f.do(t, http.MethodPost, "/oauth2/introspect", formType, form.Encode(), creds(id, secret))
}

// revoke posts an RFC 7009 revocation request with client_secret_basic.
func (f *fixture) revoke(t *testing.T, id, secret, token, hint string) response {
	t.Helper()
	form := url.Values{"token": {token}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	return f.do(t, http.MethodPost, "/oauth2/revoke", formType, form.Encode(), creds(id, secret))
}

// mustRevoke is revoke that must answer 200 (RFC 7009 §2.2), with no-store.
func (f *fixture) mustRevoke(t *testing.T, id, secret, token, hint string) {
	t.Helper()
	r := f.revoke(t, id, secret, token, hint)
	if r.Status != http.StatusOK {
		t.Fatalf("revoke: %d %s", r.Status, r.Raw)
	}
	if r.Header.Get("Cache-Control") != "no-store" || r.Header.Get("Pragma") != "no-cache" {
		t.Errorf("revoke headers: %v", r.Header)
	}
}

func wantActive(t *testing.T, r response, what string) {
	t.Helper()
	if r.Status != http.StatusOK || r.Body["active"] != true {
		t.Errorf("%s: want active, got %d %s", what, r.Status, r.Raw)
	}
}

// wantInactive: RFC 7662 §2.2 — an inactive token says nothing but that.
func wantInactive(t *testing.T, r response, what string) {
	t.Helper()
	if r.Status != http.StatusOK || strings.TrimSpace(r.Raw) != `{"active":false}` {
		t.Errorf(`%s: want exactly {"active":false}, got %d %s`, what, r.Status, r.Raw)
	}
	wantNoStoreJSON(t, r)
}

func num(r response, key string) (int64, bool) {
	v, ok := r.Body[key].(float64)
	if !ok || v != math.Trunc(v) {
		return 0, false
	}
	return int64(v), true
}

func namespaceOf(t *testing.T, f *fixture, clientID string) string {
	t.Helper()
	c, err := f.Store.GetClient(context.Background(), clientID)
	if err != nil {
		t.Fatal(err)
	}
	return c.NamespaceID
}

func near(t *testing.T, what string, got int64, want time.Time, tolerance time.Duration) {
	t.Helper()
	if d := time.Unix(got, 0).Sub(want); d < -tolerance || d > tolerance {
		t.Errorf("%s = %d (%s), want about %s", what, got, time.Unix(got, 0).UTC(), want.UTC())
	}
}

func TestIntrospectAccessToken(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		id, secret := f.client(t, gameServer("game"))
		ns := namespaceOf(t, f, id)
		login := f.mustToken(t, id, secret, customID("p1"))
		user, at := login.str("userId"), login.str("access_token")
		claims := jwtClaims(t, at)

		// The owner and another client of the same namespace both see it.
		otherID, otherSecret := f.client(t, gameServer("game"))
		var tokenTypes []string
		for _, who := range [][2]string{{id, secret}, {otherID, otherSecret}} {
			r := f.introspect(t, who[0], who[1], at)
			wantActive(t, r, "access token")
			wantNoStoreJSON(t, r)
			for key, want := range map[string]any{
				"sub": user, "client_id": id, "scope": "game profile", "iss": f.URL, "jti": claims["jti"],
				"userId": user, "namespace": ns, "timeOffset": float64(0),
			} {
				if r.Body[key] != want {
					t.Errorf("%s = %#v, want %#v", key, r.Body[key], want)
				}
			}
			if aud, _ := r.Body["aud"].([]any); len(aud) != 1 || aud[0] != id {
				t.Errorf("aud = %#v, want [%s]", r.Body["aud"], id)
			}
			iat, ok1 := num(r, "iat")
			exp, ok2 := num(r, "exp")
			if !ok1 || !ok2 || exp-iat != 3600 || iat != int64(claims["iat"].(float64)) {
				t.Errorf("iat, exp = %v, %v; token iat %v", r.Body["iat"], r.Body["exp"], claims["iat"])
			}
			near(t, "iat", iat, f.Clock.Now(), 10*time.Second)
			if want := int64(login.Body["expire"].(float64)) / 1000; exp != want {
				t.Errorf("exp = %d, token response expire = %d ms", exp, want*1000)
			}
			tokenTypes = append(tokenTypes, r.str("token_type"))
		}
		// Checked last: RFC 7662 §2.2's token_type is RFC 6749 §5.1's.
		for _, tt := range tokenTypes {
			if tt != "Bearer" {
				t.Errorf("token_type = %q, want Bearer", tt)
			}
		}
	})
}

func TestIntrospectClientCredentialsToken(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		id, secret := f.client(t, gameServer("game"))
		at := f.mustToken(t, id, secret, url.Values{"grant_type": {"client_credentials"}, "scope": {"game"}}).str("access_token")
		r := f.introspect(t, id, secret, at)
		wantActive(t, r, "client_credentials token")
		wantNoStoreJSON(t, r)
		if r.str("sub") != id || r.str("client_id") != id || r.str("scope") != "game" || r.str("iss") != f.URL ||
			r.str("namespace") != namespaceOf(t, f, id) || r.str("jti") != jwtClaims(t, at)["jti"] {
			t.Errorf("introspection = %s", r.Raw)
		}
		for _, absent := range []string{"userId", "timeOffset", "federationFromUserId"} {
			if _, ok := r.Body[absent]; ok {
				t.Errorf("a client token introspects with %s: %s", absent, r.Raw)
			}
		}
	})
}

// TestIntrospectRefreshToken: the hint orders the lookups but does not
// restrict them (RFC 7662 §2.1).
func TestIntrospectRefreshToken(t *testing.T) {
	t.Parallel()
	for _, hint := range []string{"refresh_token", "", "access_token", "no-such-hint"} {
		t.Run("hint="+hint, func(t *testing.T) {
			eachStore(t, func(t *testing.T, f *fixture) {
				id, secret := f.client(t, gameServer("game"))
				login := f.mustToken(t, id, secret, url.Values{"grant_type": {"server_custom_id"}, "server_custom_id": {"p1"}, "scope": {"game"}})
				r := f.introspectHint(t, id, secret, login.str("refresh_token"), hint)
				wantActive(t, r, "refresh token")
				wantNoStoreJSON(t, r)
				user := login.str("userId")
				for key, want := range map[string]any{
					"sub": user, "client_id": id, "scope": "game", "iss": f.URL, "userId": user,
					"namespace": namespaceOf(t, f, id), "timeOffset": float64(0),
				} {
					if r.Body[key] != want {
						t.Errorf("%s = %#v, want %#v", key, r.Body[key], want)
					}
				}
				if r.str("token_type") != "refresh_token" && r.str("token_use") != "refresh_token" {
					t.Errorf("the answer does not say it is a refresh token: %s", r.Raw)
				}
				iat, _ := num(r, "iat")
				exp, _ := num(r, "exp")
				near(t, "iat", iat, f.Clock.Now(), 10*time.Second)
				if exp-iat != int64(broker.DefaultRefreshTTL/time.Second) {
					t.Errorf("exp - iat = %d, want the 90-day refresh lifetime", exp-iat)
				}
			})
		})
	}
}

// TestIntrospectInactive: whatever makes a token unusable makes it inactive,
// and the answer is exactly {"active":false}.
func TestIntrospectInactive(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		// token returns the token to introspect, after any setup.
		token func(t *testing.T, f *fixture, id, secret string) string
	}{
		{"the token is garbage", func(*testing.T, *fixture, string, string) string { return "garbage" }},
		{"the token only looks like a JWS", func(*testing.T, *fixture, string, string) string { return "a.b.c" }},
		{"the token is 10 KB", func(*testing.T, *fixture, string, string) string { return strings.Repeat("t", 10<<10) }},
		{"the signature is tampered with", func(t *testing.T, f *fixture, id, secret string) string {
			at := f.mustToken(t, id, secret, customID("p1")).str("access_token")
			i := strings.LastIndex(at, ".") + 1
			sig := []byte(at[i:])
			sig[3] ^= 1
			return at[:i] + string(sig)
		}},
		{"the claims are changed", func(t *testing.T, f *fixture, id, secret string) string {
			at := f.mustToken(t, id, secret, customID("p1")).str("access_token")
			parts := strings.Split(at, ".")
			c := jwtClaims(t, at)
			c["scope"] = "game profile admin"
			raw, _ := json.Marshal(c)
			return parts[0] + "." + base64.RawURLEncoding.EncodeToString(raw) + "." + parts[2]
		}},
		{`the token is alg "none"`, func(t *testing.T, f *fixture, id, secret string) string {
			at := f.mustToken(t, id, secret, customID("p1")).str("access_token")
			h := jwtHeader(t, at)
			h["alg"] = "none"
			return encodeSegment(t, h) + "." + strings.Split(at, ".")[1] + "."
		}},
		{"the token is HS256 keyed with the public JWKS", func(t *testing.T, f *fixture, id, secret string) string {
			at := f.mustToken(t, id, secret, customID("p1")).str("access_token")
			h := jwtHeader(t, at)
			h["alg"] = "HS256"
			input := encodeSegment(t, h) + "." + strings.Split(at, ".")[1]
			m := hmac.New(sha256.New, f.Broker.Keys().JWKS())
			m.Write([]byte(input))
			return input + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
		}},
		{"the access token is another namespace's", func(t *testing.T, f *fixture, _, _ string) string {
			otherID, otherSecret := f.client(t, gameServer("other-game"))
			return f.mustToken(t, otherID, otherSecret, customID("p1")).str("access_token")
		}},
		{"the client_credentials token is another namespace's", func(t *testing.T, f *fixture, _, _ string) string {
			otherID, otherSecret := f.client(t, gameServer("other-game"))
			return f.mustToken(t, otherID, otherSecret, url.Values{"grant_type": {"client_credentials"}}).str("access_token")
		}},
		{"the refresh token is another namespace's", func(t *testing.T, f *fixture, _, _ string) string {
			otherID, otherSecret := f.client(t, gameServer("other-game"))
			return f.mustToken(t, otherID, otherSecret, customID("p1")).str("refresh_token")
		}},
		{"the access token expired", func(t *testing.T, f *fixture, id, secret string) string {
			at := f.mustToken(t, id, secret, customID("p1")).str("access_token")
			wantActive(t, f.introspect(t, id, secret, at), "before expiry")
			f.Clock.Advance(2 * time.Hour)
			return at
		}},
		{"the refresh token expired", func(t *testing.T, f *fixture, _, _ string) string {
			spec := gameServer("game")
			spec.RefreshTTL = time.Minute
			id, secret := f.client(t, spec)
			rt := f.mustToken(t, id, secret, customID("p1")).str("refresh_token")
			f.Clock.Advance(2 * time.Minute)
			return rt
		}},
		{"the access token was revoked", func(t *testing.T, f *fixture, id, secret string) string {
			at := f.mustToken(t, id, secret, customID("p1")).str("access_token")
			f.mustRevoke(t, id, secret, at, "")
			return at
		}},
		{"the refresh token was revoked", func(t *testing.T, f *fixture, id, secret string) string {
			rt := f.mustToken(t, id, secret, customID("p1")).str("refresh_token")
			f.mustRevoke(t, id, secret, rt, "")
			return rt
		}},
		{"the refresh token was spent", func(t *testing.T, f *fixture, id, secret string) string {
			rt := f.mustToken(t, id, secret, customID("p1")).str("refresh_token")
			f.mustToken(t, id, secret, refresh(rt))
			return rt
		}},
		{"the token comes from another broker", func(t *testing.T, _ *fixture, _, _ string) string {
			other := newFixture(t, openSQLite(t))
			id, secret := other.client(t, gameServer("game"))
			return other.mustToken(t, id, secret, customID("p1")).str("access_token")
		}},
	}
	eachStore(t, func(t *testing.T, f *fixture) {
		for _, tc := range cases {
			t.Run("should be inactive because "+tc.name, func(t *testing.T) {
				id, secret := f.client(t, gameServer("game"))
				tok := tc.token(t, f, id, secret)
				for _, hint := range []string{"", "access_token", "refresh_token"} {
					wantInactive(t, f.introspectHint(t, id, secret, tok, hint), "hint "+hint)
				}
			})
		}
	})
}

func encodeSegment(t *testing.T, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(raw)
}

// endpointErrors are the refusals shared by introspection (RFC 7662 §2.1)
// and revocation (RFC 7009 §2.1): both need an authenticated confidential
// client and a token.
func endpointErrors(path string) []tokenError {
	const bad, unauth = http.StatusBadRequest, http.StatusUnauthorized
	tok := url.Values{"token": {"some-token"}}.Encode()
	return []tokenError{
		{name: "no client authentication is included", call: func(*testing.T, *fixture, string, string) call {
			return call{path: path, body: tok}
		}, status: unauth, code: "invalid_client"},
		{name: "only a client_id is included", call: func(_ *testing.T, _ *fixture, id, _ string) call {
			return call{path: path, body: tok + "&client_id=" + url.QueryEscape(id)}
		}, status: unauth, code: "invalid_client"},
		{name: "the Basic secret is wrong", call: func(_ *testing.T, _ *fixture, id, _ string) call {
			return call{path: path, body: tok, basic: creds(id, "bks_wrong")}
		}, status: unauth, code: "invalid_client", challenge: true},
		{name: "the Basic client is unknown", call: func(_ *testing.T, _ *fixture, _, secret string) call {
			return call{path: path, body: tok, basic: creds("no-such-client", secret)}
		}, status: unauth, code: "invalid_client", challenge: true},
		{name: "the client_secret_post secret is wrong", call: func(_ *testing.T, _ *fixture, id, _ string) call {
			return call{path: path, body: tok + "&client_id=" + url.QueryEscape(id) + "&client_secret=bks_wrong"}
		}, status: unauth, code: "invalid_client"},
		{name: "the client is public", call: func(t *testing.T, f *fixture, _, _ string) call {
			pub, _ := f.client(t, broker.ClientSpec{Namespace: "game", Name: "app", Public: true, Grants: []string{broker.GrantRefreshToken}})
			return call{path: path, body: tok + "&client_id=" + url.QueryEscape(pub)}
		}, status: unauth, code: "invalid_client"},
		{name: "the client is unauthenticated and the token missing", call: func(*testing.T, *fixture, string, string) call {
			return call{path: path}
		}, status: unauth, code: "invalid_client"},
		{name: "the token is missing", call: func(_ *testing.T, _ *fixture, id, secret string) call {
			return call{path: path, body: "token_type_hint=access_token", basic: creds(id, secret)}
		}, status: bad, code: "invalid_request"},
		{name: "the token is empty", call: func(_ *testing.T, _ *fixture, id, secret string) call {
			return call{path: path, body: "token=", basic: creds(id, secret)}
		}, status: bad, code: "invalid_request"},
		{name: "the token is repeated", call: func(_ *testing.T, _ *fixture, id, secret string) call {
			return call{path: path, body: tok + "&" + tok, basic: creds(id, secret)}
		}, status: bad, code: "invalid_request"},
		{name: "both client authentication methods are used", call: func(_ *testing.T, _ *fixture, id, secret string) call {
			return call{path: path, body: tok + "&client_id=" + url.QueryEscape(id) + "&client_secret=" + url.QueryEscape(secret), basic: creds(id, secret)}
		}, status: bad, code: "invalid_request"},
		{name: "the Content-Type is JSON", call: func(_ *testing.T, _ *fixture, id, secret string) call {
			return call{path: path, ctype: "application/json", body: `{"token":"x"}`, basic: creds(id, secret)}
		}, status: bad, code: "invalid_request"},
		{name: "the body is over the limit", call: func(_ *testing.T, _ *fixture, id, secret string) call {
			return call{path: path, body: tok + "&pad=" + strings.Repeat("x", maxBody), basic: creds(id, secret), chunked: true}
		}, status: http.StatusRequestEntityTooLarge, code: "invalid_request"},
	}
}

func TestIntrospectErrors(t *testing.T) {
	t.Parallel()
	testEndpointErrors(t, "/oauth2/introspect")
}

func TestRevokeErrors(t *testing.T) {
	t.Parallel()
	testEndpointErrors(t, "/oauth2/revoke")
}

func testEndpointErrors(t *testing.T, path string) {
	cases := endpointErrors(path)
	if path == "/oauth2/revoke" {
		// A public client may revoke its own tokens: TestPublicClientRevokes.
		cases = slices.DeleteFunc(cases, func(tc tokenError) bool { return tc.name == "the client is public" })
	}
	eachStore(t, func(t *testing.T, f *fixture) {
		for _, tc := range cases {
			t.Run("should fail because "+tc.name, func(t *testing.T) {
				id, secret := f.client(t, gameServer("game"))
				r := f.send(t, tc.call(t, f, id, secret))
				wantOAuthError(t, r, tc.status, tc.code)
				if tc.status == http.StatusUnauthorized {
					wantChallenge(t, r, tc.challenge)
				}
			})
		}
	})
}

// TestRevokeRefreshTokenRevokesFamily: RFC 7009 §2.1 — revoking a refresh
// token revokes it and the access tokens of its grant; an unknown or wrong
// hint must not stop the server from finding it.
func TestRevokeRefreshTokenRevokesFamily(t *testing.T) {
	t.Parallel()
	for _, hint := range []string{"", "refresh_token", "no-such-hint", "access_token"} {
		t.Run("hint="+hint, func(t *testing.T) {
			eachStore(t, func(t *testing.T, f *fixture) {
				id, secret := f.client(t, gameServer("game"))
				login := f.mustToken(t, id, secret, customID("p1"))
				next := f.mustToken(t, id, secret, refresh(login.str("refresh_token")))
				rt := next.str("refresh_token")
				f.mustRevoke(t, id, secret, rt, hint)

				if r := f.introspect(t, id, secret, rt); r.Body["active"] != false {
					t.Errorf("refresh token revoked with hint %q still active: %s", hint, r.Raw)
				}
				if r := f.token(t, id, secret, refresh(rt)); r.Status != http.StatusBadRequest || r.str("error") != "invalid_grant" {
					t.Errorf("refresh with the revoked token: %d %s", r.Status, r.Raw)
				}
				// The spent predecessor, inside the grace window, does not revive the family.
				if r := f.token(t, id, secret, refresh(login.str("refresh_token"))); r.Status != http.StatusBadRequest || r.str("error") != "invalid_grant" {
					t.Errorf("refresh with the spent predecessor: %d %s", r.Status, r.Raw)
				}
				for name, tok := range map[string]string{
					"revoked refresh token": rt, "first access token": login.str("access_token"),
					"second access token": next.str("access_token"),
				} {
					wantInactive(t, f.introspect(t, id, secret, tok), name)
				}
				// Another session of the same user lives on.
				other := f.mustToken(t, id, secret, customID("p1"))
				wantActive(t, f.introspect(t, id, secret, other.str("access_token")), "other session")
				f.mustToken(t, id, secret, refresh(other.str("refresh_token")))
				// Revoking again is still 200.
				f.mustRevoke(t, id, secret, rt, hint)
			})
		})
	}
}

// TestRevokeAccessToken: revoking an access token deactivates it alone; its
// refresh token keeps working.
func TestRevokeAccessToken(t *testing.T) {
	t.Parallel()
	for _, hint := range []string{"", "access_token", "refresh_token"} {
		t.Run("hint="+hint, func(t *testing.T) {
			eachStore(t, func(t *testing.T, f *fixture) {
				id, secret := f.client(t, gameServer("game"))
				login := f.mustToken(t, id, secret, customID("p1"))
				at := login.str("access_token")
				f.mustRevoke(t, id, secret, at, hint)
				wantInactive(t, f.introspect(t, id, secret, at), "revoked access token")
				wantActive(t, f.introspect(t, id, secret, login.str("refresh_token")), "its refresh token")

				next := f.mustToken(t, id, secret, refresh(login.str("refresh_token")))
				wantActive(t, f.introspect(t, id, secret, next.str("access_token")), "the next access token")
				wantInactive(t, f.introspect(t, id, secret, at), "revoked access token after refresh")

				clientTok := f.mustToken(t, id, secret, url.Values{"grant_type": {"client_credentials"}}).str("access_token")
				f.mustRevoke(t, id, secret, clientTok, hint)
				wantInactive(t, f.introspect(t, id, secret, clientTok), "revoked client_credentials token")
			})
		})
	}
}

// TestRevokeIgnoresOthersTokens: RFC 7009 §2.2 — 200 for a token the server
// does not know or that is another client's, which stays active.
func TestRevokeIgnoresOthersTokens(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		id, secret := f.client(t, gameServer("game"))
		for _, tok := range []string{"unknown", "rt_" + strings.Repeat("A", 43), "a.b.c", strings.Repeat("x", 10<<10)} {
			f.mustRevoke(t, id, secret, tok, "")
		}
		for _, ns := range []string{"game", "other-game"} {
			ownerID, ownerSecret := f.client(t, gameServer(ns))
			login := f.mustToken(t, ownerID, ownerSecret, customID("p1"))
			clientTok := f.mustToken(t, ownerID, ownerSecret, url.Values{"grant_type": {"client_credentials"}}).str("access_token")
			for name, tok := range map[string]string{
				"refresh token": login.str("refresh_token"), "access token": login.str("access_token"), "client token": clientTok,
			} {
				for _, hint := range []string{"", "access_token", "refresh_token"} {
					f.mustRevoke(t, id, secret, tok, hint)
				}
				wantActive(t, f.introspect(t, ownerID, ownerSecret, tok), ns+" "+name+" after another client revoked it")
			}
			f.mustToken(t, ownerID, ownerSecret, refresh(login.str("refresh_token")))
		}
	})
}
