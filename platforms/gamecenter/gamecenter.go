package gamecenter

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/bridgekeeper/bridgekeeper/platforms"
)

// Defaults for the Config fields left zero.
const (
	DefaultName   = "gamecenter"
	DefaultMaxAge = 5 * time.Minute
)

// MaxMaxAge bounds Config.MaxAge: a signature is a bearer credential
// until it is too old, and an hour is already generous for a client that
// fetches it just before the exchange.
const MaxMaxAge = time.Hour

// FutureLeeway is how far ahead of our clock a timestamp may be: the
// device's clock and ours differ a little, never by much (GameKit takes
// the timestamp from Apple's server).
const FutureLeeway = time.Minute

// DefaultKeyHosts are the hosts the key URL may name when Config.KeyHosts
// is empty: apple.com and its subdomains (Apple serves the keys from
// static.gc.apple.com).
var DefaultKeyHosts = []string{"apple.com"}

// DefaultOrganizations are the subject organizations a Game Center
// certificate may carry when Config.Organizations is empty: Apple's name as
// its 2018 (Symantec) and 2021 (DigiCert) certificates spell it.
var DefaultOrganizations = []string{"Apple Inc.", "Apple, Inc."}

// Config configures one Game Center platform.
type Config struct {
	// Name labels the platform in "… is unavailable" errors; DefaultName
	// when empty.
	Name string
	// BundleIDs are the games' bundle IDs (CFBundleIdentifier), matched
	// exactly. Required: the signature covers the bundle ID, and without
	// this check another game's players would sign in here.
	BundleIDs []string
	// KeyHosts are the hosts the publicKeyUrl may name: an entry "h"
	// allows h and its subdomains on the default port; "h:port" allows that
	// port only (the fake key server in tests listens on one). An IP
	// address matches exactly. DefaultKeyHosts when empty.
	KeyHosts []string
	// Roots are the CAs a certificate must chain to; nil means
	// DefaultRoots (DigiCert Trusted Root G4, see roots.go).
	Roots *x509.CertPool
	// Intermediates are offered to build the chain (Apple serves the leaf
	// alone); nil means DefaultIntermediates. They are not trusted as
	// roots.
	Intermediates *x509.CertPool
	// Organizations are the subject organizations (O=) a certificate may
	// carry; DefaultOrganizations when empty. The roots are public CAs
	// that sell code-signing certificates to anyone: this keeps out a
	// stranger's certificate that made it onto an allowed host.
	Organizations []string
	// MaxAge is how old a signature may be; DefaultMaxAge when 0, at most
	// MaxMaxAge.
	MaxAge time.Duration
	// Timeout bounds one certificate fetch; platforms.DefaultTimeout when
	// 0.
	Timeout time.Duration
	// Client fetches the certificates; nil means a client of its own. It
	// is used without following redirects, whatever its CheckRedirect: the
	// certificate must come from the URL that was checked.
	Client *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Validate reports every problem with c at once, joined with errors.Join,
// naming each setting by its configuration key.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("gamecenter platform %q: "+format, append([]any{c.Name}, args...)...))
	}
	if len(c.BundleIDs) == 0 {
		add("bundle_ids must name at least one bundle ID")
	}
	for i, b := range c.BundleIDs {
		if b == "" || strings.ContainsFunc(b, notVisible) {
			add("bundle_ids[%d] %q is not a bundle ID", i, b)
		}
	}
	for i, h := range c.KeyHosts {
		if _, err := parseKeyHost(h); err != nil {
			add("key_hosts[%d] %q %v", i, h, err)
		}
	}
	for i, o := range c.Organizations {
		if strings.TrimSpace(o) == "" {
			add("organizations[%d] must not be empty", i)
		}
	}
	switch {
	case c.MaxAge < 0:
		add("max_age must not be negative")
	case c.MaxAge > MaxMaxAge:
		add("max_age %v is longer than %v: a captured signature could be replayed that long", c.MaxAge, MaxMaxAge)
	}
	if c.Timeout < 0 {
		add("timeout must not be negative")
	}
	return errors.Join(errs...)
}

// keyHost is one parsed KeyHosts entry.
type keyHost struct {
	host string // lower case, or an IP address
	port string // "" for the scheme's default
}

// parseKeyHost reads "host" or "host:port" (an IPv6 address in brackets).
func parseKeyHost(s string) (keyHost, error) {
	if strings.ContainsAny(s, "/@?#*") {
		return keyHost{}, errors.New("is not a host name (no scheme, path or wildcard)")
	}
	host, port := s, ""
	if strings.ContainsAny(s, ":[]") {
		var err error
		if host, port, err = net.SplitHostPort(s); err != nil {
			return keyHost{}, errors.New("is not a host or host:port")
		}
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 || strconv.FormatUint(n, 10) != port {
			return keyHost{}, errors.New("has a port that is not a number from 1 to 65535")
		}
	}
	if net.ParseIP(host) != nil {
		return keyHost{host: host, port: port}, nil
	}
	labels := strings.Split(host, ".")
	for _, l := range labels {
		if l == "" || strings.HasPrefix(l, "-") || strings.HasSuffix(l, "-") ||
			strings.ContainsFunc(l, func(r rune) bool { return !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-') }) {
			return keyHost{}, errors.New("is not a lower-case host name")
		}
	}
	return keyHost{host: host, port: port}, nil
}

// allows reports whether a URL's host and port (as url.URL's Hostname and
// Port give them) are this entry's.
func (k keyHost) allows(host, port string) bool {
	if port != k.port {
		return false
	}
	if host == k.host {
		return true
	}
	// Only on a label boundary: "apple.com" allows "static.gc.apple.com",
	// not "evilapple.com".
	return net.ParseIP(k.host) == nil && strings.HasSuffix(host, "."+k.host)
}

// notVisible is true for what has no place in an identifier: spaces,
// controls and anything outside printable ASCII.
func notVisible(r rune) bool { return r <= ' ' || r > '~' }

// Verifier checks Game Center identity signatures. It is safe for
// concurrent use.
type Verifier struct {
	label         string
	bundleIDs     []string
	keyHosts      []keyHost
	roots         *x509.CertPool
	intermediates *x509.CertPool
	orgs          []string
	maxAge        time.Duration
	timeout       time.Duration
	client        *http.Client
	now           func() time.Time

	certs   *certCache
	fetches singleflight.Group // one fetch per URL at a time
}

var _ platforms.Verifier = (*Verifier)(nil)

// New validates cfg and returns its verifier; it makes no request. cfg is
// not modified; its slices are copied.
func New(cfg Config) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	v := &Verifier{
		label:         cfg.Name,
		bundleIDs:     slices.Clone(cfg.BundleIDs),
		roots:         cfg.Roots,
		intermediates: cfg.Intermediates,
		orgs:          slices.Clone(cfg.Organizations),
		maxAge:        cfg.MaxAge,
		timeout:       cfg.Timeout,
		now:           cfg.Now,
		certs:         newCertCache(maxCachedCerts),
	}
	if v.label == "" {
		v.label = DefaultName
	}
	hosts := cfg.KeyHosts
	if len(hosts) == 0 {
		hosts = DefaultKeyHosts
	}
	for _, h := range hosts {
		k, _ := parseKeyHost(h) // Validate parsed it
		v.keyHosts = append(v.keyHosts, k)
	}
	if v.roots == nil {
		v.roots = DefaultRoots()
	}
	if v.intermediates == nil {
		v.intermediates = DefaultIntermediates()
	}
	if len(v.orgs) == 0 {
		v.orgs = slices.Clone(DefaultOrganizations)
	}
	if v.maxAge == 0 {
		v.maxAge = DefaultMaxAge
	}
	if v.timeout == 0 {
		v.timeout = platforms.DefaultTimeout
	}
	if v.now == nil {
		v.now = time.Now
	}
	// A copy, so that the caller's client keeps its own redirect policy.
	client := http.Client{}
	if cfg.Client != nil {
		client = *cfg.Client
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	v.client = &client
	return v, nil
}

// TokenTypes is the Game Center identity signature type alone.
func (v *Verifier) TokenTypes() []string { return []string{platforms.TokenTypeGameCenter} }
