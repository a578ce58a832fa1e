package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/keys"
	"github.com/bridgekeeper/bridgekeeper/broker/store/postgres"
	"github.com/bridgekeeper/bridgekeeper/broker/store/sqlite"
	"github.com/bridgekeeper/bridgekeeper/config"
)

// commonFlags are the settings every command shares; each is also a config
// file key and a BRIDGEKEEPER_* variable.
var commonFlags = []struct{ name, usage string }{
	{"database", "database URL: postgres://... or sqlite:///abs/path.db"},
	{"data-dir", "directory of the default SQLite database"},
	{"key-encryption-key-file", "file holding the 32-byte key-encryption key (std base64)"},
	{"log-level", "debug | info | warn | error"},
}

// settings registers the common flags (plus extra ones) on fs and, after
// parsing, loads the layered configuration: file < environment < flags.
type settings struct {
	fs     *flag.FlagSet
	file   *string
	values map[string]*string
}

func newSettings(name string, e env, extra ...string) *settings {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	s := &settings{fs: fs, values: map[string]*string{}}
	s.file = fs.String("config", "", "YAML configuration file")
	for _, f := range commonFlags {
		s.values[f.name] = fs.String(f.name, "", f.usage)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		s.values[extra[i]] = fs.String(extra[i], "", extra[i+1])
	}
	return s
}

func (s *settings) load(args []string, e env) (config.Config, error) {
	if err := s.fs.Parse(args); err != nil {
		return config.Config{}, err
	}
	if s.fs.NArg() > 0 {
		return config.Config{}, fmt.Errorf("unexpected argument %q", s.fs.Arg(0))
	}
	set := map[string]string{}
	s.fs.Visit(func(f *flag.Flag) {
		if v, ok := s.values[f.Name]; ok {
			set[f.Name] = *v
		}
	})
	file := *s.file
	if file == "" {
		file = lookupEnv(e.environ, "BRIDGEKEEPER_CONFIG")
	}
	// Load validates and reports every bad setting, one line each.
	cfg, err := config.Load(file, e.environ, set)
	if err != nil {
		if !strings.Contains(err.Error(), "\n") {
			return cfg, fmt.Errorf("invalid configuration: %w", err)
		}
		return cfg, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return cfg, nil
}

func lookupEnv(environ []string, key string) string {
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// Whether a command may create the embedded database: only migrate and serve
// may. Any other command run from the wrong directory would otherwise make a
// fresh ./data/bridgekeeper.db the running broker never sees.
const (
	mustExist = false
	mayCreate = true
)

// openStore opens (and migrates) the store a database URL names.
func openStore(ctx context.Context, url string, create bool) (broker.Store, error) {
	switch {
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		return postgres.Open(ctx, url)
	case strings.HasPrefix(url, "sqlite://"):
		path, err := sqlite.PathFromURL(url)
		if err != nil {
			return nil, fmt.Errorf("database: %w", err)
		}
		if !create {
			if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
				abs, _ := filepath.Abs(path)
				return nil, fmt.Errorf("database: %s does not exist; point --database or --data-dir at the broker's database, or create it with `bridgekeeper migrate`", abs)
			}
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("database: %w", err)
		}
		return sqlite.Open(ctx, path)
	default:
		return nil, fmt.Errorf("database: %q is neither postgres:// nor sqlite://", url)
	}
}

// openSealed derives the broker's keys from the configured KEK, opens the
// store and checks the KEK against it, so that every command that touches
// secrets or keys refuses a wrong KEK before it writes anything. The KEK is
// checked first, so that a missing one fails before the database is touched.
//
// The check unseals the stored signing keys. A database without one gets its
// first key here, sealed with this KEK: from the first client secret on,
// something in the database always tells a wrong KEK from the right one.
func openSealed(ctx context.Context, cfg config.Config, create bool) (broker.Store, *keys.Secrets, *keys.Keyring, error) {
	kek, err := cfg.KEK()
	if err != nil {
		return nil, nil, nil, err
	}
	secrets, err := keys.NewSecrets(kek)
	if err != nil {
		return nil, nil, nil, err
	}
	store, err := openStore(ctx, cfg.Database, create)
	if err != nil {
		return nil, nil, nil, err
	}
	keys := keys.NewKeyring(store, secrets, time.Now)
	if _, err := keys.EnsureActive(ctx, cfg.SigningAlg); err != nil {
		store.Close()
		return nil, nil, nil, fmt.Errorf("signing keys: %w", err)
	}
	return store, secrets, keys, nil
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level)) // validated by config
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}
