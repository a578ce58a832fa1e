package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// EnvPrefix starts the name of every environment variable Load reads.
const EnvPrefix = "BRIDGEKEEPER_"

// Load builds the configuration from, in rising precedence, the YAML file
// (skipped when file is ""), the BRIDGEKEEPER_* entries of environ (given in
// os.Environ form, KEY=VALUE) and flags (the flags the user actually set,
// keyed by flag name without dashes). It then fills in defaults and runs
// [Config.Validate].
//
// Unknown YAML keys, unknown BRIDGEKEEPER_* variables (other than
// BRIDGEKEEPER_CONFIG and BRIDGEKEEPER_TEST_*) and unknown flag names are
// errors. Empty environment values are ignored. All problems are returned
// together, joined with errors.Join, one line each; on error the returned
// Config is the zero value.
func Load(file string, environ []string, flags map[string]string) (Config, error) {
	var c Config
	var errs []error
	if file != "" {
		errs = append(errs, loadFile(&c, file)...)
	}
	errs = append(errs, applyEnv(&c, environ)...)
	errs = append(errs, applyFlags(&c, flags)...)
	c = c.withDefaults()
	errs = append(errs, c.problems()...)
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	return c, nil
}

// setting is one scalar configuration key that the environment (and maybe a
// flag) can override.
type setting struct {
	key    string // YAML path, nested keys joined by "."
	flag   string // flag name, or "" when there is no flag
	secret bool   // never echo the value
	set    func(c *Config, v string) error
}

// env is the name of the environment variable for s.
func (s setting) env() string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(s.key, ".", "_"))
}

// settings lists every scalar key; TestSettingsCoverEveryKey keeps it in
// step with the yaml tags of Config.
var settings = []setting{
	{key: "addr", flag: "addr", set: str(func(c *Config) *string { return &c.Addr })},
	{key: "admin_addr", set: func(c *Config, v string) error { c.AdminAddr = &v; return nil }},
	{key: "audit_retention", set: dur(func(c *Config) *Duration { return &c.AuditRetention })},
	{key: "issuer", flag: "issuer", set: str(func(c *Config) *string { return &c.Issuer })},
	{key: "database", flag: "database", set: str(func(c *Config) *string { return &c.Database })},
	{key: "data_dir", flag: "data-dir", set: str(func(c *Config) *string { return &c.DataDir })},
	{key: "signing_alg", flag: "signing-alg", set: str(func(c *Config) *string { return &c.SigningAlg })},
	{key: "key_encryption_key", secret: true, set: str(func(c *Config) *string { return &c.KeyEncryptionKey })},
	{key: "key_encryption_key_file", flag: "key-encryption-key-file", set: str(func(c *Config) *string { return &c.KeyEncryptionKeyFile })},
	{key: "refresh_grace", set: dur(func(c *Config) *Duration { return &c.RefreshGrace })},
	{key: "log_level", flag: "log-level", set: str(func(c *Config) *string { return &c.LogLevel })},
	{key: "max_body_bytes", set: byteCount(func(c *Config) *int64 { return &c.MaxBodyBytes })},
	{key: "request_timeout", set: dur(func(c *Config) *Duration { return &c.RequestTimeout })},
	{key: "auth_failures_per_minute", set: integer(func(c *Config) *int { return &c.AuthFailuresPerMinute })},
	{key: "password_failures_per_minute", set: integer(func(c *Config) *int { return &c.PasswordFailuresPerMinute })},
	{key: "address_failures_per_minute", set: integer(func(c *Config) *int { return &c.AddressFailuresPerMinute })},
	{key: "identifier_failures_per_minute", set: integer(func(c *Config) *int { return &c.IdentifierFailuresPerMinute })},
	{key: "address_rate_limit", set: func(c *Config, v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number of requests per second", v)
		}
		c.AddressRateLimit = f
		return nil
	}},
	{key: "rate_limit_store", set: str(func(c *Config) *string { return &c.RateLimitStore })},
	{key: "rate_limit_store_timeout", set: dur(func(c *Config) *Duration { return &c.RateLimitStoreTimeout })},
	{key: "key_rotation_interval", set: dur(func(c *Config) *Duration { return &c.KeyRotationInterval })},
	{key: "key_publish_ahead", set: dur(func(c *Config) *Duration { return &c.KeyPublishAhead })},
	{key: "janitor_interval", set: dur(func(c *Config) *Duration { return &c.JanitorInterval })},
	{key: "demo", set: func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
		c.Demo = b
		return nil
	}},
	{key: "gs2.region", set: str(func(c *Config) *string { return &c.GS2.Region })},
	{key: "gs2.owner_id", set: str(func(c *Config) *string { return &c.GS2.OwnerID })},
	{key: "xsolla.max_attributes", set: integer(func(c *Config) *int { return &c.Xsolla.MaxAttributes })},
	{key: "xsolla.max_attribute_bytes", set: byteCount(func(c *Config) *int64 { return &c.Xsolla.MaxAttributeBytes })},
	{key: "console.base_url", set: str(func(c *Config) *string { return &c.Console.BaseURL })},
}

func byteCount(field func(*Config) *int64) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a whole number of bytes", v)
		}
		*field(c) = n
		return nil
	}
}

func str(field func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error { *field(c) = v; return nil }
}

func integer(field func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", v)
		}
		*field(c) = n
		return nil
	}
}

func dur(field func(*Config) *Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := parseDuration(v)
		if err != nil {
			return err
		}
		*field(c) = d
		return nil
	}
}

// databaseURLEnv is an alias of BRIDGEKEEPER_DATABASE.
const databaseURLEnv = EnvPrefix + "DATABASE_URL"

// applyEnv applies the BRIDGEKEEPER_* entries of environ to c.
func applyEnv(c *Config, environ []string) []error {
	byEnv := make(map[string]setting, len(settings))
	for _, s := range settings {
		byEnv[s.env()] = s
	}
	vals := make(map[string]string)
	var errs []error
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, EnvPrefix) {
			continue
		}
		switch _, known := byEnv[k]; {
		case known || k == databaseURLEnv:
			if v != "" {
				vals[k] = v
			}
		case k == EnvPrefix+"CONFIG" || strings.HasPrefix(k, EnvPrefix+"TEST_"):
		case k == EnvPrefix+"PROVIDERS" || strings.HasPrefix(k, EnvPrefix+"PROVIDERS_"):
			errs = append(errs, fmt.Errorf("%s: providers can only be set in the configuration file", k))
		case k == EnvPrefix+"XSOLLA" || strings.HasPrefix(k, EnvPrefix+"XSOLLA_"),
			k == EnvPrefix+"NAMESPACES", k == EnvPrefix+"TRUSTED_PROXIES",
			k == EnvPrefix+"CONSOLE" || strings.HasPrefix(k, EnvPrefix+"CONSOLE_ADMINS"):
			errs = append(errs, fmt.Errorf("%s: can only be set in the configuration file", k))
		default:
			errs = append(errs, fmt.Errorf("%s: unknown environment variable%s", k, suggest(k, byEnv)))
		}
	}
	if u, ok := vals[databaseURLEnv]; ok {
		db := EnvPrefix + "DATABASE"
		if d, both := vals[db]; both && d != u {
			errs = append(errs, fmt.Errorf("%s and %s are both set, to different values; set only one", db, databaseURLEnv))
		}
		vals[db] = u
		delete(vals, databaseURLEnv)
	}
	for _, s := range settings { // in table order, for stable messages
		if v, ok := vals[s.env()]; ok {
			if err := s.set(c, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", s.env(), err))
			}
		}
	}
	return errs
}

// suggest names the known variable closest to a misspelt one, if any is close.
func suggest(k string, known map[string]setting) string {
	best, bestDist := "", 3
	for name := range known {
		if d := editDistance(k, name); d < bestDist || d == bestDist && name < best {
			best, bestDist = name, d
		}
	}
	if best == "" {
		return ""
	}
	return " (did you mean " + best + "?)"
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// applyFlags applies the flags the user set to c. "config" is ignored: it
// names the file, which the caller passes to Load.
func applyFlags(c *Config, flags map[string]string) []error {
	names := make([]string, 0, len(flags))
	for name := range flags {
		names = append(names, name)
	}
	sort.Strings(names)
	var errs []error
next:
	for _, name := range names {
		if name == "config" {
			continue
		}
		for _, s := range settings {
			if s.flag != "" && s.flag == name {
				if err := s.set(c, flags[name]); err != nil {
					errs = append(errs, fmt.Errorf("--%s: %w", name, err))
				}
				continue next
			}
		}
		errs = append(errs, fmt.Errorf("--%s: not a configuration flag", name))
	}
	return errs
}

// loadFile decodes the YAML file into c, strictly.
func loadFile(c *Config, file string) []error {
	f, err := os.Open(file)
	if err != nil {
		return []error{fmt.Errorf("config file: %w", err)}
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	switch err := dec.Decode(c); {
	case errors.Is(err, io.EOF): // empty file
		return nil
	case err != nil:
		return yamlErrors(file, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return []error{fmt.Errorf("%s: holds more than one YAML document", file)}
	}
	return nil
}

var (
	lineRE    = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	unknownRE = regexp.MustCompile(`^field (\S+) not found in type (\S+)$`)
)

// yamlErrors turns a yaml.v3 error into one "file:line: problem" error per
// problem, rewording unknown fields as unknown keys.
func yamlErrors(file string, err error) []error {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	errs := make([]error, 0, len(msgs))
	for _, m := range msgs {
		loc := file
		if sm := lineRE.FindStringSubmatch(m); sm != nil {
			loc, m = file+":"+sm[1], sm[2]
		}
		if sm := unknownRE.FindStringSubmatch(m); sm != nil {
			m = fmt.Sprintf("unknown key %q", sm[1])
			switch sm[2] {
			case "config.Provider":
				m += " in a providers entry"
			case "config.GS2":
				m += " in gs2"
			case "config.Xsolla":
				m += " in xsolla"
			case "config.Console":
				m += " in console"
			case "config.ConsoleAdmin":
				m += " in a console.admins entry"
			}
		}
		errs = append(errs, fmt.Errorf("%s: %s", loc, m))
	}
	return errs
}

// UnmarshalYAML decodes a duration string such as "5s".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: a duration must be a string such as 5s", n.Line)}}
	}
	v, err := parseDuration(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	*d = v
	return nil
}
