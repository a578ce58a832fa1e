package web_test

import (
	"context"
	"errors"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// TestAuthorizationCodeFlow: an unmodified x/oauth2 client signs a player in
// through mockoidc with PKCE, gets an ID token go-oidc accepts with its
// nonce, and the upstream subject maps to one broker user.
func TestAuthorizationCodeFlow(t *testing.T) {
	t.Parallel()
	eachFlowStore(t, func(t *testing.T, f *flowEnv) {
		id, _ := f.client(t, nativeSpec("game"))
		cfg := f.oauthConfig(id, "", nativeRedirect, "openid", "game")

		a, code := f.signIn(t, cfg, "google", "alice")
		tok, err := cfg.Exchange(context.Background(), code, oauth2.VerifierOption(a.Verifier))
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		if tok.AccessToken == "" || tok.RefreshToken == "" || !strings.EqualFold(tok.TokenType, "Bearer") {
			t.Fatalf("token: %+v", tok)
		}
		idt := f.verifyIDToken(t, id, tok)
		if idt.Nonce != a.Nonce {
			t.Fatalf("ID token nonce %q, want %q", idt.Nonce, a.Nonce)
		}
		userID := f.userID(t, tok.AccessToken)
		if idt.Subject != userID || tok.Extra("userId") != userID {
			t.Fatalf("ID token sub %q, token userId %v, userinfo %q", idt.Subject, tok.Extra("userId"), userID)
		}
		// The token source refreshes through the same client.
		r := f.token(t, id, "", refresh(tok.RefreshToken))
		if r.Status != http.StatusOK || r.str("userId") != userID {
			t.Fatalf("refresh: %d %s", r.Status, r.Raw)
		}

		if again := f.userID(t, f.login(t, cfg, "google", "alice").AccessToken); again != userID {
			t.Fatalf("the same upstream subject signed in as %s, then %s", userID, again)
		}
		bob := f.userID(t, f.login(t, cfg, "google", "bob").AccessToken)
		if bob == userID {
			t.Fatal("another upstream subject signed in as the same user")
		}
		// The same subject at another provider is another identity.
		if m := f.userID(t, f.login(t, cfg, "mobage", "alice").AccessToken); m == userID || m == bob {
			t.Fatal("a mobage subject was taken for a google one")
		}
	})
}

// TestNoOpenIDNoIDToken: without openid in the scope there is no ID token.
func TestNoOpenIDNoIDToken(t *testing.T) {
	t.Parallel()
	eachFlowStore(t, func(t *testing.T, f *flowEnv) {
		id, secret := f.client(t, appSpec("game"))
		tok := f.login(t, f.oauthConfig(id, secret, appRedirect, "game"), "google", "alice")
		if v := tok.Extra("id_token"); v != nil {
			t.Fatalf("id_token %v without openid", v)
		}
		if s := tok.Extra("scope"); s != "game" {
			t.Fatalf("scope %v, want game", s)
		}
		f.userID(t, tok.AccessToken)
	})
}

// TestAuthorizeErrorPages: a request whose client or redirect_uri cannot be
// trusted is answered on a page, never redirected.
func TestAuthorizeErrorPages(t *testing.T) {
	t.Parallel()
	f := newFlowEnv(t, openSQLite(t))
	id, _ := f.client(t, nativeSpec("game"))
	cfg := f.oauthConfig(id, "", nativeRedirect, "openid")
	a := newAttempt(cfg, "google")
	for _, tc := range []struct {
		why  string
		edit func(q url.Values)
	}{
		{"the redirect_uri is not registered", func(q url.Values) { q.Set("redirect_uri", "https://evil.example/cb") }},
		{"the redirect_uri is missing", func(q url.Values) { q.Del("redirect_uri") }},
		{"the redirect_uri differs in case", func(q url.Values) { q.Set("redirect_uri", "com.example.game:/OAuth2/callback") }},
		{"the redirect_uri has an extra query", func(q url.Values) { q.Set("redirect_uri", nativeRedirect+"?next=evil") }},
		{"the redirect_uri has a trailing slash", func(q url.Values) { q.Set("redirect_uri", nativeRedirect+"/") }},
		{"the client is unknown", func(q url.Values) { q.Set("client_id", "7d3c0a7e-0000-4000-8000-000000000000") }},
		{"the client_id is missing", func(q url.Values) { q.Del("client_id") }},
		{"a parameter is repeated", func(q url.Values) { q.Add("redirect_uri", nativeRedirect) }},
	} {
		t.Run("should fail because "+tc.why, func(t *testing.T) {
			u, _ := url.Parse(a.URL)
			q := u.Query()
			tc.edit(q)
			u.RawQuery = q.Encode()
			resp, body := get(t, noFollow, u.String())
			page(t, resp, body, http.StatusBadRequest, "Sign-in problem")
		})
	}
	t.Run("control: the unedited request redirects to the upstream", func(t *testing.T) {
		resp, _ := get(t, noFollow, a.URL)
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, f.Google.AuthorizationEndpoint()) {
			t.Fatalf("%d %q", resp.StatusCode, loc)
		}
		// The state cookie binds the attempt to this browser only.
		var c *http.Cookie
		for _, k := range resp.Cookies() {
			if k.Name == "bk_login" {
				c = k
			}
		}
		if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/oauth2/" || c.MaxAge <= 0 {
			t.Fatalf("bk_login cookie %+v", c)
		}
	})
}

// TestAuthorizeRedirectErrors: every other bad request goes back to the
// client's redirect_uri as error= with its state.
func TestAuthorizeRedirectErrors(t *testing.T) {
	t.Parallel()
	f := newFlowEnv(t, openSQLite(t))
	native, _ := f.client(t, nativeSpec("game"))
	spec := appSpec("game")
	spec.Grants = []string{broker.GrantRefreshToken, broker.GrantAuthorizationCode}
	app, _ := f.client(t, spec)
	spec.Grants = []string{broker.GrantClientCredentials}
	noCode, _ := f.client(t, spec)
	for _, tc := range []struct {
		why, client, redirect, want string
		edit                        func(q url.Values)
	}{
		{"a public client sent no code_challenge", native, nativeRedirect, "invalid_request", func(q url.Values) {
			q.Del("code_challenge")
			q.Del("code_challenge_method")
		}},
		{"code_challenge_method is plain", native, nativeRedirect, "invalid_request", func(q url.Values) {
			q.Set("code_challenge_method", "plain")
			q.Set("code_challenge", oauth2.GenerateVerifier())
		}},
		{"code_challenge_method is plain, confidential client", app, appRedirect, "invalid_request", func(q url.Values) {
			q.Set("code_challenge_method", "plain")
		}},
		{"code_challenge_method is missing (plain by default)", native, nativeRedirect, "invalid_request", func(q url.Values) { q.Del("code_challenge_method") }},
		{"the code_challenge is not S256-shaped", native, nativeRedirect, "invalid_request", func(q url.Values) { q.Set("code_challenge", "short") }},
		{"response_type is token", native, nativeRedirect, "unsupported_response_type", func(q url.Values) { q.Set("response_type", "token") }},
		{"response_type is missing", native, nativeRedirect, "unsupported_response_type", func(q url.Values) { q.Del("response_type") }},
		{"the scope is not allowed for the client", native, nativeRedirect, "invalid_scope", func(q url.Values) { q.Set("scope", "openid admin") }},
		{"the provider is unknown", native, nativeRedirect, "invalid_request", func(q url.Values) { q.Set("provider", "facebook") }},
		{"the client may not use the code grant", noCode, appRedirect, "unauthorized_client", func(url.Values) {}},
		{"the client may not ask for the resource", native, nativeRedirect, "invalid_target", func(q url.Values) { q.Set("resource", "https://chat.example/") }},
	} {
		t.Run("should fail because "+tc.why, func(t *testing.T) {
			a := newAttempt(f.oauthConfig(tc.client, "", tc.redirect, "openid"), "google")
			u, _ := url.Parse(a.URL)
			q := u.Query()
			tc.edit(q)
			u.RawQuery = q.Encode()
			resp, body := get(t, noFollow, u.String())
			got := redirected(t, resp, body, tc.redirect)
			if got.Get("error") != tc.want || got.Get("state") != a.State || got.Get("code") != "" || got.Get("iss") != f.URL {
				t.Fatalf("redirect %v, want error=%s and state %s", got, tc.want, a.State)
			}
		})
	}
}

// TestUpstreamRefusalReachesClient: a player who declines at the upstream
// comes back to the client with error= and the client's state.
func TestUpstreamRefusalReachesClient(t *testing.T) {
	t.Parallel()
	eachFlowStore(t, func(t *testing.T, f *flowEnv) {
		id, _ := f.client(t, nativeSpec("game"))
		cfg := f.oauthConfig(id, "", nativeRedirect, "openid")
		for _, tc := range []struct{ provider, upstream, want string }{
			{"google", "access_denied", "access_denied"},
			{"mobage", "access_denied", "access_denied"},
			{"mobage", "temporarily_unavailable", "temporarily_unavailable"},
			{"mobage", "invalid_scope", "access_denied"}, // the broker's own problem is not the client's scope
		} {
			f.Google.Deny(tc.upstream)
			f.Mobage.Deny(tc.upstream)
			a := newAttempt(cfg, tc.provider)
			resp, body := get(t, newBrowser(t, nativeRedirect).Client, a.URL)
			q := redirected(t, resp, body, nativeRedirect)
			if q.Get("error") != tc.want || q.Get("state") != a.State || q.Get("code") != "" {
				t.Errorf("%s refused with %s: client got %v", tc.provider, tc.upstream, q)
			}
		}
		f.Google.Deny("")

		// A code the upstream does not redeem is the broker's failure.
		a := newAttempt(cfg, "google")
		f.queue("google", "alice")
		b := newBrowser(t, f.URL+"/oauth2/callback/")
		resp, _ := get(t, b.Client, a.URL)
		cb, err := url.Parse(resp.Header.Get("Location"))
		if err != nil || cb.Query().Get("code") == "" {
			t.Fatalf("want the upstream's redirect to the callback: %d %v", resp.StatusCode, resp.Header)
		}
		q := cb.Query()
		q.Set("code", "forged-"+q.Get("code"))
		cb.RawQuery = q.Encode()
		resp, body := get(t, newBrowser(t, nativeRedirect).Client, cb.String(), "Cookie", "bk_login="+q.Get("state"))
		if q := redirected(t, resp, body, nativeRedirect); q.Get("error") != "server_error" || q.Get("state") != a.State {
			t.Fatalf("an unverifiable upstream code: client got %v", q)
		}
	})
}

// TestCallbackStateRefused: the upstream's state must be one the broker
// issued to this browser, unused and unexpired.
func TestCallbackStateRefused(t *testing.T) {
	t.Parallel()
	eachFlowStore(t, func(t *testing.T, f *flowEnv) {
		id, _ := f.client(t, nativeSpec("game"))
		cfg := f.oauthConfig(id, "", nativeRedirect, "openid")
		// toUpstream starts a login and stops where the browser would go
		// to the upstream, returning the state the broker sent there.
		toUpstream := func(provider string) (*browser, string, string) {
			b := newBrowser(t, f.Google.AuthorizationEndpoint(), f.Mobage.URL+mobageAuthorize)
			resp, body := get(t, b.Client, newAttempt(cfg, provider).URL)
			u, err := url.Parse(resp.Header.Get("Location"))
			if resp.StatusCode != http.StatusFound || err != nil || u.Query().Get("state") == "" {
				t.Fatalf("want a redirect to the upstream: %d %v %.200s", resp.StatusCode, resp.Header, body)
			}
			return b, u.String(), u.Query().Get("state")
		}
		callback := func(provider, state, cookie string) (*http.Response, string) {
			u := f.URL + "/oauth2/callback/" + provider + "?" + url.Values{"code": {"c0de"}, "state": {state}}.Encode()
			if cookie == "" {
				return get(t, noFollow, u)
			}
			return get(t, noFollow, u, "Cookie", "bk_login="+cookie)
		}
		const refused = "Sign-in problem"

		t.Run("should fail because the state is forged", func(t *testing.T) {
			forged := randomString()
			resp, body := callback("google", forged, forged)
			page(t, resp, body, http.StatusBadRequest, refused)
		})
		t.Run("should fail because the browser has no bk_login cookie", func(t *testing.T) {
			_, _, state := toUpstream("google")
			resp, body := callback("google", state, "")
			page(t, resp, body, http.StatusBadRequest, refused)
		})
		t.Run("should fail because the cookie is another attempt's", func(t *testing.T) {
			_, _, state := toUpstream("google")
			_, _, other := toUpstream("google")
			resp, body := callback("google", state, other)
			page(t, resp, body, http.StatusBadRequest, refused)
		})
		t.Run("should fail because the state was for another provider", func(t *testing.T) {
			_, _, state := toUpstream("google")
			resp, body := callback("mobage", state, state)
			page(t, resp, body, http.StatusBadRequest, refused)
		})
		t.Run("should fail because the state was used already", func(t *testing.T) {
			b, upstream, state := toUpstream("google")
			f.queue("google", "alice")
			b2 := newBrowser(t, nativeRedirect)
			b2.Jar = b.Jar
			resp, body := get(t, b2.Client, upstream)
			redirected(t, resp, body, nativeRedirect)
			var cb string
			for _, v := range b2.visited {
				if strings.HasPrefix(v, f.URL+"/oauth2/callback/google?") {
					cb = v
				}
			}
			if cb == "" {
				t.Fatalf("the browser never reached the callback: %v", b2.visited)
			}
			resp, body = get(t, noFollow, cb, "Cookie", "bk_login="+state)
			page(t, resp, body, http.StatusBadRequest, refused)
		})
		t.Run("should fail because the state expired", func(t *testing.T) {
			_, _, state := toUpstream("mobage")
			f.Clock.Advance(broker.AuthRequestTTL + time.Second)
			resp, body := callback("mobage", state, state)
			page(t, resp, body, http.StatusBadRequest, refused)
		})
	})
}

// TestCodeRedemptionRules: a code is bound to its client, redirect_uri and
// PKCE verifier, lives 60 s, and a replay revokes what it issued.
func TestCodeRedemptionRules(t *testing.T) {
	t.Parallel()
	eachFlowStore(t, func(t *testing.T, f *flowEnv) {
		id, secret := f.client(t, appSpec("game"))
		otherID, otherSecret := f.client(t, appSpec("game"))
		cfg := f.oauthConfig(id, secret, appRedirect, "openid", "game")
		exchange := func(c *oauth2.Config, code string, opts ...oauth2.AuthCodeOption) (*oauth2.Token, error) {
			return c.Exchange(context.Background(), code, opts...)
		}
		wantInvalidGrant := func(t *testing.T, err error) {
			t.Helper()
			var re *oauth2.RetrieveError
			if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
				t.Fatalf("want invalid_grant, got %v", err)
			}
		}

		t.Run("should fail because the code is replayed", func(t *testing.T) {
			a, code := f.signIn(t, cfg, "google", "alice")
			tok, err := exchange(cfg, code, oauth2.VerifierOption(a.Verifier))
			if err != nil {
				t.Fatal(err)
			}
			// The tokens it issued include what their refresh rotated to.
			next := f.mustToken(t, id, secret, refresh(tok.RefreshToken))
			issued := []string{tok.AccessToken, next.str("access_token"), next.str("refresh_token")}
			for _, tk := range issued {
				if r := f.introspect(t, id, secret, tk); r.Body["active"] != true {
					t.Fatalf("before the replay: %s", r.Raw)
				}
			}
			_, err = exchange(cfg, code, oauth2.VerifierOption(a.Verifier))
			wantInvalidGrant(t, err)
			wantAudit(t, f.fixture, broker.AuditCodeReplay, next.str("userId"), "")
			for _, tk := range issued {
				if r := f.introspect(t, id, secret, tk); r.Status != http.StatusOK || r.Body["active"] != false {
					t.Fatalf("after the replay the first tokens must be inactive: %s", r.Raw)
				}
			}
			if r := f.token(t, id, secret, refresh(next.str("refresh_token"))); r.Status != http.StatusBadRequest || r.str("error") != "invalid_grant" {
				t.Fatalf("refresh after the replay: %d %s", r.Status, r.Raw)
			}
			if r := f.bearer(t, http.MethodGet, "/userinfo", tok.AccessToken, nil); r.Status != http.StatusUnauthorized {
				t.Fatalf("userinfo after the replay: %d %s", r.Status, r.Raw)
			}
		})
		t.Run("should fail because the code is replayed after its 60 s expiry, and still revoke", func(t *testing.T) {
			a, code := f.signIn(t, cfg, "google", "alice")
			tok, err := exchange(cfg, code, oauth2.VerifierOption(a.Verifier))
			if err != nil {
				t.Fatal(err)
			}
			f.Clock.Advance(10 * time.Minute)
			_, err = exchange(cfg, code, oauth2.VerifierOption(a.Verifier))
			wantInvalidGrant(t, err)
			if r := f.introspect(t, id, secret, tok.AccessToken); r.Body["active"] != false {
				t.Fatalf("a late replay must revoke the first access token: %s", r.Raw)
			}
			if r := f.token(t, id, secret, refresh(tok.RefreshToken)); r.str("error") != "invalid_grant" {
				t.Fatalf("a late replay must revoke the first refresh token: %d %s", r.Status, r.Raw)
			}
		})
		t.Run("should fail because the code_verifier is wrong", func(t *testing.T) {
			_, code := f.signIn(t, cfg, "google", "alice")
			_, err := exchange(cfg, code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
			wantInvalidGrant(t, err)
		})
		t.Run("should fail because the code_verifier is missing", func(t *testing.T) {
			_, code := f.signIn(t, cfg, "google", "alice")
			_, err := exchange(cfg, code)
			wantInvalidGrant(t, err)
		})
		t.Run("should fail because the code is another client's", func(t *testing.T) {
			a, code := f.signIn(t, cfg, "google", "alice")
			_, err := exchange(f.oauthConfig(otherID, otherSecret, appRedirect), code, oauth2.VerifierOption(a.Verifier))
			wantInvalidGrant(t, err)
		})
		t.Run("should fail because the redirect_uri differs from the request's", func(t *testing.T) {
			a, code := f.signIn(t, cfg, "google", "alice")
			_, err := exchange(f.oauthConfig(id, secret, appRedirect2), code, oauth2.VerifierOption(a.Verifier))
			wantInvalidGrant(t, err)
		})
		t.Run("should fail because the code expired after 60 s", func(t *testing.T) {
			a, code := f.signIn(t, cfg, "google", "alice")
			f.Clock.Advance(61 * time.Second)
			_, err := exchange(cfg, code, oauth2.VerifierOption(a.Verifier))
			wantInvalidGrant(t, err)
		})
		t.Run("control: a code 59 s old is redeemed", func(t *testing.T) {
			a, code := f.signIn(t, cfg, "google", "alice")
			f.Clock.Advance(59 * time.Second)
			if _, err := exchange(cfg, code, oauth2.VerifierOption(a.Verifier)); err != nil {
				t.Fatal(err)
			}
		})
	})
}

var loginLink = regexp.MustCompile(`<a class="button" href="([^"]+)">Continue with ([^<]+)</a>`)

// TestLoginPage: without a provider the player chooses among all of them,
// and each choice signs in at that provider.
func TestLoginPage(t *testing.T) {
	t.Parallel()
	eachFlowStore(t, func(t *testing.T, f *flowEnv) {
		id, secret := f.client(t, appSpec("game"))
		cfg := f.oauthConfig(id, secret, appRedirect, "openid")
		a := newAttempt(cfg, "")
		resp, body := get(t, noFollow, a.URL)
		page(t, resp, body, http.StatusOK, "Sign in")
		if resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("the login page may be framed or cached: %v", resp.Header)
		}
		links := loginLink.FindAllStringSubmatch(body, -1)
		if len(links) != 2 || links[0][2] != "google" || links[1][2] != "mobage" {
			t.Fatalf("want links to google and mobage, got %q", links)
		}
		users := map[string]bool{}
		for _, l := range links {
			provider := l[2]
			u, err := url.Parse(f.URL)
			if err == nil {
				u, err = u.Parse(html.UnescapeString(l[1]))
			}
			if err != nil || u.Query().Get("provider") != provider || u.Query().Get("state") != a.State || u.Query().Get("nonce") != a.Nonce {
				t.Fatalf("link %q does not carry the request for %s", l[1], provider)
			}
			f.queue(provider, "player-at-"+provider)
			b := newBrowser(t, appRedirect)
			resp, body := get(t, b.Client, u.String())
			q := redirected(t, resp, body, appRedirect)
			upstream := map[string]string{"google": f.Google.AuthorizationEndpoint(), "mobage": f.Mobage.URL + mobageAuthorize}[provider]
			if len(b.visited) == 0 || !strings.HasPrefix(b.visited[0], upstream+"?") {
				t.Fatalf("the %s link went to %v, not %s", provider, b.visited, upstream)
			}
			tok, err := cfg.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(a.Verifier))
			if err != nil {
				t.Fatal(err)
			}
			links := f.bearer(t, http.MethodGet, "/account/links", tok.AccessToken, nil)
			items, _ := links.Body["items"].([]any)
			if len(items) != 1 || items[0].(map[string]any)["provider"] != provider {
				t.Fatalf("signed in with the %s link, the user's links are %s", provider, links.Raw)
			}
			users[f.userID(t, tok.AccessToken)] = true
		}
		if len(users) != 2 {
			t.Fatalf("two providers' players are one user: %v", users)
		}
	})
}

// TestConcurrentFirstSignIn: a new player signing in from several browsers at
// once becomes one user with one link.
func TestConcurrentFirstSignIn(t *testing.T) {
	t.Parallel()
	eachFlowStore(t, func(t *testing.T, f *flowEnv) {
		id, secret := f.client(t, appSpec("game"))
		cfg := f.oauthConfig(id, secret, appRedirect, "game")
		const n = 6
		for range n {
			f.queue("google", "newcomer")
		}
		toks := make([]*oauth2.Token, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				a, code, err := f.trySignIn(t, cfg, "google")
				if err == nil {
					toks[i], err = cfg.Exchange(context.Background(), code, oauth2.VerifierOption(a.Verifier))
				}
				errs[i] = err
			})
		}
		wg.Wait()
		users := map[string]bool{}
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("sign-in %d: %v", i, errs[i])
			}
			users[f.userID(t, toks[i].AccessToken)] = true
		}
		links := f.bearer(t, http.MethodGet, "/account/links", toks[0].AccessToken, nil)
		if items, _ := links.Body["items"].([]any); len(users) != 1 || len(items) != 1 {
			t.Fatalf("one subject became users %v with links %s", users, links.Raw)
		}
	})
}

// TestConcurrentCodeExchange: of several exchanges of one code at once
// exactly one gets tokens, and the replays revoke them.
func TestConcurrentCodeExchange(t *testing.T) {
	t.Parallel()
	eachFlowStore(t, func(t *testing.T, f *flowEnv) {
		id, secret := f.client(t, appSpec("game"))
		cfg := f.oauthConfig(id, secret, appRedirect, "game")
		a, code := f.signIn(t, cfg, "google", "alice")
		const n = 6
		toks := make([]*oauth2.Token, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				toks[i], errs[i] = cfg.Exchange(context.Background(), code, oauth2.VerifierOption(a.Verifier))
			})
		}
		wg.Wait()
		var won *oauth2.Token
		for i := range n {
			var re *oauth2.RetrieveError
			switch {
			case errs[i] == nil && won == nil:
				won = toks[i]
			case errs[i] == nil:
				t.Fatal("one code was redeemed twice")
			case !errors.As(errs[i], &re) || re.ErrorCode != "invalid_grant":
				t.Fatalf("exchange %d: %v", i, errs[i])
			}
		}
		if won == nil {
			t.Fatal("no exchange succeeded")
		}
		for _, tk := range []string{won.AccessToken, won.RefreshToken} {
			if r := f.introspect(t, id, secret, tk); r.Body["active"] != false {
				t.Fatalf("the replays must revoke the tokens: %s", r.Raw)
			}
		}
	})
}

// TestBannedUserCannotExchangeCode: a player banned between signing in
// upstream and the code's exchange gets no tokens; after the release the
// same player signs in again.
func TestBannedUserCannotExchangeCode(t *testing.T) {
	t.Parallel()
	eachFlowStore(t, func(t *testing.T, f *flowEnv) {
		ctx := context.Background()
		id, _ := f.client(t, nativeSpec("game"))
		cfg := f.oauthConfig(id, "", nativeRedirect, "game")
		userID := f.userID(t, f.login(t, cfg, "google", "carol").AccessToken)
		ns, err := f.Store.GetNamespaceByName(ctx, "game")
		if err != nil {
			t.Fatal(err)
		}
		release := f.Clock.Now().Add(time.Hour)
		if _, err := broker.BanUser(ctx, f.Store, f.Clock.Now(), ns.ID, userID, "", "griefing", release); err != nil {
			t.Fatal(err)
		}
		a, code := f.signIn(t, cfg, "google", "carol")
		_, err = cfg.Exchange(ctx, code, oauth2.VerifierOption(a.Verifier))
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" || !strings.Contains(re.ErrorDescription, "banned") {
			t.Fatalf("exchange for a banned user: %v, want invalid_grant naming the ban", err)
		}
		f.Clock.Advance(time.Hour + time.Second)
		if again := f.userID(t, f.login(t, cfg, "google", "carol").AccessToken); again != userID {
			t.Fatalf("after the release signed in as %s, want %s", again, userID)
		}
	})
}

// failingRefreshInsert fails CreateRefreshToken while fail is set, inside
// transactions too.
type failingRefreshInsert struct {
	broker.Store
	fail *atomic.Bool
}

func (s failingRefreshInsert) InTx(ctx context.Context, fn func(broker.Store) error) error {
	return s.Store.InTx(ctx, func(tx broker.Store) error { return fn(failingRefreshInsert{tx, s.fail}) })
}

func (s failingRefreshInsert) CreateRefreshToken(ctx context.Context, rt broker.RefreshToken) error {
	if s.fail.Load() {
		return errors.New("injected: the disk is full")
	}
	return s.Store.CreateRefreshToken(ctx, rt)
}

// TestCodeExchangeIsOneTransaction: the code is spent in the transaction
// that stores its tokens, so a failure to store them leaves the code
// redeemable instead of burnt with nothing issued.
func TestCodeExchangeIsOneTransaction(t *testing.T) {
	t.Parallel()
	for name, open := range map[string]func(testing.TB) broker.Store{
		"sqlite": openSQLite, "postgres": func(t testing.TB) broker.Store { return openPostgres(t.(*testing.T)) },
	} {
		t.Run(name, func(t *testing.T) {
			fail := &atomic.Bool{}
			f := newFlowEnv(t, failingRefreshInsert{open(t), fail})
			id, secret := f.client(t, appSpec("game"))
			cfg := f.oauthConfig(id, secret, appRedirect, "openid", "game")
			a, code := f.signIn(t, cfg, "google", "alice")
			fail.Store(true)
			if _, err := cfg.Exchange(context.Background(), code, oauth2.VerifierOption(a.Verifier)); err == nil {
				t.Fatal("the exchange succeeded although its refresh token could not be stored")
			}
			fail.Store(false)
			tok, err := cfg.Exchange(context.Background(), code, oauth2.VerifierOption(a.Verifier))
			if err != nil {
				t.Fatalf("the code after a failed exchange must still be redeemable: %v", err)
			}
			if r := f.token(t, id, secret, refresh(tok.RefreshToken)); r.Status != http.StatusOK {
				t.Errorf("its refresh token: %d %s", r.Status, r.Raw)
			}
		})
	}
}
