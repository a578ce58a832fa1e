package web_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"

	"github.com/bridgekeeper/bridgekeeper/dpop"
	"github.com/bridgekeeper/bridgekeeper/platforms"
)

// DPoP (RFC 9449, issue 13 item 2): proofs built with go-jose, sent over
// real HTTP.

// dpopKey is a device's DPoP key.
type dpopKey struct {
	key *ecdsa.PrivateKey
	jkt string
}

func newDPoPKey(t *testing.T) dpopKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jkt, err := dpop.Thumbprint(jose.JSONWebKey{Key: k.Public()})
	if err != nil {
		t.Fatal(err)
	}
	return dpopKey{key: k, jkt: jkt}
}

// proofEdit changes a proof before it is signed: its header's jwk and
// its claims.
type proofEdit func(jwk *any, claims map[string]any)

// proof is a DPoP proof by k for method and u, covering accessToken when
// not "".
func (k dpopKey) proof(t *testing.T, method, u, accessToken string, edits ...proofEdit) string {
	t.Helper()
	claims := map[string]any{"jti": uuid.NewString(), "htm": method, "htu": u, "iat": time.Now().Unix()}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		claims["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	var jwk any = jose.JSONWebKey{Key: k.key.Public()}
	for _, e := range edits {
		e(&jwk, claims)
	}
	return signES256(t, k.key, (&jose.SignerOptions{}).WithType("dpop+jwt").WithHeader("jwk", jwk), claims)
}

// signES256 is the compact JWS of claims signed by key with opts.
func signES256(t *testing.T, key *ecdsa.PrivateKey, opts *jose.SignerOptions, claims any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// unsignedProof is a proof with alg none: its header and claims, no
// signature.
func (k dpopKey) unsignedProof(t *testing.T, u string) string {
	t.Helper()
	jwk, _ := json.Marshal(jose.JSONWebKey{Key: k.key.Public()})
	hdr := `{"typ":"dpop+jwt","alg":"none","jwk":` + string(jwk) + `}`
	claims, _ := json.Marshal(map[string]any{"jti": uuid.NewString(), "htm": "POST", "htu": u, "iat": time.Now().Unix()})
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(hdr)) + "." + enc(claims) + "."
}

// tokenCall is a token request of form with headers (a DPoP proof).
func tokenCall(form url.Values, basic *[2]string, header map[string]string) call {
	return call{body: form.Encode(), basic: basic, header: header}
}

// userinfoCall is a GET /userinfo with headers.
func userinfoCall(header map[string]string) call {
	return call{method: http.MethodGet, path: "/userinfo", ctype: noCType, header: header}
}

// TestDPoPBindsAccessTokens: a token request with a proof gets a DPoP
// token bound to the proof's key, which introspection reports and
// /userinfo accepts only with a proof by that key.
func TestDPoPBindsAccessTokens(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		id, secret := f.client(t, gameServer("game"))
		key, other := newDPoPKey(t), newDPoPKey(t)
		tokenURL := f.URL + "/oauth2/token"
		r := f.send(t, tokenCall(customID("player-1"), &[2]string{id, secret}, map[string]string{"DPoP": key.proof(t, "POST", tokenURL, "")}))
		if r.Status != http.StatusOK || r.str("token_type") != "DPoP" {
			t.Fatalf("token: %d %s", r.Status, r.Raw)
		}
		at := r.str("access_token")
		if cnf, _ := xsVerify(t, f, at)["cnf"].(map[string]any); cnf["jkt"] != key.jkt {
			t.Errorf("cnf %v, want jkt %s", cnf, key.jkt)
		}
		in := f.introspect(t, id, secret, at)
		if cnf, _ := in.Body["cnf"].(map[string]any); in.str("token_type") != "DPoP" || cnf["jkt"] != key.jkt {
			t.Errorf("introspection: %s", in.Raw)
		}
		userinfo := f.URL + "/userinfo"
		if u := f.send(t, userinfoCall(map[string]string{"Authorization": "DPoP " + at, "DPoP": key.proof(t, "GET", userinfo, at)})); u.Status != http.StatusOK || u.str("userId") == "" {
			t.Errorf("userinfo with its proof: %d %s", u.Status, u.Raw)
		}
		for _, tc := range []struct {
			name   string
			header map[string]string
			code   string
		}{
			{"the bound token is presented as a Bearer token", map[string]string{"Authorization": "Bearer " + at}, "invalid_token"},
			{"the proof is by another key", map[string]string{"Authorization": "DPoP " + at, "DPoP": other.proof(t, "GET", userinfo, at)}, "invalid_token"},
			{"the proof does not cover the token (no ath)", map[string]string{"Authorization": "DPoP " + at, "DPoP": key.proof(t, "GET", userinfo, "")}, "invalid_dpop_proof"},
			{"the proof is for POST", map[string]string{"Authorization": "DPoP " + at, "DPoP": key.proof(t, "POST", userinfo, at)}, "invalid_dpop_proof"},
			{"there is no proof", map[string]string{"Authorization": "DPoP " + at}, "invalid_dpop_proof"},
		} {
			t.Run("should fail because "+tc.name, func(t *testing.T) {
				u := f.send(t, userinfoCall(tc.header))
				if u.Status != http.StatusUnauthorized || u.str("error") != tc.code {
					t.Errorf("%d %s, want 401 %s", u.Status, u.Raw, tc.code)
				}
			})
		}
		// A Bearer token stays a Bearer token.
		plain := f.mustToken(t, id, secret, customID("player-1"))
		if plain.str("token_type") != "Bearer" {
			t.Errorf("without a proof: %s", plain.Raw)
		}
		if u := f.send(t, userinfoCall(map[string]string{"Authorization": "DPoP " + plain.str("access_token"),
			"DPoP": key.proof(t, "GET", userinfo, plain.str("access_token"))})); u.Status != http.StatusUnauthorized {
			t.Errorf("should fail because a Bearer token is presented as DPoP: %d %s", u.Status, u.Raw)
		}
		d := f.do(t, http.MethodGet, "/.well-known/openid-configuration", "", "", nil)
		if algs, _ := d.Body["dpop_signing_alg_values_supported"].([]any); !slices.Contains(algs, any("ES256")) {
			t.Errorf("discovery: %v", d.Body["dpop_signing_alg_values_supported"])
		}
	})
}

// TestDPoPProofRefusals: every proof the token endpoint must refuse is
// invalid_dpop_proof, and a client registered to need DPoP gets nothing
// without a proof.
func TestDPoPProofRefusals(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		id, secret := f.client(t, gameServer("game"))
		strict := gameServer("game")
		strict.Name, strict.RequireDPoP = "dpop only", true
		strictID, strictSecret := f.client(t, strict)
		key := newDPoPKey(t)
		tokenURL := f.URL + "/oauth2/token"
		replayed := key.proof(t, "POST", tokenURL, "")
		if r := f.send(t, tokenCall(customID("p"), &[2]string{id, secret}, map[string]string{"DPoP": replayed})); r.Status != http.StatusOK {
			t.Fatalf("first use: %d %s", r.Status, r.Raw)
		}
		private := func(jwk *any, _ map[string]any) { *jwk = jose.JSONWebKey{Key: key.key} }
		for _, tc := range []struct {
			name, proof string
		}{
			{"htu names another endpoint", key.proof(t, "POST", f.URL+"/oauth2/introspect", "")},
			{"htm is GET", key.proof(t, "GET", tokenURL, "")},
			{"the proof was used before", replayed},
			{"alg is none", key.unsignedProof(t, tokenURL)},
			{"the header carries the private key", key.proof(t, "POST", tokenURL, "", private)},
			{"iat is an hour old", key.proof(t, "POST", tokenURL, "", func(_ *any, c map[string]any) { c["iat"] = time.Now().Add(-time.Hour).Unix() })},
			{"the proof is garbage", "not.a.proof"},
		} {
			t.Run("should fail because "+tc.name, func(t *testing.T) {
				r := f.send(t, tokenCall(customID("p"), &[2]string{id, secret}, map[string]string{"DPoP": tc.proof}))
				wantOAuthError(t, r, http.StatusBadRequest, "invalid_dpop_proof")
			})
		}
		t.Run("should fail because the client must use DPoP", func(t *testing.T) {
			wantOAuthError(t, f.token(t, strictID, strictSecret, customID("p")), http.StatusBadRequest, "invalid_dpop_proof")
		})
		r := f.send(t, tokenCall(customID("p"), &[2]string{strictID, strictSecret}, map[string]string{"DPoP": key.proof(t, "POST", tokenURL, "")}))
		if r.Status != http.StatusOK || r.str("token_type") != "DPoP" {
			t.Errorf("the DPoP-only client with a proof: %d %s", r.Status, r.Raw)
		}
	})
}

// TestDPoPBindsPublicRefreshTokens: a public client's refresh tokens are
// bound to the key of its first proof; a refresh needs a proof by that
// key, and a thief without it neither refreshes nor revokes the session.
func TestDPoPBindsPublicRefreshTokens(t *testing.T) {
	t.Parallel()
	exEachStore(t, func(t *testing.T, f *fixture, p exPlatforms) {
		game, _ := f.client(t, exGameSpec("game"))
		key, thief := newDPoPKey(t), newDPoPKey(t)
		tokenURL := f.URL + "/oauth2/token"
		form := exForm("apple", platforms.TokenTypeIDToken, p.apple.Token("dpop-player", exAudience))
		form.Set("client_id", game)
		first := f.send(t, tokenCall(form, nil, map[string]string{"DPoP": key.proof(t, "POST", tokenURL, "")}))
		if first.Status != http.StatusOK || first.str("token_type") != "DPoP" {
			t.Fatalf("exchange: %d %s", first.Status, first.Raw)
		}
		refreshWith := func(rt string, header map[string]string) response {
			return f.send(t, tokenCall(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {game}}, nil, header))
		}
		rt := first.str("refresh_token")
		t.Run("should fail because the refresh has no proof", func(t *testing.T) {
			wantOAuthError(t, refreshWith(rt, nil), http.StatusBadRequest, "invalid_dpop_proof")
		})
		t.Run("should fail because the proof is by another key", func(t *testing.T) {
			wantOAuthError(t, refreshWith(rt, map[string]string{"DPoP": thief.proof(t, "POST", tokenURL, "")}), http.StatusBadRequest, "invalid_grant")
		})
		next := refreshWith(rt, map[string]string{"DPoP": key.proof(t, "POST", tokenURL, "")})
		if next.Status != http.StatusOK || next.str("token_type") != "DPoP" || next.str("userId") != first.str("userId") {
			t.Fatalf("refresh with the key: %d %s", next.Status, next.Raw)
		}
		// The spent token with another key: refused, and the session lives.
		wantOAuthError(t, refreshWith(rt, map[string]string{"DPoP": thief.proof(t, "POST", tokenURL, "")}), http.StatusBadRequest, "invalid_grant")
		if again := refreshWith(next.str("refresh_token"), map[string]string{"DPoP": key.proof(t, "POST", tokenURL, "")}); again.Status != http.StatusOK {
			t.Errorf("the session after the thief's tries: %d %s", again.Status, again.Raw)
		}
		// Without a proof at the start, the family is not bound.
		plainForm := exForm("apple", platforms.TokenTypeIDToken, p.apple.Token("bearer-player", exAudience))
		plainForm.Set("client_id", game)
		plain := f.send(t, tokenCall(plainForm, nil, nil))
		if r := refreshWith(plain.str("refresh_token"), nil); r.Status != http.StatusOK || r.str("token_type") != "Bearer" {
			t.Errorf("an unbound refresh: %d %s", r.Status, r.Raw)
		}
	})
}

// TestDPoPRefreshProofReplays: the refresh rotation spends the proof in
// its own write, and still refuses every replay of it: with the successor
// (the rotation is undone), as a repeat of the whole request inside the
// grace window (which would otherwise re-serve the successor), and after
// the proof was spent by another grant.
func TestDPoPRefreshProofReplays(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		id, secret := f.client(t, gameServer("game"))
		key := newDPoPKey(t)
		tokenURL := f.URL + "/oauth2/token"
		withProof := func(form url.Values, proof string) response {
			return f.send(t, tokenCall(form, &[2]string{id, secret}, map[string]string{"DPoP": proof}))
		}
		login := withProof(customID("replay"), key.proof(t, "POST", tokenURL, ""))
		if login.Status != http.StatusOK {
			t.Fatalf("login: %d %s", login.Status, login.Raw)
		}
		proof := key.proof(t, "POST", tokenURL, "")
		next := withProof(refresh(login.str("refresh_token")), proof)
		if next.Status != http.StatusOK || next.str("token_type") != "DPoP" {
			t.Fatalf("refresh: %d %s", next.Status, next.Raw)
		}
		t.Run("should fail because the proof is replayed with the successor", func(t *testing.T) {
			wantOAuthError(t, withProof(refresh(next.str("refresh_token")), proof), http.StatusBadRequest, "invalid_dpop_proof")
		})
		t.Run("should fail because the whole request is replayed inside the grace window", func(t *testing.T) {
			wantOAuthError(t, withProof(refresh(login.str("refresh_token")), proof), http.StatusBadRequest, "invalid_dpop_proof")
		})
		t.Run("should fail because another grant spent the proof", func(t *testing.T) {
			spent := key.proof(t, "POST", tokenURL, "")
			if r := withProof(customID("other"), spent); r.Status != http.StatusOK {
				t.Fatalf("login with the proof: %d %s", r.Status, r.Raw)
			}
			wantOAuthError(t, withProof(refresh(next.str("refresh_token")), spent), http.StatusBadRequest, "invalid_dpop_proof")
		})
		// Each refusal left the successor unspent; a retry inside the grace
		// window with a fresh proof still gets the same pair.
		if retry := withProof(refresh(login.str("refresh_token")), key.proof(t, "POST", tokenURL, "")); retry.str("refresh_token") != next.str("refresh_token") {
			t.Errorf("a retry inside the grace window with a fresh proof: %d %s", retry.Status, retry.Raw)
		}
		again := withProof(refresh(next.str("refresh_token")), key.proof(t, "POST", tokenURL, ""))
		if again.Status != http.StatusOK {
			t.Fatalf("the successor after the refusals: %d %s", again.Status, again.Raw)
		}
		// Once the successor rotated in turn, a retry of the first token has
		// nothing left to be given: refused, and nothing revoked.
		wantOAuthError(t, withProof(refresh(login.str("refresh_token")), key.proof(t, "POST", tokenURL, "")), http.StatusBadRequest, "invalid_grant")
		if r := withProof(refresh(again.str("refresh_token")), key.proof(t, "POST", tokenURL, "")); r.Status != http.StatusOK {
			t.Errorf("the session after a late retry: %d %s", r.Status, r.Raw)
		}
	})
}
