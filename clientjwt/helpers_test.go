package clientjwt_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/clientjwt"
	"github.com/bridgekeeper/bridgekeeper/internal/testclock"
	"github.com/bridgekeeper/bridgekeeper/internal/testkeys"
)

const (
	clientID = "game-server-7"
	issuer   = "https://auth.example.test"
	tokenURL = "https://auth.example.test/oauth2/token"
)

// keyring is a client's private keys; each has a kid.
type keyring struct {
	rsa *rsa.PrivateKey
	ec  *ecdsa.PrivateKey
	ed  ed25519.PrivateKey
}

func newKeyring(t *testing.T) keyring {
	t.Helper()
	rk := testkeys.RSA2048(t)
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, dk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return keyring{rsa: rk, ec: ek, ed: dk}
}

// public is the JWK Set the client registers for k.
func (k keyring) public() []jose.JSONWebKey {
	return []jose.JSONWebKey{
		{Key: k.rsa.Public(), KeyID: "rsa1", Use: "sig"},
		{Key: k.ec.Public(), KeyID: "ec1", Algorithm: "ES256"},
		{Key: k.ed.Public(), KeyID: "ed1"},
	}
}

func jwksDoc(t *testing.T, keys ...jose.JSONWebKey) []byte {
	t.Helper()
	doc, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// claims are valid claims for clientID at now; cases change them.
func claims(now time.Time) map[string]any {
	return map[string]any{
		"iss": clientID,
		"sub": clientID,
		"aud": tokenURL,
		"exp": now.Add(2 * time.Minute).Unix(),
		"iat": now.Unix(),
		"jti": rand.Text(),
	}
}

// sign makes a compact JWS of c by key with alg; kid "" sends no kid.
func sign(t *testing.T, key any, alg jose.SignatureAlgorithm, kid string, c map[string]any) string {
	t.Helper()
	var sk any = key
	if kid != "" {
		sk = jose.JSONWebKey{Key: key, KeyID: kid}
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: sk}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newVerifier(t *testing.T, clk *testclock.Clock, replay clientjwt.Replay, mutate ...func(*clientjwt.Config)) *clientjwt.Verifier {
	t.Helper()
	cfg := clientjwt.Config{
		Audiences: []string{issuer, tokenURL},
		Now:       clk.Now,
		Replay:    replay,
	}
	for _, m := range mutate {
		m(&cfg)
	}
	v, err := clientjwt.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// wantRefusal fails unless err is a KindUnauthenticated refusal described
// by want, and does not quote the assertion.
func wantRefusal(t *testing.T, err error, want, assertion string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted; want refusal %q", want)
	}
	var be *broker.Error
	if !errors.As(err, &be) || be.Kind != broker.KindUnauthenticated {
		t.Fatalf("err = %v; want an unauthenticated refusal %q", err, want)
	}
	if be.Description != want {
		t.Fatalf("refused with %q; want %q (err %v)", be.Description, want, err)
	}
	if assertion != "" && strings.Contains(err.Error(), assertion) {
		t.Fatalf("error quotes the assertion: %v", err)
	}
}

func wantUnavailable(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("accepted; want unavailable")
	}
	var be *broker.Error
	if !errors.As(err, &be) || be.Kind != broker.KindUnavailable {
		t.Fatalf("err = %v; want a *broker.Error of KindUnavailable", err)
	}
	if broker.KindOf(err) != broker.KindUnavailable {
		t.Fatalf("KindOf = %v; want unavailable", broker.KindOf(err))
	}
}

// jwksServer serves a JWK Set on loopback and counts the fetches.
type jwksServer struct {
	*httptest.Server
	fetches atomic.Int32
	mu      sync.Mutex
	doc     []byte
	status  int
	hang    bool
}

func newJWKSServer(t *testing.T, doc []byte) *jwksServer {
	t.Helper()
	s := &jwksServer{doc: doc, status: http.StatusOK}
	release := make(chan struct{})
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		doc, status, hang := s.doc, s.status, s.hang
		s.mu.Unlock()
		if r.Method != http.MethodGet || r.Header.Get("Accept") != "application/json" {
			http.Error(w, fmt.Sprintf("unexpected %s with Accept %q", r.Method, r.Header.Get("Accept")), http.StatusBadRequest)
			return
		}
		if hang {
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(doc)
	}))
	t.Cleanup(s.Close)
	t.Cleanup(func() { close(release) }) // runs first: unblocks hung handlers
	return s
}

func (s *jwksServer) set(doc []byte, status int, hang bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.doc, s.status, s.hang = doc, status, hang
}
