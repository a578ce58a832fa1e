// Package proctest holds what the tests that run the real bridgekeeper
// binary share: building it, a clean environment, a key-encryption key, a
// free loopback address, and a buffer for a running process's output.
package proctest

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/internal/loopback"
)

// NewKEK returns a fresh key-encryption key in the form the broker reads.
func NewKEK() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// Environ is the process environment without any BRIDGEKEEPER_* or GORACE
// entry, so that a developer's settings never leak into a test, plus extra.
// The admin listener is off unless extra sets BRIDGEKEEPER_ADMIN_ADDR (the
// last of duplicate entries wins): brokers started in parallel would all
// want its default port.
func Environ(extra ...string) []string {
	env := []string{"BRIDGEKEEPER_ADMIN_ADDR=off"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BRIDGEKEEPER_") && !strings.HasPrefix(kv, "GORACE=") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// FreeAddr returns a loopback address that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	addr, err := loopback.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// SyncBuffer collects a running process's output.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// RaceBinary reports whether a -race test run builds the binary under
// test with -race too, which BRIDGEKEEPER_TEST_RACE_BINARY=1 asks for.
// By default it does not: the server's code runs under the race detector
// in-process in the web, grants, broker and store tests, while a -race
// binary made the process-level tests (cmd, fault) cost 2.5 times the
// CPU (105 s against 42 s for cmd alone), the difference between make
// test fitting its five minutes on two cores or not.
func RaceBinary() bool { return os.Getenv("BRIDGEKEEPER_TEST_RACE_BINARY") == "1" }

// Main builds the bridgekeeper package at pkg into a temporary directory,
// points *binary at it, runs the tests and removes it: the TestMain of every
// package that runs the real binary. Extra build flags (e.g. -race) go to
// go build.
func Main(m *testing.M, binary *string, pkg string, buildFlags ...string) {
	dir, err := os.MkdirTemp("", "bridgekeeper-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "TestMain:", err)
		os.Exit(2)
	}
	*binary = filepath.Join(dir, "bridgekeeper")
	args := append(append([]string{"build", "-o", *binary}, buildFlags...), pkg)
	build := exec.Command("go", args...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "TestMain: go build:", err)
		os.RemoveAll(dir)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// servingLog is what serve logs once its own listener is bound.
const servingLog = "bridgekeeper serving"

// WaitServing waits until a serve process logs on stderr that it holds its
// listener and base/readyz then answers 200, or until within has passed or
// done (closed when the process has exited) is closed. A /readyz answer
// alone is not enough: it may come from another test's broker that holds
// the port.
func WaitServing(base string, stderr *SyncBuffer, done <-chan struct{}, within time.Duration) error {
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}}
	defer hc.CloseIdleConnections()
	deadline := time.Now().Add(within)
	status := "not logged " + servingLog
	for {
		select {
		case <-done:
			return fmt.Errorf("serve exited before it was ready")
		default:
		}
		if strings.Contains(stderr.String(), servingLog) {
			res, err := hc.Get(base + "/readyz")
			if err == nil {
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode == http.StatusOK {
					return nil
				}
				status = "GET /readyz: " + res.Status
			} else {
				status = err.Error()
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("serve not ready within %s (%s)", within, status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
