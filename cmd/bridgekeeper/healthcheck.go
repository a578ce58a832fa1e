package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// healthcheck asks the broker this configuration describes whether it is
// ready (GET /readyz on its listen address) and fails unless it answers
// 200. It is the container image's HEALTHCHECK: a distroless image has no
// curl, and the command reads the same settings as serve, so it finds the
// port wherever serve was told to listen.
func healthcheck(ctx context.Context, args []string, e env) error {
	s := newSettings("healthcheck", e, "addr", "listen address of the broker to check (host:port)")
	timeout := s.fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	cfg, err := s.load(args, e)
	if err != nil {
		return err
	}
	url := "http://" + dialable(cfg.Addr) + "/readyz"
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	res, err := (&http.Client{Transport: &http.Transport{Proxy: nil}}).Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 512))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s: %s", url, res.Status, body)
	}
	fmt.Fprintf(e.stdout, "%s: %s\n", url, res.Status)
	return nil
}

// dialable turns a listen address into one to connect to: a wildcard host
// (":8080", "0.0.0.0:8080", "[::]:8080") is this machine's loopback.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
