package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"time"
)

// GCPercent is the GOGC that serve runs at unless the environment sets
// GOGC. The broker's live heap is a few MB, so at Go's default of 100 the
// collector runs at its 4 MB floor: under token load about 90 times a
// second, 13% of the broker's CPU in its profile under make bench, each
// cycle also scanning every goroutine's stack. At 400 the heap may grow to
// five times the live set (tens of MB) and the collector runs a fifth as
// often. make bench runs its limit servers at the same GOGC, so that the
// comparison is between the work done, not between collector settings.
const GCPercent = 400

// Defaults applied by [Load] to settings left empty (or zero).
const (
	DefaultAddr           = "127.0.0.1:8080"
	DefaultDataDir        = "data"
	DefaultSigningAlg     = "ES256"
	DefaultLogLevel       = "info"
	DefaultMaxBodyBytes   = 1 << 20
	DefaultRefreshGrace   = Duration(5 * time.Second)
	DefaultRequestTimeout = Duration(10 * time.Second)
	// Failed secret/signature checks allowed per client ID and caller
	// address, and failed passwords per account or takeover and caller
	// address, per minute.
	DefaultJanitorInterval           = Duration(5 * time.Minute)
	DefaultAdminAddr                 = "127.0.0.1:8081"
	DefaultAuditRetention            = Duration(90 * 24 * time.Hour)
	DefaultKeyPublishAhead           = Duration(time.Hour)
	DefaultAuthFailuresPerMinute     = 60
	DefaultPasswordFailuresPerMinute = 10
	// CapFactor makes the default per-address and per-identifier caps:
	// that many times the per-pair budgets beneath them.
	CapFactor = 10
)

// redacted replaces secrets in [Config.Redacted].
const redacted = "REDACTED"

// Config is Bridgekeeper's configuration. The yaml tags are the keys of the
// configuration file; BRIDGEKEEPER_<KEY> (the key upper-cased, nested keys
// joined by "_") overrides each scalar key.
type Config struct {
	// Addr is the host:port the HTTP server listens on.
	Addr string `yaml:"addr"`
	// AdminAddr is the host:port of the admin listener (the admin API,
	// the support console, /metrics); nil is DefaultAdminAddr, and "" or
	// "off" turns the listener off.
	AdminAddr *string `yaml:"admin_addr"`
	// AuditRetention is how long the janitor keeps audit events.
	AuditRetention Duration `yaml:"audit_retention"`
	// Issuer is the public base URL; it defaults to "http://" + Addr.
	Issuer string `yaml:"issuer"`
	// Database is a postgres://, postgresql:// or sqlite:// URL; it
	// defaults to sqlite://<data_dir>/bridgekeeper.db.
	Database string `yaml:"database"`
	// DataDir holds local state such as the default SQLite database.
	DataDir string `yaml:"data_dir"`
	// SigningAlg is the JWS algorithm of new signing keys: ES256, EdDSA or RS256.
	SigningAlg string `yaml:"signing_alg"`
	// KeyEncryptionKey is the standard-base64 32-byte key-encryption key.
	// It is a secret; prefer KeyEncryptionKeyFile or the environment.
	KeyEncryptionKey string `yaml:"key_encryption_key"`
	// KeyEncryptionKeyFile names a file holding the base64 key-encryption key.
	KeyEncryptionKeyFile string `yaml:"key_encryption_key_file"`
	// RefreshGrace is how long a spent refresh token may be retried with
	// the same result before reuse revokes its family.
	RefreshGrace Duration `yaml:"refresh_grace"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
	// MaxBodyBytes caps request bodies.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// RequestTimeout bounds the handling of one request.
	RequestTimeout Duration `yaml:"request_timeout"`
	// AuthFailuresPerMinute bounds failed client secrets per client ID and
	// caller address (and failed signatures per caller address);
	// PasswordFailuresPerMinute failed passwords per account or takeover
	// and caller address. Keyed by the pair, failures aimed at one client
	// or player lock out only the address that sent them.
	// AddressFailuresPerMinute bounds every failed check per caller
	// address, across clients and accounts (default: CapFactor times
	// AuthFailuresPerMinute). IdentifierFailuresPerMinute bounds failed
	// passwords per account or takeover from every address (default:
	// CapFactor times PasswordFailuresPerMinute); once it is spent a wrong
	// password is refused as rate limited, and the right one still signs
	// in. 0 is the default; -1 turns the bound off (a default cap is off
	// when the budget it multiplies is).
	AuthFailuresPerMinute       int `yaml:"auth_failures_per_minute"`
	PasswordFailuresPerMinute   int `yaml:"password_failures_per_minute"`
	AddressFailuresPerMinute    int `yaml:"address_failures_per_minute"`
	IdentifierFailuresPerMinute int `yaml:"identifier_failures_per_minute"`
	// AddressRateLimit bounds, per caller address, the requests per second
	// to the token endpoint and every secret- or password-checking call; 0
	// is no bound (game servers send many players' logins from one address).
	AddressRateLimit float64 `yaml:"address_rate_limit"`
	// RateLimitStore is where the buckets of the rate limits and failure
	// budgets live: "" (the default) in each process, which suits one
	// broker; redis://[user:password@]host:port[/db] (or rediss:// for
	// TLS) in a Redis that every replica shares, so that a limit holds
	// across replicas. A replica that cannot reach it limits on its own,
	// at its share of each limit, until it can.
	RateLimitStore string `yaml:"rate_limit_store"`
	// RateLimitStoreTimeout bounds each call a request makes to the
	// rate-limit store (0: 100 ms); a call that takes longer is decided by
	// the replica's own buckets, and the store is left alone until its
	// heartbeat answers again. Raise it for a store farther than a LAN.
	RateLimitStoreTimeout Duration `yaml:"rate_limit_store_timeout"`
	// TrustedProxies are the addresses (CIDR ranges, or single addresses)
	// of the reverse proxies in front: a call from one of them is from the
	// nearest address its X-Forwarded-For or Forwarded (RFC 7239) header
	// names that is not itself a trusted proxy. None by default: without
	// a proxy, those headers are whatever the caller wrote. File only.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// KeyRotationInterval is how often the signing key is replaced by a
	// new one of SigningAlg; 0 (the default) rotates only by hand (`key
	// rotate`, the admin API). One replica rotates; every replica signs
	// with the new key once it activates.
	KeyRotationInterval Duration `yaml:"key_rotation_interval"`
	// KeyPublishAhead is how long a scheduled key is published in JWKS
	// before it signs: at least the longest a relying party caches JWKS.
	KeyPublishAhead Duration `yaml:"key_publish_ahead"`
	// JanitorInterval is how often expired codes, refresh tokens, bans
	// and revocation records are purged.
	JanitorInterval Duration `yaml:"janitor_interval"`
	// Demo creates a demo namespace and client on first start.
	Demo bool `yaml:"demo"`
	// GS2 holds the settings used to build GS2 resource names (GRNs).
	GS2 GS2 `yaml:"gs2"`
	// Providers are the upstream identity providers users sign in with.
	// They can only be set in the configuration file.
	Providers []Provider `yaml:"providers"`
	// Namespaces are created at serve start when absent (besides
	// `bridgekeeper namespace create`); file only.
	Namespaces []string `yaml:"namespaces"`
	// Xsolla configures the Xsolla-style custom-ID login; file only.
	Xsolla Xsolla `yaml:"xsolla"`
	// Console configures the support console of the admin listener; its
	// admins are file only, like the providers they name.
	Console Console `yaml:"console"`
}

// Console configures the support console (/console/ on the admin
// listener), where staff sign in through an upstream provider.
type Console struct {
	// BaseURL is where staff's browsers reach the admin listener:
	// scheme://host[:port], no path. The console's sign-in returns to
	// BaseURL + "/console/callback", and an https BaseURL makes its
	// cookies Secure. "" is "http://" + the admin listener's address
	// ([Config.ConsoleURL]).
	BaseURL string `yaml:"base_url"`
	// Admins are the upstream identities let in; none turns the console
	// off.
	Admins []ConsoleAdmin `yaml:"admins"`
}

// ConsoleAdmin is one identity let into the support console: the user ID
// (subject) that a configured oidc or oauth2 provider signs in.
type ConsoleAdmin struct {
	Provider string `yaml:"provider"`
	Subject  string `yaml:"subject"`
}

// Xsolla maps Xsolla's identifiers onto the broker's.
type Xsolla struct {
	// PublisherProjects maps a publisher_project_id to a namespace name.
	PublisherProjects map[int64]string `yaml:"publisher_projects"`
	// SocialSlots maps a social_profile platform to its takeover slot.
	SocialSlots map[string]int `yaml:"social_slots"`
	// MaxAttributes and MaxAttributeBytes cap one player's attributes:
	// their number, and the bytes of their keys and values together. 0 is
	// the default (100 and 65536); -1 is no cap.
	MaxAttributes     int   `yaml:"max_attributes"`
	MaxAttributeBytes int64 `yaml:"max_attribute_bytes"`
}

// GS2 holds the settings used to build GS2 resource names (GRNs).
type GS2 struct {
	Region  string `yaml:"region"`
	OwnerID string `yaml:"owner_id"`
}

// Provider is one upstream identity provider (DESIGN §7).
type Provider struct {
	// Name appears in /oauth2/callback/<name> and on the login page.
	Name string `yaml:"name"`
	// Type is oidc or oauth2.
	Type string `yaml:"type"`
	// Slot is the takeover slot the provider's identities are linked in.
	Slot         int      `yaml:"slot"`
	Issuer       string   `yaml:"issuer"`
	ClientID     string   `yaml:"client_id"`
	ClientSecret string   `yaml:"client_secret"`
	Scopes       []string `yaml:"scopes"`
	AuthorizeURL string   `yaml:"authorize_url"`
	TokenURL     string   `yaml:"token_url"`
	UserinfoURL  string   `yaml:"userinfo_url"`
	UserIDField  string   `yaml:"user_id_field"`
	// AuthStyle is basic or post: how the client authenticates to TokenURL.
	AuthStyle string `yaml:"auth_style"`

	// Platform sign-in (token exchange) providers; README "Platform
	// sign-in" says which type reads which.
	AppID                 string   `yaml:"app_id"`        // steam
	PublisherKey          string   `yaml:"publisher_key"` // steam; a secret
	PublisherKeyFile      string   `yaml:"publisher_key_file"`
	Identity              string   `yaml:"identity"`
	APIURL                string   `yaml:"api_url"`
	RejectVACBanned       bool     `yaml:"reject_vac_banned"`
	RejectPublisherBanned *bool    `yaml:"reject_publisher_banned"` // nil: true
	FamilySharing         string   `yaml:"family_sharing"`
	JWKSURL               string   `yaml:"jwks_url"` // id_token
	Audiences             []string `yaml:"audiences"`
	AllowedAlgs           []string `yaml:"allowed_algs"`
	UserIDClaim           string   `yaml:"user_id_claim"`
	TokenInfoURL          string   `yaml:"token_info_url"` // oauth2_token, with userinfo_url and user_id_field
	ApplicationField      string   `yaml:"application_field"`
	ApplicationID         string   `yaml:"application_id"`
	BundleIDs             []string `yaml:"bundle_ids"` // gamecenter
	KeyHosts              []string `yaml:"key_hosts"`
	RootsFile             string   `yaml:"roots_file"`
	IntermediatesFile     string   `yaml:"intermediates_file"`
	Organizations         []string `yaml:"organizations"`
	MaxAge                Duration `yaml:"max_age"`
	// Timeout bounds each request to the platform (default 5s).
	Timeout Duration `yaml:"timeout"`
}

// PlatformTypes are the provider types of platform sign-in (token
// exchange), as opposed to the browser sign-in of oidc and oauth2.
var PlatformTypes = []string{"steam", "id_token", "oauth2_token", "gamecenter"}

// withDefaults fills in every setting left empty or zero.
func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.Issuer == "" {
		c.Issuer = "http://" + c.Addr
	}
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.Database == "" {
		c.Database = "sqlite://" + filepath.ToSlash(filepath.Join(c.DataDir, "bridgekeeper.db"))
	}
	if c.SigningAlg == "" {
		c.SigningAlg = DefaultSigningAlg
	}
	if c.RefreshGrace == 0 {
		c.RefreshGrace = DefaultRefreshGrace
	}
	if c.LogLevel == "" {
		c.LogLevel = DefaultLogLevel
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.JanitorInterval == 0 {
		c.JanitorInterval = DefaultJanitorInterval
	}
	if c.AdminAddr == nil {
		addr := DefaultAdminAddr
		c.AdminAddr = &addr
	}
	if c.AuditRetention == 0 {
		c.AuditRetention = DefaultAuditRetention
	}
	if c.KeyPublishAhead == 0 {
		c.KeyPublishAhead = DefaultKeyPublishAhead
	}
	if c.AuthFailuresPerMinute == 0 {
		c.AuthFailuresPerMinute = DefaultAuthFailuresPerMinute
	}
	if c.PasswordFailuresPerMinute == 0 {
		c.PasswordFailuresPerMinute = DefaultPasswordFailuresPerMinute
	}
	if c.AddressFailuresPerMinute == 0 {
		c.AddressFailuresPerMinute = capOver(c.AuthFailuresPerMinute)
	}
	if c.IdentifierFailuresPerMinute == 0 {
		c.IdentifierFailuresPerMinute = capOver(c.PasswordFailuresPerMinute)
	}
	return c
}

// capOver is the default cap over a per-pair budget: CapFactor times it,
// or off (-1) when the budget is.
func capOver(budget int) int {
	if budget < 0 {
		return -1
	}
	return CapFactor * budget
}

// Proxies are TrustedProxies parsed; [Config.Validate] reports any that
// does not parse, and Proxies leaves it out.
func (c Config) Proxies() []netip.Prefix {
	var ps []netip.Prefix
	for _, s := range c.TrustedProxies {
		if p, err := parseProxy(s); err == nil {
			ps = append(ps, p)
		}
	}
	return ps
}

// Redacted returns a copy of c fit for logging: the key-encryption key,
// provider client secrets and any password in the database or rate-limit
// store URL are replaced by "REDACTED". c itself is not modified.
func (c Config) Redacted() Config {
	if c.KeyEncryptionKey != "" {
		c.KeyEncryptionKey = redacted
	}
	c.Database = redactDSN(c.Database)
	c.RateLimitStore = redactDSN(c.RateLimitStore)
	if c.Providers != nil {
		ps := make([]Provider, len(c.Providers))
		for i, p := range c.Providers {
			if p.ClientSecret != "" {
				p.ClientSecret = redacted
			}
			if p.PublisherKey != "" {
				p.PublisherKey = redacted
			}
			p.Scopes = append([]string(nil), p.Scopes...)
			ps[i] = p
		}
		c.Providers = ps
	}
	return c
}

// String formats the redacted configuration, so that printing a Config by
// accident never prints a secret.
func (c Config) String() string {
	type plain Config // drops the String method
	return fmt.Sprintf("%+v", plain(c.Redacted()))
}

// redactDSN replaces the password of a database URL, in its user
// information or in a "password" query parameter. A URL that does not parse
// but might hold credentials is replaced entirely.
func redactDSN(dsn string) string {
	if dsn == "" {
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return redacted
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), redacted)
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", redacted)
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// Duration is a time.Duration written as a Go duration string such as "5s"
// or "1m30s", in YAML and in the environment.
type Duration time.Duration

// String formats d like time.Duration does.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText formats d as a duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses a duration string such as "5s".
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := parseDuration(string(text))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// parseDuration parses s, failing with a message that quotes s and shows the
// expected form.
func parseDuration(s string) (Duration, error) {
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration such as 5s or 1m30s", s)
	}
	return Duration(v), nil
}

// ConsoleURL is the support console's base URL: console.base_url, or
// "http://" + the admin listener's address; "" when the listener is off.
func (c Config) ConsoleURL() string {
	switch addr := c.AdminListen(); {
	case addr == "":
		return ""
	case c.Console.BaseURL != "":
		return strings.TrimSuffix(c.Console.BaseURL, "/")
	default:
		return "http://" + addr
	}
}

// AdminListen is the admin listener's address; "" when it is off.
func (c Config) AdminListen() string {
	if c.AdminAddr == nil {
		return DefaultAdminAddr
	}
	if *c.AdminAddr == "off" {
		return ""
	}
	return *c.AdminAddr
}
