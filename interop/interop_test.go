// Package interop runs third-party clients, unchanged, against the real
// bridgekeeper binary: today GS2's TypeScript SDK (npm package gs2, in
// gs2sdk/), whose own test file sdk.test.js this package's test starts with
// `node --test`.
package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/internal/proctest"
	"github.com/bridgekeeper/bridgekeeper/platforms/idtoken/idtokentest"
)

// binary is the path of the bridgekeeper binary TestMain built.
var binary string

func TestMain(m *testing.M) { proctest.Main(m, &binary, "../cmd/bridgekeeper") }

// sdkDir holds the npm project of GS2's TypeScript SDK.
const sdkDir = "gs2sdk"

// The OpenID Connect takeover type (the id_token provider's slot) and the
// audience its ID tokens are for.
const (
	oidcSlot     = 30
	oidcAudience = "com.example.interop"
)

// TestGS2TypeScriptSDK runs gs2sdk/sdk.test.js (GS2's own SDK, as a game
// team's server uses it) against a fresh broker on loopback.
func TestGS2TypeScriptSDK(t *testing.T) {
	requireTools(t, "node")
	requireNodeModules(t)

	db := "sqlite://" + filepath.ToSlash(filepath.Join(t.TempDir(), "bk.db"))
	env := []string{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY=" + proctest.NewKEK()}
	// As an operator starts: migrate creates the database the other
	// commands refuse to create.
	run(t, env, "migrate", "--database", db)
	c := createClient(t, env, "--database", db, "--namespace", "gs2test", "--name", "sdk", "--grant", "client_credentials", "--grant", "gs2")
	// GS2's OpenID Connect takeovers: a fake issuer whose ID tokens the
	// provider of slot oidcSlot verifies; this test mints them.
	issuer := idtokentest.NewIssuer(t)
	cfg := filepath.Join(t.TempDir(), "bridgekeeper.yaml")
	yaml := fmt.Sprintf("providers:\n  - name: sdk-oidc\n    type: id_token\n    slot: %d\n    issuer: %s\n    audiences: [%s]\n",
		oidcSlot, issuer.URL(), oidcAudience)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	base := startServe(t, db, append(env, "BRIDGEKEEPER_CONFIG="+cfg))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "--test", "sdk.test.js")
	cmd.Dir = sdkDir
	cmd.Env = append(baseEnviron(),
		"BROKER_URL="+base,
		"CLIENT_ID="+c.ClientID,
		"CLIENT_SECRET="+c.ClientSecret,
		"NAMESPACE=gs2test", // the client's namespace, for GS2-Account
		fmt.Sprintf("OIDC_TYPE=%d", oidcSlot),
		"OIDC_SUB_A=apple.0001", "OIDC_ID_TOKEN_A="+issuer.Token("apple.0001", oidcAudience),
		"OIDC_SUB_B=apple.0002", "OIDC_ID_TOKEN_B="+issuer.Token("apple.0002", oidcAudience),
		"OIDC_ID_TOKEN_UNKNOWN="+issuer.Token("apple.0003", oidcAudience),
		"OIDC_ID_TOKEN_OTHER_AUDIENCE="+issuer.Token("apple.0001", "com.example.other"),
		// The SDK's HTTP library honours proxy variables; loopback must not
		// go through one.
		"NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost",
	)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	t.Logf("node --test sdk.test.js:\n%s", out.String())
	if err != nil {
		t.Fatalf("node --test sdk.test.js: %v (context: %v); its output is above", err, ctx.Err())
	}
}

// requireTools skips the test when a tool is not on PATH, unless CI is set:
// there a missing tool is a broken runner and fails the test.
func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is required when CI is set: %v", tool, err)
			}
			t.Skipf("%s is not installed (%v); set CI to make this a failure", tool, err)
		}
	}
}

// requireNodeModules checks that gs2sdk's locked dependencies are
// installed and not older than package-lock.json. The test itself never
// installs them, so that go test needs no network: scripts/test.sh (make
// test) runs npm ci before go test. Without them the test is skipped, or
// fails under CI, where a skip would pass while proving nothing.
func requireNodeModules(t *testing.T) {
	t.Helper()
	lock, err := os.Stat(filepath.Join(sdkDir, "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	// npm writes node_modules/.package-lock.json at the end of every install.
	installed, err := os.Stat(filepath.Join(sdkDir, "node_modules", ".package-lock.json"))
	problem := ""
	switch {
	case err != nil:
		problem = "interop/gs2sdk/node_modules is not installed"
	case installed.ModTime().Before(lock.ModTime()):
		problem = "interop/gs2sdk/node_modules is older than package-lock.json"
	default:
		return
	}
	fix := "run `make test` (scripts/test.sh runs npm ci before go test) or `npm ci` in interop/gs2sdk"
	if os.Getenv("CI") != "" {
		t.Fatalf("%s; under CI the interop test must run: %s", problem, fix)
	}
	t.Skipf("%s: %s; set CI to make this a failure", problem, fix)
}

func baseEnviron() []string { return proctest.Environ() }

// created is the --output json of client create.
type created struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

// createClient runs client create --output json with args and decodes its
// output.
func createClient(t *testing.T, env []string, args ...string) created {
	t.Helper()
	stdout := run(t, env, append([]string{"client", "create", "--output", "json"}, args...)...)
	var c created
	if err := json.Unmarshal(stdout, &c); err != nil || c.ClientID == "" || c.ClientSecret == "" {
		t.Fatalf("client create --output json: want {client_id, client_secret}, decoding gave %v\nstdout:\n%s", err, stdout)
	}
	return c
}

// run runs the broker binary with args and the environment baseEnviron()
// plus env, and returns its stdout; a failure ends the test.
func run(t *testing.T, env []string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = t.TempDir() // a default data/ directory lands here, not in the repo
	cmd.Env = append(baseEnviron(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		t.Fatalf("bridgekeeper %s: %v (context: %v)\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, ctx.Err(), &stdout, &stderr)
	}
	return stdout.Bytes()
}

// startServe starts serve on a free loopback port with database and the
// environment baseEnviron() plus env, and waits until /readyz answers 200.
// It returns the server's base URL. The process is killed when the test
// ends; its output is logged if the test failed.
func startServe(t *testing.T, database string, env []string) string {
	t.Helper()
	addr := proctest.FreeAddr(t)
	base := "http://" + addr
	stdout, stderr := &proctest.SyncBuffer{}, &proctest.SyncBuffer{}
	cmd := exec.Command(binary, "serve", "--addr", addr, "--issuer", base, "--database", database)
	cmd.Dir = t.TempDir()
	cmd.Env = append(baseEnviron(), env...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("serve stdout:\n%s\nserve stderr:\n%s", stdout, stderr)
		}
	})
	if err := proctest.WaitServing(base, stderr, done, 30*time.Second); err != nil {
		select {
		case <-done:
			err = fmt.Errorf("%w: %v", err, waitErr)
		default:
		}
		t.Fatal(err)
	}
	return base
}
