package main

// These tests build the real bridgekeeper binary once (TestMain) and run it
// as an operator would: os/exec, a controlled environment, real databases
// (SQLite in t.TempDir, PostgreSQL from internal/testdb) and real HTTP on
// loopback.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/internal/proctest"
	"github.com/bridgekeeper/bridgekeeper/internal/testdb"
)

// binary is the path of the bridgekeeper binary TestMain built.
var binary string

func TestMain(m *testing.M) {
	var flags []string
	if raceEnabled && proctest.RaceBinary() {
		// A data race in the server then fails the test that ran it: the
		// race detector makes the process exit 66.
		flags = append(flags, "-race")
	}
	proctest.Main(m, &binary, ".", flags...)
}

// baseEnviron is proctest.Environ with every race reported, and none
// unnoticed by the exit code.
func baseEnviron() []string {
	return proctest.Environ("GORACE=exitcode=66 halt_on_error=0 atexit_sleep_ms=0")
}

// result is a finished bridgekeeper run.
type result struct {
	args           []string
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("bridgekeeper %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// bk runs bridgekeeper with args in a fresh temporary directory, with the
// environment baseEnviron() plus env, and waits at most a minute.
func bk(t *testing.T, env []string, args ...string) result {
	t.Helper()
	r := bkNoFatal(t, env, args...)
	if r.code < 0 {
		t.FailNow()
	}
	return r
}

// bkNoFatal is bk for use outside the test's goroutine: when the process
// cannot be run or is killed, it reports an error and returns code -1.
func bkNoFatal(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = t.TempDir() // a default data/ directory lands here, not in the repo
	cmd.Env = append(baseEnviron(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	r := result{args: args, stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && exit.ExitCode() >= 0:
		r.code = exit.ExitCode()
	default:
		t.Errorf("bridgekeeper %s: %v (context: %v)\nstderr:\n%s", strings.Join(args, " "), err, ctx.Err(), r.stderr)
		r.code = -1
	}
	checkNoRace(t, r.stderr)
	return r
}

// mustBK is bk for a run that must succeed.
func mustBK(t *testing.T, env []string, args ...string) result {
	t.Helper()
	r := bk(t, env, args...)
	if r.code != 0 {
		t.Fatalf("want exit 0; got %v", r)
	}
	return r
}

func checkNoRace(t *testing.T, stderr string) {
	t.Helper()
	if strings.Contains(stderr, "WARNING: DATA RACE") {
		t.Errorf("the race detector found a data race in bridgekeeper:\n%s", stderr)
	}
}

// store is one database backend the tests run against.
type store struct {
	name string
	// newURL returns the URL of a fresh, migrated database: what serve or
	// migrate leaves for the other commands.
	newURL func(t *testing.T) string
}

var stores = []store{
	{"sqlite", migratedSQLite},
	{"postgres", func(t *testing.T) string { return testdb.Postgres(t) }},
}

// eachStore runs fn as a subtest per backend.
func eachStore(t *testing.T, fn func(t *testing.T, s store)) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel() // each backend has a database of its own
			fn(t, s)
		})
	}
}

// sqliteURL names a database file that does not exist yet.
func sqliteURL(t *testing.T) string {
	return "sqlite://" + filepath.ToSlash(filepath.Join(t.TempDir(), "bk.db"))
}

// migratedSQLite names a database file migrate has created.
func migratedSQLite(t *testing.T) string {
	t.Helper()
	u := sqliteURL(t)
	st, err := openStore(t.Context(), u, mayCreate)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return u
}

// created is the --output json of client create.
type created struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

// createClient runs client create --output json and decodes its output.
func createClient(t *testing.T, env []string, args ...string) created {
	t.Helper()
	r := mustBK(t, env, append([]string{"client", "create", "--output", "json"}, args...)...)
	var c created
	if err := json.Unmarshal([]byte(r.stdout), &c); err != nil || c.ClientID == "" {
		t.Fatalf("client create --output json: want {client_id, client_secret}, decoding gave %v; %v", err, r)
	}
	return c
}

// listed is one entry of client list --output json.
type listed struct {
	ClientID    string   `json:"client_id"`
	NamespaceID string   `json:"namespace_id"`
	Name        string   `json:"name"`
	Public      bool     `json:"public"`
	Grants      []string `json:"grants"`
	Scopes      []string `json:"scopes"`
}

// listClients runs client list --output json against database.
func listClients(t *testing.T, database string) []listed {
	t.Helper()
	r := mustBK(t, nil, "client", "list", "--output", "json", "--database", database)
	var out []listed
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("client list --output json: %v; %v", err, r)
	}
	return out
}

func listedIDs(ls []listed) []string {
	ids := make([]string, 0, len(ls))
	for _, l := range ls {
		ids = append(ids, l.ClientID)
	}
	return ids
}

// server is a running `bridgekeeper serve`.
type server struct {
	URL            string
	cmd            *exec.Cmd
	stdout, stderr *proctest.SyncBuffer
	done           chan struct{} // closed when the process has exited
	waitErr        error
}

// startServe starts serve on a free loopback port with the given database
// and environment plus extra flags, and waits until /readyz answers 200.
func startServe(t *testing.T, database string, env []string, extra ...string) *server {
	t.Helper()
	addr := proctest.FreeAddr(t)
	base := "http://" + addr
	return startProcess(t, base, env, append([]string{"serve", "--addr", addr, "--issuer", base, "--database", database}, extra...)...)
}

// startProcess starts bridgekeeper with args, expecting it to serve at base,
// and waits until base/readyz answers 200. The process is killed, if still
// running, when the test ends.
func startProcess(t *testing.T, base string, env []string, args ...string) *server {
	t.Helper()
	s := &server{URL: base, stdout: &proctest.SyncBuffer{}, stderr: &proctest.SyncBuffer{}, done: make(chan struct{})}
	s.cmd = exec.Command(binary, args...)
	s.cmd.Dir = t.TempDir()
	s.cmd.Env = append(baseEnviron(), env...)
	s.cmd.Stdout, s.cmd.Stderr = s.stdout, s.stderr
	s.cmd.WaitDelay = 5 * time.Second
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			s.cmd.Process.Kill()
			<-s.done
		}
		checkNoRace(t, s.stderr.String())
		if t.Failed() {
			t.Logf("serve stdout:\n%s\nserve stderr:\n%s", s.stdout, s.stderr)
		}
	})
	if err := proctest.WaitServing(s.URL, s.stderr, s.done, 30*time.Second); err != nil {
		select {
		case <-s.done:
			err = fmt.Errorf("%w: %v", err, s.waitErr)
		default:
		}
		t.Fatalf("%v\nstdout:\n%s\nstderr:\n%s", err, s.stdout, s.stderr)
	}
	return s
}

// stop sends sig and returns the exit code, failing if the process does not
// exit within timeout.
func (s *server) stop(t *testing.T, sig syscall.Signal, timeout time.Duration) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("%v: %v", sig, err)
	}
	select {
	case <-s.done:
	case <-time.After(timeout):
		t.Fatalf("serve did not exit within %s of %v\nstderr:\n%s", timeout, sig, s.stderr)
	}
	return s.cmd.ProcessState.ExitCode(), time.Since(start)
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

// tokenResponse is an RFC 6749 §5.1 or §5.2 body.
type tokenResponse struct {
	status      int
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	Error       string `json:"error"`
	Description string `json:"error_description"`
	raw         string
}

// token asks the token endpoint for a token with HTTP Basic client
// authentication (RFC 6749 §2.3.1: id and secret form-encoded first).
func token(t *testing.T, base, id, secret string, form url.Values) tokenResponse {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	res, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("POST /oauth2/token: %v", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	tr := tokenResponse{status: res.StatusCode, raw: string(body)}
	if err := json.Unmarshal(body, &tr); err != nil {
		t.Fatalf("POST /oauth2/token: %d, body %q is not JSON: %v", res.StatusCode, body, err)
	}
	return tr
}

func clientCredentials(t *testing.T, base, id, secret string) tokenResponse {
	t.Helper()
	return token(t, base, id, secret, url.Values{"grant_type": {"client_credentials"}})
}

// pollToken asks for a client_credentials token until ok says the answer is
// the one wanted or within has passed; it returns the last answer and
// whether ok accepted it.
func pollToken(t *testing.T, base, id, secret string, within time.Duration, ok func(tokenResponse) bool) (tokenResponse, bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		tr := clientCredentials(t, base, id, secret)
		if ok(tr) {
			return tr, true
		}
		if time.Now().After(deadline) {
			return tr, false
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// jwk is the part of a JWKS entry the tests look at.
type jwk struct {
	Kid string `json:"kid"`
	Kty string `json:"kty"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	Crv string `json:"crv"`
}

func fetchJWKS(t *testing.T, base string) []jwk {
	t.Helper()
	res, err := httpClient.Get(base + "/.well-known/jwks.json")
	if err != nil {
		t.Fatalf("GET jwks: %v", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET jwks: %d %s", res.StatusCode, body)
	}
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatalf("GET jwks: %v in %s", err, body)
	}
	return set.Keys
}

func kids(keys []jwk) []string {
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, k.Kid)
	}
	slices.Sort(out)
	return out
}

// jwtHeader decodes the protected header of a compact JWS.
func jwtHeader(t *testing.T, tok string) (alg, kid string) {
	t.Helper()
	part, _, ok := strings.Cut(tok, ".")
	if !ok {
		t.Fatalf("access token %q is not a compact JWS", tok)
	}
	raw, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		t.Fatalf("access token header: %v", err)
	}
	var h struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatalf("access token header: %v", err)
	}
	return h.Alg, h.Kid
}

// nonEmptyLines splits s into its non-blank lines.
func nonEmptyLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}
