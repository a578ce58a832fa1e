package oidc_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/oauth2-proxy/mockoidc"
	"golang.org/x/oauth2"

	"github.com/bridgekeeper/bridgekeeper/providers"
	"github.com/bridgekeeper/bridgekeeper/providers/oidc"
)

// The upstream in these tests is github.com/oauth2-proxy/mockoidc, an
// OpenID Connect provider written by others, run in-process on loopback. It
// approves every authorization request for the next queued user.

const redirectURL = "http://127.0.0.1:1/oauth2/callback/mock"

// upstream is a running mockoidc whose token responses a test may tamper
// with: the ID token is then re-signed, by the issuer's key unless
// foreignKey is set, as a compromised or confused issuer would.
type upstream struct {
	*mockoidc.MockOIDC

	mu         sync.Mutex
	claims     func(map[string]any) // edits the ID token's claims
	foreignKey *rsa.PrivateKey      // re-sign with it, a key the issuer never published
	dropID     bool                 // remove the ID token from the response
}

func startUpstream(t *testing.T) *upstream {
	t.Helper()
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{MockOIDC: m}
	if err := m.AddMiddleware(u.tamper); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	return u
}

// tamper rewrites successful token responses as the test asked.
func (u *upstream) tamper(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		claims, foreign, drop := u.claims, u.foreignKey, u.dropID
		u.mu.Unlock()
		if r.URL.Path != mockoidc.TokenEndpoint || (claims == nil && foreign == nil && !drop) {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		if rec.Code != http.StatusOK {
			w.WriteHeader(rec.Code)
			_, _ = w.Write(rec.Body.Bytes())
			return
		}
		var resp map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if drop {
			delete(resp, "id_token")
		} else if raw, ok := resp["id_token"].(string); ok {
			signed, err := u.resign(raw, claims, foreign)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			resp["id_token"] = signed
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(resp)
	})
}

// resign edits the claims of the compact JWS raw and signs them again under
// the issuer's key ID, with the issuer's key or, if not nil, foreign.
func (u *upstream) resign(raw string, edit func(map[string]any), foreign *rsa.PrivateKey) (string, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return "", errors.New("ID token is not a compact JWS")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", err
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		return "", err
	}
	if edit != nil {
		edit(claims)
	}
	if payload, err = json.Marshal(claims); err != nil {
		return "", err
	}
	kid, err := u.Keypair.KeyID()
	if err != nil {
		return "", err
	}
	key := u.Keypair.PrivateKey
	if foreign != nil {
		key = foreign
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		return "", err
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}

func (u *upstream) config() oidc.Config {
	return oidc.Config{
		Name:         "mock",
		Slot:         2,
		Issuer:       u.Issuer(),
		ClientID:     u.ClientID,
		ClientSecret: u.ClientSecret,
		RedirectURL:  redirectURL,
		Scopes:       []string{"email", "profile"},
	}
}

func newLogin() providers.Login {
	return providers.Login{State: rand.Text(), Nonce: rand.Text(), Verifier: oauth2.GenerateVerifier()}
}

// noRedirect is a browser that stops at the first redirect, so the test
// reads the code from the Location the upstream sends it to.
var noRedirect = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// authorize plays the browser: it follows p.AuthCodeURL(l) to the upstream,
// which approves at once, and returns the code it redirects back with.
func authorize(t *testing.T, p providers.Provider, l providers.Login) string {
	t.Helper()
	resp, err := noRedirect.Get(p.AuthCodeURL(l))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: status %d, want 302", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != redirectURL {
		t.Fatalf("redirected to %s, want %s", got, redirectURL)
	}
	if got := loc.Query().Get("state"); got != l.State {
		t.Fatalf("state = %q, want %q", got, l.State)
	}
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatal("no code in the redirect")
	}
	return code
}
