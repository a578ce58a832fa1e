package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/bridgekeeper/bridgekeeper/config"
	"github.com/bridgekeeper/bridgekeeper/internal/loopback"
)

// proc is a server process the benchmark started; its output goes to a log
// file that is shown when it fails.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has exited
	waitErr error
}

// startProc starts bin with args and extra environment, logging to
// logDir/name.log.
func startProc(name, logDir string, env []string, bin string, args ...string) (*proc, error) {
	logPath := filepath.Join(logDir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// stop asks the process to shut down (SIGTERM) and kills it if it has not
// within five seconds.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// tail returns the end of the process's log, for error messages.
func (p *proc) tail() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return ""
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(bytes.TrimSpace(b))
}

// waitReady polls GET url until it answers 200, the process exits or the
// timeout passes.
func (p *proc) waitReady(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := c.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready (%v); log %s:\n%s", p.name, p.waitErr, p.logPath, p.tail())
		case <-ctx.Done():
			return fmt.Errorf("%s not ready at %s after %v; log %s:\n%s", p.name, url, timeout, p.logPath, p.tail())
		case <-tick.C:
		}
	}
}

// clientCredentials is `bridgekeeper client create --output json`'s answer.
type clientCredentials struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

// createBrokerClient registers the benchmark's client, allowed every grant
// the scenarios use, in namespace "bench".
func createBrokerClient(ctx context.Context, bin, dbURL string, env []string) (clientCredentials, error) {
	var c clientCredentials
	cmd := exec.CommandContext(ctx, bin, "client", "create",
		"--database", dbURL, "--namespace", "bench", "--name", "bench",
		"--grant", grantClientCredentials, "--grant", "server_custom_id", "--grant", grantRefreshToken, "--grant", grantExchange,
		"--output", "json")
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return c, fmt.Errorf("client create: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	if err := json.Unmarshal(out, &c); err != nil {
		return c, fmt.Errorf("client create: decode %q: %w", out, err)
	}
	if c.ClientID == "" || c.ClientSecret == "" {
		return c, fmt.Errorf("client create: answer %q lacks client_id or client_secret", out)
	}
	return c, nil
}

// selfExec is how to run this binary's limit-server mode.
type selfExec struct {
	bin    string
	prefix []string // arguments before "limit-server", e.g. ["bench"]
}

// startLimit starts a limit server of kind as its own process and waits
// until it is ready.
func startLimit(ctx context.Context, self selfExec, kind, dbURL string, pool int, logDir string) (*proc, string, error) {
	addr, err := loopback.FreeAddr()
	if err != nil {
		return nil, "", err
	}
	args := append(append([]string{}, self.prefix...), "limit-server",
		"--kind", kind, "--addr", addr, "--pool", strconv.Itoa(pool))
	if dbURL != "" {
		args = append(args, "--postgres-url", dbURL)
	}
	// The limit server collects garbage as the broker does (serve's
	// config.GCPercent, or the GOGC both inherit), so that the ratio
	// compares the work done per request, not two collector settings.
	var env []string
	if _, set := os.LookupEnv("GOGC"); !set {
		env = []string{"GOGC=" + strconv.Itoa(config.GCPercent)}
	}
	p, err := startProc("limit-"+kind, logDir, env, self.bin, args...)
	if err != nil {
		return nil, "", err
	}
	base := "http://" + addr
	if err := p.waitReady(ctx, base+"/readyz", 30*time.Second); err != nil {
		p.stop()
		return nil, "", err
	}
	return p, base, nil
}

// startBroker starts `bridgekeeper serve` on a free port with the given
// environment (the KEK), waits for /readyz, then creates the client.
func startBroker(ctx context.Context, bin, dbURL string, env []string, logDir string, args ...string) (*proc, side, error) {
	p, base, err := startServe(ctx, "broker", bin, dbURL, env, logDir, args...)
	if err != nil {
		return nil, side{}, err
	}
	// serve migrates the database before it reports ready, so the client
	// can only be created afterwards.
	c, err := createBrokerClient(ctx, bin, dbURL, env)
	if err != nil {
		p.stop()
		return nil, side{}, errors.Join(err, fmt.Errorf("broker log %s:\n%s", p.logPath, p.tail()))
	}
	return p, side{Name: "broker", BaseURL: base, ID: c.ClientID, Secret: c.ClientSecret}, nil
}

// startServe starts `bridgekeeper serve` on a free port and waits for
// /readyz; it returns the process and its base URL.
func startServe(ctx context.Context, name, bin, dbURL string, env []string, logDir string, args ...string) (*proc, string, error) {
	addr, err := loopback.FreeAddr()
	if err != nil {
		return nil, "", err
	}
	base := "http://" + addr
	// The admin listener is not measured, and its default port may be a
	// running `make run`'s.
	p, err := startProc(name, logDir, append(env, "BRIDGEKEEPER_ADMIN_ADDR=off"), bin,
		append([]string{"serve", "--addr", addr, "--database", dbURL, "--issuer", base}, args...)...)
	if err != nil {
		return nil, "", err
	}
	if err := p.waitReady(ctx, base+"/readyz", 60*time.Second); err != nil {
		p.stop()
		return nil, "", err
	}
	return p, base, nil
}
