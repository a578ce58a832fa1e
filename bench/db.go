package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// cluster is the admin connection to a throwaway PostgreSQL cluster, on which
// the benchmark creates one fresh database per side and drops it at the end.
type cluster struct {
	adminURL *url.URL
	conn     *pgx.Conn
	created  []string
}

// openCluster connects with the admin URL, which must be a postgres:// URL
// so that database URLs can be derived from it.
func openCluster(ctx context.Context, adminURL string) (*cluster, error) {
	u, err := url.Parse(adminURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, fmt.Errorf("--postgres must be a postgres:// URL, got %q", adminURL)
	}
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", u.Redacted(), err)
	}
	return &cluster{adminURL: u, conn: conn}, nil
}

// version is the server's version string, for the report.
func (c *cluster) version(ctx context.Context) string {
	var v string
	if err := c.conn.QueryRow(ctx, "SHOW server_version").Scan(&v); err != nil {
		return "unknown"
	}
	return v
}

// createDB creates a database named prefix_<random> and returns its URL.
// The random suffix lets runs share a cluster without colliding.
func (c *cluster) createDB(ctx context.Context, prefix string) (string, error) {
	suffix := make([]byte, 4)
	rand.Read(suffix)
	name := prefix + "_" + hex.EncodeToString(suffix)
	if _, err := c.conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	c.created = append(c.created, name)
	u := *c.adminURL
	u.Path = "/" + name
	return u.String(), nil
}

// checkpoint flushes dirty pages before a durable run, so that neither side
// pays for a checkpoint of the other side's writes. It needs superuser or
// pg_checkpoint; without either, the run goes on without it.
func (c *cluster) checkpoint(ctx context.Context) {
	_, _ = c.conn.Exec(ctx, "CHECKPOINT")
}

// close drops the databases it created (WITH (FORCE), PostgreSQL 13+, in
// case a killed server still holds connections) and disconnects. It uses its
// own deadline, since the caller's context may already be cancelled.
func (c *cluster) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	for _, name := range c.created {
		q := "DROP DATABASE IF EXISTS " + pgx.Identifier{name}.Sanitize() + " WITH (FORCE)"
		if _, err := c.conn.Exec(ctx, q); err != nil {
			errs = append(errs, fmt.Errorf("drop database %s: %w", name, err))
		}
	}
	errs = append(errs, c.conn.Close(ctx))
	return errors.Join(errs...)
}

// redact hides a URL's password for printing.
func redact(s string) string {
	if u, err := url.Parse(s); err == nil && strings.Contains(s, "://") {
		return u.Redacted()
	}
	return s
}
