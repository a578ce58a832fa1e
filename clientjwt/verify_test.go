package clientjwt_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/clientjwt"
	"github.com/bridgekeeper/bridgekeeper/internal/replaytest"
	"github.com/bridgekeeper/bridgekeeper/internal/testclock"
	"github.com/bridgekeeper/bridgekeeper/internal/testkeys"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// handmade builds a compact JWS the way no honest library would.
func handmade(t *testing.T, header map[string]any, c any, sig func(input string) []byte) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	p, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p)
	return input + "." + base64.RawURLEncoding.EncodeToString(sig(input))
}

func TestVerifyInline(t *testing.T) {
	ks := newKeyring(t)
	doc := jwksDoc(t, ks.public()...)
	stranger := testkeys.RSA2048(t)
	rsaJWK, err := json.Marshal(jose.JSONWebKey{Key: ks.rsa.Public(), KeyID: "rsa1"})
	if err != nil {
		t.Fatal(err)
	}
	with := func(change func(map[string]any)) map[string]any {
		c := claims(t0)
		change(c)
		return c
	}
	rs := func(c map[string]any) string { return sign(t, ks.rsa, jose.RS256, "rsa1", c) }

	tests := []struct {
		name      string
		assertion func() string
		want      string // "" passes
	}{
		{"RS256 with kid passes", func() string { return rs(claims(t0)) }, ""},
		{"PS384 without kid passes", func() string { return sign(t, ks.rsa, jose.PS384, "", claims(t0)) }, ""},
		{"ES256 passes", func() string { return sign(t, ks.ec, jose.ES256, "ec1", claims(t0)) }, ""},
		{"EdDSA passes", func() string { return sign(t, ks.ed, jose.EdDSA, "ed1", claims(t0)) }, ""},
		{"aud array with the issuer passes", func() string {
			return rs(with(func(c map[string]any) { c["aud"] = []string{"https://other.test", issuer} }))
		}, ""},
		{"exp 10s ago passes within the leeway", func() string {
			return rs(with(func(c map[string]any) { c["exp"] = t0.Add(-10 * time.Second).Unix() }))
		}, ""},

		{"should fail because the assertion expired", func() string {
			return rs(with(func(c map[string]any) { c["exp"] = t0.Add(-2 * time.Minute).Unix() }))
		}, "the client assertion has expired"},
		{"should fail because exp is 10 minutes ahead", func() string {
			return rs(with(func(c map[string]any) { c["exp"] = t0.Add(10 * time.Minute).Unix() }))
		}, "the client assertion exp is too far in the future"},
		{"should fail because there is no exp", func() string {
			return rs(with(func(c map[string]any) { delete(c, "exp") }))
		}, "the client assertion has no exp"},
		{"should fail because there is no jti", func() string {
			return rs(with(func(c map[string]any) { delete(c, "jti") }))
		}, "the client assertion has no jti"},
		{"should fail because the jti is over 256 characters", func() string {
			return rs(with(func(c map[string]any) { c["jti"] = strings.Repeat("j", 257) }))
		}, "the client assertion jti is too long"},
		{"should fail because aud is another server", func() string {
			return rs(with(func(c map[string]any) { c["aud"] = "https://evil.test/token" }))
		}, "the client assertion aud does not name this server"},
		{"should fail because the aud array lacks ours", func() string {
			return rs(with(func(c map[string]any) { c["aud"] = []string{"https://a.test", "https://b.test"} }))
		}, "the client assertion aud does not name this server"},
		{"should fail because there is no aud", func() string {
			return rs(with(func(c map[string]any) { delete(c, "aud") }))
		}, "the client assertion aud does not name this server"},
		{"should fail because iss is not the client ID", func() string {
			return rs(with(func(c map[string]any) { c["iss"] = "other-client" }))
		}, "the client assertion iss is not the client ID"},
		{"should fail because sub is not the client ID", func() string {
			return rs(with(func(c map[string]any) { c["sub"] = "other-client" }))
		}, "the client assertion sub is not the client ID"},
		{"should fail because nbf is in the future", func() string {
			return rs(with(func(c map[string]any) { c["nbf"] = t0.Add(2 * time.Minute).Unix() }))
		}, "the client assertion is not valid yet (nbf)"},
		{"should fail because iat is in the future", func() string {
			return rs(with(func(c map[string]any) { c["iat"] = t0.Add(2 * time.Minute).Unix() }))
		}, "the client assertion iat is in the future"},
		{"should fail because alg is none", func() string {
			return handmade(t, map[string]any{"alg": "none"}, claims(t0), func(string) []byte { return nil })
		}, "the client assertion is signed with an algorithm that is not allowed"},
		{"should fail because it is HS256 keyed with the client's public key", func() string {
			return handmade(t, map[string]any{"alg": "HS256", "kid": "rsa1"}, claims(t0), func(in string) []byte {
				m := hmac.New(sha256.New, rsaJWK)
				m.Write([]byte(in))
				return m.Sum(nil)
			})
		}, "the client assertion is signed with an algorithm that is not allowed"},
		{"should fail because it is signed by a key not registered", func() string {
			return sign(t, stranger, jose.RS256, "", claims(t0))
		}, "the client assertion signature does not verify"},
		{"should fail because a registered kid is claimed by another key", func() string {
			return sign(t, stranger, jose.RS256, "rsa1", claims(t0))
		}, "the client assertion signature does not verify"},
		{"should fail because the kid is unknown", func() string {
			return sign(t, ks.rsa, jose.RS256, "nope", claims(t0))
		}, "the client assertion kid matches no registered key"},
		{"should fail because the key's registered alg is not the one used", func() string {
			return handmade(t, map[string]any{"alg": "ES384", "kid": "ec1"}, claims(t0), func(string) []byte { return make([]byte, 96) })
		}, "no registered key fits the client assertion alg"},
		{"should fail because the signature was tampered with", func() string {
			s := rs(claims(t0))
			c := claims(t0)
			c["iat"] = t0.Add(-time.Second).Unix()
			p, _ := json.Marshal(c)
			parts := strings.Split(s, ".")
			return parts[0] + "." + base64.RawURLEncoding.EncodeToString(p) + "." + parts[2]
		}, "the client assertion signature does not verify"},
		{"should fail because it is garbage", func() string { return "not.a-jwt.at-all!" }, "the client assertion is not a compact JWS"},
		{"should fail because it is a JSON-serialized JWS", func() string {
			return `{"payload":"e30","signatures":[{"protected":"eyJhbGciOiJSUzI1NiJ9","signature":"AA"}]}`
		}, "the client assertion is not a compact JWS"},
		{"should fail because the claims are not a JSON object", func() string {
			return handmade(t, map[string]any{"alg": "RS256"}, "just a string", func(string) []byte { return []byte{1} })
		}, "the client assertion claims are not a valid JWT claims set"},
		{"should fail because it is over 8 KB", func() string {
			return rs(with(func(c map[string]any) { c["pad"] = strings.Repeat("x", 8<<10) }))
		}, "the client assertion is too large"},
		{"should fail because it is missing", func() string { return "" }, "the client assertion is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, testclock.New(t0), &replaytest.Memory{})
			a := tt.assertion()
			err := v.Verify(context.Background(), clientID, clientjwt.Keys{JWKS: doc}, a)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			wantRefusal(t, err, tt.want, a)
		})
	}
}

func TestVerifyShouldFailBecauseTheJTIWasUsedBefore(t *testing.T) {
	ks := newKeyring(t)
	keys := clientjwt.Keys{JWKS: jwksDoc(t, ks.public()...)}
	replay := &replaytest.Memory{}
	v := newVerifier(t, testclock.New(t0), replay)
	a := sign(t, ks.ec, jose.ES256, "ec1", claims(t0))
	if err := v.Verify(context.Background(), clientID, keys, a); err != nil {
		t.Fatalf("first use refused: %v", err)
	}
	wantRefusal(t, v.Verify(context.Background(), clientID, keys, a), "the client assertion was used before", a)

	// The record must last as long as the assertion could be accepted.
	for k, until := range replay.Seen() {
		if !strings.HasPrefix(k, "private_key_jwt:"+clientID+":") {
			t.Errorf("replay key %q lacks the client's prefix", k)
		}
		if want := t0.Add(2*time.Minute + 30*time.Second); !until.Equal(want) {
			t.Errorf("replay until %v; want exp+leeway %v", until, want)
		}
	}
	if len(replay.Seen()) != 1 {
		t.Fatalf("replay holds %d keys; want 1", len(replay.Seen()))
	}
}

func TestVerifyShouldFailBecauseReplayFails(t *testing.T) {
	ks := newKeyring(t)
	down := errors.New("database down")
	v := newVerifier(t, testclock.New(t0), &replaytest.Memory{Err: down})
	err := v.Verify(context.Background(), clientID, clientjwt.Keys{JWKS: jwksDoc(t, ks.public()...)}, sign(t, ks.ec, jose.ES256, "ec1", claims(t0)))
	if !errors.Is(err, down) {
		t.Fatalf("err = %v; want the replay error wrapped", err)
	}
	if broker.KindOf(err) == broker.KindUnauthenticated {
		t.Fatalf("a replay failure was reported as a refusal: %v", err)
	}
}

func TestVerifyShouldFailBecauseTheAlgIsNotConfigured(t *testing.T) {
	ks := newKeyring(t)
	v := newVerifier(t, testclock.New(t0), &replaytest.Memory{}, func(c *clientjwt.Config) { c.Algs = []string{"ES256"} })
	if got := v.Algs(); !slices.Equal(got, []string{"ES256"}) {
		t.Fatalf("Algs() = %v", got)
	}
	a := sign(t, ks.rsa, jose.RS256, "rsa1", claims(t0))
	wantRefusal(t, v.Verify(context.Background(), clientID, clientjwt.Keys{JWKS: jwksDoc(t, ks.public()...)}, a),
		"the client assertion is signed with an algorithm that is not allowed", a)
}

func TestVerifyShouldFailBecauseTheClientHasNoKeys(t *testing.T) {
	ks := newKeyring(t)
	v := newVerifier(t, testclock.New(t0), &replaytest.Memory{})
	a := sign(t, ks.ec, jose.ES256, "ec1", claims(t0))
	for name, keys := range map[string]clientjwt.Keys{
		"none": {},
		"both": {JWKS: jwksDoc(t, ks.public()...), JWKSURI: "https://client.test/jwks"},
	} {
		t.Run(name, func(t *testing.T) {
			wantRefusal(t, v.Verify(context.Background(), clientID, keys, a), "the client has no keys registered for private_key_jwt", a)
		})
	}
}

func TestNew(t *testing.T) {
	ok := clientjwt.Config{Audiences: []string{issuer}, Replay: &replaytest.Memory{}}
	v, err := clientjwt.New(ok)
	if err != nil {
		t.Fatal(err)
	}
	if got := v.Algs(); !slices.Equal(got, clientjwt.DefaultAlgs()) {
		t.Fatalf("default Algs() = %v; want %v", got, clientjwt.DefaultAlgs())
	}
	v.Algs()[0] = "none"
	if v.Algs()[0] == "none" {
		t.Fatal("Algs() exposes the verifier's own slice")
	}
	for name, mutate := range map[string]func(*clientjwt.Config){
		"should fail because alg none is asked for": func(c *clientjwt.Config) { c.Algs = []string{"RS256", "none"} },
		"should fail because HMAC is asked for":     func(c *clientjwt.Config) { c.Algs = []string{"HS256"} },
		"should fail because there is no Replay":    func(c *clientjwt.Config) { c.Replay = nil },
		"should fail because there is no audience":  func(c *clientjwt.Config) { c.Audiences = nil },
		"should fail because an audience is empty":  func(c *clientjwt.Config) { c.Audiences = []string{""} },
		"should fail because leeway is negative":    func(c *clientjwt.Config) { c.Leeway = -time.Second },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := ok
			mutate(&cfg)
			if _, err := clientjwt.New(cfg); err == nil {
				t.Fatal("New accepted the config")
			}
		})
	}
}

func TestClientID(t *testing.T) {
	ks := newKeyring(t)
	got, err := clientjwt.ClientID(sign(t, ks.ec, jose.ES256, "ec1", claims(t0)))
	if err != nil || got != clientID {
		t.Fatalf("ClientID = %q, %v; want %q", got, err, clientID)
	}
	c := claims(t0)
	c["sub"] = "someone-else"
	a := sign(t, ks.ec, jose.ES256, "ec1", c)
	_, err = clientjwt.ClientID(a)
	wantRefusal(t, err, "the client assertion sub is not its iss", a)

	c = claims(t0)
	delete(c, "iss")
	delete(c, "sub")
	a = sign(t, ks.ec, jose.ES256, "ec1", c)
	_, err = clientjwt.ClientID(a)
	wantRefusal(t, err, "the client assertion has no iss", a)

	_, err = clientjwt.ClientID("garbage")
	wantRefusal(t, err, "the client assertion is not a compact JWS", "garbage")
}

func TestVerifyShouldFailBecauseTheClientIDIsEmpty(t *testing.T) {
	ks := newKeyring(t)
	v := newVerifier(t, testclock.New(t0), &replaytest.Memory{})
	c := claims(t0)
	delete(c, "iss")
	delete(c, "sub")
	a := sign(t, ks.ec, jose.ES256, "ec1", c)
	wantRefusal(t, v.Verify(context.Background(), "", clientjwt.Keys{JWKS: jwksDoc(t, ks.public()...)}, a), "the client is not identified", a)
}
