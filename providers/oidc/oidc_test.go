package oidc_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"
	"golang.org/x/oauth2"

	"github.com/bridgekeeper/bridgekeeper/internal/testkeys"
	"github.com/bridgekeeper/bridgekeeper/providers"
	"github.com/bridgekeeper/bridgekeeper/providers/oidc"
	"github.com/bridgekeeper/bridgekeeper/providers/providertest"
)

func TestExchange(t *testing.T) {
	ctx := context.Background()
	foreign := testkeys.RSA2048(t)
	cases := []struct {
		name   string
		setup  func(u *upstream)                       // before the exchange
		code   func(code string) string                // the code the callback receives
		login  func(l providers.Login) providers.Login // the login the exchange is given
		errSub string                                  // "" for success
		rfcErr string                                  // the RFC 6749 §5.2 error code, if any
	}{
		{name: "happy path"},
		{
			name:   "nonce of another sign-in",
			login:  func(l providers.Login) providers.Login { l.Nonce = rand.Text(); return l },
			errSub: "nonce does not match",
		},
		{
			name:   "PKCE verifier of another sign-in",
			login:  func(l providers.Login) providers.Login { l.Verifier = oauth2.GenerateVerifier(); return l },
			errSub: "token endpoint", rfcErr: "invalid_grant",
		},
		{
			name:   "forged code",
			code:   func(string) string { return rand.Text() },
			errSub: "token endpoint", rfcErr: "invalid_grant",
		},
		{
			name:   "ID token for another audience",
			setup:  func(u *upstream) { u.claims = func(c map[string]any) { c["aud"] = []string{"another-client"} } },
			errSub: "expected audience",
		},
		{
			name: "ID token authorized for another party",
			setup: func(u *upstream) {
				u.claims = func(c map[string]any) {
					c["aud"] = []string{"another-client", u.ClientID}
					c["azp"] = "another-client"
				}
			},
			errSub: "authorized party",
		},
		{
			name:   "ID token from another issuer",
			setup:  func(u *upstream) { u.claims = func(c map[string]any) { c["iss"] = "https://evil.example" } },
			errSub: "different provider",
		},
		{
			name: "expired ID token",
			setup: func(u *upstream) {
				u.claims = func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }
			},
			errSub: "expired",
		},
		{
			name:   "ID token signed by a key the issuer never published",
			setup:  func(u *upstream) { u.foreignKey = foreign },
			errSub: "signature",
		},
		{
			name:   "ID token without subject",
			setup:  func(u *upstream) { u.claims = func(c map[string]any) { delete(c, "sub") } },
			errSub: "no sub",
		},
		{
			name:   "token response without ID token",
			setup:  func(u *upstream) { u.dropID = true },
			errSub: "no id_token",
		},
		{
			name: "token endpoint fails",
			setup: func(u *upstream) {
				// Twice: x/oauth2 retries once with the other client
				// authentication before it knows which one works.
				for range 2 {
					u.QueueError(&mockoidc.ServerError{Code: http.StatusServiceUnavailable, Error: "temporarily_unavailable", Description: "down for maintenance"})
				}
			},
			errSub: "token endpoint", rfcErr: "temporarily_unavailable",
		},
		{
			name:   "issuer down after discovery",
			setup:  func(u *upstream) { _ = u.Shutdown() },
			errSub: "token endpoint",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := startUpstream(t)
			u.QueueUser(&mockoidc.MockUser{Subject: "player-42", Email: "p42@example.com", EmailVerified: true, PreferredUsername: "p42"})
			p, err := oidc.New(ctx, u.config())
			if err != nil {
				t.Fatal(err)
			}
			l := newLogin()
			code := authorize(t, p, l)
			if tc.setup != nil {
				u.mu.Lock()
				tc.setup(u)
				u.mu.Unlock()
			}
			if tc.code != nil {
				code = tc.code(code)
			}
			if tc.login != nil {
				l = tc.login(l)
			}
			id, err := p.Exchange(ctx, code, l)
			if tc.errSub != "" {
				providertest.CheckUpstreamErr(t, err, tc.errSub, tc.rfcErr)
				return
			}
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			if id.Provider != "mock" || id.Slot != 2 || id.Subject != "player-42" {
				t.Errorf("identity = %q slot %d subject %q, want mock slot 2 player-42", id.Provider, id.Slot, id.Subject)
			}
			for k, want := range map[string]any{
				"sub": "player-42", "email": "p42@example.com", "email_verified": true,
				"preferred_username": "p42", "nonce": l.Nonce, "iss": u.Issuer(),
			} {
				if got := id.Claims[k]; got != want {
					t.Errorf("claim %s = %v, want %v", k, got, want)
				}
			}
		})
	}
}

// checkUpstreamErr checks that err wraps providers.ErrUpstream, says sub
// and, when rfcErr is set, carries that token-endpoint error code.
func TestCodeIsRedeemedOnce(t *testing.T) {
	ctx := context.Background()
	u := startUpstream(t)
	p, err := oidc.New(ctx, u.config())
	if err != nil {
		t.Fatal(err)
	}
	l := newLogin()
	code := authorize(t, p, l)
	if _, err := p.Exchange(ctx, code, l); err != nil {
		t.Fatalf("first exchange: %v", err)
	}
	_, err = p.Exchange(ctx, code, l)
	providertest.CheckUpstreamErr(t, err, "token endpoint", "invalid_grant")
}

func TestExchangeRefusesLoginWithoutSecrets(t *testing.T) {
	ctx := context.Background()
	u := startUpstream(t)
	p, err := oidc.New(ctx, u.config())
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []providers.Login{{State: "s", Verifier: oauth2.GenerateVerifier()}, {State: "s", Nonce: "n"}} {
		_, err := p.Exchange(ctx, "code", l)
		if err == nil || errors.Is(err, providers.ErrUpstream) {
			t.Errorf("Exchange(%+v) = %v, want a non-upstream error", l, err)
		}
	}
}

func TestAuthCodeURL(t *testing.T) {
	u := startUpstream(t)
	cfg := u.config()
	cfg.Scopes = []string{"email", "openid", "email"}
	p, err := oidc.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	l := newLogin()
	got, err := url.Parse(p.AuthCodeURL(l))
	if err != nil {
		t.Fatal(err)
	}
	if got.Scheme+"://"+got.Host+got.Path != u.AuthorizationEndpoint() {
		t.Errorf("AuthCodeURL goes to %s, want %s", got, u.AuthorizationEndpoint())
	}
	sum := sha256.Sum256([]byte(l.Verifier))
	q := got.Query()
	for k, want := range map[string]string{
		"response_type":         "code",
		"client_id":             u.ClientID,
		"redirect_uri":          redirectURL,
		"scope":                 "openid email",
		"state":                 l.State,
		"nonce":                 l.Nonce,
		"code_challenge":        base64.RawURLEncoding.EncodeToString(sum[:]),
		"code_challenge_method": "S256",
	} {
		if q.Get(k) != want {
			t.Errorf("%s = %q, want %q", k, q.Get(k), want)
		}
	}
	if q.Has("code_verifier") || q.Has("client_secret") {
		t.Errorf("AuthCodeURL leaks a secret: %s", got)
	}
}

func TestNewDoesNotKeepConfig(t *testing.T) {
	u := startUpstream(t)
	cfg := u.config()
	scopes := []string{"email", "profile"}
	cfg.Scopes = scopes
	p, err := oidc.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(scopes, []string{"email", "profile"}) {
		t.Fatalf("New changed the configured scopes to %v", scopes)
	}
	scopes[0] = "groups"
	q, _ := url.Parse(p.AuthCodeURL(newLogin()))
	if got := q.Query().Get("scope"); got != "openid email profile" {
		t.Errorf("scope = %q after the caller changed its slice, want %q", got, "openid email profile")
	}
}

func TestNewDiscoveryFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	downIssuer := "http://" + ln.Addr().String() + "/oidc"
	ln.Close()
	u := startUpstream(t)

	cases := []struct {
		name   string
		issuer string
		errSub string
	}{
		{name: "issuer down", issuer: downIssuer, errSub: "connection refused"},
		{name: "no discovery document", issuer: u.Addr() + "/nothing", errSub: "404"},
		// Discovery §4.3: the document's issuer must be the configured one.
		{name: "issuer mismatch", issuer: u.Issuer() + "/", errSub: "did not match"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := u.config()
			cfg.Issuer = tc.issuer
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			p, err := oidc.New(ctx, cfg)
			if p != nil {
				t.Errorf("New returned a provider with error %v", err)
			}
			providertest.CheckUpstreamErr(t, err, tc.errSub, "")
		})
	}
}

func TestValidate(t *testing.T) {
	valid := oidc.Config{
		Name: "google", Slot: 2, Issuer: "https://accounts.example.com", ClientID: "id",
		ClientSecret: "secret", RedirectURL: "https://broker.example/oauth2/callback/google",
		Scopes: []string{"openid", "email"},
	}
	cases := []struct {
		name   string
		mutate func(c *oidc.Config)
		want   []string // substrings, one per expected problem line
	}{
		{name: "valid", mutate: func(*oidc.Config) {}},
		{name: "public client", mutate: func(c *oidc.Config) { c.ClientSecret = "" }},
		{name: "slot bounds are inclusive", mutate: func(c *oidc.Config) { c.Slot = 1024 }},
		{name: "empty name", mutate: func(c *oidc.Config) { c.Name = "" }, want: []string{"name must not be empty"}},
		{name: "name with a slash", mutate: func(c *oidc.Config) { c.Name = "a/b" }, want: []string{"not usable as a URL path segment"}},
		{name: "slot too high", mutate: func(c *oidc.Config) { c.Slot = 1025 }, want: []string{"slot 1025 is not between 0 and 1024"}},
		{name: "slot negative", mutate: func(c *oidc.Config) { c.Slot = -1 }, want: []string{"slot -1"}},
		{name: "relative issuer", mutate: func(c *oidc.Config) { c.Issuer = "accounts.example.com" }, want: []string{"issuer \"accounts.example.com\" is not an absolute http(s) URL"}},
		{name: "issuer with query", mutate: func(c *oidc.Config) { c.Issuer = "https://a.example/?x=1" }, want: []string{"query or fragment"}},
		{name: "no client id", mutate: func(c *oidc.Config) { c.ClientID = "" }, want: []string{"client_id must not be empty"}},
		{name: "no redirect URL", mutate: func(c *oidc.Config) { c.RedirectURL = "" }, want: []string{"redirect URL must not be empty"}},
		{name: "bad scope", mutate: func(c *oidc.Config) { c.Scopes = []string{"a b", ""} }, want: []string{`scopes[0] "a b"`, `scopes[1] ""`}},
		{
			name:   "every problem at once",
			mutate: func(c *oidc.Config) { *c = oidc.Config{Slot: 2000, Issuer: "ftp://x"} },
			want:   []string{"name must not be empty", "slot 2000", "issuer \"ftp://x\"", "client_id", "redirect URL"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := valid
			c.Scopes = slices.Clone(valid.Scopes)
			tc.mutate(&c)
			err := c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate accepted %+v", c)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Errorf("%d problems reported, want %d:\n%v", len(lines), len(tc.want), err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if _, newErr := oidc.New(context.Background(), c); newErr == nil || errors.Is(newErr, providers.ErrUpstream) {
				t.Errorf("New with an invalid config: %v, want the validation error", newErr)
			}
		})
	}
}
