// Package testredis starts a redis-server of a test's own, for the tests
// of the shared rate-limit store: on 127.0.0.1 at a free port, in a
// temporary directory, without persistence, stopped when the test ends.
// A test may stop it and start it again on the same port, as an outage.
//
// Without the redis-server binary the test is skipped, except under CI,
// where a skipped test would pass while proving nothing, so it fails
// (scripts/test.sh installs Debian's redis-server), as internal/testdb
// does for PostgreSQL.
package testredis

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/internal/proctest"
)

// startWithin bounds a start: redis-server is ready in milliseconds, but
// the machine may be busy with a whole test run.
const startWithin = 20 * time.Second

// Server is one test's redis-server.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	addr string // 127.0.0.1:port

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// Start starts a redis-server for t, stopped when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("testredis: %v; under CI the rate-limit store tests must run (make test installs redis-server)", err)
		}
		t.Skipf("testredis: %v; make test installs redis-server", err)
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir()}
	t.Cleanup(s.Stop)
	// Another process may take the port between the check and the bind,
	// so a failed start is tried again on a fresh one.
	for attempt := 1; ; attempt++ {
		s.addr = proctest.FreeAddr(t)
		err = s.start()
		if err == nil {
			return s
		}
		if attempt >= 5 || !strings.Contains(s.log(), "ddress already in use") {
			t.Fatalf("testredis: %v\nredis.log:\n%s", err, s.log())
		}
	}
}

// URL is the server's address as rate_limit_store takes it.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Addr is host:port.
func (s *Server) Addr() string { return s.addr }

// Stop stops the server (SIGKILL: what an outage looks like to a client)
// and waits until it is gone; stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Restart starts the stopped server again, on the same port and empty.
func (s *Server) Restart() {
	s.t.Helper()
	if err := s.start(); err != nil {
		s.t.Fatalf("testredis: restart: %v\nredis.log:\n%s", err, s.log())
	}
}

// start runs redis-server and waits until it answers PING.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return fmt.Errorf("redis-server on %s is running already", s.addr)
	}
	os.Remove(s.logPath())
	_, port, err := net.SplitHostPort(s.addr)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bin, "--bind", "127.0.0.1", "--port", port,
		"--save", "", "--appendonly", "no", "--dir", s.dir, "--logfile", s.logPath(), "--daemonize", "no")
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	s.cmd, s.done = cmd, done
	deadline := time.Now().Add(startWithin)
	for {
		select {
		case <-done:
			s.cmd = nil
			return fmt.Errorf("redis-server exited at start: %v", cmd.ProcessState)
		default:
		}
		if ping(s.Addr()) == nil {
			return nil
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-done
			s.cmd = nil
			return fmt.Errorf("redis-server on %s not answering PING within %s", s.addr, startWithin)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *Server) logPath() string { return filepath.Join(s.dir, "redis.log") }

func (s *Server) log() string {
	b, _ := os.ReadFile(s.logPath())
	return string(b)
}

// ping sends PING in Redis's protocol and wants +PONG.
func ping(addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}
