package web_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/oauth2-proxy/mockoidc"
	"golang.org/x/oauth2"

	"github.com/bridgekeeper/bridgekeeper/broker"
	oauth2provider "github.com/bridgekeeper/bridgekeeper/providers/oauth2"
	"github.com/bridgekeeper/bridgekeeper/providers/oidc"
	"github.com/bridgekeeper/bridgekeeper/web"
)

// The browser flow's fixture: the broker of newFixture with two upstreams.
// "google" is github.com/oauth2-proxy/mockoidc, a real OpenID Connect
// provider written by others, run in-process on loopback through
// providers/oidc; "mobage" is a small fake of the Mobage platform (OAuth 2.0
// with a People API) through providers/oauth2.

const (
	googleSlot = 2
	mobageSlot = 1
	// appRedirect and nativeRedirect are the test clients' redirect URIs;
	// the test browsers stop there and never request them.
	appRedirect    = "http://127.0.0.1:1/game/callback"
	appRedirect2   = "http://127.0.0.1:1/game/other"
	nativeRedirect = "com.example.game:/oauth2/callback"
)

// oidcUpstream is a running mockoidc. deny, when set, makes its
// authorization endpoint refuse as a player who declines would: a redirect
// back with error=deny and the state. Requests are served one at a time:
// mockoidc's session store is not safe for concurrent use.
type oidcUpstream struct {
	*mockoidc.MockOIDC
	serve sync.Mutex
	mu    sync.Mutex
	deny  string
}

func startOIDC(t *testing.T) *oidcUpstream {
	t.Helper()
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	u := &oidcUpstream{MockOIDC: m}
	if err := m.AddMiddleware(u.refuse); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	return u
}

func (u *oidcUpstream) Deny(code string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.deny = code
}

func (u *oidcUpstream) refuse(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		deny := u.deny
		u.mu.Unlock()
		if r.URL.Path != mockoidc.AuthorizationEndpoint || deny == "" {
			u.serve.Lock()
			defer u.serve.Unlock()
			next.ServeHTTP(w, r)
			return
		}
		redirectBack(w, r, r.URL.Query().Get("redirect_uri"), url.Values{"error": {deny}, "state": {r.URL.Query().Get("state")}})
	})
}

func redirectBack(w http.ResponseWriter, r *http.Request, to string, params url.Values) {
	u, err := url.Parse(to)
	if err != nil {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// fakeMobage is the Mobage platform as far as the broker uses it: an
// authorization endpoint that signs in the next queued user and redirects
// back with code and state (PKCE S256 required), a token endpoint
// (client_secret_basic) and the People API answering {"entry":{"id":...}}.
type fakeMobage struct {
	*httptest.Server
	ClientID, ClientSecret string

	mu     sync.Mutex
	users  []string
	deny   string
	codes  map[string]mobageCode
	tokens map[string]string // access token -> user ID
}

type mobageCode struct{ user, challenge, redirect string }

const (
	mobageAuthorize = "/connect/1.0/services/authorize"
	mobageToken     = "/connect/1.0/api/token"
	mobagePeople    = "/social/api/restful/v2/people/@me/@self"
)

func startMobage(t *testing.T) *fakeMobage {
	t.Helper()
	m := &fakeMobage{ClientID: "bk-at-mobage", ClientSecret: randomString(), codes: map[string]mobageCode{}, tokens: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+mobageAuthorize, m.authorize)
	mux.HandleFunc("POST "+mobageToken, m.token)
	mux.HandleFunc("GET "+mobagePeople, m.people)
	m.Server = httptest.NewServer(mux)
	t.Cleanup(m.Close)
	return m
}

// QueueUser makes id the player who signs in next.
func (m *fakeMobage) QueueUser(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.users = append(m.users, id)
}

func (m *fakeMobage) Deny(code string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.deny = code
}

func (m *fakeMobage) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case q.Get("client_id") != m.ClientID || q.Get("response_type") != "code" || q.Get("redirect_uri") == "":
		http.Error(w, "bad authorization request", http.StatusBadRequest)
		return
	case q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "":
		http.Error(w, "PKCE S256 required", http.StatusBadRequest)
		return
	case m.deny != "":
		redirectBack(w, r, q.Get("redirect_uri"), url.Values{"error": {m.deny}, "state": {q.Get("state")}})
		return
	case len(m.users) == 0:
		http.Error(w, "fake mobage: no user queued", http.StatusInternalServerError)
		return
	}
	code := randomString()
	m.codes[code] = mobageCode{user: m.users[0], challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri")}
	m.users = m.users[1:]
	redirectBack(w, r, q.Get("redirect_uri"), url.Values{"code": {code}, "state": {q.Get("state")}})
}

func (m *fakeMobage) token(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if !ok || id != m.ClientID || secret != m.ClientSecret {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":"invalid_client"}`)
		return
	}
	_ = r.ParseForm()
	m.mu.Lock()
	defer m.mu.Unlock()
	c, found := m.codes[r.PostForm.Get("code")]
	delete(m.codes, r.PostForm.Get("code"))
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	if !found || r.PostForm.Get("grant_type") != "authorization_code" || r.PostForm.Get("redirect_uri") != c.redirect ||
		base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":"invalid_grant"}`)
		return
	}
	at := randomString()
	m.tokens[at] = c.user
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": at, "token_type": "bearer", "expires_in": 3600})
}

func (m *fakeMobage) people(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	user, ok := m.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	m.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if !ok {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":"invalid_token","error_description":"The access token expired"}`)
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"entry": map[string]any{"id": user, "nickname": "player " + user}})
}

// upstreamFunc builds a configured upstream once the broker's URL is known.
type upstreamFunc func(t *testing.T, issuer string) web.Upstream

func oidcProvider(u *oidcUpstream, name string, slot int) upstreamFunc {
	return func(t *testing.T, issuer string) web.Upstream {
		cfg := u.Config()
		p, err := oidc.New(context.Background(), oidc.Config{
			Name: name, Slot: slot, Issuer: cfg.Issuer, ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret,
			RedirectURL: issuer + "/oauth2/callback/" + name, Scopes: []string{"profile"},
		})
		if err != nil {
			t.Fatal(err)
		}
		return web.Upstream{Name: name, Slot: slot, Provider: p}
	}
}

func mobageProvider(m *fakeMobage, name string, slot int) upstreamFunc {
	return func(t *testing.T, issuer string) web.Upstream {
		p, err := oauth2provider.New(oauth2provider.Config{
			Name: name, Slot: slot, AuthorizeURL: m.URL + mobageAuthorize, TokenURL: m.URL + mobageToken,
			UserinfoURL: m.URL + mobagePeople, UserIDField: "entry.id", ClientID: m.ClientID, ClientSecret: m.ClientSecret,
			RedirectURL: issuer + "/oauth2/callback/" + name, Scopes: []string{"common"},
		})
		if err != nil {
			t.Fatal(err)
		}
		return web.Upstream{Name: name, Slot: slot, Provider: p}
	}
}

// newFlowFixture is newFixture with the given upstreams configured.
func newFlowFixture(t *testing.T, store broker.Store, upstreams ...upstreamFunc) *fixture {
	t.Helper()
	return buildFixture(t, store, func(issuer string) []web.Upstream {
		var ups []web.Upstream
		for _, u := range upstreams {
			ups = append(ups, u(t, issuer))
		}
		return ups
	})
}

// flowEnv is a broker with google (mockoidc) and mobage (fake) upstreams.
type flowEnv struct {
	*fixture
	Google *oidcUpstream
	Mobage *fakeMobage
}

func newFlowEnv(t *testing.T, store broker.Store) *flowEnv {
	t.Helper()
	g, m := startOIDC(t), startMobage(t)
	f := newFlowFixture(t, store, oidcProvider(g, "google", googleSlot), mobageProvider(m, "mobage", mobageSlot))
	return &flowEnv{fixture: f, Google: g, Mobage: m}
}

// eachFlowStore runs fn with a flow environment on SQLite and PostgreSQL.
func eachFlowStore(t *testing.T, fn func(t *testing.T, f *flowEnv)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, newFlowEnv(t, openSQLite(t))) })
	t.Run("postgres", func(t *testing.T) { fn(t, newFlowEnv(t, openPostgres(t))) })
}

// queue makes subject the next player to sign in at provider.
func (f *flowEnv) queue(provider, subject string) {
	switch provider {
	case "google":
		f.Google.QueueUser(&mockoidc.MockUser{Subject: subject})
	case "mobage":
		f.Mobage.QueueUser(subject)
	default:
		panic("unknown provider " + provider)
	}
}

// appSpec is a confidential game client of the browser flow.
func appSpec(ns string) broker.ClientSpec {
	return broker.ClientSpec{
		Namespace: ns, Name: "game app", Scopes: []string{"openid", "game", "profile"},
		Grants:       []string{broker.GrantAuthorizationCode, broker.GrantRefreshToken},
		RedirectURIs: []string{appRedirect, appRedirect2},
	}
}

// nativeSpec is a public (native) game client: PKCE is its only proof.
func nativeSpec(ns string) broker.ClientSpec {
	return broker.ClientSpec{
		Namespace: ns, Name: "native game", Public: true, Scopes: []string{"openid", "game"},
		Grants:       []string{broker.GrantAuthorizationCode, broker.GrantRefreshToken},
		RedirectURIs: []string{nativeRedirect},
	}
}

// oauthConfig is how an unmodified x/oauth2 client is set up for the broker.
func (f *fixture) oauthConfig(id, secret, redirect string, scopes ...string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: id, ClientSecret: secret, RedirectURL: redirect, Scopes: scopes,
		Endpoint: oauth2.Endpoint{AuthURL: f.URL + "/oauth2/authorize", TokenURL: f.URL + "/oauth2/token"},
	}
}

// browser is a user agent with cookies that follows redirects until one
// goes to a URL starting with one of stopAt; visited records every URL it
// was sent to.
type browser struct {
	*http.Client
	mu      sync.Mutex
	visited []string
}

func newBrowser(t *testing.T, stopAt ...string) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &browser{}
	b.Client = &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		b.mu.Lock()
		b.visited = append(b.visited, req.URL.String())
		b.mu.Unlock()
		for _, s := range stopAt {
			if strings.HasPrefix(req.URL.String(), s) {
				return http.ErrUseLastResponse
			}
		}
		if len(via) > 15 {
			return fmt.Errorf("too many redirects")
		}
		return nil
	}}
	return b
}

// noFollow sees one response as it is.
var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// get requests u and returns the response with its body read.
func get(t *testing.T, c *http.Client, u string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// redirected asserts that resp redirects to the client's redirect URI and
// returns the parameters the broker put there.
func redirected(t *testing.T, resp *http.Response, body, redirectURI string) url.Values {
	t.Helper()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, redirectURI+"?") {
		t.Fatalf("want a redirect to %s, got %d Location %q: %.300s", redirectURI, resp.StatusCode, loc, body)
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

// page asserts that resp is an HTML page with status and text, never a
// redirect.
func page(t *testing.T, resp *http.Response, body string, status int, text string) {
	t.Helper()
	if resp.StatusCode != status || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("want an HTML page with status %d, got %d %q: %.300s", status, resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		t.Fatalf("a page must not redirect, got Location %q", loc)
	}
	if !strings.Contains(body, text) {
		t.Fatalf("page lacks %q: %.500s", text, body)
	}
}

// attempt is one authorization request of a client.
type attempt struct {
	URL, State, Nonce, Verifier string
}

func newAttempt(cfg *oauth2.Config, provider string, opts ...oauth2.AuthCodeOption) attempt {
	a := attempt{State: randomString(), Nonce: randomString(), Verifier: oauth2.GenerateVerifier()}
	opts = append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(a.Verifier), oauth2.SetAuthURLParam("nonce", a.Nonce)}, opts...)
	if provider != "" {
		opts = append(opts, oauth2.SetAuthURLParam("provider", provider))
	}
	a.URL = cfg.AuthCodeURL(a.State, opts...)
	return a
}

// signIn runs the browser part of a login of subject at provider and
// returns the attempt and the code the client received.
func (f *flowEnv) signIn(t *testing.T, cfg *oauth2.Config, provider, subject string) (attempt, string) {
	t.Helper()
	f.queue(provider, subject)
	a, code, err := f.trySignIn(t, cfg, provider)
	if err != nil {
		t.Fatal(err)
	}
	return a, code
}

// trySignIn is signIn for another goroutine: the player is already queued,
// and a failure is returned.
func (f *flowEnv) trySignIn(t *testing.T, cfg *oauth2.Config, provider string) (attempt, string, error) {
	a := newAttempt(cfg, provider)
	resp, err := newBrowser(t, cfg.RedirectURL).Get(a.URL)
	if err != nil {
		return a, "", err
	}
	resp.Body.Close()
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound || !strings.HasPrefix(u.String(), cfg.RedirectURL+"?") {
		return a, "", fmt.Errorf("want a redirect to %s, got %d %q", cfg.RedirectURL, resp.StatusCode, resp.Header.Get("Location"))
	}
	q := u.Query()
	if q.Get("state") != a.State || q.Get("code") == "" || q.Get("iss") != f.URL {
		return a, "", fmt.Errorf("client redirect %v: want code, state %q and iss %q", q, a.State, f.URL)
	}
	return a, q.Get("code"), nil
}

// login is signIn and the code's exchange.
func (f *flowEnv) login(t *testing.T, cfg *oauth2.Config, provider, subject string) *oauth2.Token {
	t.Helper()
	a, code := f.signIn(t, cfg, provider, subject)
	tok, err := cfg.Exchange(context.Background(), code, oauth2.VerifierOption(a.Verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return tok
}

// verifyIDToken checks the broker's ID token with go-oidc, as a relying
// party would, and returns it.
func (f *fixture) verifyIDToken(t *testing.T, clientID string, tok *oauth2.Token) *gooidc.IDToken {
	t.Helper()
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		t.Fatal("the token response has no id_token")
	}
	p, err := gooidc.NewProvider(context.Background(), f.URL)
	if err != nil {
		t.Fatal(err)
	}
	id, err := p.Verifier(&gooidc.Config{ClientID: clientID}).Verify(context.Background(), raw)
	if err != nil {
		t.Fatalf("verify ID token: %v", err)
	}
	return id
}

func randomString() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
