package postgres

import (
	"net/url"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/internal/testdb"
)

// TestOpen checks what the conformance suite cannot see: the URL's pool
// settings are honoured, even a one-connection pool can migrate, and a second
// Open of a migrated database finds nothing to do and keeps the data.
func TestOpen(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(testdb.EmptyPostgres(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("pool_max_conns", "1")
	u.RawQuery = q.Encode()
	dbURL := u.String()
	s, err := Open(t.Context(), dbURL)
	if err != nil {
		t.Fatalf("Open with pool_max_conns=1: %v", err)
	}
	if got := s.pool.Config().MaxConns; got != 1 {
		t.Errorf("pool MaxConns: got %d, want 1 from the URL", got)
	}
	ns := broker.Namespace{ID: "ns-1", Name: "alpha", CreatedAt: time.Now()}
	if err := s.CreateNamespace(t.Context(), ns); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(t.Context(), dbURL)
	if err != nil {
		t.Fatalf("second Open: %v", err)
	}
	defer s.Close()
	if _, err := s.GetNamespace(t.Context(), "ns-1"); err != nil {
		t.Errorf("GetNamespace after reopening: %v", err)
	}
}

func TestOpenBadURL(t *testing.T) {
	t.Parallel()
	if _, err := Open(t.Context(), "postgres://127.0.0.1:1/nowhere?connect_timeout=1"); err == nil {
		t.Errorf("Open of an unreachable server: got nil error")
	}
	if _, err := Open(t.Context(), "postgres://%zz"); err == nil {
		t.Errorf("Open of a malformed URL: got nil error")
	}
}
