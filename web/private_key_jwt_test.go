package web_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"

	"github.com/bridgekeeper/bridgekeeper/clientjwt"
)

// private_key_jwt (RFC 7523 §2.2, issue 13 item 3): assertions built with
// go-jose, keys registered inline or at a jwks_uri served on loopback.

// clientKey is a back end's signing key.
type clientKey struct {
	key *ecdsa.PrivateKey
	kid string
}

func newClientKey(t *testing.T) clientKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return clientKey{key: k, kid: uuid.NewString()}
}

// jwks is the JWK Set of the public keys.
func jwks(t *testing.T, ks ...clientKey) string {
	t.Helper()
	var set jose.JSONWebKeySet
	for _, k := range ks {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.key.Public(), KeyID: k.kid, Algorithm: "ES256", Use: "sig"})
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// assertion is a client assertion of clientID for aud, valid for a
// minute, with edits applied to its claims.
func (k clientKey) assertion(t *testing.T, clientID, aud string, edits ...func(map[string]any)) string {
	t.Helper()
	now := time.Now()
	claims := map[string]any{"iss": clientID, "sub": clientID, "aud": aud, "jti": uuid.NewString(),
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}
	for _, e := range edits {
		e(claims)
	}
	return signES256(t, k.key, (&jose.SignerOptions{}).WithHeader("kid", k.kid), claims)
}

func assertionForm(form url.Values, assertion string) url.Values {
	form.Set("client_assertion_type", clientjwt.AssertionType)
	form.Set("client_assertion", assertion)
	return form
}

// TestPrivateKeyJWT: a client with registered keys authenticates with an
// assertion at the token, introspection and revocation endpoints, with
// inline keys and keys at a jwks_uri.
func TestPrivateKeyJWT(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		key := newClientKey(t)
		inline := gameServer("game")
		inline.Name, inline.JWKS = "inline keys", jwks(t, key)
		inlineClient, secret := f.client(t, inline)
		if secret != "" {
			t.Errorf("a private_key_jwt client got a secret")
		}
		served := jwks(t, key) // the jwks_uri's document
		keysSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(served))
		}))
		t.Cleanup(keysSrv.Close)
		remote := gameServer("game")
		remote.Name, remote.JWKSURI = "remote keys", keysSrv.URL
		remoteClient, _ := f.client(t, remote)
		tokenURL := f.URL + "/oauth2/token"

		for _, c := range []struct{ name, id string }{{"inline", inlineClient}, {"jwks_uri", remoteClient}} {
			t.Run(c.name, func(t *testing.T) {
				r := f.send(t, tokenCall(assertionForm(url.Values{"grant_type": {"client_credentials"}}, key.assertion(t, c.id, tokenURL)), nil, nil))
				if r.Status != http.StatusOK || xsVerify(t, f, r.str("access_token"))["client_id"] != c.id {
					t.Fatalf("client_credentials: %d %s", r.Status, r.Raw)
				}
				// aud may be the issuer too (RFC 7523 §3), and client_id may be sent.
				form := assertionForm(url.Values{"token": {r.str("access_token")}, "client_id": {c.id}}, key.assertion(t, c.id, f.URL))
				if in := f.send(t, call{path: "/oauth2/introspect", body: form.Encode()}); in.Body["active"] != true {
					t.Errorf("introspection: %d %s", in.Status, in.Raw)
				}
				form = assertionForm(url.Values{"token": {r.str("access_token")}}, key.assertion(t, c.id, f.URL+"/oauth2/revoke"))
				if rv := f.send(t, call{path: "/oauth2/revoke", body: form.Encode()}); rv.Status != http.StatusOK {
					t.Errorf("revocation: %d %s", rv.Status, rv.Raw)
				}
			})
		}
		// Key rotation at the jwks_uri (a refetch on an unknown kid, at most
		// once a minute) is covered in package clientjwt, on its clock.

		reused := key.assertion(t, inlineClient, tokenURL)
		if r := f.send(t, tokenCall(assertionForm(url.Values{"grant_type": {"client_credentials"}}, reused), nil, nil)); r.Status != http.StatusOK {
			t.Fatalf("first use: %d %s", r.Status, r.Raw)
		}
		secretID, secretSecret := f.client(t, gameServer("game"))
		stranger := newClientKey(t)
		none := func() string {
			enc := base64.RawURLEncoding.EncodeToString
			claims, _ := json.Marshal(map[string]any{"iss": inlineClient, "sub": inlineClient, "aud": tokenURL, "jti": uuid.NewString(),
				"exp": time.Now().Add(time.Minute).Unix()})
			return enc([]byte(`{"alg":"none"}`)) + "." + enc(claims) + "."
		}
		for _, tc := range []struct {
			name      string
			form      url.Values
			basic     *[2]string
			wantError string
		}{
			{"the assertion expired", assertionForm(url.Values{}, key.assertion(t, inlineClient, tokenURL, func(c map[string]any) {
				c["exp"] = time.Now().Add(-2 * time.Minute).Unix()
			})), nil, "invalid_client"},
			{"the assertion lives too long", assertionForm(url.Values{}, key.assertion(t, inlineClient, tokenURL, func(c map[string]any) {
				c["exp"] = time.Now().Add(time.Hour).Unix()
			})), nil, "invalid_client"},
			{"the assertion was used before", assertionForm(url.Values{}, reused), nil, "invalid_client"},
			{"aud names another server", assertionForm(url.Values{}, key.assertion(t, inlineClient, "https://elsewhere.example/token")), nil, "invalid_client"},
			{"alg is none", assertionForm(url.Values{}, none()), nil, "invalid_client"},
			{"a key the client did not register signed it", assertionForm(url.Values{}, stranger.assertion(t, inlineClient, tokenURL)), nil, "invalid_client"},
			{"iss and sub name another client", assertionForm(url.Values{"client_id": {inlineClient}}, key.assertion(t, remoteClient, tokenURL)), nil, "invalid_client"},
			{"the client has no registered keys", assertionForm(url.Values{}, key.assertion(t, secretID, tokenURL)), nil, "invalid_client"},
			{"a secret comes with the assertion", assertionForm(url.Values{}, key.assertion(t, secretID, tokenURL)), &[2]string{secretID, secretSecret}, "invalid_client"},
			{"the assertion type is another", func() url.Values {
				v := assertionForm(url.Values{}, key.assertion(t, inlineClient, tokenURL))
				v.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer")
				return v
			}(), nil, "invalid_client"},
			{"the key client presents no assertion", url.Values{"client_id": {inlineClient}}, nil, "invalid_client"},
		} {
			t.Run("should fail because "+tc.name, func(t *testing.T) {
				tc.form.Set("grant_type", "client_credentials")
				r := f.send(t, tokenCall(tc.form, tc.basic, nil))
				wantOAuthError(t, r, http.StatusUnauthorized, tc.wantError)
			})
		}
		d := f.do(t, http.MethodGet, "/.well-known/openid-configuration", "", "", nil)
		if algs := strs(d.Body["token_endpoint_auth_signing_alg_values_supported"]); len(algs) == 0 {
			t.Errorf("discovery lists no assertion algs: %s", d.Raw)
		}
	})
}
