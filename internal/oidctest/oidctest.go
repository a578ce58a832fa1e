// Package oidctest runs a real OpenID Connect provider for tests:
// github.com/oauth2-proxy/mockoidc, written by others, in-process on
// loopback, reached through the broker's own providers/oidc as a
// configured provider would be. Each sign-in signs in the next queued
// subject.
package oidctest

import (
	"context"
	"net"
	"net/http"
	"sync"
	"testing"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/bridgekeeper/bridgekeeper/providers"
	"github.com/bridgekeeper/bridgekeeper/providers/oidc"
)

// Upstream is a running mockoidc.
type Upstream struct {
	*mockoidc.MockOIDC
	// serve runs requests one at a time: mockoidc's session store is not
	// safe for concurrent use.
	serve sync.Mutex
}

// Start runs an upstream until t ends.
func Start(t testing.TB) *Upstream {
	t.Helper()
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	u := &Upstream{MockOIDC: m}
	if err := m.AddMiddleware(u.serialize); err != nil {
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

func (u *Upstream) serialize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.serve.Lock()
		defer u.serve.Unlock()
		next.ServeHTTP(w, r)
	})
}

// Queue makes subject the user who signs in next.
func (u *Upstream) Queue(subject string) {
	u.QueueUser(&mockoidc.MockUser{Subject: subject})
}

// Provider is the upstream as the broker's provider name, whose callback
// is redirectURL (<issuer>/oauth2/callback/<name>).
func (u *Upstream) Provider(t testing.TB, name string, slot int, redirectURL string) providers.Provider {
	t.Helper()
	cfg := u.Config()
	p, err := oidc.New(context.Background(), oidc.Config{
		Name: name, Slot: slot, Issuer: cfg.Issuer, ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret,
		RedirectURL: redirectURL, Scopes: []string{"profile"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}
