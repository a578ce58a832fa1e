package main

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/internal/proctest"
	"github.com/bridgekeeper/bridgekeeper/internal/testdb"
)

// writeFile writes content to name in a fresh temporary directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestConfigLayers checks file < BRIDGEKEEPER_* < flags by where a created
// client lands: in the database that the winning layer names.
func TestConfigLayers(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s store) {
		fileDB, envDB, flagDB := s.newURL(t), s.newURL(t), s.newURL(t)
		kek := proctest.NewKEK()
		cfg := writeFile(t, "bridgekeeper.yaml", fmt.Sprintf("database: %q\nkey_encryption_key: %q\n", fileDB, kek))

		tests := []struct {
			name string
			env  []string
			args []string
			want string
		}{
			{"file", nil, []string{"--config", cfg}, fileDB},
			{"file named by BRIDGEKEEPER_CONFIG", []string{"BRIDGEKEEPER_CONFIG=" + cfg}, nil, fileDB},
			{"BRIDGEKEEPER_DATABASE_URL over file", []string{"BRIDGEKEEPER_DATABASE_URL=" + envDB}, []string{"--config", cfg}, envDB},
			{"BRIDGEKEEPER_DATABASE over file", []string{"BRIDGEKEEPER_DATABASE=" + envDB}, []string{"--config", cfg}, envDB},
			{"flag over env and file", []string{"BRIDGEKEEPER_DATABASE_URL=" + envDB}, []string{"--config", cfg, "--database", flagDB}, flagDB},
			{"flag over file", nil, []string{"--config", cfg, "--database", flagDB}, flagDB},
		}
		dbs := map[string]string{fileDB: "file", envDB: "env", flagDB: "flag"}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				before := map[string][]string{}
				for db := range dbs {
					before[db] = listedIDs(listClients(t, db))
				}
				c := createClient(t, tc.env, append(tc.args, "--namespace", "layers", "--name", tc.name, "--grant", "client_credentials")...)
				for db, layer := range dbs {
					got := listedIDs(listClients(t, db))
					landed := slices.Contains(got, c.ClientID)
					if db == tc.want && !landed {
						t.Errorf("client %s is not in the %s database", c.ClientID, layer)
					}
					if db != tc.want && landed {
						t.Errorf("client %s landed in the %s database, want the %s one", c.ClientID, layer, dbs[tc.want])
					}
					if db != tc.want && len(got) != len(before[db]) {
						t.Errorf("the %s database changed: %v -> %v", layer, before[db], got)
					}
				}
			})
		}
	})
}

// TestConfigFileSetsServe checks that serve takes every setting from the
// file: addr, issuer, database, signing_alg and the KEK file.
func TestConfigFileSetsServe(t *testing.T) {
	t.Parallel()
	db := sqliteURL(t)
	addr := proctest.FreeAddr(t)
	kekFile := writeFile(t, "kek", proctest.NewKEK()+"\n")
	cfg := writeFile(t, "bk.yaml", fmt.Sprintf("addr: %s\nissuer: http://%s\ndatabase: %s\nsigning_alg: EdDSA\nkey_encryption_key_file: %s\nlog_level: debug\n", addr, addr, db, kekFile))
	srv := startProcess(t, "http://"+addr, nil, "serve", "--config", cfg)
	keys := fetchJWKS(t, srv.URL)
	if len(keys) != 1 || keys[0].Alg != "EdDSA" {
		t.Errorf("JWKS %+v: want one EdDSA key (signing_alg from the file)", keys)
	}
	// The KEK came from the file: client create with the same file makes a
	// client serve accepts.
	c := createClient(t, nil, "--config", cfg, "--namespace", "ns", "--name", "n", "--grant", "client_credentials")
	if tr, ok := pollToken(t, srv.URL, c.ClientID, c.ClientSecret, liveWithin, func(tr tokenResponse) bool { return tr.status == 200 }); !ok {
		t.Errorf("client created with the same config file: %d %s", tr.status, tr.raw)
	}
}

// invalidCase is a configuration that must stop the process.
type invalidCase struct {
	name   string
	env    []string
	args   []string // after the command
	file   string   // YAML; "" for none
	names  string   // what the error line must name
	secret string   // must not appear in the output
}

func TestInvalidConfigurationStops(t *testing.T) {
	t.Parallel()
	kek := proctest.NewKEK()
	withKEK := []string{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY=" + kek}
	tests := []invalidCase{
		{name: "signing_alg HS256 flag", env: withKEK, args: []string{"--signing-alg", "HS256"}, names: "signing_alg"},
		{name: "signing_alg HS256 env", env: append(slices.Clone(withKEK), "BRIDGEKEEPER_SIGNING_ALG=HS256"), names: "signing_alg"},
		{name: "signing_alg HS256 file", env: withKEK, file: "signing_alg: HS256\n", names: "signing_alg"},
		{name: "addr garbage", env: withKEK, args: []string{"--addr", "garbage"}, names: "addr"},
		{name: "addr bad port", env: withKEK, args: []string{"--addr", "127.0.0.1:99999"}, names: "addr"},
		{name: "addr garbage file", env: withKEK, file: "addr: 'not an address'\n", names: "addr"},
		{name: "database unknown scheme", env: withKEK, args: []string{"--database", "mysql://root@localhost/bk"}, names: "database"},
		{name: "database unknown scheme env", env: append(slices.Clone(withKEK), "BRIDGEKEEPER_DATABASE_URL=redis://localhost/0"), names: "database"},
		{name: "database unknown scheme with password", env: withKEK, args: []string{"--database", "mysql://root:hunter2pw@localhost/bk"}, names: "database", secret: "hunter2pw"},
		{name: "unknown YAML key", env: withKEK, file: "databse: sqlite:///tmp/x.db\n", names: "databse"},
		{name: "unknown nested YAML key", env: withKEK, file: "gs2:\n  regoin: x\n", names: "regoin"},
		{name: "unknown BRIDGEKEEPER_ variable", env: append(slices.Clone(withKEK), "BRIDGEKEEPER_DATABSE=sqlite:///tmp/x.db"), names: "BRIDGEKEEPER_DATABSE"},
		{name: "log_level", env: withKEK, args: []string{"--log-level", "loud"}, names: "log_level"},
		{name: "issuer", env: withKEK, args: []string{"--issuer", "ftp://example.com"}, names: "issuer"},
		{name: "refresh_grace env", env: append(slices.Clone(withKEK), "BRIDGEKEEPER_REFRESH_GRACE=soon"), names: "BRIDGEKEEPER_REFRESH_GRACE"},
		{name: "demo env", env: append(slices.Clone(withKEK), "BRIDGEKEEPER_DEMO=yes please"), names: "BRIDGEKEEPER_DEMO"},
		{name: "missing config file", env: withKEK, args: []string{"--config", "/nonexistent/bk.yaml"}, names: "/nonexistent/bk.yaml"},
		{name: "YAML syntax", env: withKEK, file: "addr: [\n", names: "bk.yaml"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, dbFile := runInvalid(t, "serve", tc)
			checkStopped(t, r, tc.names, kek)
			if tc.secret != "" && strings.Contains(r.stderr, tc.secret) {
				t.Errorf("stderr shows the secret %q:\n%s", tc.secret, r.stderr)
			}
			if _, err := os.Stat(dbFile); err == nil {
				t.Errorf("invalid configuration, yet the database %s was created", dbFile)
			}
		})
	}
	// The other commands validate the same way.
	for _, cmd := range [][]string{{"migrate"}, {"client", "list"}, {"key", "rotate"}, {"client", "create", "--namespace", "ns", "--name", "n", "--grant", "client_credentials"}} {
		t.Run(strings.Join(cmd[:min(2, len(cmd))], " "), func(t *testing.T) {
			tc := invalidCase{env: append(slices.Clone(withKEK), "BRIDGEKEEPER_SIGNING_ALG=HS256"), names: "signing_alg"}
			if cmd[0] != "key" {
				tc = invalidCase{env: append(slices.Clone(withKEK), "BRIDGEKEEPER_DATABSE=x"), names: "BRIDGEKEEPER_DATABSE"}
			}
			r, _ := runInvalid(t, strings.Join(cmd, " "), tc)
			checkStopped(t, r, tc.names, kek)
		})
	}
}

// runInvalid runs command (space-separated words) with tc's settings, with a
// database in a fresh directory unless tc sets one, and returns the result
// and that database's file.
func runInvalid(t *testing.T, command string, tc invalidCase) (result, string) {
	t.Helper()
	dbFile := filepath.Join(t.TempDir(), "bk.db")
	args := strings.Fields(command)
	if tc.file != "" {
		args = append(args, "--config", writeFile(t, "bk.yaml", tc.file))
	}
	setsDB := slices.Contains(tc.args, "--database") || slices.ContainsFunc(tc.env, func(kv string) bool {
		return strings.HasPrefix(kv, "BRIDGEKEEPER_DATABASE")
	})
	if !setsDB {
		args = append(args, "--database", "sqlite://"+dbFile)
	}
	if command == "serve" && !slices.Contains(tc.args, "--addr") && !strings.Contains(tc.file, "addr:") {
		args = append(args, "--addr", proctest.FreeAddr(t))
	}
	start := time.Now()
	r := bk(t, tc.env, append(args, tc.args...)...)
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("invalid configuration took %s to stop the process", took)
	}
	return r, dbFile
}

// checkStopped checks that r failed with a short error naming the setting
// and never showing the key-encryption key.
func checkStopped(t *testing.T, r result, names, kek string) {
	t.Helper()
	if r.code == 0 {
		t.Fatalf("want a non-zero exit; got %v", r)
	}
	lines := nonEmptyLines(r.stderr)
	n := 0
	for _, l := range lines {
		if strings.Contains(l, names) {
			n++
		}
	}
	if n == 0 {
		t.Errorf("no line of stderr names %q:\n%s", names, r.stderr)
	}
	if len(lines) > 3 {
		t.Errorf("want a short, clear error; stderr has %d lines:\n%s", len(lines), r.stderr)
	}
	if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic") {
		t.Errorf("stderr shows a panic:\n%s", r.stderr)
	}
	if kek != "" && strings.Contains(r.stderr+r.stdout, kek) {
		t.Errorf("the output contains the key-encryption key")
	}
}

func TestKEKProblemsStopServe(t *testing.T) {
	t.Parallel()
	valid := proctest.NewKEK()
	short := base64.StdEncoding.EncodeToString([]byte("sixteen byte key"))
	long := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 48)))
	notBase64 := "this-is-not-base64-but-is-secret!"
	urlBase64 := base64.URLEncoding.EncodeToString([]byte("\xff\xfe\xfd" + strings.Repeat("\xfb", 29)))
	badFile := writeFile(t, "kek", notBase64+"\n")
	shortFile := writeFile(t, "kek", short)
	goodFile := writeFile(t, "kek", valid)

	tests := []struct {
		name   string
		env    []string
		args   []string
		names  []string // one of these must be named
		secret string   // must not appear
	}{
		{name: "missing", names: []string{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY"}},
		{name: "empty env", env: []string{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY="}, names: []string{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY"}},
		// The setting came from BRIDGEKEEPER_KEY_ENCRYPTION_KEY; the
		// message may name it by its YAML key, key_encryption_key.
		{name: "env not base64", env: []string{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY=" + notBase64}, names: []string{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY", "key_encryption_key"}, secret: notBase64},
		{name: "env URL base64", env: []string{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY=" + urlBase64}, names: []string{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY", "key_encryption_key"}, secret: urlBase64},
		{name: "env 16 bytes", env: []string{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY=" + short}, names: []string{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY", "key_encryption_key"}, secret: short},
		{name: "env 48 bytes", env: []string{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY=" + long}, names: []string{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY", "key_encryption_key"}, secret: long},
		{name: "file not base64", args: []string{"--key-encryption-key-file", badFile}, names: []string{"key_encryption_key_file"}, secret: notBase64},
		{name: "file 16 bytes", args: []string{"--key-encryption-key-file", shortFile}, names: []string{"key_encryption_key_file"}, secret: short},
		{name: "file missing", args: []string{"--key-encryption-key-file", "/nonexistent/kek"}, names: []string{"key_encryption_key_file"}},
		{name: "file via env missing", env: []string{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY_FILE=/nonexistent/kek"}, names: []string{"key_encryption_key_file"}},
		{name: "both", env: []string{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY=" + valid}, args: []string{"--key-encryption-key-file", goodFile}, names: []string{"key_encryption_key_file"}, secret: valid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dbFile := filepath.Join(t.TempDir(), "bk.db")
			args := append([]string{"serve", "--addr", proctest.FreeAddr(t), "--database", "sqlite://" + dbFile}, tc.args...)
			r := bk(t, tc.env, args...)
			if r.code == 0 {
				t.Fatalf("want a non-zero exit; got %v", r)
			}
			if !slices.ContainsFunc(nonEmptyLines(r.stderr), func(l string) bool {
				return slices.ContainsFunc(tc.names, func(n string) bool { return strings.Contains(l, n) })
			}) {
				t.Errorf("no line of stderr names %s:\n%s", strings.Join(tc.names, " or "), r.stderr)
			}
			if len(nonEmptyLines(r.stderr)) > 3 {
				t.Errorf("want a short, clear error; got:\n%s", r.stderr)
			}
			if tc.secret != "" && strings.Contains(r.stderr+r.stdout, strings.TrimSpace(tc.secret)) {
				t.Errorf("the output contains the key material %q:\n%s", tc.secret, r.stderr)
			}
			if _, err := os.Stat(dbFile); err == nil {
				t.Errorf("serve touched the database before checking the key-encryption key")
			}
		})
	}
}

func TestKEKMissingStopsAdminCommands(t *testing.T) {
	t.Parallel()
	db := sqliteURL(t)
	for _, args := range [][]string{
		{"client", "create", "--database", db, "--namespace", "ns", "--name", "n", "--grant", "client_credentials"},
		{"key", "rotate", "--database", db},
	} {
		t.Run(strings.Join(args[:2], " "), func(t *testing.T) {
			r := bk(t, nil, args...)
			if r.code == 0 || !strings.Contains(r.stderr, "BRIDGEKEEPER_KEY_ENCRYPTION_KEY") {
				t.Errorf("without a key-encryption key: want a non-zero exit naming BRIDGEKEEPER_KEY_ENCRYPTION_KEY; got %v", r)
			}
		})
	}
}

// TestWrongKEKStopsServe: a well-formed KEK that did not seal the stored
// signing keys must stop serve, not sign with a new key or crash.
func TestWrongKEKStopsServe(t *testing.T) {
	t.Parallel()
	db := sqliteURL(t)
	first := startServe(t, db, []string{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY=" + proctest.NewKEK()})
	if code, _ := first.stop(t, syscall.SIGTERM, 5*time.Second); code != 0 {
		t.Fatalf("first serve exited %d", code)
	}
	other := proctest.NewKEK()
	r := bk(t, []string{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY=" + other}, "serve", "--addr", proctest.FreeAddr(t), "--database", db)
	if r.code == 0 {
		t.Fatalf("serve with a different KEK: want a non-zero exit; got %v", r)
	}
	if !strings.Contains(r.stderr, "key-encryption key") || strings.Contains(r.stderr, other) {
		t.Errorf("want a line saying the key-encryption key is wrong, without the key:\n%s", r.stderr)
	}
}

// TestServeDataDir: without --database, serve and the CLI share
// <data-dir>/bridgekeeper.db.
func TestServeDataDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := []string{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY=" + proctest.NewKEK()}
	addr := proctest.FreeAddr(t)
	srv := startProcess(t, "http://"+addr, env, "serve", "--addr", addr, "--data-dir", dir)
	if _, err := os.Stat(filepath.Join(dir, "bridgekeeper.db")); err != nil {
		t.Fatalf("serve --data-dir %s: %v", dir, err)
	}
	c := createClient(t, env, "--data-dir", dir, "--namespace", "ns", "--name", "n", "--grant", "client_credentials")
	if tr, ok := pollToken(t, srv.URL, c.ClientID, c.ClientSecret, liveWithin, func(tr tokenResponse) bool { return tr.status == 200 }); !ok {
		t.Errorf("client created with --data-dir: %d %s", tr.status, tr.raw)
	}
}

// TestServeLogsNoDatabasePassword: the password in a database URL never
// reaches the log.
func TestServeLogsNoDatabasePassword(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(testdb.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	// The test cluster trusts loopback connections, so any password works.
	const password = "s3cret-db-passw0rd"
	u.User = url.UserPassword(u.User.Username(), password)
	env := []string{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY=" + proctest.NewKEK()}
	srv := startServe(t, u.String(), env, "--log-level", "debug")
	c := createClient(t, env, "--database", u.String(), "--namespace", "ns", "--name", "n", "--grant", "client_credentials")
	pollToken(t, srv.URL, c.ClientID, c.ClientSecret, liveWithin, func(tr tokenResponse) bool { return tr.status == 200 })
	srv.stop(t, syscall.SIGTERM, 5*time.Second)
	if out := srv.stdout.String() + srv.stderr.String(); strings.Contains(out, password) {
		t.Errorf("serve output contains the database password:\n%s", out)
	} else if !strings.Contains(out, "REDACTED") {
		t.Logf("serve output does not mention the database at all:\n%s", out)
	}
}
