package gamecenter_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/platforms"
	"github.com/bridgekeeper/bridgekeeper/platforms/gamecenter"
	"github.com/bridgekeeper/bridgekeeper/platforms/gamecenter/gamecentertest"
)

func TestNewRefuses(t *testing.T) {
	cases := []struct {
		name string // should fail because ...
		edit func(c *gamecenter.Config)
		want []string
	}{
		{name: "no bundle ID is configured", edit: func(c *gamecenter.Config) { c.BundleIDs = nil },
			want: []string{"bundle_ids must name at least one bundle ID"}},
		{name: "a bundle ID is empty", edit: func(c *gamecenter.Config) { c.BundleIDs = []string{bundle, ""} },
			want: []string{`bundle_ids[1] "" is not a bundle ID`}},
		{name: "a bundle ID has a space", edit: func(c *gamecenter.Config) { c.BundleIDs = []string{"com.example. game"} },
			want: []string{`bundle_ids[0] "com.example. game" is not a bundle ID`}},
		{name: "a key host is a URL", edit: func(c *gamecenter.Config) { c.KeyHosts = []string{"https://static.gc.apple.com"} },
			want: []string{`key_hosts[0] "https://static.gc.apple.com" is not a host name (no scheme, path or wildcard)`}},
		{name: "a key host has a path", edit: func(c *gamecenter.Config) { c.KeyHosts = []string{"apple.com/public-key"} },
			want: []string{`key_hosts[0] "apple.com/public-key" is not a host name (no scheme, path or wildcard)`}},
		{name: "a key host is a wildcard", edit: func(c *gamecenter.Config) { c.KeyHosts = []string{"*.apple.com"} },
			want: []string{`key_hosts[0] "*.apple.com" is not a host name (no scheme, path or wildcard)`}},
		{name: "a key host starts with a dot", edit: func(c *gamecenter.Config) { c.KeyHosts = []string{".apple.com"} },
			want: []string{`key_hosts[0] ".apple.com" is not a lower-case host name`}},
		{name: "a key host is in upper case", edit: func(c *gamecenter.Config) { c.KeyHosts = []string{"Apple.com"} },
			want: []string{`key_hosts[0] "Apple.com" is not a lower-case host name`}},
		{name: "a key host is empty", edit: func(c *gamecenter.Config) { c.KeyHosts = []string{""} },
			want: []string{`key_hosts[0] "" is not a lower-case host name`}},
		{name: "a key host's port is 0", edit: func(c *gamecenter.Config) { c.KeyHosts = []string{"127.0.0.1:0"} },
			want: []string{`key_hosts[0] "127.0.0.1:0" has a port that is not a number from 1 to 65535`}},
		{name: "a key host's port is too big", edit: func(c *gamecenter.Config) { c.KeyHosts = []string{"127.0.0.1:65536"} },
			want: []string{"has a port that is not a number"}},
		{name: "a key host is an IPv6 address without brackets", edit: func(c *gamecenter.Config) { c.KeyHosts = []string{"::1"} },
			want: []string{`key_hosts[0] "::1" is not a host or host:port`}},
		{name: "an organization is blank", edit: func(c *gamecenter.Config) { c.Organizations = []string{"Apple Inc.", " "} },
			want: []string{"organizations[1] must not be empty"}},
		{name: "max_age is negative", edit: func(c *gamecenter.Config) { c.MaxAge = -time.Second },
			want: []string{"max_age must not be negative"}},
		{name: "max_age is longer than an hour", edit: func(c *gamecenter.Config) { c.MaxAge = 2 * time.Hour },
			want: []string{"max_age 2h0m0s is longer than 1h0m0s"}},
		{name: "the timeout is negative", edit: func(c *gamecenter.Config) { c.Timeout = -1 },
			want: []string{"timeout must not be negative"}},
		{name: "everything is wrong at once",
			edit: func(c *gamecenter.Config) {
				*c = gamecenter.Config{Name: "gc", KeyHosts: []string{"*"}, MaxAge: -1, Timeout: -1}
			},
			want: []string{`gamecenter platform "gc": bundle_ids`, "key_hosts[0]", "max_age", "timeout"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := gamecenter.Config{BundleIDs: []string{bundle}}
			tc.edit(&cfg)
			v, err := gamecenter.New(cfg)
			if err == nil {
				t.Fatalf("New accepted %+v", cfg)
			}
			if v != nil {
				t.Error("New returned a verifier with its error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if got, want := strings.Count(err.Error(), "\n")+1, len(tc.want); got != want {
				t.Errorf("%d problems reported, want %d:\n%v", got, want, err)
			}
		})
	}
}

func TestNewAccepts(t *testing.T) {
	for name, cfg := range map[string]gamecenter.Config{
		"the least: one bundle ID": {BundleIDs: []string{bundle}},
		"key hosts with and without ports": {BundleIDs: []string{bundle},
			KeyHosts: []string{"apple.com", "static.gc.apple.com", "127.0.0.1:8443", "[::1]:8443", "localhost:1"}},
		"max_age of an hour": {BundleIDs: []string{bundle}, MaxAge: time.Hour},
	} {
		t.Run(name, func(t *testing.T) {
			v, err := gamecenter.New(cfg)
			if err != nil || v == nil {
				t.Fatalf("New(%+v) = %v, %v", cfg, v, err)
			}
		})
	}
}

// New copies what it keeps: editing the Config afterwards, or the
// client's redirect policy, changes nothing.
func TestNewNeitherKeepsNorChangesTheConfig(t *testing.T) {
	f := newFixture(t)
	cfg := f.config()
	client := cfg.Client
	followed := false
	client.CheckRedirect = func(*http.Request, []*http.Request) error { followed = true; return nil }
	v, err := gamecenter.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.BundleIDs[0] = otherBundle
	cfg.KeyHosts[0] = "evil.test"
	if _, err := v.Verify(t.Context(), platforms.Request{Token: f.items(gamecentertest.Good).JSON()}); err != nil {
		t.Fatalf("Verify after the Config was edited: %v", err)
	}
	// The verifier refuses redirects with a client of its own; the
	// caller's keeps its policy.
	if client.CheckRedirect == nil {
		t.Fatal("New cleared the client's CheckRedirect")
	}
	client.CheckRedirect(nil, nil)
	if !followed {
		t.Error("New replaced the client's CheckRedirect")
	}
}
