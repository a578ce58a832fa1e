package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/bridgekeeper/bridgekeeper/internal/testkeys"
)

// TestCompactSignerMatchesGoJose holds the hand-built signer to go-jose's:
// the same header bytes, and a signature go-jose verifies.
func TestCompactSignerMatchesGoJose(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte(`{"sub":"u-1","scope":"a b"}`)
	for _, tc := range []struct {
		alg  jose.SignatureAlgorithm
		priv crypto.Signer
	}{{jose.ES256, ec}, {jose.EdDSA, ed}, {jose.RS256, testkeys.RSA2048(t)}} {
		for _, typ := range []string{"at+jwt", "JWT"} {
			t.Run(string(tc.alg)+" "+typ, func(t *testing.T) {
				ours, err := newCompactSigner(tc.alg, "kid-1", typ, tc.priv)
				if err != nil {
					t.Fatal(err)
				}
				token, err := ours.Sign(payload)
				if err != nil {
					t.Fatal(err)
				}
				theirs, err := jose.NewSigner(jose.SigningKey{Algorithm: tc.alg, Key: jose.JSONWebKey{Key: tc.priv, KeyID: "kid-1"}},
					(&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
				if err != nil {
					t.Fatal(err)
				}
				jws, err := theirs.Sign(payload)
				if err != nil {
					t.Fatal(err)
				}
				want, err := jws.CompactSerialize()
				if err != nil {
					t.Fatal(err)
				}
				if got, want := strings.SplitN(token, ".", 3)[:2], strings.SplitN(want, ".", 3)[:2]; got[0] != want[0] || got[1] != want[1] {
					t.Fatalf("header.payload = %s, go-jose makes %s", got, want)
				}
				parsed, err := jose.ParseSignedCompact(token, joseAlgs)
				if err != nil {
					t.Fatal(err)
				}
				if got, err := parsed.Verify(tc.priv.Public()); err != nil || string(got) != string(payload) {
					t.Fatalf("go-jose Verify = %s, %v", got, err)
				}
			})
		}
	}
	for _, tc := range []struct {
		name string
		alg  jose.SignatureAlgorithm
		priv crypto.Signer
	}{
		{"should fail because an ECDSA key does not make EdDSA", jose.EdDSA, ec},
		{"should fail because an Ed25519 key does not make ES256", jose.ES256, ed},
		{"should fail because an ECDSA key does not make RS256", jose.RS256, ec},
		{"should fail because ES256 is P-256 only", jose.ES256, mustP384(t)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := newCompactSigner(tc.alg, "kid-1", "JWT", tc.priv); err == nil {
				t.Fatal("newCompactSigner accepted the key")
			}
		})
	}
}

func mustP384(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// BenchmarkSign is what signing an access token costs, claims encoding
// included: go test -bench Sign ./broker/keys.
func BenchmarkSign(b *testing.B) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	payload := []byte(`{"iss":"http://127.0.0.1:8080","sub":"6e0ff80b-4711-4afe-a40b-c2a4da89f88e","exp":1796580043}`)
	b.Run("compact", func(b *testing.B) {
		s, err := newCompactSigner(jose.ES256, "kid-1", "at+jwt", ec)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := s.Sign(payload); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("go-jose", func(b *testing.B) {
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: ec, KeyID: "kid-1"}},
			(&jose.SignerOptions{}).WithType("at+jwt"))
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			jws, err := s.Sign(payload)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := jws.CompactSerialize(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
