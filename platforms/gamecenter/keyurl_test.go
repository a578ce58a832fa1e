package gamecenter_test

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/platforms/gamecenter/gamecentertest"
)

// recorder is a transport that answers 404 to everything and remembers
// what was asked: with it, a test sees whether a URL passed the checks
// without the network.
type recorder struct {
	mu   sync.Mutex
	urls []string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.urls = append(r.urls, req.URL.String())
	r.mu.Unlock()
	return &http.Response{StatusCode: http.StatusNotFound, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("")), Request: req}, nil
}

func (r *recorder) asked() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.urls...)
}

// withURL is the fixture's Good token pointing at keyURL; the signature
// holds, only the URL is wrong.
func withURL(f *fixture, keyURL string) string {
	return f.edited(func(it *gamecentertest.Items) { it.PublicKeyURL = keyURL })
}

// TestVerifyChecksTheKeyURLAgainstAppleHosts runs with the default key
// hosts (apple.com) and a transport that fetches nothing.
func TestVerifyChecksTheKeyURLAgainstAppleHosts(t *testing.T) {
	allowed := []string{
		"https://static.gc.apple.com/public-key/gc-prod-10.cer",
		"https://STATIC.GC.Apple.COM/public-key/gc-prod-10.cer",
		"https://sandbox.gc.apple.com/public-key/gc-sb-2.cer",
		"https://apple.com/gc-prod-10.cer",
	}
	for _, u := range allowed {
		t.Run("passes the URL check: "+u, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			rec := &recorder{}
			cfg := f.config()
			cfg.KeyHosts, cfg.Client = nil, &http.Client{Transport: rec}
			token := withURL(f, u)
			id, err := verify(t, cfg, token)
			// The recorder's 404, so the URL got as far as the fetch.
			wantRefusal(t, id, err, broker.KindInvalid, "the Game Center key could not be used", token)
			if got := rec.asked(); len(got) != 1 || !strings.EqualFold(got[0], u) {
				t.Errorf("fetched %q, want [%s]", got, u)
			}
		})
	}
	refused := map[string]string{
		"http, not https":                          "http://static.gc.apple.com/public-key/gc-prod-10.cer",
		"no scheme":                                "//static.gc.apple.com/public-key/gc-prod-10.cer",
		"another scheme":                           "ftp://static.gc.apple.com/public-key/gc-prod-10.cer",
		"an opaque URL":                            "https:static.gc.apple.com/public-key/gc-prod-10.cer",
		"a host that only starts like apple.com":   "https://apple.com.evil.test/public-key/gc-prod-10.cer",
		"a host that only ends like apple.com":     "https://evilapple.com/public-key/gc-prod-10.cer",
		"apple.com only in the path":               "https://evil.test/apple.com/gc-prod-10.cer",
		"a user before Apple's host":               "https://user@static.gc.apple.com/public-key/gc-prod-10.cer",
		"Apple's host as the user of another host": "https://static.gc.apple.com@evil.test/public-key/gc-prod-10.cer",
		"a user and password":                      "https://a:b@static.gc.apple.com/public-key/gc-prod-10.cer",
		"a port":                                   "https://static.gc.apple.com:8443/public-key/gc-prod-10.cer",
		"the default port spelled out":             "https://static.gc.apple.com:443/public-key/gc-prod-10.cer",
		"a trailing dot on the host":               "https://static.gc.apple.com./public-key/gc-prod-10.cer",
		"an IP address":                            "https://17.253.144.10/public-key/gc-prod-10.cer",
		"a query":                                  "https://static.gc.apple.com/public-key/gc-prod-10.cer?v=2",
		"an empty query":                           "https://static.gc.apple.com/public-key/gc-prod-10.cer?",
		"a fragment":                               "https://static.gc.apple.com/public-key/gc-prod-10.cer#x",
		"a file that is not a .cer":                "https://static.gc.apple.com/public-key/gc-prod-10.der",
		"no path":                                  "https://static.gc.apple.com",
		"no host":                                  "https:///public-key/gc-prod-10.cer",
		"a space in the host":                      "https://static.gc.apple .com/public-key/gc-prod-10.cer",
		"a relative URL":                           "/public-key/gc-prod-10.cer",
	}
	for why, u := range refused {
		t.Run("should fail because of "+why, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			rec := &recorder{}
			cfg := f.config()
			cfg.KeyHosts, cfg.Client = nil, &http.Client{Transport: rec}
			token := withURL(f, u)
			id, err := verify(t, cfg, token)
			wantRefusal(t, id, err, broker.KindInvalid, "publicKeyUrl is not an https URL of a .cer on an allowed host", token)
			if got := rec.asked(); len(got) != 0 {
				t.Errorf("fetched %q; a refused URL must not be fetched", got)
			}
		})
	}
}

// TestVerifyChecksTheKeyURLPort: a key host with a port allows that port
// only, and a host without one allows no port.
func TestVerifyChecksTheKeyURLPort(t *testing.T) {
	cases := []struct {
		name     string
		keyURL   func(f *fixture) string
		keyHosts func(f *fixture) []string
	}{
		{
			name: "should fail because the URL names another port of the allowed host",
			keyURL: func(f *fixture) string {
				return "https://127.0.0.1:1/public-key/gc-test.cer"
			},
		},
		{
			name: "should fail because the URL names the allowed port on another host",
			keyURL: func(f *fixture) string {
				_, port, _ := net.SplitHostPort(f.srv.KeyHost())
				return "https://localhost:" + port + "/public-key/gc-test.cer"
			},
		},
		{
			name:   "should fail because the URL is http on the allowed host and port",
			keyURL: func(f *fixture) string { return strings.Replace(f.srv.URL(gamecentertest.Good), "https:", "http:", 1) },
		},
		{
			name:     "should fail because the allowed host has no port and the URL has one",
			keyURL:   func(f *fixture) string { return f.srv.URL(gamecentertest.Good) },
			keyHosts: func(f *fixture) []string { return []string{"127.0.0.1"} },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			cfg := f.config()
			if tc.keyHosts != nil {
				cfg.KeyHosts = tc.keyHosts(f)
			}
			token := withURL(f, tc.keyURL(f))
			id, err := verify(t, cfg, token)
			wantRefusal(t, id, err, broker.KindInvalid, "publicKeyUrl is not an https URL", token)
			if got := f.srv.Fetches(); got != 0 {
				t.Errorf("the key server got %d requests, want 0", got)
			}
		})
	}
}

// The fixture's own URL, as the baseline for the port cases: it passes.
func TestVerifyAcceptsTheConfiguredHostAndPort(t *testing.T) {
	f := newFixture(t)
	cfg := f.config()
	if cfg.KeyHosts[0] != f.srv.KeyHost() || !strings.Contains(cfg.KeyHosts[0], ":") {
		t.Fatalf("KeyHosts = %q, want the server's host:port %q", cfg.KeyHosts, f.srv.KeyHost())
	}
	if _, err := verify(t, cfg, f.items(gamecentertest.Good).JSON()); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}
