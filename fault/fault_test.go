package fault

// What the crash and database-fault tests share: the binary under test, a
// broker process that can be killed and restarted, and an HTTP client that
// records status, Retry-After and latency of every answer without ever
// calling t.Fatal (it runs on load goroutines).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/internal/proctest"
)

// binary is the path of the bridgekeeper binary TestMain built.
var binary string

func TestMain(m *testing.M) {
	var flags []string
	if raceEnabled && proctest.RaceBinary() {
		// A data race in the broker then shows in its output, which the
		// tests check.
		flags = append(flags, "-race")
	}
	proctest.Main(m, &binary, "../cmd/bridgekeeper", flags...)
}

// baseEnviron is proctest.Environ with every race reported.
func baseEnviron(extra ...string) []string {
	return proctest.Environ(append([]string{"GORACE=exitcode=66 halt_on_error=0 atexit_sleep_ms=0"}, extra...)...)
}

// credentials is the --output json of client create.
type credentials struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

// createClient registers a confidential client with the three grants the
// load uses, in namespace "fault"; extra are more flags of client create
// (e.g. --rate-limit 20).
func createClient(t *testing.T, env []string, database, name string, extra ...string) credentials {
	t.Helper()
	out := runCLI(t, env, append([]string{"client", "create", "--output", "json", "--database", database,
		"--namespace", "fault", "--name", name, "--scope", "game",
		"--grant", "client_credentials", "--grant", "server_custom_id", "--grant", "refresh_token"}, extra...)...)
	var c credentials
	if err := json.Unmarshal(out, &c); err != nil || c.ClientID == "" || c.ClientSecret == "" {
		t.Fatalf("client create --output json: %v\nstdout:\n%s", err, out)
	}
	return c
}

// runCLI runs a bridgekeeper command to completion and returns its stdout;
// a failure ends the test.
func runCLI(t *testing.T, env []string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = t.TempDir()
	cmd.Env = baseEnviron(env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		t.Fatalf("bridgekeeper %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, &stdout, &stderr)
	}
	return stdout.Bytes()
}

// process is one run of `bridgekeeper serve`.
type process struct {
	Base           string
	cmd            *exec.Cmd
	stdout, stderr *proctest.SyncBuffer
	done           chan struct{} // closed when the process has exited
	waitErr        error
}

// readyWithin bounds a start: migrations on a fresh database, with -race.
const readyWithin = 60 * time.Second

// startBroker starts serve on addr (issuer http://addr, so that a restart
// on the same address keeps the issuer of the tokens already handed out)
// and waits until /readyz answers 200. The process is killed, if still
// running, when the test ends; its output is checked for data races and
// logged if the test failed.
func startBroker(t *testing.T, addr, database string, env []string) *process {
	t.Helper()
	p := &process{Base: "http://" + addr, stdout: &proctest.SyncBuffer{}, stderr: &proctest.SyncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(binary, "serve", "--addr", addr, "--issuer", p.Base, "--database", database)
	p.cmd.Dir = t.TempDir()
	p.cmd.Env = baseEnviron(env...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	p.cmd.WaitDelay = 5 * time.Second
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			p.cmd.Process.Kill()
			<-p.done
		}
		if strings.Contains(p.stderr.String(), "WARNING: DATA RACE") {
			t.Errorf("the race detector found a data race in bridgekeeper (pid %d):\n%s", p.cmd.Process.Pid, p.stderr)
		} else if t.Failed() {
			t.Logf("serve (pid %d) stdout:\n%s\nserve stderr (tail):\n%s", p.cmd.Process.Pid, p.stdout, tail(p.stderr.String(), 60))
		}
	})
	if err := proctest.WaitServing(p.Base, p.stderr, p.done, readyWithin); err != nil {
		if p.exited() {
			err = fmt.Errorf("%w: %v", err, p.waitErr)
		}
		t.Fatalf("%v\nstdout:\n%s\nstderr:\n%s", err, p.stdout, p.stderr)
	}
	return p
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill9 sends SIGKILL and waits for the process to be gone.
func (p *process) kill9(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9: %v", err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("serve still running 10s after SIGKILL")
	}
	if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("serve did not die of SIGKILL: %v", p.cmd.ProcessState)
	}
}

// checkAlive fails the test if the process has exited or logged a panic.
func (p *process) checkAlive(t *testing.T) {
	t.Helper()
	if p.exited() {
		t.Errorf("serve exited during the test: %v\nstderr (tail):\n%s", p.waitErr, tail(p.stderr.String(), 40))
	}
	if log := strings.ToLower(p.stderr.String() + p.stdout.String()); strings.Contains(log, "panic") {
		var lines []string
		for _, l := range strings.Split(log, "\n") {
			if strings.Contains(l, "panic") {
				lines = append(lines, l)
			}
		}
		t.Errorf("serve logged a panic (%d lines), e.g.:\n%s", len(lines), strings.Join(lines[:min(len(lines), 5)], "\n"))
	}
}

// reply is one answer of the broker, or the transport error instead.
type reply struct {
	Op         string        `json:"-"`
	Status     int           `json:"-"`
	RetryAfter string        `json:"-"`
	Took       time.Duration `json:"-"`
	Err        error         `json:"-"` // transport error, or a body that is not JSON
	Raw        string        `json:"-"`
	Start      time.Time     `json:"-"`

	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
	Error        string `json:"error"`
	Active       bool   `json:"active"`
	Exp          int64  `json:"exp"`
	TokenUse     string `json:"token_use"`
}

func (r reply) String() string {
	if r.Err != nil {
		return fmt.Sprintf("%s: %v after %s", r.Op, r.Err, r.Took.Round(time.Millisecond))
	}
	return fmt.Sprintf("%s: %d (Retry-After %q) after %s: %s", r.Op, r.Status, r.RetryAfter, r.Took.Round(time.Millisecond), truncate(r.Raw, 200))
}

// ok reports a 200 with the body the operation needs.
func (r reply) ok() bool {
	if r.Err != nil || r.Status != http.StatusOK {
		return false
	}
	switch r.Op {
	case opRefresh, opLogin:
		return r.AccessToken != "" && r.RefreshToken != ""
	case opClientCredentials:
		return r.AccessToken != ""
	case opIntrospect:
		return r.Active
	}
	return true
}

// unavailable reports a 503 with Retry-After, the answer for a database
// that cannot be used.
func (r reply) unavailable() bool {
	return r.Err == nil && r.Status == http.StatusServiceUnavailable && r.RetryAfter != ""
}

// The operations of the load.
const (
	opRefresh           = "refresh_token"
	opLogin             = "server_custom_id"
	opClientCredentials = "client_credentials"
	opIntrospect        = "introspect"
	opReadyz            = "readyz"
)

// api calls one broker as one client.
type api struct {
	base  string
	creds credentials
	hc    *http.Client
}

// clientTimeout is far beyond any bound the tests assert, so that a hang
// shows as a measured latency rather than as a missing answer.
const clientTimeout = 20 * time.Second

func newAPI(base string, creds credentials) *api {
	return &api{base: base, creds: creds, hc: &http.Client{
		Timeout: clientTimeout,
		Transport: &http.Transport{
			Proxy:               nil, // loopback
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 128,
		},
	}}
}

func (a *api) close() { a.hc.CloseIdleConnections() }

func (a *api) do(op string, req *http.Request) reply {
	r := reply{Op: op, Start: time.Now()}
	res, err := a.hc.Do(req)
	if err != nil {
		r.Took, r.Err = time.Since(r.Start), err
		return r
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	r.Took = time.Since(r.Start)
	r.Status, r.RetryAfter, r.Raw = res.StatusCode, res.Header.Get("Retry-After"), string(body)
	if err != nil {
		r.Err = err
		return r
	}
	if err := json.Unmarshal(body, &r); err != nil {
		r.Err = fmt.Errorf("%d answer is not JSON: %w", res.StatusCode, err)
	}
	return r
}

func (a *api) post(op, path string, form url.Values) reply {
	req, err := a.formRequest(path, form)
	if err != nil {
		return reply{Op: op, Err: err}
	}
	return a.do(op, req)
}

// formRequest is a POST of form to path with the client's credentials.
func (a *api) formRequest(path string, form url.Values) (*http.Request, error) {
	req, err := http.NewRequest(http.MethodPost, a.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// RFC 6749 §2.3.1: id and secret are form-encoded before Basic.
	req.SetBasicAuth(url.QueryEscape(a.creds.ClientID), url.QueryEscape(a.creds.ClientSecret))
	return req, nil
}

func (a *api) refresh(rt string) reply {
	return a.post(opRefresh, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
}

func (a *api) login(customID string) reply {
	return a.post(opLogin, "/oauth2/token", url.Values{"grant_type": {"server_custom_id"}, "server_custom_id": {customID}})
}

func (a *api) clientCredentials() reply {
	return a.post(opClientCredentials, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}})
}

// introspect asks about tok; hint is "" or "refresh_token".
func (a *api) introspect(tok, hint string) reply {
	form := url.Values{"token": {tok}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	return a.post(opIntrospect, "/oauth2/introspect", form)
}

func (a *api) readyz() reply {
	req, err := http.NewRequest(http.MethodGet, a.base+"/readyz", nil)
	if err != nil {
		return reply{Op: opReadyz, Err: err}
	}
	return a.do(opReadyz, req)
}

// recorder collects replies from many goroutines.
type recorder struct {
	mu      sync.Mutex
	replies []reply
}

func (rec *recorder) add(r reply) {
	rec.mu.Lock()
	rec.replies = append(rec.replies, r)
	rec.mu.Unlock()
}

func (rec *recorder) all() []reply {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.replies)
}

// stats summarises replies.
type stats struct {
	n, ok, unavailable, other, transport int
	max                                  time.Duration
	slowest                              reply
}

func summarize(rs []reply) stats {
	var s stats
	for _, r := range rs {
		s.n++
		switch {
		case r.Err != nil:
			s.transport++
		case r.ok():
			s.ok++
		case r.unavailable():
			s.unavailable++
		default:
			s.other++
		}
		if r.Took > s.max {
			s.max, s.slowest = r.Took, r
		}
	}
	return s
}

func (s stats) String() string {
	return fmt.Sprintf("%d requests: %d ok, %d 503+Retry-After, %d other answers, %d transport errors; max latency %s",
		s.n, s.ok, s.unavailable, s.other, s.transport, s.max.Round(time.Millisecond))
}

// byOp groups replies by operation, in a stable order.
func byOp(rs []reply) ([]string, map[string][]reply) {
	m := map[string][]reply{}
	for _, r := range rs {
		m[r.Op] = append(m[r.Op], r)
	}
	var ops []string
	for op := range m {
		ops = append(ops, op)
	}
	slices.Sort(ops)
	return ops, m
}

// reportUnexpected fails the test with up to 10 examples of the replies
// that bad picks out.
func reportUnexpected(t *testing.T, what string, rs []reply, bad func(reply) bool) int {
	t.Helper()
	var examples []string
	n := 0
	for _, r := range rs {
		if bad(r) {
			n++
			if len(examples) < 10 {
				examples = append(examples, "  "+r.String())
			}
		}
	}
	if n > 0 {
		t.Errorf("%s: %d of %d replies, e.g.:\n%s", what, n, len(rs), strings.Join(examples, "\n"))
	}
	return n
}

// parallel runs fn(i) for i in [0, n) on at most width goroutines.
func parallel(n, width int, fn func(i int)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, width)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(i)
		}()
	}
	wg.Wait()
}

func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
