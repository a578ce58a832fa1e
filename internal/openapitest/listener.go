package openapitest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// Listener wraps a server's listener so that every HTTP/1.1 exchange on its
// connections is checked against c, whoever the client is: the tests' own
// requests, golang.org/x/oauth2 and go-oidc clients, a headless browser, a
// hand-written request on a raw connection. It reads a copy of the bytes
// each way and never changes or delays what the server reads or writes.
//
// Mismatches are reported to tb when the test ends, once the server has
// closed its connections: close the server in a cleanup registered after
// this call (httptest.Server.Close, as t.Cleanup(srv.Close) after Start).
func Listener(tb testing.TB, c *Contract, ln net.Listener) net.Listener {
	w := newWiretap(c, ln)
	tb.Cleanup(func() {
		tb.Helper()
		for _, msg := range w.finish(10 * time.Second) {
			tb.Errorf("openapi contract: %s", msg)
		}
	})
	return w
}

// wiretap is the listener: it counts the connections it hands out and
// gathers their mismatches.
type wiretap struct {
	net.Listener
	contract *Contract
	conns    sync.WaitGroup

	mu     sync.Mutex
	errors []string
}

func newWiretap(c *Contract, ln net.Listener) *wiretap {
	return &wiretap{Listener: ln, contract: c}
}

func (w *wiretap) Accept() (net.Conn, error) {
	c, err := w.Listener.Accept()
	if err != nil {
		return c, err
	}
	tc := &tappedConn{Conn: c, in: newStream(), out: newStream()}
	w.conns.Go(func() { w.follow(tc) })
	return tc, nil
}

func (w *wiretap) report(msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.errors = append(w.errors, msg)
}

// finish waits up to wait for every connection to be closed and followed
// to its end, and returns the mismatches found.
func (w *wiretap) finish(wait time.Duration) []string {
	done := make(chan struct{})
	go func() { w.conns.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(wait):
		w.report(fmt.Sprintf("connections still open %v after the test; their last exchanges are unchecked", wait))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.errors...)
}

// follow parses the two byte streams of one connection as HTTP/1.1, one
// request then its answer, and checks each exchange. What cannot be parsed
// (a test's deliberately broken request, which net/http itself refuses)
// ends the following: nothing after it can be paired.
func (w *wiretap) follow(c *tappedConn) {
	reqs, resps := bufio.NewReader(c.in), bufio.NewReader(c.out)
	for {
		req, err := http.ReadRequest(reqs)
		if err != nil {
			return
		}
		body, berr := io.ReadAll(req.Body)
		ex := Exchange{Request: req, Body: body, BodyUnread: berr != nil}
		resp, err := readFinalResponse(resps, req)
		if err != nil {
			return
		}
		ex.Status, ex.Header = resp.StatusCode, resp.Header
		ex.ResponseBody, err = io.ReadAll(resp.Body)
		if err != nil {
			return
		}
		if err := w.contract.Check(context.Background(), ex); err != nil {
			w.report(fmt.Sprintf("%s %s -> %d: %v", req.Method, req.URL.RequestURI(), resp.StatusCode, err))
		}
		if berr != nil {
			return // the request stream ended inside the body
		}
	}
}

// readFinalResponse reads req's answer, past any 1xx interim responses.
func readFinalResponse(r *bufio.Reader, req *http.Request) (*http.Response, error) {
	for {
		resp, err := http.ReadResponse(r, req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			return resp, nil
		}
	}
}

// tappedConn copies what the server reads into in and what it writes into
// out; both end when the server closes the connection.
type tappedConn struct {
	net.Conn
	in, out *stream
}

func (c *tappedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.in.write(p[:n])
	return n, err
}

func (c *tappedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.out.write(p[:n])
	return n, err
}

func (c *tappedConn) Close() error {
	c.in.close()
	c.out.close()
	return c.Conn.Close()
}

// stream is an unbounded pipe: writes never block, so the server never
// waits for the follower; reads block until data comes or the stream
// closes.
type stream struct {
	mu     sync.Mutex
	more   *sync.Cond
	buf    []byte
	closed bool
}

func newStream() *stream {
	s := &stream{}
	s.more = sync.NewCond(&s.mu)
	return s
}

func (s *stream) write(p []byte) {
	if len(p) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.buf = append(s.buf, p...)
		s.more.Broadcast()
	}
}

func (s *stream) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.more.Broadcast()
}

func (s *stream) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.buf) == 0 && !s.closed {
		s.more.Wait()
	}
	if len(s.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.buf)
	s.buf = s.buf[n:]
	return n, nil
}
