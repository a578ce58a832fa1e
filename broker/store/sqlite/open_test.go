package sqlite

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
		{"writer", "busy_timeout", "2000"},
		{"reader", "query_only", "1"},
		{"reader", "busy_timeout", "2000"},
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

// TestOutsideReaderKeepsWAL: a `sqlite3` shell that reads the live database
// and exits must find this process still connected and leave the WAL in
// place. When Open dropped its own POSIX locks (by closing a descriptor of
// the database file), the shell took itself for the last connection and
// deleted the WAL that every later write of this process went to.
func TestOutsideReaderKeepsWAL(t *testing.T) {
	shell := sqlite3Shell(t)
	path := filepath.Join(t.TempDir(), "bk.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateNamespace(t.Context(), broker.Namespace{ID: "ns-1", Name: "alpha", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(shell, path, "select count(*) from namespaces").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "1" {
		t.Fatalf("sqlite3 read: want 1, got %q (%v)", out, err)
	}
	if _, err := os.Stat(path + "-wal"); err != nil {
		t.Fatalf("after an outside reader exited, the live WAL is gone: %v", err)
	}
	// A write after the read must be on the file the next process sees.
	if err := s.CreateNamespace(t.Context(), broker.Namespace{ID: "ns-2", Name: "beta", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(shell, path, "select count(*) from namespaces").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "2" {
		t.Errorf("a second sqlite3 read: want 2 (the write after the first read), got %q (%v)", out, err)
	}
}

// sqlite3Shell finds Debian's sqlite3; scripts/test.sh installs it, so under
// CI its absence fails the test.
func sqlite3Shell(t *testing.T) string {
	p, err := exec.LookPath("sqlite3")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("sqlite3 shell: %v (make test installs it)", err)
		}
		t.Skipf("sqlite3 shell: %v", err)
	}
	return p
}
