package sqlite

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// TestOpen checks what the conformance suite cannot see: the durability
// settings on each pool, the parent directory being created, and a second
// Open of a migrated file finding nothing to do and keeping the data.
func TestOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "bk.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		db     string
		pragma string
		want   string
	}{
		{"writer", "journal_mode", "wal"},
		{"writer", "synchronous", "2"}, // FULL
		{"writer", "foreign_keys", "1"},
		{"writer", "busy_timeout", "5000"},
		{"reader", "query_only", "1"},
		{"reader", "busy_timeout", "5000"},
	} {
		db := s.writeDB
		if c.db == "reader" {
			db = s.readDB
		}
		var got string
		if err := db.QueryRowContext(t.Context(), "PRAGMA "+c.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("%s PRAGMA %s: got %s, want %s", c.db, c.pragma, got, c.want)
		}
	}
	if n := s.writeDB.Stats().MaxOpenConnections; n != 1 {
		t.Errorf("writer MaxOpenConnections: got %d, want 1", n)
	}
	ns := broker.Namespace{ID: "ns-1", Name: "alpha", CreatedAt: time.Now()}
	if err := s.CreateNamespace(t.Context(), ns); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(t.Context(), path)
	if err != nil {
		t.Fatalf("second Open: %v", err)
	}
	defer s.Close()
	if _, err := s.GetNamespace(t.Context(), "ns-1"); err != nil {
		t.Errorf("GetNamespace after reopening: %v", err)
	}
}

func TestOpenBadPath(t *testing.T) {
	notADir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notADir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"", "bk.db?mode=ro", filepath.Join(notADir, "bk.db")} {
		if s, err := Open(t.Context(), p); err == nil {
			s.Close()
			t.Errorf("Open(%q): got nil error", p)
		}
	}
}
