package config

import (
	"fmt"
	"net/url"
	"path/filepath"
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
	// Failed secret/password/signature checks allowed per caller address,
	// and failed passwords per account or takeover, per minute.
	DefaultJanitorInterval           = Duration(5 * time.Minute)
	DefaultAuthFailuresPerMinute     = 60
	DefaultPasswordFailuresPerMinute = 10
)

// redacted replaces secrets in [Config.Redacted].
const redacted = "REDACTED"

// Config is Bridgekeeper's configuration. The yaml tags are the keys of the
// configuration file; BRIDGEKEEPER_<KEY> (the key upper-cased, nested keys
// joined by "_") overrides each scalar key.
type Config struct {
	// Addr is the host:port the HTTP server listens on.
	Addr string `yaml:"addr"`
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
	// AuthFailuresPerMinute bounds failed secret, password and signature
	// checks per caller address; PasswordFailuresPerMinute failed passwords
	// per account or takeover. 0 is the default; -1 turns the bound off.
	AuthFailuresPerMinute     int `yaml:"auth_failures_per_minute"`
	PasswordFailuresPerMinute int `yaml:"password_failures_per_minute"`
	// AddressRateLimit bounds, per caller address, the requests per second
	// to the token endpoint and every secret- or password-checking call; 0
	// is no bound (game servers send many players' logins from one address).
	AddressRateLimit float64 `yaml:"address_rate_limit"`
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
}

// Xsolla maps Xsolla's identifiers onto the broker's.
type Xsolla struct {
	// PublisherProjects maps a publisher_project_id to a namespace name.
	PublisherProjects map[int64]string `yaml:"publisher_projects"`
	// SocialSlots maps a social_profile platform to its takeover slot.
	SocialSlots map[string]int `yaml:"social_slots"`
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
}

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
	if c.AuthFailuresPerMinute == 0 {
		c.AuthFailuresPerMinute = DefaultAuthFailuresPerMinute
	}
	if c.PasswordFailuresPerMinute == 0 {
		c.PasswordFailuresPerMinute = DefaultPasswordFailuresPerMinute
	}
	return c
}

// Redacted returns a copy of c fit for logging: the key-encryption key,
// provider client secrets and any password in the database URL are replaced
// by "REDACTED". c itself is not modified.
func (c Config) Redacted() Config {
	if c.KeyEncryptionKey != "" {
		c.KeyEncryptionKey = redacted
	}
	c.Database = redactDSN(c.Database)
	if c.Providers != nil {
		ps := make([]Provider, len(c.Providers))
		for i, p := range c.Providers {
			if p.ClientSecret != "" {
				p.ClientSecret = redacted
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
