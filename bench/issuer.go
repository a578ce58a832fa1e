package bench

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Token exchange's benchmark: an OpenID issuer in the load generator's own
// process, whose ES256 ID tokens the broker's id_token provider verifies
// with the JWKS served here (fetched once, then cached by the broker).
const (
	benchIDPName     = "bench-idp"
	benchIDPSlot     = 40
	benchIDPAudience = "bench-game"
	tokenTypeIDToken = "urn:ietf:params:oauth:token-type:id_token"
	grantExchange    = "urn:ietf:params:oauth:grant-type:token-exchange"
)

// issuer signs ID tokens and serves its discovery document and JWKS.
type issuer struct {
	URL    string
	signer jose.Signer
	srv    *http.Server
}

func startIssuer() (*issuer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	const kid = "bench-1"
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, nil)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	iss := &issuer{URL: "http://" + ln.Addr().String(), signer: signer}
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: kid, Algorithm: "ES256", Use: "sig"}}})
	discovery, _ := json.Marshal(map[string]string{"issuer": iss.URL, "jwks_uri": iss.URL + "/jwks"})
	mux := http.NewServeMux()
	serve := func(body []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(body)
		}
	}
	mux.HandleFunc("/.well-known/openid-configuration", serve(discovery))
	mux.HandleFunc("/jwks", serve(jwks))
	iss.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := iss.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Println("bench: issuer:", err)
		}
	}()
	return iss, nil
}

// token is an ID token of sub for the benchmark's game, valid for hours:
// workers sign theirs before the clock starts and reuse them.
func (i *issuer) token(sub string) (string, error) {
	now := time.Now()
	claims, _ := json.Marshal(map[string]any{"iss": i.URL, "sub": sub, "aud": benchIDPAudience,
		"iat": now.Unix(), "exp": now.Add(6 * time.Hour).Unix()})
	jws, err := i.signer.Sign(claims)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// providerConfig is the broker's configuration file naming the issuer.
func (i *issuer) providerConfig() string {
	return fmt.Sprintf("providers:\n  - {name: %s, type: id_token, slot: %d, issuer: %q, audiences: [%s]}\n",
		benchIDPName, benchIDPSlot, i.URL, benchIDPAudience)
}

func (i *issuer) close() { i.srv.Close() }
