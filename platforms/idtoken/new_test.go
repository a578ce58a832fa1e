package idtoken_test

import (
	"context"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/bridgekeeper/bridgekeeper/platforms/idtoken"
)

func TestNewRefuses(t *testing.T) {
	valid := func() idtoken.Config {
		return idtoken.Config{Name: "apple", Issuer: "https://appleid.apple.com", Audiences: []string{game}}
	}
	cases := []struct {
		name string // should fail because ...
		edit func(c *idtoken.Config)
		want []string
	}{
		{name: "alg none is allowed", edit: func(c *idtoken.Config) { c.AllowedAlgs = []string{"RS256", "none"} },
			want: []string{`"none" would accept unsigned tokens`}},
		{name: "HS256 is allowed", edit: func(c *idtoken.Config) { c.AllowedAlgs = []string{"HS256"} },
			want: []string{`"HS256" would make the public key set a shared secret`}},
		{name: "hs512 is allowed, in lower case", edit: func(c *idtoken.Config) { c.AllowedAlgs = []string{"hs512"} },
			want: []string{`"hs512" would make the public key set a shared secret`}},
		{name: "an algorithm is unknown", edit: func(c *idtoken.Config) { c.AllowedAlgs = []string{"RS1"} },
			want: []string{`"RS1" is not one of`}},
		{name: "no audience is configured", edit: func(c *idtoken.Config) { c.Audiences = nil },
			want: []string{"audiences must name at least one audience"}},
		{name: "an audience is empty", edit: func(c *idtoken.Config) { c.Audiences = []string{game, ""} },
			want: []string{"audiences[1] must not be empty"}},
		{name: "there is no issuer", edit: func(c *idtoken.Config) { c.Issuer = "" },
			want: []string{`issuer: "" is not an absolute http(s) URL`}},
		{name: "the issuer is plain http off loopback", edit: func(c *idtoken.Config) { c.Issuer = "http://appleid.apple.com" },
			want: []string{"must be https"}},
		{name: "the issuer has a query", edit: func(c *idtoken.Config) { c.Issuer = "https://appleid.apple.com?x=1" },
			want: []string{"must not have a query or fragment"}},
		{name: "the JWKS URL is relative", edit: func(c *idtoken.Config) { c.JWKSURL = "/auth/keys" },
			want: []string{"jwks_url:"}},
		{name: "the timeout is negative", edit: func(c *idtoken.Config) { c.Timeout = -1 },
			want: []string{"timeout must not be negative"}},
		{name: "there is no name", edit: func(c *idtoken.Config) { c.Name = "" },
			want: []string{"name must not be empty"}},
		{name: "everything is wrong at once",
			edit: func(c *idtoken.Config) { *c = idtoken.Config{AllowedAlgs: []string{"none"}} },
			want: []string{"name must not be empty", "issuer:", "audiences must", `"none"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := valid()
			tc.edit(&cfg)
			v, err := idtoken.New(cfg)
			if err == nil {
				t.Fatalf("New accepted %+v", cfg)
			}
			if v != nil {
				t.Errorf("New returned a verifier with its error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q; want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestNewAccepts(t *testing.T) {
	for _, cfg := range []idtoken.Config{
		{Name: "apple", Issuer: "https://appleid.apple.com", Audiences: []string{"com.example.game"}},
		{Name: "google", Issuer: "https://accounts.google.com", Audiences: []string{"1234.apps.googleusercontent.com"}},
		{Name: "epic", Issuer: "https://api.epicgames.dev/auth/v1/oauth", Audiences: []string{"xyza7891"},
			AllowedAlgs: []string{"RS256", "PS256", "ES384", "RS384", "EdDSA"}, UserIDClaim: "sub"},
		{Name: "dev", Issuer: "http://localhost:8080/realms/game", JWKSURL: "http://[::1]:8080/keys", Audiences: []string{"game"}},
	} {
		if _, err := idtoken.New(cfg); err != nil {
			t.Errorf("New(%s): %v", cfg.Name, err)
		}
	}
}

// TestGoOIDCAgrees checks the fake issuer against an independent verifier:
// go-oidc accepts and refuses the tokens we accept and refuse.
func TestGoOIDCAgrees(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, f.iss.URL())
	if err != nil {
		t.Fatal(err)
	}
	theirs := provider.Verifier(&oidc.Config{ClientID: game, SupportedSigningAlgs: []string{"ES256", "RS256"}, Now: f.clock.Now})
	cases := []struct {
		name  string
		token string
		ok    bool
	}{
		{"ES256", f.iss.Token("p1", game), true},
		{"RS256", f.iss.SignWith("RS256", f.claims(nil)), true},
		{"no kid", f.iss.SignHeader("ES256", map[string]any{"kid": nil}, f.claims(nil)), true},
		{"another audience", f.iss.Token("p1", "other"), false},
		{"another issuer", f.iss.Sign(f.claims(func(c map[string]any) { c["iss"] = "https://accounts.google.com" })), false},
		{"expired", f.iss.Sign(f.claims(func(c map[string]any) { c["exp"] = c["iat"].(int64) - 3600 })), false},
		{"alg none", f.iss.SignWith("none", f.claims(nil)), false},
		{"key confusion", f.iss.SignWith("HS256", f.claims(nil)), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			idt, theirErr := theirs.Verify(ctx, tc.token)
			_, ourErr := f.verify(tc.token, "")
			if (theirErr == nil) != tc.ok || (ourErr == nil) != tc.ok {
				t.Fatalf("go-oidc: %v; ours: %v; want ok=%v", theirErr, ourErr, tc.ok)
			}
			if tc.ok && idt.Subject != "p1" {
				t.Fatalf("go-oidc subject %q", idt.Subject)
			}
		})
	}
}
