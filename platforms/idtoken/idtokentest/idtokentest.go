// Package idtokentest is a fake OpenID issuer for tests: an httptest server
// on loopback that serves a discovery document (OpenID Connect Discovery
// 1.0 §4) and a key set (RFC 7517 §5) with one ES256 and one RSA key, and
// signs ID tokens with them — including the forgeries a verifier must
// refuse (alg none, HS256 keyed with the RSA public key).
//
// Real ID tokens from Apple (iss https://appleid.apple.com, RS256), Google
// (iss https://accounts.google.com) and Epic (https://api.epicgames.dev/...)
// have the same shape; only the issuer differs.
package idtokentest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/internal/testkeys"
	"github.com/bridgekeeper/bridgekeeper/platforms/platformtest"
	"github.com/go-jose/go-jose/v4"
)

// TokenLifetime is how long Claims makes a token valid.
const TokenLifetime = 10 * time.Minute

// Issuer is a fake OpenID issuer. Its methods are safe for concurrent use.
type Issuer struct {
	t      testing.TB
	srv    *httptest.Server
	faults *platformtest.Faults

	mu        sync.Mutex
	now       func() time.Time
	serial    int
	es, rs    signingKey   // the current keys
	published []signingKey // every key in the key set, the current ones included
}

type signingKey struct {
	kid string
	key crypto.Signer // *ecdsa.PrivateKey (P-256) or *rsa.PrivateKey
}

// NewIssuer starts an issuer with fresh keys; it stops when the test ends.
func NewIssuer(t testing.TB) *Issuer {
	t.Helper()
	i := &Issuer{t: t, now: time.Now}
	i.Rotate()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", i.serveDiscovery)
	mux.HandleFunc("GET /keys", i.serveKeys)
	i.srv, i.faults = platformtest.Serve(t, false, func(w http.ResponseWriter) {
		http.Error(w, "the issuer is down", http.StatusInternalServerError)
	}, mux.ServeHTTP)
	return i
}

// URL is the issuer identifier: the iss of its tokens, and where its
// discovery document is.
func (i *Issuer) URL() string { return i.srv.URL }

// JWKSURL is where its key set is, the discovery document's jwks_uri.
func (i *Issuer) JWKSURL() string { return i.srv.URL + "/keys" }

// SetClock sets the clock Claims and Token use (time.Now by default).
func (i *Issuer) SetClock(now func() time.Time) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.now = now
}

// SetOutage switches how discovery and key-set requests are answered;
// platformtest.Up restores it.
func (i *Issuer) SetOutage(o platformtest.Outage) { i.faults.Set(o) }

// JWKSFetches counts the requests for the key set, failed ones included.
func (i *Issuer) JWKSFetches() int { return i.faults.RequestsTo("/keys") }

// Rotate makes new ES256 and RSA keys current and publishes them; the
// previous keys stay published (as issuers do while tokens they signed
// are still valid) until Retire.
func (i *Issuer) Rotate() {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		i.t.Fatalf("idtokentest: %v", err)
	}
	rs := testkeys.RSA2048(i.t)
	i.mu.Lock()
	defer i.mu.Unlock()
	i.serial++
	i.es = signingKey{kid: fmt.Sprintf("es256-%d", i.serial), key: ec}
	i.rs = signingKey{kid: fmt.Sprintf("rsa-%d", i.serial), key: rs}
	i.published = append(i.published, i.es, i.rs)
}

// Retire stops publishing every key but the current ones.
func (i *Issuer) Retire() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.published = []signingKey{i.es, i.rs}
}

// KeyID is the kid of the current key that alg signs with ("ES256" or an
// RSA algorithm).
func (i *Issuer) KeyID(alg string) string {
	i.mu.Lock()
	defer i.mu.Unlock()
	if alg == "ES256" {
		return i.es.kid
	}
	return i.rs.kid
}

// Claims are a valid ID token's claims: iss, sub, aud, iat now and exp
// TokenLifetime later. Change them and Sign to make an invalid one.
func (i *Issuer) Claims(sub, aud string) map[string]any {
	i.mu.Lock()
	now := i.now()
	i.mu.Unlock()
	return map[string]any{
		"iss": i.URL(),
		"sub": sub,
		"aud": aud,
		"iat": now.Unix(),
		"exp": now.Add(TokenLifetime).Unix(),
	}
}

// Token is a valid ID token for sub at aud, signed with ES256.
func (i *Issuer) Token(sub, aud string) string { return i.Sign(i.Claims(sub, aud)) }

// Sign signs claims with ES256 and the current EC key, its kid in the
// header.
func (i *Issuer) Sign(claims map[string]any) string { return i.SignWith("ES256", claims) }

// SignWith signs claims with alg: "ES256", "RS256" or "PS256" with the
// current key of that type; "none" unsigned; "HS256" with the PEM of the
// current RSA public key as the HMAC secret and that key's kid (the
// key-confusion forgery).
func (i *Issuer) SignWith(alg string, claims map[string]any) string {
	return i.SignHeader(alg, nil, claims)
}

// SignHeader is SignWith with the protected header's fields (alg, typ,
// kid) overridden by header's; a nil value removes one, so {"kid": nil}
// signs without a kid.
func (i *Issuer) SignHeader(alg string, header, claims map[string]any) string {
	i.t.Helper()
	i.mu.Lock()
	es, rs := i.es, i.rs
	i.mu.Unlock()

	h := map[string]any{"alg": alg, "typ": "JWT"}
	switch alg {
	case "ES256":
		h["kid"] = es.kid
	case "RS256", "PS256", "HS256":
		h["kid"] = rs.kid
	}
	for k, v := range header {
		if v == nil {
			delete(h, k)
		} else {
			h[k] = v
		}
	}
	input := encode(i.t, h) + "." + encode(i.t, claims)
	digest := sha256.Sum256([]byte(input))

	var sig []byte
	var err error
	switch alg {
	case "ES256":
		r, s, serr := ecdsa.Sign(rand.Reader, es.key.(*ecdsa.PrivateKey), digest[:])
		if err = serr; err == nil {
			// RFC 7518 §3.4: R and S as 32 bytes each, not ASN.1.
			sig = append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
		}
	case "RS256":
		sig, err = rsa.SignPKCS1v15(rand.Reader, rs.key.(*rsa.PrivateKey), crypto.SHA256, digest[:])
	case "PS256":
		sig, err = rsa.SignPSS(rand.Reader, rs.key.(*rsa.PrivateKey), crypto.SHA256, digest[:],
			&rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	case "HS256":
		var der []byte
		der, err = x509.MarshalPKIXPublicKey(rs.key.Public())
		mac := hmac.New(sha256.New, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
		mac.Write([]byte(input))
		sig = mac.Sum(nil)
	case "none":
	default:
		i.t.Fatalf("idtokentest: cannot sign with %q", alg)
	}
	if err != nil {
		i.t.Fatalf("idtokentest: sign: %v", err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func encode(t testing.TB, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("idtokentest: %v", err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func (i *Issuer) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, map[string]any{
		"issuer":                                i.URL(),
		"jwks_uri":                              i.JWKSURL(),
		"authorization_endpoint":                i.URL() + "/authorize",
		"response_types_supported":              []string{"id_token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"ES256", "RS256", "PS256"},
	})
}

func (i *Issuer) serveKeys(w http.ResponseWriter, r *http.Request) {
	i.mu.Lock()
	keys := make([]jose.JSONWebKey, 0, len(i.published))
	for _, k := range i.published {
		jwk := jose.JSONWebKey{Key: k.key.Public(), KeyID: k.kid, Use: "sig"}
		if _, ok := k.key.(*ecdsa.PrivateKey); ok {
			// The RSA key names no alg: it signs RS256 and PS256.
			jwk.Algorithm = "ES256"
		}
		keys = append(keys, jwk)
	}
	i.mu.Unlock()
	writeJSON(w, jose.JSONWebKeySet{Keys: keys})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
