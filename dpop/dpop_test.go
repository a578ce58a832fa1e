package dpop_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/dpop"
	"github.com/bridgekeeper/bridgekeeper/internal/replaytest"
	"github.com/bridgekeeper/bridgekeeper/internal/testkeys"
)

const (
	tokenURL = "https://auth.example.com/oauth2/token"
	token    = "an-access-token"
)

// now is the tests' fixed clock, whole seconds so that iat round-trips.
var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newVerifier(t *testing.T, r dpop.Replay, algs ...string) *dpop.Verifier {
	t.Helper()
	v, err := dpop.New(dpop.Config{Algs: algs, Now: func() time.Time { return now }, Replay: r})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return v
}

// proofSpec is what a test proof is made of; sign turns it into a JWS.
type proofSpec struct {
	alg    jose.SignatureAlgorithm
	key    any // signs
	jwk    any // the jwk header; nil leaves it out
	typ    string
	claims map[string]any
	raw    []byte // the payload as is, instead of claims
}

func (s proofSpec) sign(t *testing.T) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	if s.typ != "" {
		opts.WithType(jose.ContentType(s.typ))
	}
	if s.jwk != nil {
		opts.WithHeader("jwk", s.jwk)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: s.alg, Key: s.key}, opts)
	if err != nil {
		t.Fatalf("NewSigner: %v", err)
	}
	payload := s.raw
	if payload == nil {
		payload = mustJSON(t, s.claims)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatalf("CompactSerialize: %v", err)
	}
	return out
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ath(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func goodClaims(jti string) map[string]any {
	return map[string]any{"jti": jti, "htm": "POST", "htu": tokenURL, "iat": now.Unix()}
}

// keys are a test's keys. The RSA ones are fixtures: generating them is
// slow under -race.
type keys struct {
	ec, ec2 *ecdsa.PrivateKey
	rsa     *rsa.PrivateKey
	rsaWeak *rsa.PrivateKey
	ed      ed25519.PrivateKey
}

func newKeys(t *testing.T) keys {
	t.Helper()
	var k keys
	var err error
	if k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	if k.ec2, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	k.rsa, k.rsaWeak = testkeys.RSA2048(t), testkeys.RSA1024(t)
	if _, k.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
		t.Fatal(err)
	}
	return k
}

func pub(k any) jose.JSONWebKey {
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		return jose.JSONWebKey{Key: &k.PublicKey}
	case *rsa.PrivateKey:
		return jose.JSONWebKey{Key: &k.PublicKey}
	case ed25519.PrivateKey:
		return jose.JSONWebKey{Key: k.Public()}
	}
	panic("unknown key type")
}

func TestVerifyPasses(t *testing.T) {
	k := newKeys(t)
	for _, tc := range []struct {
		name string
		alg  jose.SignatureAlgorithm
		key  any
	}{
		{"ES256", jose.ES256, k.ec},
		{"RS256", jose.RS256, k.rsa},
		{"PS256", jose.PS256, k.rsa},
		{"EdDSA", jose.EdDSA, k.ed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &replaytest.Memory{}
			v := newVerifier(t, r)
			proof := proofSpec{alg: tc.alg, key: tc.key, jwk: pub(tc.key), typ: "dpop+jwt", claims: goodClaims("jti-1")}.sign(t)
			got, err := v.Verify(t.Context(), proof, "POST", tokenURL, "")
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want, err := dpop.Thumbprint(pub(tc.key))
			if err != nil {
				t.Fatal(err)
			}
			if got.JKT != want || got.JTI != "jti-1" || !got.IssuedAt.Equal(now) {
				t.Errorf("Verify = %+v, want JKT %s, JTI jti-1, IssuedAt %v", got, want, now)
			}
			if wantUntil := now.Add(dpop.DefaultWindow + time.Minute); !r.LastUntil().Equal(wantUntil) {
				t.Errorf("Replay until = %v, want %v", r.LastUntil(), wantUntil)
			}
		})
	}
}

func TestVerifyWithAccessToken(t *testing.T) {
	k := newKeys(t)
	v := newVerifier(t, &replaytest.Memory{})
	c := goodClaims("jti-ath")
	c["htm"], c["htu"], c["ath"] = "GET", "https://api.example.com/me", ath(token)
	proof := proofSpec{alg: jose.ES256, key: k.ec, jwk: pub(k.ec), typ: "dpop+jwt", claims: c}.sign(t)
	if _, err := v.Verify(t.Context(), proof, "GET", "https://api.example.com/me", token); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

func TestVerifyShouldFailBecause(t *testing.T) {
	k := newKeys(t)
	good := func() proofSpec {
		return proofSpec{alg: jose.ES256, key: k.ec, jwk: pub(k.ec), typ: "dpop+jwt", claims: goodClaims("jti-1")}
	}
	signed := func(edit func(*proofSpec)) func(*testing.T) string {
		return func(t *testing.T) string {
			s := good()
			edit(&s)
			return s.sign(t)
		}
	}
	claim := func(name string, value any) func(*testing.T) string {
		return signed(func(s *proofSpec) {
			if value == nil {
				delete(s.claims, name)
			} else {
				s.claims[name] = value
			}
		})
	}
	for _, tc := range []struct {
		name        string
		proof       func(*testing.T) string
		accessToken string
		algs        []string
		want        string
	}{
		{name: "the proof is missing", proof: func(*testing.T) string { return "" }, want: "missing"},
		{name: "it is garbage", proof: func(*testing.T) string { return "not a proof" }, want: "not a compact JWS"},
		{name: "its header is garbage", proof: func(*testing.T) string { return "!!.e30.e30" }, want: "header is not base64url"},
		{name: "its header is not JSON", proof: func(*testing.T) string {
			return base64.RawURLEncoding.EncodeToString([]byte("nope")) + ".e30.e30"
		}, want: "header is not a valid JSON object"},
		{name: "it is oversized", proof: func(t *testing.T) string {
			return good().sign(t) + strings.Repeat("A", dpop.MaxProofSize)
		}, want: "longer than"},
		{name: "it is a JWS JSON serialization", proof: func(t *testing.T) string {
			signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k.ec},
				(&jose.SignerOptions{}).WithType("dpop+jwt").WithHeader("jwk", pub(k.ec)))
			if err != nil {
				t.Fatal(err)
			}
			jws, err := signer.Sign(mustJSON(t, goodClaims("jti-1")))
			if err != nil {
				t.Fatal(err)
			}
			return jws.FullSerialize()
		}, want: "not a compact JWS"},
		{name: "its typ is wrong", proof: signed(func(s *proofSpec) { s.typ = "JWT" }), want: "typ is not dpop+jwt"},
		{name: "it has no typ", proof: signed(func(s *proofSpec) { s.typ = "" }), want: "has no typ"},
		{name: "its alg is none", proof: func(t *testing.T) string {
			h := mustJSON(t, map[string]any{"typ": "dpop+jwt", "alg": "none", "jwk": pub(k.ec)})
			enc := base64.RawURLEncoding.EncodeToString
			return enc(h) + "." + enc(mustJSON(t, goodClaims("jti-1"))) + "."
		}, want: "unsigned (alg none)"},
		{name: "it is signed with HS256", proof: signed(func(s *proofSpec) {
			s.alg, s.key = jose.HS256, []byte("a shared secret of thirty-two bytes!")
		}), want: "shared secret (HMAC)"},
		{name: "its alg is not allowed", proof: signed(func(s *proofSpec) {
			s.alg, s.key, s.jwk = jose.RS256, k.rsa, pub(k.rsa)
		}), algs: []string{"ES256"}, want: "alg is not one of ES256"},
		{name: "its jwk is a private key", proof: signed(func(s *proofSpec) {
			s.jwk = jose.JSONWebKey{Key: k.ec}
		}), want: "jwk is not a public key"},
		{name: "its jwk is a symmetric key", proof: signed(func(s *proofSpec) {
			s.jwk = jose.JSONWebKey{Key: []byte("a shared secret")}
		}), want: "jwk is not a public key"},
		{name: "its jwk is not a key", proof: signed(func(s *proofSpec) {
			s.jwk = map[string]string{"kty": "EC", "crv": "P-256"}
		}), want: "jwk is not a valid key"},
		{name: "its jwk is a short RSA key", proof: signed(func(s *proofSpec) {
			s.alg, s.key, s.jwk = jose.RS256, k.rsaWeak, pub(k.rsaWeak)
		}), want: "shorter than 2048 bits"},
		{name: "it has no jwk", proof: signed(func(s *proofSpec) { s.jwk = nil }), want: "has no jwk"},
		{name: "another key signed it", proof: signed(func(s *proofSpec) { s.key = k.ec2 }), want: "signature does not verify"},
		{name: "its claims are not JSON", proof: signed(func(s *proofSpec) { s.raw = []byte("jti=1") }), want: "claims are not a valid JSON object"},
		{name: "its claims are null", proof: signed(func(s *proofSpec) { s.claims = nil }), want: "has no jti"},
		{name: "its htm is wrong", proof: claim("htm", "GET"), want: "htm does not match"},
		{name: "its htm is lower case", proof: claim("htm", "post"), want: "htm does not match"},
		{name: "it has no htm", proof: claim("htm", nil), want: "has no htm"},
		{name: "its htu has another path", proof: claim("htu", "https://auth.example.com/oauth2/revoke"), want: "htu does not match"},
		{name: "its htu has another host", proof: claim("htu", "https://evil.example.com/oauth2/token"), want: "htu does not match"},
		{name: "its htu has another port", proof: claim("htu", "https://auth.example.com:8443/oauth2/token"), want: "htu does not match"},
		{name: "its htu has another scheme", proof: claim("htu", "http://auth.example.com/oauth2/token"), want: "htu does not match"},
		{name: "its htu is relative", proof: claim("htu", "/oauth2/token"), want: "htu is not an absolute"},
		{name: "it has no htu", proof: claim("htu", nil), want: "has no htu"},
		{name: "its iat is too old", proof: claim("iat", now.Add(-dpop.DefaultWindow-time.Second).Unix()), want: "too long ago"},
		{name: "its iat is in the future", proof: claim("iat", now.Add(dpop.DefaultWindow+time.Second).Unix()), want: "in the future"},
		{name: "its iat is absurdly late", proof: claim("iat", 1e300), want: "in the future"},
		{name: "its iat is absurdly early", proof: claim("iat", -1e300), want: "too long ago"},
		{name: "its iat is a string", proof: claim("iat", "now"), want: "claims are not a valid JSON object"},
		{name: "it has no iat", proof: claim("iat", nil), want: "has no iat"},
		{name: "it has no jti", proof: claim("jti", nil), want: "has no jti"},
		{name: "its jti is empty", proof: claim("jti", ""), want: "has no jti"},
		{name: "its jti is too long", proof: claim("jti", strings.Repeat("j", 257)), want: "jti is longer than 256"},
		{name: "it has no ath with an access token", proof: signed(func(*proofSpec) {}), accessToken: token, want: "has no ath"},
		{name: "its ath is of another token", proof: claim("ath", ath("another-token")), accessToken: token, want: "ath does not match"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newVerifier(t, &replaytest.Memory{}, tc.algs...)
			proof := tc.proof(t)
			_, err := v.Verify(t.Context(), proof, "POST", tokenURL, tc.accessToken)
			assertRefused(t, err, tc.want)
			if e := broker.Refusal(err); proof != "" && e != nil && strings.Contains(e.Description, proof) {
				t.Errorf("the reason quotes the proof")
			}
		})
	}
}

func assertRefused(t *testing.T, err error, want string) {
	t.Helper()
	e := broker.Refusal(err)
	if e == nil {
		t.Fatalf("err = %v, want a refusal containing %q", err, want)
	}
	if e.Kind != broker.KindInvalid || e.Field != "DPoP" {
		t.Errorf("refusal = %v/%q, want invalid/DPoP", e.Kind, e.Field)
	}
	if !strings.Contains(e.Description, want) {
		t.Errorf("reason = %q, want it to contain %q", e.Description, want)
	}
}

func TestVerifyShouldFailBecauseReplayed(t *testing.T) {
	k := newKeys(t)
	v := newVerifier(t, &replaytest.Memory{})
	proof := proofSpec{alg: jose.ES256, key: k.ec, jwk: pub(k.ec), typ: "dpop+jwt", claims: goodClaims("once")}.sign(t)
	if _, err := v.Verify(t.Context(), proof, "POST", tokenURL, ""); err != nil {
		t.Fatalf("first Verify: %v", err)
	}
	_, err := v.Verify(t.Context(), proof, "POST", tokenURL, "")
	assertRefused(t, err, "the DPoP proof was used before")
}

// A refused proof must not spend its jti, or a client's honest retry after
// (say) a clock fix would be refused as a replay.
func TestRefusedProofKeepsItsJTI(t *testing.T) {
	k := newKeys(t)
	v := newVerifier(t, &replaytest.Memory{})
	proof := proofSpec{alg: jose.ES256, key: k.ec, jwk: pub(k.ec), typ: "dpop+jwt", claims: goodClaims("kept")}.sign(t)
	_, err := v.Verify(t.Context(), proof, "GET", tokenURL, "")
	assertRefused(t, err, "htm does not match")
	if _, err := v.Verify(t.Context(), proof, "POST", tokenURL, ""); err != nil {
		t.Fatalf("Verify after a refusal: %v", err)
	}
}

func TestReplayErrorIsNotARefusal(t *testing.T) {
	k := newKeys(t)
	down := errors.New("database down")
	v := newVerifier(t, &replaytest.Memory{Err: down})
	proof := proofSpec{alg: jose.ES256, key: k.ec, jwk: pub(k.ec), typ: "dpop+jwt", claims: goodClaims("jti-1")}.sign(t)
	_, err := v.Verify(t.Context(), proof, "POST", tokenURL, "")
	if err == nil {
		t.Fatal("Verify passed with the replay store down")
	}
	if kind := broker.KindOf(err); kind == broker.KindInvalid {
		t.Errorf("KindOf(%v) = %v, want not invalid", err, kind)
	}
	if !errors.Is(err, down) {
		t.Errorf("err = %v, want it to wrap %v", err, down)
	}
}

func TestNew(t *testing.T) {
	r := &replaytest.Memory{}
	for _, tc := range []struct {
		name string
		cfg  dpop.Config
		want string // "" when New should pass
	}{
		{"defaults", dpop.Config{Replay: r}, ""},
		{"should fail because Replay is nil", dpop.Config{}, "Replay is required"},
		{"should fail because Window is negative", dpop.Config{Replay: r, Window: -time.Second}, "negative"},
		{"should fail because none is listed", dpop.Config{Replay: r, Algs: []string{"ES256", "none"}}, "alg none"},
		{"should fail because NONE is listed", dpop.Config{Replay: r, Algs: []string{"NONE"}}, "alg none"},
		{"should fail because HS256 is listed", dpop.Config{Replay: r, Algs: []string{"HS256"}}, "HMAC"},
		{"should fail because an unknown alg is listed", dpop.Config{Replay: r, Algs: []string{"ES256K"}}, "not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := dpop.New(tc.cfg)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("New err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestAlgs(t *testing.T) {
	v := newVerifier(t, &replaytest.Memory{})
	if got, want := strings.Join(v.Algs(), ","), strings.Join(dpop.DefaultAlgs(), ","); got != want {
		t.Errorf("default Algs = %s, want %s", got, want)
	}
	v = newVerifier(t, &replaytest.Memory{}, "EdDSA", "ES256", "EdDSA")
	algs := v.Algs()
	if got := strings.Join(algs, ","); got != "EdDSA,ES256" {
		t.Errorf("Algs = %s, want EdDSA,ES256 (in order, once each)", got)
	}
	algs[0] = "none"
	if v.Algs()[0] != "EdDSA" {
		t.Error("changing the slice Algs returned changed the Verifier")
	}
}

func TestWindow(t *testing.T) {
	k := newKeys(t)
	v, err := dpop.New(dpop.Config{Window: 5 * time.Minute, Now: func() time.Time { return now }, Replay: &replaytest.Memory{}})
	if err != nil {
		t.Fatal(err)
	}
	c := goodClaims("jti-1")
	c["iat"] = now.Add(-4 * time.Minute).Unix()
	proof := proofSpec{alg: jose.ES256, key: k.ec, jwk: pub(k.ec), typ: "dpop+jwt", claims: c}.sign(t)
	if _, err := v.Verify(t.Context(), proof, "POST", tokenURL, ""); err != nil {
		t.Fatalf("Verify of a proof inside a 5m window: %v", err)
	}
	c["jti"], c["iat"] = "jti-2", now.Add(-6*time.Minute).Unix()
	proof = proofSpec{alg: jose.ES256, key: k.ec, jwk: pub(k.ec), typ: "dpop+jwt", claims: c}.sign(t)
	_, err = v.Verify(t.Context(), proof, "POST", tokenURL, "")
	assertRefused(t, err, "too long ago")
}
