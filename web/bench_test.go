package web_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// BenchmarkClientCredentials measures the token endpoint's in-process cost
// for client_credentials (no database on the hot path: the client is cached).
// `make bench` measures it over the network against its limit server.
func BenchmarkClientCredentials(b *testing.B) {
	t := &testing.T{}
	f := newFixture(t, openSQLite(t))
	id, secret := f.client(t, gameServer("game"))
	h := f.Handler
	body := url.Values{"grant_type": {"client_credentials"}}.Encode()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(body))
			req.Header.Set("Content-Type", formType)
			req.SetBasicAuth(id, secret)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
		}
	})
}

// BenchmarkServerCustomIDLogin measures a returning player's login on
// PostgreSQL in-process: one statement and one signature per request.
func BenchmarkServerCustomIDLogin(b *testing.B) {
	t := &testing.T{}
	f := newFixture(t, openPostgres(t))
	id, secret := f.client(t, gameServer("game"))
	f.mustToken(t, id, secret, customID("returning"))
	body := customID("returning").Encode()
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(body))
			req.Header.Set("Content-Type", formType)
			req.SetBasicAuth(id, secret)
			w := httptest.NewRecorder()
			f.Handler.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
		}
	})
}
