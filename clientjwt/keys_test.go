package clientjwt_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/clientjwt"
	"github.com/bridgekeeper/bridgekeeper/internal/testkeys"
)

func TestParseJWKS(t *testing.T) {
	ks := newKeyring(t)
	set, err := clientjwt.ParseJWKS(jwksDoc(t, ks.public()...))
	if err != nil {
		t.Fatalf("a good set was refused: %v", err)
	}
	if len(set.Keys) != 3 {
		t.Fatalf("got %d keys; want 3", len(set.Keys))
	}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			t.Fatalf("key %q is not public", k.KeyID)
		}
	}

	private, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: ks.rsa, KeyID: "oops"}}})
	if err != nil {
		t.Fatal(err)
	}
	good, err := json.Marshal(ks.public()[0])
	if err != nil {
		t.Fatal(err)
	}
	weak := testkeys.RSA1024(t)
	tests := map[string][]byte{
		"should fail because a key is private":           private,
		"should fail because the set is empty":           []byte(`{"keys":[]}`),
		"should fail because there is no keys member":    []byte(`{"kty":"RSA"}`),
		"should fail because a key is for encryption":    jwksDoc(t, jose.JSONWebKey{Key: ks.rsa.Public(), Use: "enc"}),
		"should fail because a key is symmetric":         []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"}]}`),
		"should fail because a key's alg is HMAC":        jwksDoc(t, jose.JSONWebKey{Key: ks.rsa.Public(), Algorithm: "HS256"}),
		"should fail because a key's alg misfits it":     jwksDoc(t, jose.JSONWebKey{Key: ks.ec.Public(), Algorithm: "RS256"}),
		"should fail because an RSA key is too short":    jwksDoc(t, jose.JSONWebKey{Key: weak.Public()}),
		"should fail because one good key is not enough": []byte(`{"keys":[` + string(good) + `,{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}]}`),
		"should fail because it is junk":                 []byte(`not json`),
		"should fail because it is a JSON array":         []byte(`[]`),
	}
	for name, doc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := clientjwt.ParseJWKS(doc)
			var be *broker.Error
			if !errors.As(err, &be) || be.Kind != broker.KindInvalid || be.Field != "jwks" {
				t.Fatalf("err = %v; want an invalid jwks", err)
			}
		})
	}
}

func TestCheckJWKSURI(t *testing.T) {
	tests := []struct {
		uri string
		ok  bool
	}{
		{"https://client.example/.well-known/jwks.json", true},
		{"https://client.example:8443/jwks?v=2", true},
		{"http://127.0.0.1:8080/jwks", true},
		{"http://127.1.2.3/jwks", true},
		{"http://localhost/jwks", true},
		{"http://[::1]:9000/jwks", true},
		{"http://client.example/jwks", false},
		{"http://10.0.0.1/jwks", false},
		{"http://127.0.0.1.nip.io/jwks", false},
		{"/jwks.json", false},
		{"client.example/jwks", false},
		{"https://client.example/jwks#keys", false},
		{"https://client.example/jwks#", false},
		{"https://user:pass@client.example/jwks", false},
		{"ftp://client.example/jwks", false},
		{"https:///jwks", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.uri, func(t *testing.T) {
			err := clientjwt.CheckJWKSURI(tt.uri)
			if tt.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var be *broker.Error
			if !errors.As(err, &be) || be.Kind != broker.KindInvalid || be.Field != "jwks_uri" {
				t.Fatalf("err = %v; want an invalid jwks_uri", err)
			}
		})
	}
}
