package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// writeFile writes content to a fresh file and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// errLines splits a joined error into its lines.
func errLines(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

// wantLines checks that err has exactly one line per entry of want, and
// that each line contains its entry, in order.
func wantLines(t *testing.T, err error, want ...string) {
	t.Helper()
	got := errLines(err)
	if len(got) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(got), len(want), err)
	}
	for i := range want {
		if !strings.Contains(got[i], want[i]) {
			t.Errorf("problem %d = %q, want it to contain %q", i, got[i], want[i])
		}
	}
}

func TestLoadDefaults(t *testing.T) {
	got, err := Load("", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Addr:           "127.0.0.1:8080",
		Issuer:         "http://127.0.0.1:8080",
		Database:       "sqlite://data/bridgekeeper.db",
		DataDir:        "data",
		SigningAlg:     "ES256",
		RefreshGrace:   Duration(5 * time.Second),
		LogLevel:       "info",
		MaxBodyBytes:   1 << 20,
		RequestTimeout: Duration(10 * time.Second),

		JanitorInterval:             Duration(5 * time.Minute),
		KeyPublishAhead:             Duration(time.Hour),
		AdminAddr:                   ptr("127.0.0.1:8081"),
		AuditRetention:              Duration(90 * 24 * time.Hour),
		AuthFailuresPerMinute:       60,
		PasswordFailuresPerMinute:   10,
		AddressFailuresPerMinute:    600,
		IdentifierFailuresPerMinute: 100,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load defaults =\n%+v\nwant\n%+v", got, want)
	}
}

const fullFile = `
addr: 127.0.0.1:9000
issuer: https://auth.example.com
data_dir: /var/lib/bk
signing_alg: EdDSA
key_encryption_key_file: /run/secrets/kek
refresh_grace: 2s
log_level: warn
max_body_bytes: 4096
request_timeout: 1m30s
demo: true
gs2: {region: ap-northeast-1, owner_id: owner-file}
providers:
  - name: google
    type: oidc
    slot: 2
    issuer: https://accounts.example.com
    client_id: cid
    client_secret: shh
    scopes: [openid, email]
  - name: mobage
    type: oauth2
    slot: 1
    authorize_url: https://platform.example/authorize
    token_url: https://platform.example/token
    userinfo_url: https://platform.example/people/@me
    user_id_field: id
    auth_style: basic
`

func TestLoadLayering(t *testing.T) {
	tests := []struct {
		name  string
		file  string
		env   []string
		flags map[string]string
		check func(t *testing.T, c Config)
	}{
		{
			name: "file only",
			file: fullFile,
			check: func(t *testing.T, c Config) {
				if c.Addr != "127.0.0.1:9000" || c.SigningAlg != "EdDSA" || c.LogLevel != "warn" ||
					c.RefreshGrace != Duration(2*time.Second) || c.RequestTimeout != Duration(90*time.Second) ||
					c.MaxBodyBytes != 4096 || !c.Demo || c.GS2 != (GS2{"ap-northeast-1", "owner-file"}) ||
					c.KeyEncryptionKeyFile != "/run/secrets/kek" {
					t.Errorf("file values not applied: %+v", c)
				}
				if c.Database != "sqlite:///var/lib/bk/bridgekeeper.db" {
					t.Errorf("Database = %q, want default under data_dir", c.Database)
				}
				if len(c.Providers) != 2 || c.Providers[0].ClientSecret != "shh" ||
					!slices.Equal(c.Providers[0].Scopes, []string{"openid", "email"}) ||
					c.Providers[1].UserIDField != "id" || c.Providers[1].AuthStyle != "basic" || c.Providers[1].Slot != 1 {
					t.Errorf("providers = %+v", c.Providers)
				}
			},
		},
		{
			name: "env over file",
			file: fullFile,
			env: []string{
				"PATH=/bin", "BRIDGEKEEPER_ADDR=127.0.0.1:9100", "BRIDGEKEEPER_SIGNING_ALG=RS256",
				"BRIDGEKEEPER_REFRESH_GRACE=3s", "BRIDGEKEEPER_MAX_BODY_BYTES=8192", "BRIDGEKEEPER_DEMO=false",
				"BRIDGEKEEPER_GS2_REGION=us-east-1", "BRIDGEKEEPER_LOG_LEVEL=", // empty: ignored
			},
			check: func(t *testing.T, c Config) {
				if c.Addr != "127.0.0.1:9100" || c.SigningAlg != "RS256" || c.RefreshGrace != Duration(3*time.Second) ||
					c.MaxBodyBytes != 8192 || c.Demo || c.GS2.Region != "us-east-1" || c.GS2.OwnerID != "owner-file" ||
					c.LogLevel != "warn" {
					t.Errorf("env not layered over file: %+v", c)
				}
			},
		},
		{
			name: "rate_limit_store from the environment",
			env:  []string{"BRIDGEKEEPER_RATE_LIMIT_STORE=redis://limits.internal:6379/1"},
			check: func(t *testing.T, c Config) {
				if c.RateLimitStore != "redis://limits.internal:6379/1" {
					t.Errorf("RateLimitStore = %q", c.RateLimitStore)
				}
			},
		},
		{
			name:  "flag over env over file",
			file:  fullFile,
			env:   []string{"BRIDGEKEEPER_ADDR=127.0.0.1:9100", "BRIDGEKEEPER_LOG_LEVEL=error", "BRIDGEKEEPER_DATA_DIR=/env"},
			flags: map[string]string{"addr": "127.0.0.1:9200", "config": "ignored.yaml", "data-dir": "/flag"},
			check: func(t *testing.T, c Config) {
				if c.Addr != "127.0.0.1:9200" || c.LogLevel != "error" || c.DataDir != "/flag" {
					t.Errorf("flag should win over env, env over file: %+v", c)
				}
			},
		},
		{
			name: "every flag",
			env:  []string{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY_FILE=/env/kek", "BRIDGEKEEPER_DATABASE=sqlite://env.db"},
			flags: map[string]string{
				"addr": "[::1]:7000", "database": "postgres://db/bk", "issuer": "https://flag.example",
				"data-dir": "d", "signing-alg": "RS256", "key-encryption-key-file": "/flag/kek", "log-level": "debug",
			},
			check: func(t *testing.T, c Config) {
				want := Config{
					Addr: "[::1]:7000", Database: "postgres://db/bk", Issuer: "https://flag.example", DataDir: "d",
					SigningAlg: "RS256", KeyEncryptionKeyFile: "/flag/kek", LogLevel: "debug",
				}.withDefaults()
				if !reflect.DeepEqual(c, want) {
					t.Errorf("got\n%+v\nwant\n%+v", c, want)
				}
			},
		},
		{
			name: "issuer defaults from the layered addr",
			env:  []string{"BRIDGEKEEPER_ADDR=localhost:9300"},
			check: func(t *testing.T, c Config) {
				if c.Issuer != "http://localhost:9300" {
					t.Errorf("Issuer = %q", c.Issuer)
				}
			},
		},
		{
			name: "DATABASE_URL alias, CONFIG and TEST_ ignored",
			file: "database: sqlite://file.db\n",
			env: []string{
				"BRIDGEKEEPER_DATABASE_URL=postgresql://u@h/db", "BRIDGEKEEPER_CONFIG=x.yaml",
				"BRIDGEKEEPER_TEST_POSTGRES=postgres://t", "NOT_BRIDGEKEEPER_X=1", "MALFORMED",
			},
			check: func(t *testing.T, c Config) {
				if c.Database != "postgresql://u@h/db" {
					t.Errorf("Database = %q", c.Database)
				}
			},
		},
		{
			name: "trusted proxies from the file, failure caps from the env",
			file: "trusted_proxies: [10.0.0.0/8, 192.0.2.7, '2001:db8::/32']\nauth_failures_per_minute: 5\npassword_failures_per_minute: -1\n",
			env:  []string{"BRIDGEKEEPER_IDENTIFIER_FAILURES_PER_MINUTE=7"},
			check: func(t *testing.T, c Config) {
				want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"), netip.MustParsePrefix("2001:db8::/32")}
				if got := c.Proxies(); !slices.Equal(got, want) {
					t.Errorf("Proxies() = %v, want %v", got, want)
				}
				// The address cap follows the budget it multiplies; a cap set is kept.
				if c.AddressFailuresPerMinute != 50 || c.IdentifierFailuresPerMinute != 7 {
					t.Errorf("caps = %d, %d, want 50, 7", c.AddressFailuresPerMinute, c.IdentifierFailuresPerMinute)
				}
			},
		},
		{
			name: "a default cap over a budget turned off is off",
			env:  []string{"BRIDGEKEEPER_AUTH_FAILURES_PER_MINUTE=-1", "BRIDGEKEEPER_PASSWORD_FAILURES_PER_MINUTE=-1"},
			check: func(t *testing.T, c Config) {
				if c.AddressFailuresPerMinute != -1 || c.IdentifierFailuresPerMinute != -1 {
					t.Errorf("caps = %d, %d, want -1, -1", c.AddressFailuresPerMinute, c.IdentifierFailuresPerMinute)
				}
			},
		},
		{
			name: "console admins from the file, base URL from the env",
			file: fullFile + "admin_addr: 10.0.0.5:8081\nconsole:\n  base_url: https://file.example\n  admins:\n    - {provider: google, subject: \"1234\"}\n    - {provider: mobage, subject: m-7}\n",
			env:  []string{"BRIDGEKEEPER_CONSOLE_BASE_URL=https://admin.example.com/"},
			check: func(t *testing.T, c Config) {
				want := []ConsoleAdmin{{Provider: "google", Subject: "1234"}, {Provider: "mobage", Subject: "m-7"}}
				if !slices.Equal(c.Console.Admins, want) || c.ConsoleURL() != "https://admin.example.com" {
					t.Errorf("console = %+v, ConsoleURL() = %q", c.Console, c.ConsoleURL())
				}
			},
		},
		{
			name: "the console URL defaults from the admin listener, and is off with it",
			file: "admin_addr: 127.0.0.1:9081\n",
			check: func(t *testing.T, c Config) {
				if got := c.ConsoleURL(); got != "http://127.0.0.1:9081" {
					t.Errorf("ConsoleURL() = %q", got)
				}
				c.AdminAddr = ptr("off")
				if got := c.ConsoleURL(); got != "" {
					t.Errorf("ConsoleURL() with the listener off = %q, want none", got)
				}
			},
		},
		{
			name:  "empty file is allowed",
			file:  "# nothing here\n",
			check: func(t *testing.T, c Config) {},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := ""
			if tt.file != "" {
				file = writeFile(t, "bk.yaml", tt.file)
			}
			c, err := Load(file, tt.env, tt.flags)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			tt.check(t, c)
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name  string
		file  string // "-" for a missing file
		env   []string
		flags map[string]string
		want  []string // one entry per problem, in order
	}{
		{name: "unknown key", file: "addr: a:80\nadr: x\n", want: []string{`bk.yaml:2: unknown key "adr"`}},
		{
			name: "unknown nested keys",
			file: "gs2: {regoin: x}\nproviders:\n  - name: a\n    type: oidc\n    clientid: x\n",
			want: []string{`bk.yaml:1: unknown key "regoin" in gs2`, `bk.yaml:5: unknown key "clientid" in a providers entry`},
		},
		{name: "duration without unit", file: "refresh_grace: 5\n", want: []string{`bk.yaml:1: "5" is not a duration`}},
		{name: "duration not scalar", file: "request_timeout: [5s]\n", want: []string{`bk.yaml:1: a duration must be a string`}},
		{name: "wrong type", file: "max_body_bytes: lots\n", want: []string{`bk.yaml:1: cannot unmarshal`}},
		{name: "syntax error", file: "addr: [\n", want: []string{"bk.yaml"}},
		{name: "two documents", file: "addr: a:1\n---\naddr: b:2\n", want: []string{"more than one YAML document"}},
		{name: "missing file", file: "-", want: []string{"config file: open"}},
		{
			name: "unknown env key",
			env:  []string{"BRIDGEKEEPER_ADRR=127.0.0.1:1", "BRIDGEKEEPER_WHATEVER=1"},
			want: []string{
				"BRIDGEKEEPER_ADRR: unknown environment variable (did you mean BRIDGEKEEPER_ADDR?)",
				"BRIDGEKEEPER_WHATEVER: unknown environment variable",
			},
		},
		{name: "providers in env", env: []string{"BRIDGEKEEPER_PROVIDERS_0_NAME=x"}, want: []string{"providers can only be set in the configuration file"}},
		{name: "trusted proxies in env", env: []string{"BRIDGEKEEPER_TRUSTED_PROXIES=10.0.0.0/8"}, want: []string{"BRIDGEKEEPER_TRUSTED_PROXIES: can only be set in the configuration file"}},
		{name: "console admins in env", env: []string{"BRIDGEKEEPER_CONSOLE_ADMINS_0_SUBJECT=x"}, want: []string{"BRIDGEKEEPER_CONSOLE_ADMINS_0_SUBJECT: can only be set in the configuration file"}},
		{
			name: "unknown console keys",
			file: "console:\n  baseurl: x\n  admins:\n    - {provider: google, sub: x}\n",
			want: []string{
				`bk.yaml:2: unknown key "baseurl" in console`, `bk.yaml:4: unknown key "sub" in a console.admins entry`,
				`console.admins[0]: provider "google" is not one of the configured providers`, "console.admins[0]: subject must not be empty",
			},
		},
		{name: "trusted proxies not a list", file: "trusted_proxies: 10.0.0.0/8\n", want: []string{"bk.yaml:1: cannot unmarshal"}},
		{
			name: "database and its alias disagree",
			env:  []string{"BRIDGEKEEPER_DATABASE=sqlite://a.db", "BRIDGEKEEPER_DATABASE_URL=sqlite://b.db"},
			want: []string{"BRIDGEKEEPER_DATABASE and BRIDGEKEEPER_DATABASE_URL are both set"},
		},
		{
			name: "bad env values",
			env:  []string{"BRIDGEKEEPER_DEMO=maybe", "BRIDGEKEEPER_REQUEST_TIMEOUT=soon", "BRIDGEKEEPER_MAX_BODY_BYTES=1MiB"},
			want: []string{
				`BRIDGEKEEPER_MAX_BODY_BYTES: "1MiB" is not a whole number`,
				`BRIDGEKEEPER_REQUEST_TIMEOUT: "soon" is not a duration`,
				`BRIDGEKEEPER_DEMO: "maybe" is not true or false`,
			},
		},
		{name: "unknown flag", flags: map[string]string{"listen": ":80"}, want: []string{"--listen: not a configuration flag"}},
		{name: "invalid flag value", flags: map[string]string{"signing-alg": "HS256"}, want: []string{`signing_alg: "HS256" is not one of ES256, EdDSA, RS256`}},
		{
			name:  "problems from every source at once",
			file:  "log_level: loud\nbogus: 1\n",
			env:   []string{"BRIDGEKEEPER_NOPE=1"},
			flags: map[string]string{"addr": "nohost"},
			want: []string{
				`bk.yaml:2: unknown key "bogus"`,
				"BRIDGEKEEPER_NOPE: unknown environment variable",
				`addr: "nohost" is not host:port`,
				`log_level: "loud" is not one of debug, info, warn, error`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := ""
			switch tt.file {
			case "":
			case "-":
				file = filepath.Join(t.TempDir(), "missing.yaml")
			default:
				file = writeFile(t, "bk.yaml", tt.file)
			}
			c, err := Load(file, tt.env, tt.flags)
			wantLines(t, err, tt.want...)
			if !reflect.DeepEqual(c, Config{}) {
				t.Errorf("Load returned %+v with its error, want the zero Config", c)
			}
		})
	}
}

// valid is a configuration that passes Validate.
func valid() Config {
	return Config{
		Issuer:    "https://auth.example.com/bk",
		Database:  "postgres://bk@db.internal/bk",
		Providers: []Provider{{Name: "google", Type: "oidc", Slot: 2}, {Name: "mobage", Type: "oauth2", Slot: 0}},
	}.withDefaults()
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   []string // one entry per problem, in order; none when valid
	}{
		{name: "valid", mutate: func(c *Config) {}},
		{name: "defaults are valid", mutate: func(c *Config) { *c = Config{}.withDefaults() }},
		{name: "addr without port", mutate: func(c *Config) { c.Addr = "localhost" }, want: []string{`addr: "localhost" is not host:port`}},
		{name: "addr bad port", mutate: func(c *Config) { c.Addr = "localhost:99999" }, want: []string{`addr: "localhost:99999" does not end in a port number`}},
		{name: "addr any host", mutate: func(c *Config) { c.Addr = ":8080" }},
		{name: "issuer relative", mutate: func(c *Config) { c.Issuer = "/auth" }, want: []string{`issuer: "/auth" is not an absolute URL`}},
		{name: "issuer scheme", mutate: func(c *Config) { c.Issuer = "ftp://x" }, want: []string{`issuer: "ftp://x" is not an http or https URL`}},
		{name: "issuer no host", mutate: func(c *Config) { c.Issuer = "https://" }, want: []string{`issuer: "https://" has no host`}},
		{name: "issuer query", mutate: func(c *Config) { c.Issuer = "https://x/?a=b" }, want: []string{`issuer: "https://x/?a=b" must not have a query`}},
		{name: "issuer fragment", mutate: func(c *Config) { c.Issuer = "https://x/#f" }, want: []string{`issuer: "https://x/#f" must not have a fragment`}},
		{
			name:   "issuer defaulted from a hostless addr",
			mutate: func(c *Config) { c.Addr, c.Issuer = ":8080", "http://:8080" },
			want:   []string{`issuer: "http://:8080" has no host (it defaults to http://<addr>; set issuer`},
		},
		{name: "database scheme", mutate: func(c *Config) { c.Database = "mysql://bk@db/bk" }, want: []string{`database: "mysql://bk@db/bk" does not start with postgres://, postgresql:// or sqlite://`}},
		{name: "database scheme only", mutate: func(c *Config) { c.Database = "sqlite://" }, want: []string{`database: "sqlite://" names no database`}},
		{name: "database postgresql", mutate: func(c *Config) { c.Database = "postgresql://h/db" }},
		{name: "data_dir empty", mutate: func(c *Config) { c.DataDir = "" }, want: []string{"data_dir: must not be empty"}},
		{name: "signing_alg", mutate: func(c *Config) { c.SigningAlg = "HS256" }, want: []string{`signing_alg: "HS256" is not one of ES256, EdDSA, RS256`}},
		{name: "signing_alg is case sensitive", mutate: func(c *Config) { c.SigningAlg = "es256" }, want: []string{`signing_alg: "es256"`}},
		{name: "log_level", mutate: func(c *Config) { c.LogLevel = "trace" }, want: []string{`log_level: "trace" is not one of debug, info, warn, error`}},
		{name: "refresh_grace", mutate: func(c *Config) { c.RefreshGrace = 0 }, want: []string{"refresh_grace: 0s is not greater than 0"}},
		{name: "janitor_interval", mutate: func(c *Config) { c.JanitorInterval = Duration(time.Millisecond) }, want: []string{"janitor_interval: 1ms is shorter than 1s"}},
		{name: "key_rotation_interval", mutate: func(c *Config) { c.KeyRotationInterval = Duration(720 * time.Hour) }},
		{name: "key_rotation_interval negative", mutate: func(c *Config) { c.KeyRotationInterval = Duration(-time.Hour) }, want: []string{"key_rotation_interval: -1h0m0s is negative"}},
		{name: "key_publish_ahead not shorter", mutate: func(c *Config) { c.KeyRotationInterval = Duration(time.Hour) }, want: []string{"key_publish_ahead: 1h0m0s is not shorter than key_rotation_interval 1h0m0s"}},
		{name: "key_publish_ahead negative", mutate: func(c *Config) { c.KeyPublishAhead = Duration(-time.Second) }, want: []string{"key_publish_ahead: -1s is negative"}},
		{name: "failures per minute", mutate: func(c *Config) { c.AuthFailuresPerMinute, c.PasswordFailuresPerMinute = -2, -1 }, want: []string{"auth_failures_per_minute: -2 is not a count per minute"}},
		{name: "address failures per minute", mutate: func(c *Config) { c.AddressFailuresPerMinute = -3 }, want: []string{"address_failures_per_minute: -3 is not a count per minute"}},
		{name: "identifier failures per minute", mutate: func(c *Config) { c.IdentifierFailuresPerMinute = -3 }, want: []string{"identifier_failures_per_minute: -3 is not a count per minute"}},
		{name: "should fail because rate_limit_store_timeout is negative", mutate: func(c *Config) { c.RateLimitStoreTimeout = Duration(-time.Millisecond) }, want: []string{"rate_limit_store_timeout: -1ms is negative"}},
		{name: "rate_limit_store in-process", mutate: func(c *Config) { c.RateLimitStore = "" }},
		{name: "rate_limit_store redis", mutate: func(c *Config) { c.RateLimitStore = "redis://limits.internal:6379/2" }},
		{name: "rate_limit_store redis over TLS with a password", mutate: func(c *Config) { c.RateLimitStore = "rediss://bk:pw@limits.internal/" }},
		{name: "rate_limit_store IPv6 host", mutate: func(c *Config) { c.RateLimitStore = "redis://[::1]:6380" }},
		{
			name:   "should fail because rate_limit_store is not a Redis URL",
			mutate: func(c *Config) { c.RateLimitStore = "memcached://cache:11211" },
			want:   []string{`rate_limit_store: "memcached://cache:11211" does not start with redis:// or rediss://`},
		},
		{
			name:   "should fail because rate_limit_store is a bare address",
			mutate: func(c *Config) { c.RateLimitStore = "limits.internal:6379" },
			want:   []string{`rate_limit_store: "limits.internal:6379" does not start with redis:// or rediss://`},
		},
		{name: "should fail because rate_limit_store names no host", mutate: func(c *Config) { c.RateLimitStore = "redis:///0" }, want: []string{`rate_limit_store: "redis:///0" names no host`}},
		{name: "should fail because rate_limit_store's port is 0", mutate: func(c *Config) { c.RateLimitStore = "redis://limits:0/0" }, want: []string{`rate_limit_store: "redis://limits:0/0" does not name a port number`}},
		{
			name:   "should fail because rate_limit_store names a database that is not a number",
			mutate: func(c *Config) { c.RateLimitStore = "redis://bk:pw@limits:6379/limits" },
			want:   []string{`rate_limit_store: "redis://bk:REDACTED@limits:6379/limits" names the database "limits"; a Redis database is a number such as /0`},
		},
		{
			name:   "should fail because rate_limit_store does not parse, without echoing its password",
			mutate: func(c *Config) { c.RateLimitStore = "redis://bk:p%zz@limits:6379" },
			want:   []string{`rate_limit_store: "REDACTED" is not a URL`},
		},
		{name: "trusted proxies", mutate: func(c *Config) { c.TrustedProxies = []string{"10.0.0.0/8", "127.0.0.1", "::1/128"} }},
		{
			name: "trusted proxies that do not parse, or trust everyone",
			mutate: func(c *Config) {
				c.TrustedProxies = []string{"10.0.0.0/33", "proxy.internal", "0.0.0.0/0", "fe80::1%eth0"}
			},
			want: []string{
				`trusted_proxies[0]: "10.0.0.0/33" is not a CIDR range`, `trusted_proxies[1]: "proxy.internal" is not a CIDR range`,
				`trusted_proxies[2]: "0.0.0.0/0" trusts every address`, `trusted_proxies[3]: "fe80::1%eth0" is not a CIDR range`,
			},
		},
		{
			name: "xsolla mappings",
			mutate: func(c *Config) {
				c.Xsolla = Xsolla{PublisherProjects: map[int64]string{7: " "}, SocialSlots: map[string]int{"steam": 1025}}
			},
			want: []string{"xsolla.publisher_projects[7]: the namespace name must not be empty", `xsolla.social_slots["steam"]: slot 1025`},
		},
		{
			name:   "namespaces",
			mutate: func(c *Config) { c.Namespaces = []string{"game", "a b", "game", ""} },
			want:   []string{`namespaces[1]: "a b" is not a namespace name`, `namespaces[2]: "game" is listed twice`, `namespaces[3]: "" is not a namespace name`},
		},
		{name: "request_timeout", mutate: func(c *Config) { c.RequestTimeout = Duration(-time.Second) }, want: []string{"request_timeout: -1s is not greater than 0"}},
		{name: "max_body_bytes low", mutate: func(c *Config) { c.MaxBodyBytes = 1023 }, want: []string{"max_body_bytes: 1023 is not between 1024 (1 KiB) and 67108864 (64 MiB)"}},
		{name: "max_body_bytes high", mutate: func(c *Config) { c.MaxBodyBytes = 64<<20 + 1 }, want: []string{"max_body_bytes: 67108865 is not between"}},
		{name: "max_body_bytes bounds", mutate: func(c *Config) { c.MaxBodyBytes = 1 << 10 }},
		{
			name:   "both key settings",
			mutate: func(c *Config) { c.KeyEncryptionKey, c.KeyEncryptionKeyFile = testKEK, "/kek" },
			want:   []string{"key_encryption_key and key_encryption_key_file are both set; set only one"},
		},
		{name: "inline key checked", mutate: func(c *Config) { c.KeyEncryptionKey = "c2hvcnQ=" }, want: []string{"key_encryption_key: decodes to 5 bytes, want exactly 32"}},
		{name: "admin addr not host:port", mutate: func(c *Config) { c.AdminAddr = ptr("8081") }, want: []string{`admin_addr: "8081" is not host:port`}},
		{name: "admin addr is the public one", mutate: func(c *Config) { c.AdminAddr = ptr(c.Addr) }, want: []string{"admin_addr: \"" + valid().Addr + "\" is the public addr"}},
		{name: "admin listener off", mutate: func(c *Config) { c.AdminAddr = ptr("off") }},
		{name: "audit retention short", mutate: func(c *Config) { c.AuditRetention = Duration(time.Minute) }, want: []string{"audit_retention: 1m0s is shorter than 1h"}},
		{name: "provider name empty", mutate: func(c *Config) { c.Providers[1].Name = "" }, want: []string{"providers[1]: name must not be empty"}},
		{name: "provider name duplicate", mutate: func(c *Config) { c.Providers[1].Name = "google" }, want: []string{`providers[1] (google): name "google" is already used by providers[0]`}},
		{name: "provider type", mutate: func(c *Config) { c.Providers[0].Type = "saml" }, want: []string{`providers[0] (google): type "saml" is not one of oidc, oauth2`}},
		{name: "provider slot", mutate: func(c *Config) { c.Providers[0].Slot = 1025 }, want: []string{"providers[0] (google): slot 1025 is not between 0 and 1024"}},
		{name: "provider slot negative", mutate: func(c *Config) { c.Providers[1].Slot = -1 }, want: []string{"providers[1] (mobage): slot -1 is not between"}},
		{
			name: "console admins",
			mutate: func(c *Config) {
				c.Console.BaseURL = "https://admin.example.com"
				c.Console.Admins = []ConsoleAdmin{{Provider: "google", Subject: "1234"}, {Provider: "mobage", Subject: "m-1"}}
			},
		},
		{
			name: "console admins that name no browser provider, or nobody",
			mutate: func(c *Config) {
				c.Providers = append(c.Providers, Provider{Name: "steam", Type: "steam", Slot: 20})
				c.Console.Admins = []ConsoleAdmin{
					{Provider: "", Subject: "x"}, {Provider: "okta", Subject: "x"}, {Provider: "steam", Subject: "7656"},
					{Provider: "google", Subject: " "}, {Provider: "google", Subject: "1234"}, {Provider: "google", Subject: "1234"},
				}
			},
			want: []string{
				"console.admins[0]: provider must not be empty", `console.admins[1]: provider "okta" is not one of the configured providers`,
				`console.admins[2]: provider "steam" is of type steam; staff sign in through an oidc or oauth2 provider`,
				"console.admins[3]: subject must not be empty", "console.admins[5]: is listed already as console.admins[4]",
			},
		},
		{
			name: "a console admin's provider shares its slot",
			mutate: func(c *Config) {
				c.Providers = append(c.Providers, Provider{Name: "okta", Type: "oidc", Slot: 2})
				c.Console.Admins = []ConsoleAdmin{{Provider: "google", Subject: "1234"}}
			},
			want: []string{`console.admins[0]: provider "google" shares slot 2 with provider "okta"`},
		},
		{
			name:   "console base URL",
			mutate: func(c *Config) { c.Console.BaseURL = "https://admin.example.com/ops" },
			want:   []string{`console.base_url: "https://admin.example.com/ops" must not have a path`},
		},
		{name: "console base URL with a slash", mutate: func(c *Config) { c.Console.BaseURL = "https://admin.example.com/" }},
		{name: "console base URL not a URL", mutate: func(c *Config) { c.Console.BaseURL = "admin:8081" }, want: []string{`console.base_url: "admin:8081" is not an http or https URL`}},
		{
			name: "console base URL defaulted from a hostless admin_addr",
			mutate: func(c *Config) {
				c.AdminAddr = ptr(":8081")
				c.Console.Admins = []ConsoleAdmin{{Provider: "google", Subject: "1234"}}
			},
			want: []string{`console.base_url: "http://:8081" has no host (it defaults to http://<admin_addr>`},
		},
		{name: "a hostless admin_addr without console admins", mutate: func(c *Config) { c.AdminAddr = ptr(":8081") }},
		{
			name: "every problem at once",
			mutate: func(c *Config) {
				*c = Config{SigningAlg: "HS256", Providers: []Provider{{}}, KeyEncryptionKey: "x", KeyEncryptionKeyFile: "y"}
			},
			want: []string{
				`addr: "" is not host:port`, `issuer: "" is not an absolute URL`, "data_dir: must not be empty",
				`database: "" does not start with`, `signing_alg: "HS256"`, `log_level: ""`, "refresh_grace:",
				"audit_retention:", "janitor_interval:", "request_timeout:", "max_body_bytes: 0", "both set", "providers[0]: name must not be empty",
				`providers[0]: type ""`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.mutate(&c)
			err := c.Validate()
			if len(tt.want) == 0 && err != nil {
				t.Fatalf("Validate: %v", err)
			}
			wantLines(t, err, tt.want...)
		})
	}
}
