package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"math"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// kekSize is the length of the decoded key-encryption key (AES-256).
const kekSize = 32

// Accepted values of the enumerated settings.
var (
	signingAlgs   = []string{"ES256", "EdDSA", "RS256"}
	logLevels     = []string{"debug", "info", "warn", "error"}
	providerTypes = append([]string{"oidc", "oauth2"}, PlatformTypes...)
	dbSchemes     = []string{"postgres://", "postgresql://", "sqlite://"}
)

// Limits of the numeric settings.
const (
	minBodyBytes = 1 << 10
	maxBodyBytes = 64 << 20
	maxSlot      = 1024
)

// Validate reports every problem with c at once, joined with errors.Join,
// one line per problem naming the setting. It checks c as given: [Load] fills
// in defaults before it calls Validate. It does not read the key-encryption
// key file; [Config.KEK] does.
func (c Config) Validate() error {
	return errors.Join(c.problems()...)
}

func (c Config) problems() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if _, port, err := net.SplitHostPort(c.Addr); err != nil {
		bad("addr: %q is not host:port", c.Addr)
	} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		bad("addr: %q does not end in a port number from 0 to 65535", c.Addr)
	}

	if msg := issuerProblem(c.Issuer); msg != "" {
		if c.Issuer == "http://"+c.Addr {
			msg += " (it defaults to http://<addr>; set issuer to the public base URL)"
		}
		bad("issuer: %q %s", c.Issuer, msg)
	}

	if c.DataDir == "" {
		bad("data_dir: must not be empty")
	}
	if i := slices.IndexFunc(dbSchemes, func(p string) bool { return strings.HasPrefix(c.Database, p) }); i < 0 {
		bad("database: %q does not start with postgres://, postgresql:// or sqlite://", redactDSN(c.Database))
	} else if c.Database == dbSchemes[i] {
		bad("database: %q names no database", c.Database)
	}

	if !slices.Contains(signingAlgs, c.SigningAlg) {
		bad("signing_alg: %q is not one of %s", c.SigningAlg, strings.Join(signingAlgs, ", "))
	}
	if !slices.Contains(logLevels, c.LogLevel) {
		bad("log_level: %q is not one of %s", c.LogLevel, strings.Join(logLevels, ", "))
	}
	if c.RefreshGrace <= 0 {
		bad("refresh_grace: %s is not greater than 0", c.RefreshGrace)
	}
	for key, n := range map[string]int{
		"auth_failures_per_minute": c.AuthFailuresPerMinute, "password_failures_per_minute": c.PasswordFailuresPerMinute,
		"address_failures_per_minute": c.AddressFailuresPerMinute, "identifier_failures_per_minute": c.IdentifierFailuresPerMinute,
	} {
		if n < -1 {
			bad("%s: %d is not a count per minute (-1 turns the bound off)", key, n)
		}
	}
	if c.AddressRateLimit < 0 || math.IsNaN(c.AddressRateLimit) || math.IsInf(c.AddressRateLimit, 0) {
		bad("address_rate_limit: %v is not a number of requests per second >= 0", c.AddressRateLimit)
	}
	if c.RateLimitStoreTimeout < 0 {
		bad("rate_limit_store_timeout: %s is negative", c.RateLimitStoreTimeout)
	}
	if msg := rateLimitStoreProblem(c.RateLimitStore); msg != "" {
		bad("rate_limit_store: %q %s", redactDSN(c.RateLimitStore), msg)
	}
	for i, s := range c.TrustedProxies {
		if _, err := parseProxy(s); err != nil {
			bad("trusted_proxies[%d]: %v", i, err)
		}
	}
	if c.AuditRetention < Duration(time.Hour) {
		bad("audit_retention: %s is shorter than 1h", c.AuditRetention)
	}
	if a := c.AdminListen(); a != "" {
		if _, _, err := net.SplitHostPort(a); err != nil {
			bad("admin_addr: %q is not host:port (or off)", a)
		} else if a == c.Addr {
			bad("admin_addr: %q is the public addr; the admin listener needs its own", a)
		}
	}
	if c.KeyRotationInterval < 0 {
		bad("key_rotation_interval: %s is negative (0 turns scheduled rotation off)", c.KeyRotationInterval)
	}
	if c.KeyPublishAhead < 0 {
		bad("key_publish_ahead: %s is negative", c.KeyPublishAhead)
	} else if c.KeyRotationInterval > 0 && c.KeyPublishAhead >= c.KeyRotationInterval {
		bad("key_publish_ahead: %s is not shorter than key_rotation_interval %s: each key would be replaced before it signs", c.KeyPublishAhead, c.KeyRotationInterval)
	}
	if c.JanitorInterval < Duration(time.Second) {
		bad("janitor_interval: %s is shorter than 1s", c.JanitorInterval)
	}
	if c.RequestTimeout <= 0 {
		bad("request_timeout: %s is not greater than 0", c.RequestTimeout)
	}
	if c.MaxBodyBytes < minBodyBytes || c.MaxBodyBytes > maxBodyBytes {
		bad("max_body_bytes: %d is not between %d (1 KiB) and %d (64 MiB)", c.MaxBodyBytes, minBodyBytes, maxBodyBytes)
	}

	if c.KeyEncryptionKey != "" && c.KeyEncryptionKeyFile != "" {
		errs = append(errs, errBothKEK)
	} else if c.KeyEncryptionKey != "" {
		if _, err := decodeKEK("key_encryption_key", c.KeyEncryptionKey); err != nil {
			errs = append(errs, err)
		}
	}

	errs = append(errs, providerProblems(c.Providers)...)
	errs = append(errs, c.Xsolla.problems()...)
	errs = append(errs, c.consoleProblems()...)
	seen := map[string]bool{}
	for i, ns := range c.Namespaces {
		switch {
		case strings.TrimSpace(ns) == "" || strings.ContainsAny(ns, "/ \t\r\n"):
			bad("namespaces[%d]: %q is not a namespace name (no spaces or '/')", i, ns)
		case seen[ns]:
			bad("namespaces[%d]: %q is listed twice", i, ns)
		}
		seen[ns] = true
	}
	return errs
}

// problems checks the Xsolla mappings, in a stable order.
func (x Xsolla) problems() []error {
	var errs []error
	ids := slices.Sorted(maps.Keys(x.PublisherProjects))
	for _, id := range ids {
		if ns := x.PublisherProjects[id]; strings.TrimSpace(ns) == "" {
			errs = append(errs, fmt.Errorf("xsolla.publisher_projects[%d]: the namespace name must not be empty", id))
		}
	}
	if x.MaxAttributes < -1 || x.MaxAttributeBytes < -1 {
		errs = append(errs, fmt.Errorf("xsolla.max_attributes, xsolla.max_attribute_bytes: %d, %d: a cap is >= 0 (0: the default, -1: none)", x.MaxAttributes, x.MaxAttributeBytes))
	}
	for _, platform := range slices.Sorted(maps.Keys(x.SocialSlots)) {
		if slot := x.SocialSlots[platform]; platform == "" || slot < 0 || slot > maxSlot {
			errs = append(errs, fmt.Errorf("xsolla.social_slots[%q]: slot %d is not between 0 and %d (and the platform needs a name)", platform, slot, maxSlot))
		}
	}
	return errs
}

// consoleProblems checks the support console's settings: its base URL
// when it is set or needed, and that every admin names a provider that
// signs staff in through a browser (oidc or oauth2), in a slot no other
// provider shares. A shared slot would let an identity of one provider
// pass for the same subject at the other.
func (c Config) consoleProblems() []error {
	var errs []error
	if u := c.Console.BaseURL; u != "" {
		if msg := baseURLProblem(u); msg != "" {
			errs = append(errs, fmt.Errorf("console.base_url: %q %s", u, msg))
		}
	} else if u := c.ConsoleURL(); len(c.Console.Admins) > 0 && u != "" {
		if msg := baseURLProblem(u); msg != "" {
			errs = append(errs, fmt.Errorf("console.base_url: %q %s (it defaults to http://<admin_addr>; set console.base_url to the admin listener's URL)", u, msg))
		}
	}
	byName := map[string]Provider{}
	for _, p := range c.Providers {
		byName[p.Name] = p
	}
	seen := map[ConsoleAdmin]int{}
	for i, a := range c.Console.Admins {
		at := fmt.Sprintf("console.admins[%d]", i)
		p, ok := byName[a.Provider]
		switch {
		case a.Provider == "":
			errs = append(errs, fmt.Errorf("%s: provider must not be empty", at))
		case !ok:
			errs = append(errs, fmt.Errorf("%s: provider %q is not one of the configured providers", at, a.Provider))
		case p.Type != "oidc" && p.Type != "oauth2":
			errs = append(errs, fmt.Errorf("%s: provider %q is of type %s; staff sign in through an oidc or oauth2 provider", at, a.Provider, p.Type))
		default:
			for _, other := range c.Providers {
				if other.Name != p.Name && other.Slot == p.Slot {
					errs = append(errs, fmt.Errorf("%s: provider %q shares slot %d with provider %q, so their subjects cannot be told apart", at, a.Provider, p.Slot, other.Name))
					break
				}
			}
		}
		if strings.TrimSpace(a.Subject) == "" {
			errs = append(errs, fmt.Errorf("%s: subject must not be empty", at))
		}
		if j, dup := seen[a]; dup {
			errs = append(errs, fmt.Errorf("%s: is listed already as console.admins[%d]", at, j))
		} else {
			seen[a] = i
		}
	}
	return errs
}

// baseURLProblem says what is wrong with a base URL (an origin, with at
// most a "/" for its path), or "" if nothing is.
func baseURLProblem(u string) string {
	if msg := issuerProblem(u); msg != "" {
		return msg
	}
	if p, _ := url.Parse(u); p.Path != "" && p.Path != "/" {
		return "must not have a path: the console lives at /console/ of the admin listener"
	}
	return ""
}

// parseProxy parses a trusted proxy: a CIDR range, or one address.
func parseProxy(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		a, aerr := netip.ParseAddr(s)
		if aerr != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR range such as 10.0.0.0/8 or 2001:db8::/32, nor an address", s)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if p.Bits() == 0 {
		// Every caller could then name any address, and aim a lockout.
		return netip.Prefix{}, fmt.Errorf("%q trusts every address; name the proxies' own range", s)
	}
	return p.Masked(), nil
}

// issuerProblem says what is wrong with an issuer URL, or "" if nothing is.
func issuerProblem(issuer string) string {
	u, err := url.Parse(issuer)
	switch {
	case err != nil || !u.IsAbs():
		return "is not an absolute URL"
	case u.Scheme != "http" && u.Scheme != "https":
		return "is not an http or https URL"
	case u.Host == "" || u.Hostname() == "":
		return "has no host"
	case u.RawQuery != "" || u.ForceQuery:
		return "must not have a query"
	case u.Fragment != "" || strings.Contains(issuer, "#"):
		return "must not have a fragment"
	case u.User != nil:
		return "must not have user information"
	}
	return ""
}

// rateLimitStoreProblem says what is wrong with a rate_limit_store URL; ""
// (in-process buckets) is fine. The query is left to the Redis client,
// which refuses an option it does not know when serve starts.
func rateLimitStoreProblem(store string) string {
	if store == "" {
		return ""
	}
	u, err := url.Parse(store)
	switch {
	case err != nil || !u.IsAbs():
		return "is not a URL such as redis://host:6379/0"
	case u.Scheme != "redis" && u.Scheme != "rediss":
		return "does not start with redis:// or rediss://"
	case u.Hostname() == "":
		return "names no host"
	case u.Port() != "" && !isPort(u.Port()):
		return "does not name a port number from 1 to 65535"
	}
	if db := strings.Trim(u.Path, "/"); db != "" {
		if n, err := strconv.Atoi(db); err != nil || n < 0 {
			return fmt.Sprintf("names the database %q; a Redis database is a number such as /0", db)
		}
	}
	return ""
}

// isPort reports whether s is a port number one can connect to.
func isPort(s string) bool {
	n, err := strconv.ParseUint(s, 10, 16)
	return err == nil && n > 0
}

// providerProblems checks what the providers need in common; each provider
// type checks its own settings when it is built.
func providerProblems(ps []Provider) []error {
	var errs []error
	seen := make(map[string]int)
	for i, p := range ps {
		at := fmt.Sprintf("providers[%d]", i)
		if p.Name != "" {
			at += fmt.Sprintf(" (%s)", p.Name)
		}
		switch j, dup := seen[p.Name]; {
		case p.Name == "":
			errs = append(errs, fmt.Errorf("%s: name must not be empty", at))
		case dup:
			errs = append(errs, fmt.Errorf("%s: name %q is already used by providers[%d]", at, p.Name, j))
		default:
			seen[p.Name] = i
		}
		if !slices.Contains(providerTypes, p.Type) {
			errs = append(errs, fmt.Errorf("%s: type %q is not one of %s", at, p.Type, strings.Join(providerTypes, ", ")))
		}
		if p.Slot < 0 || p.Slot > maxSlot {
			errs = append(errs, fmt.Errorf("%s: slot %d is not between 0 and %d", at, p.Slot, maxSlot))
		}
	}
	return errs
}

var (
	errBothKEK = errors.New("key_encryption_key and key_encryption_key_file are both set; set only one")
	errNoKEK   = errors.New("no key-encryption key: set BRIDGEKEEPER_KEY_ENCRYPTION_KEY or key_encryption_key_file (generate one with: openssl rand -base64 32)")
)

// KEK returns the 32-byte key-encryption key, decoded from the standard
// base64 of KeyEncryptionKey or of the file KeyEncryptionKeyFile names
// (surrounding whitespace ignored). Its errors name the setting at fault and
// never contain key material.
func (c Config) KEK() ([]byte, error) {
	switch {
	case c.KeyEncryptionKey != "" && c.KeyEncryptionKeyFile != "":
		return nil, errBothKEK
	case c.KeyEncryptionKey != "":
		return decodeKEK("key_encryption_key", c.KeyEncryptionKey)
	case c.KeyEncryptionKeyFile != "":
		b, err := os.ReadFile(c.KeyEncryptionKeyFile)
		if err != nil {
			// The *PathError names the path and the cause, not the content.
			return nil, fmt.Errorf("key_encryption_key_file: %w", err)
		}
		defer clear(b)
		return decodeKEK(fmt.Sprintf("key_encryption_key_file %q", c.KeyEncryptionKeyFile), string(b))
	}
	return nil, errNoKEK
}

// decodeKEK decodes a base64 key-encryption key; name says where it came
// from. Errors deliberately drop the decoder's error, whatever it contains.
func decodeKEK(name, s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("%s: is empty; want the standard base64 of %d random bytes", name, kekSize)
	}
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%s: is not valid standard base64; want the standard base64 of %d random bytes", name, kekSize)
	}
	if len(key) != kekSize {
		n := len(key)
		clear(key)
		return nil, fmt.Errorf("%s: decodes to %d bytes, want exactly %d", name, n, kekSize)
	}
	return key, nil
}
