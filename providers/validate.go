package providers

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// MaxSlot is the highest takeover slot (GS2-Account's 0..1024).
const MaxSlot = 1024

// DefaultTimeout bounds each request to an upstream when the configuration
// names no HTTP client: go-oidc fetches signing keys in the background, and a
// fetch that hung forever would stall every verification.
const DefaultTimeout = 30 * time.Second

// HTTPClient is c, or a client with DefaultTimeout when c is nil.
func HTTPClient(c *http.Client) *http.Client {
	if c != nil {
		return c
	}
	return &http.Client{Timeout: DefaultTimeout}
}

// Problems collects every problem of one provider's configuration, one line
// each, naming the setting by its configuration key.
type Problems struct {
	prefix string
	errs   []error
}

// NewProblems starts the report for the provider of that kind and name.
func NewProblems(kind, name string) *Problems {
	return &Problems{prefix: fmt.Sprintf("%s provider %q: ", kind, name)}
}

// Add records one problem.
func (p *Problems) Add(format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf(p.prefix+format, args...))
}

// Common checks what every provider has: a name usable as one path segment
// of the callback URL, a slot, the client ID, the redirect URL and scopes.
func (p *Problems) Common(name string, slot int, clientID, redirectURL string, scopes []string) {
	switch {
	case name == "":
		p.Add("name must not be empty")
	case name == "." || name == ".." || url.PathEscape(name) != name:
		p.Add("name %q is not usable as a URL path segment", name)
	}
	if slot < 0 || slot > MaxSlot {
		p.Add("slot %d is not between 0 and %d", slot, MaxSlot)
	}
	if clientID == "" {
		p.Add("client_id must not be empty")
	}
	p.URL("redirect URL", redirectURL)
	for i, s := range scopes {
		// RFC 6749 §3.3: scope tokens are non-empty and space-free.
		if s == "" || strings.ContainsAny(s, " \t\r\n\"\\") {
			p.Add("scopes[%d] %q is not a scope token", i, s)
		}
	}
}

// URL checks that the setting key holds an absolute http(s) URL and reports
// whether it does.
func (p *Problems) URL(key, s string) bool {
	if s == "" {
		p.Add("%s must not be empty", key)
		return false
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		p.Add("%s %q is not an absolute http(s) URL", key, s)
		return false
	}
	return true
}

// Err is every problem joined, or nil.
func (p *Problems) Err() error { return errors.Join(p.errs...) }
