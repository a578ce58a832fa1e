package idtoken_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/internal/testclock"
	"github.com/bridgekeeper/bridgekeeper/platforms"
	"github.com/bridgekeeper/bridgekeeper/platforms/idtoken"
	"github.com/bridgekeeper/bridgekeeper/platforms/idtoken/idtokentest"
	"github.com/bridgekeeper/bridgekeeper/platforms/platformtest"
)

const game = "com.example.game"

// fixture is a fake issuer and a verifier of its tokens for game.
type fixture struct {
	iss   *idtokentest.Issuer
	clock *testclock.Clock
	v     *idtoken.Verifier
}

func newFixture(t *testing.T, configure func(*idtoken.Config)) *fixture {
	t.Helper()
	return newWorld(t).fixture(t, configure)
}

// world is an issuer and the clock it shares with verifiers. Cases that
// neither rotate its keys, switch its outage nor advance the clock share
// one, since its keys take a while to make; each still gets its own
// verifier.
type world struct {
	iss   *idtokentest.Issuer
	clock *testclock.Clock
}

func newWorld(t *testing.T) *world {
	w := &world{iss: idtokentest.NewIssuer(t), clock: testclock.New(time.Now().Truncate(time.Second))}
	w.iss.SetClock(w.clock.Now)
	return w
}

// fixture is a new verifier of w's issuer for game.
func (w *world) fixture(t *testing.T, configure func(*idtoken.Config)) *fixture {
	t.Helper()
	f := &fixture{iss: w.iss, clock: w.clock}
	cfg := idtoken.Config{
		Name:      "fakeid",
		Issuer:    f.iss.URL(),
		Audiences: []string{game},
		Now:       f.clock.Now,
		Timeout:   2 * time.Second,
	}
	if configure != nil {
		configure(&cfg)
	}
	v, err := idtoken.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.v = v
	return f
}

// verify verifies token, asking for nonce.
func (f *fixture) verify(token, nonce string) (platforms.Identity, error) {
	return f.v.Verify(context.Background(), platforms.Request{Token: token, TokenType: platforms.TokenTypeIDToken, Nonce: nonce})
}

// claims are valid claims for p1 at game, changed by edit.
func (f *fixture) claims(edit func(c map[string]any)) map[string]any {
	c := f.iss.Claims("p1", game)
	if edit != nil {
		edit(c)
	}
	return c
}

// wantRefusal checks that err is of kind with a description containing
// reason, and that its text does not quote token.
func wantRefusal(t *testing.T, err error, token string, kind broker.Kind, reason string) {
	t.Helper()
	var secrets []string
	for _, part := range append([]string{token}, strings.Split(token, ".")...) {
		if len(part) >= 16 {
			secrets = append(secrets, part)
		}
	}
	platformtest.WantRefusal(t, platforms.Identity{}, err, kind, reason, secrets...)
}

func TestVerifyRefuses(t *testing.T) {
	expired := func(c map[string]any) { c["exp"] = c["iat"].(int64) - int64(2*time.Minute/time.Second) - 1 }
	cases := []struct {
		name      string // should fail because ...
		configure func(*idtoken.Config)
		token     func(t *testing.T, f *fixture) string
		tokenType string
		nonce     string
		reason    string
	}{
		{name: "the audience is another game's",
			token:  func(t *testing.T, f *fixture) string { return f.iss.Token("p1", "com.example.other") },
			reason: "the ID token's audience is not this game"},
		{name: "there is no audience",
			token: func(t *testing.T, f *fixture) string {
				return f.iss.Sign(f.claims(func(c map[string]any) { delete(c, "aud") }))
			},
			reason: "the ID token's audience is not this game"},
		{name: "no audience of the list is ours",
			token: func(t *testing.T, f *fixture) string {
				return f.iss.Sign(f.claims(func(c map[string]any) { c["aud"] = []string{"a", "b"} }))
			},
			reason: "the ID token's audience is not this game"},
		{name: "the audience is an empty list",
			token: func(t *testing.T, f *fixture) string {
				return f.iss.Sign(f.claims(func(c map[string]any) { c["aud"] = []string{} }))
			},
			reason: "the ID token's audience is not this game"},
		{name: "the audience is not a string",
			token: func(t *testing.T, f *fixture) string {
				return f.iss.Sign(f.claims(func(c map[string]any) { c["aud"] = 7 }))
			},
			reason: "the ID token's audience is not this game"},
		{name: "the issuer is another",
			token: func(t *testing.T, f *fixture) string {
				return f.iss.Sign(f.claims(func(c map[string]any) { c["iss"] = "https://accounts.google.com" }))
			},
			reason: "the ID token's issuer is not http://127.0.0.1"},
		{name: "the issuer differs by a trailing slash",
			token: func(t *testing.T, f *fixture) string {
				return f.iss.Sign(f.claims(func(c map[string]any) { c["iss"] = f.iss.URL() + "/" }))
			},
			reason: "the ID token's issuer is not"},
		{name: "there is no issuer",
			token: func(t *testing.T, f *fixture) string {
				return f.iss.Sign(f.claims(func(c map[string]any) { delete(c, "iss") }))
			},
			reason: "the ID token's issuer is not"},
		{name: "it expired beyond the leeway",
			token:  func(t *testing.T, f *fixture) string { return f.iss.Sign(f.claims(expired)) },
			reason: "the ID token is expired"},
		{name: "it has no expiry",
			token: func(t *testing.T, f *fixture) string {
				return f.iss.Sign(f.claims(func(c map[string]any) { delete(c, "exp") }))
			},
			reason: "the ID token has no expiry"},
		{name: "its expiry is a string",
			token: func(t *testing.T, f *fixture) string {
				return f.iss.Sign(f.claims(func(c map[string]any) { c["exp"] = "9999999999" }))
			},
			reason: "the ID token's exp is not a time"},
		{name: "it is not valid before two minutes from now",
			token: func(t *testing.T, f *fixture) string {
				return f.iss.Sign(f.claims(func(c map[string]any) { c["nbf"] = c["iat"].(int64) + 121 }))
			},
			reason: "the ID token is not valid yet"},
		{name: "it is issued two minutes from now",
			token: func(t *testing.T, f *fixture) string {
				return f.iss.Sign(f.claims(func(c map[string]any) { c["iat"] = c["iat"].(int64) + 121 }))
			},
			reason: "the ID token is not valid yet"},
		{name: "alg is none",
			token:  func(t *testing.T, f *fixture) string { return f.iss.SignWith("none", f.claims(nil)) },
			reason: "the ID token's algorithm is not allowed"},
		{name: "it is HS256 keyed with the RSA public key (key confusion)",
			token:  func(t *testing.T, f *fixture) string { return f.iss.SignWith("HS256", f.claims(nil)) },
			reason: "the ID token's algorithm is not allowed"},
		{name: "RS256 is not among the allowed algorithms",
			configure: func(c *idtoken.Config) { c.AllowedAlgs = []string{"ES256"} },
			token:     func(t *testing.T, f *fixture) string { return f.iss.SignWith("RS256", f.claims(nil)) },
			reason:    "the ID token's algorithm is not allowed"},
		{name: "PS256 is not allowed by default",
			token:  func(t *testing.T, f *fixture) string { return f.iss.SignWith("PS256", f.claims(nil)) },
			reason: "the ID token's algorithm is not allowed"},
		{name: "its kid is unknown",
			token: func(t *testing.T, f *fixture) string {
				return f.iss.SignHeader("ES256", map[string]any{"kid": "made-up"}, f.claims(nil))
			},
			reason: "the ID token's key is unknown"},
		{name: "its kid names the RSA key but it is signed ES256",
			token: func(t *testing.T, f *fixture) string {
				return f.iss.SignHeader("ES256", map[string]any{"kid": f.iss.KeyID("RS256")}, f.claims(nil))
			},
			reason: "the ID token's signature does not verify"},
		{name: "its payload was swapped for another player's",
			token: func(t *testing.T, f *fixture) string {
				mine := strings.Split(f.iss.Token("p1", game), ".")
				theirs := strings.Split(f.iss.Token("p2", game), ".")
				return mine[0] + "." + theirs[1] + "." + mine[2]
			},
			reason: "the ID token's signature does not verify"},
		{name: "its signature was altered",
			token: func(t *testing.T, f *fixture) string {
				tok := f.iss.Token("p1", game)
				dot := strings.LastIndexByte(tok, '.')
				sig, err := base64.RawURLEncoding.DecodeString(tok[dot+1:])
				if err != nil {
					t.Fatal(err)
				}
				sig[10] ^= 1
				return tok[:dot+1] + base64.RawURLEncoding.EncodeToString(sig)
			},
			reason: "the ID token's signature does not verify"},
		{name: "its signature is cut off",
			token: func(t *testing.T, f *fixture) string {
				tok := f.iss.Token("p1", game)
				return tok[:strings.LastIndexByte(tok, '.')+1]
			},
			reason: "the ID token's signature does not verify"},
		{name: "the nonce is another",
			token: func(t *testing.T, f *fixture) string {
				return f.iss.Sign(f.claims(func(c map[string]any) { c["nonce"] = "n-1" }))
			},
			nonce:  "n-2",
			reason: "the nonce does not match"},
		{name: "a nonce is asked and it has none",
			token:  func(t *testing.T, f *fixture) string { return f.iss.Token("p1", game) },
			nonce:  "n-2",
			reason: "the nonce does not match"},
		{name: "it has no sub",
			token: func(t *testing.T, f *fixture) string {
				return f.iss.Sign(f.claims(func(c map[string]any) { delete(c, "sub") }))
			},
			reason: "the ID token's sub claim is missing"},
		{name: "its sub is empty",
			token:  func(t *testing.T, f *fixture) string { return f.iss.Token("", game) },
			reason: "the ID token's sub claim is empty"},
		{name: "its sub is longer than 1024 characters",
			token:  func(t *testing.T, f *fixture) string { return f.iss.Token(strings.Repeat("é", 1025), game) },
			reason: "the ID token's sub claim is too long"},
		{name: "its sub is a fraction",
			token: func(t *testing.T, f *fixture) string {
				return f.iss.Sign(f.claims(func(c map[string]any) { c["sub"] = 1.5 }))
			},
			reason: "the ID token's sub claim is missing or not a string"},
		{name: "its sub is an object",
			token: func(t *testing.T, f *fixture) string {
				return f.iss.Sign(f.claims(func(c map[string]any) { c["sub"] = map[string]any{"id": "p1"} }))
			},
			reason: "the ID token's sub claim is missing or not a string"},
		{name: "it lacks the configured user ID claim",
			configure: func(c *idtoken.Config) { c.UserIDClaim = "product_user_id" },
			token:     func(t *testing.T, f *fixture) string { return f.iss.Token("p1", game) },
			reason:    "the ID token's product_user_id claim is missing"},
		{name: "it is a JWE",
			token:  func(t *testing.T, f *fixture) string { return encrypt(t, f.iss.Token("p1", game)) },
			reason: "the ID token is encrypted"},
		{name: "it is a JWS in JSON serialization with two signatures",
			token:  func(t *testing.T, f *fixture) string { return multiSigned(t, f.iss.Token("p1", game)) },
			reason: "the ID token is not a signed JWT"},
		{name: "it is not a JWT",
			token:  func(t *testing.T, f *fixture) string { return "not-a-jwt" },
			reason: "the ID token is not a signed JWT"},
		{name: "it is empty",
			token:  func(t *testing.T, f *fixture) string { return "" },
			reason: "the ID token is empty"},
		{name: "it is larger than any ID token",
			token: func(t *testing.T, f *fixture) string {
				return f.iss.Sign(f.claims(func(c map[string]any) { c["pad"] = strings.Repeat("x", 40<<10) }))
			},
			reason: "the ID token is too large"},
		{name: "the token type is not an ID token",
			token:     func(t *testing.T, f *fixture) string { return f.iss.Token("p1", game) },
			tokenType: platforms.TokenTypeAccessToken,
			reason:    "the subject_token_type is not an ID token"},
	}
	w := newWorld(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := w.fixture(t, tc.configure)
			token := tc.token(t, f)
			tokenType := tc.tokenType
			if tokenType == "" {
				tokenType = platforms.TokenTypeIDToken
			}
			_, err := f.v.Verify(context.Background(), platforms.Request{Token: token, TokenType: tokenType, Nonce: tc.nonce})
			wantRefusal(t, err, token, broker.KindInvalid, tc.reason)
		})
	}
}

func TestVerifyAccepts(t *testing.T) {
	cases := []struct {
		name      string
		configure func(*idtoken.Config)
		token     func(t *testing.T, f *fixture) string
		tokenType string
		nonce     string
		want      string
	}{
		{name: "ES256", token: func(t *testing.T, f *fixture) string { return f.iss.Token("p1", game) }, want: "p1"},
		{name: "RS256, as Apple signs", token: func(t *testing.T, f *fixture) string { return f.iss.SignWith("RS256", f.claims(nil)) }, want: "p1"},
		{name: "PS256 when allowed",
			configure: func(c *idtoken.Config) { c.AllowedAlgs = []string{"PS256"} },
			token:     func(t *testing.T, f *fixture) string { return f.iss.SignWith("PS256", f.claims(nil)) }, want: "p1"},
		{name: "token type jwt", tokenType: platforms.TokenTypeJWT,
			token: func(t *testing.T, f *fixture) string { return f.iss.Token("p1", game) }, want: "p1"},
		{name: "ours among several audiences",
			token: func(t *testing.T, f *fixture) string {
				return f.iss.Sign(f.claims(func(c map[string]any) { c["aud"] = []string{"other", game} }))
			}, want: "p1"},
		{name: "the second configured audience",
			configure: func(c *idtoken.Config) { c.Audiences = []string{"web-client", "ios-bundle"} },
			token:     func(t *testing.T, f *fixture) string { return f.iss.Token("p1", "ios-bundle") }, want: "p1"},
		{name: "no kid: tried against the keys of its alg",
			token: func(t *testing.T, f *fixture) string {
				return f.iss.SignHeader("RS256", map[string]any{"kid": nil}, f.claims(nil))
			}, want: "p1"},
		{name: "expired within the leeway",
			token: func(t *testing.T, f *fixture) string {
				return f.iss.Sign(f.claims(func(c map[string]any) { c["exp"] = c["iat"].(int64) - 50 }))
			}, want: "p1"},
		{name: "not before, within the leeway",
			token: func(t *testing.T, f *fixture) string {
				return f.iss.Sign(f.claims(func(c map[string]any) { c["nbf"] = c["iat"].(int64) + 50; c["iat"] = c["nbf"] }))
			}, want: "p1"},
		{name: "fractional exp",
			token: func(t *testing.T, f *fixture) string {
				return f.iss.Sign(f.claims(func(c map[string]any) { c["exp"] = float64(c["exp"].(int64)) + 0.5 }))
			}, want: "p1"},
		{name: "the nonce asked",
			token: func(t *testing.T, f *fixture) string {
				return f.iss.Sign(f.claims(func(c map[string]any) { c["nonce"] = "n-1" }))
			},
			nonce: "n-1", want: "p1"},
		{name: "a nonce not asked for",
			token: func(t *testing.T, f *fixture) string {
				return f.iss.Sign(f.claims(func(c map[string]any) { c["nonce"] = "n-1" }))
			},
			want: "p1"},
		{name: "a numeric sub, as its decimal text",
			token: func(t *testing.T, f *fixture) string {
				return f.iss.Sign(f.claims(func(c map[string]any) { c["sub"] = uint64(12345678901234567890) }))
			}, want: "12345678901234567890"},
		{name: "a configured user ID claim",
			configure: func(c *idtoken.Config) { c.UserIDClaim = "product_user_id" },
			token: func(t *testing.T, f *fixture) string {
				return f.iss.Sign(f.claims(func(c map[string]any) { c["product_user_id"] = "0002abc" }))
			}, want: "0002abc"},
		{name: "a sub of 1024 characters",
			token: func(t *testing.T, f *fixture) string { return f.iss.Token(strings.Repeat("é", 1024), game) },
			want:  strings.Repeat("é", 1024)},
		{name: "the JWKS URL configured, no discovery",
			configure: func(c *idtoken.Config) { c.JWKSURL = c.Issuer + "/keys"; c.Issuer = "https://appleid.apple.com" },
			token: func(t *testing.T, f *fixture) string {
				return f.iss.SignWith("RS256", f.claims(func(c map[string]any) { c["iss"] = "https://appleid.apple.com" }))
			}, want: "p1"},
	}
	w := newWorld(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := w.fixture(t, tc.configure)
			tokenType := tc.tokenType
			if tokenType == "" {
				tokenType = platforms.TokenTypeIDToken
			}
			id, err := f.v.Verify(context.Background(), platforms.Request{Token: tc.token(t, f), TokenType: tokenType, Nonce: tc.nonce})
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if id.UserID != tc.want {
				t.Fatalf("user ID %q; want %q", id.UserID, tc.want)
			}
		})
	}
}

func TestTokenTypes(t *testing.T) {
	f := newFixture(t, nil)
	got := f.v.TokenTypes()
	if len(got) != 2 || got[0] != platforms.TokenTypeIDToken || got[1] != platforms.TokenTypeJWT {
		t.Fatalf("TokenTypes %q", got)
	}
}

// encrypt wraps token in a compact JWE (RFC 7516) to a throwaway key.
func encrypt(t *testing.T, token string) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := jose.NewEncrypter(jose.A128GCM, jose.Recipient{Algorithm: jose.ECDH_ES, Key: &k.PublicKey}, nil)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := enc.Encrypt([]byte(token))
	if err != nil {
		t.Fatal(err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// multiSigned is token's payload in a JSON-serialized JWS (RFC 7515 §7.2)
// with two signatures by throwaway keys.
func multiSigned(t *testing.T, token string) string {
	t.Helper()
	var recipients []jose.SigningKey
	for range 2 {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		recipients = append(recipients, jose.SigningKey{Algorithm: jose.ES256, Key: k})
	}
	signer, err := jose.NewMultiSigner(recipients, nil)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	obj, err := signer.Sign(jws.UnsafePayloadWithoutVerification())
	if err != nil {
		t.Fatal(err)
	}
	return obj.FullSerialize()
}
