package idtokentest_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/bridgekeeper/bridgekeeper/platforms/idtoken/idtokentest"
	"github.com/bridgekeeper/bridgekeeper/platforms/platformtest"
)

func get(t *testing.T, u string, out any) int {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode
}

func kids(t *testing.T, iss *idtokentest.Issuer) []string {
	t.Helper()
	var set jose.JSONWebKeySet
	get(t, iss.JWKSURL(), &set)
	var ids []string
	for _, k := range set.Keys {
		if !k.IsPublic() {
			t.Fatalf("key %s is not public", k.KeyID)
		}
		ids = append(ids, k.KeyID)
	}
	slices.Sort(ids)
	return ids
}

func TestDiscovery(t *testing.T) {
	iss := idtokentest.NewIssuer(t)
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	get(t, iss.URL()+"/.well-known/openid-configuration", &doc)
	if doc.Issuer != iss.URL() || doc.JWKSURI != iss.JWKSURL() {
		t.Fatalf("discovery %+v", doc)
	}
}

func TestRotateAndRetire(t *testing.T) {
	iss := idtokentest.NewIssuer(t)
	if got := kids(t, iss); !slices.Equal(got, []string{"es256-1", "rsa-1"}) {
		t.Fatalf("kids %q", got)
	}
	iss.Rotate()
	if got := kids(t, iss); !slices.Equal(got, []string{"es256-1", "es256-2", "rsa-1", "rsa-2"}) {
		t.Fatalf("kids after Rotate %q", got)
	}
	if iss.KeyID("ES256") != "es256-2" || iss.KeyID("RS256") != "rsa-2" {
		t.Fatalf("current kids %q %q", iss.KeyID("ES256"), iss.KeyID("RS256"))
	}
	iss.Retire()
	if got := kids(t, iss); !slices.Equal(got, []string{"es256-2", "rsa-2"}) {
		t.Fatalf("kids after Retire %q", got)
	}
	if n := iss.JWKSFetches(); n != 3 {
		t.Fatalf("%d fetches; want 3", n)
	}
}

func TestSignatures(t *testing.T) {
	iss := idtokentest.NewIssuer(t)
	var set jose.JSONWebKeySet
	get(t, iss.JWKSURL(), &set)
	claims := iss.Claims("p1", "game")
	for _, alg := range []string{"ES256", "RS256", "PS256"} {
		jws, err := jose.ParseSignedCompact(iss.SignWith(alg, claims), []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		key := set.Key(jws.Signatures[0].Header.KeyID)
		if len(key) != 1 {
			t.Fatalf("%s: kid %q not published once", alg, jws.Signatures[0].Header.KeyID)
		}
		if _, err := jws.Verify(key[0].Key); err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
	}
}

// TestKeyConfusionForgeryIsReal checks that the HS256 token is what an
// attacker would make: it verifies with the RSA public key's PEM as the
// HMAC secret, so a verifier refusing it refuses a working forgery.
func TestKeyConfusionForgeryIsReal(t *testing.T) {
	iss := idtokentest.NewIssuer(t)
	var set jose.JSONWebKeySet
	get(t, iss.JWKSURL(), &set)
	der, err := x509.MarshalPKIXPublicKey(set.Key(iss.KeyID("RS256"))[0].Key)
	if err != nil {
		t.Fatal(err)
	}
	secret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	jws, err := jose.ParseSignedCompact(iss.SignWith("HS256", iss.Claims("p1", "game")), []jose.SignatureAlgorithm{jose.HS256})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jws.Verify(secret); err != nil {
		t.Fatalf("the forgery does not verify with the PEM: %v", err)
	}
}

func TestOutage(t *testing.T) {
	iss := idtokentest.NewIssuer(t)
	iss.SetOutage(platformtest.Failing)
	if got := get(t, iss.JWKSURL(), nil); got != http.StatusInternalServerError {
		t.Fatalf("failing: status %d", got)
	}
	iss.SetOutage(platformtest.Hanging)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, iss.JWKSURL(), nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("hanging: answered %d", resp.StatusCode)
	}
	iss.SetOutage(platformtest.Up)
	if got := get(t, iss.JWKSURL(), nil); got != http.StatusOK {
		t.Fatalf("up: status %d", got)
	}
	if n := iss.JWKSFetches(); n != 3 {
		t.Fatalf("%d fetches; want 3", n)
	}
}
