package testdb

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/bridgekeeper/bridgekeeper/broker/store/sqlite"
)

// sqliteTemplate is the migrated database file that SQLiteURL copies,
// built by the first call in a test binary. It is the package's one
// process-wide value: written once, then only read, so that a binary
// migrates SQLite once instead of once per test (goose and the migrations
// cost a tenth of a CPU-second per file under -race). Per process rather
// than on disk, so that it is always made by the code under test.
var sqliteTemplate struct {
	once sync.Once
	data []byte
	err  error
}

// SQLiteURL returns the sqlite:// URL of a database file of t's own, in its
// temporary directory, with every migration applied: a copy of a file that
// sqlite.Open migrated once per test binary. Opening it finds nothing to
// migrate.
func SQLiteURL(t testing.TB) string {
	t.Helper()
	sqliteTemplate.once.Do(func() { sqliteTemplate.data, sqliteTemplate.err = buildSQLiteTemplate() })
	if sqliteTemplate.err != nil {
		t.Fatalf("testdb: %v", sqliteTemplate.err)
	}
	path := filepath.Join(t.TempDir(), "bk.db")
	if err := os.WriteFile(path, sqliteTemplate.data, 0o600); err != nil {
		t.Fatalf("testdb: %v", err)
	}
	// Escaped: subtest directories can hold '#' and '%', which PathFromURL
	// would otherwise read as URL syntax.
	u := url.URL{Scheme: "sqlite", Path: filepath.ToSlash(path)}
	return u.String()
}

// buildSQLiteTemplate migrates a new file with sqlite.Open and returns its
// contents once closed.
func buildSQLiteTemplate() ([]byte, error) {
	dir, err := os.MkdirTemp("", "bridgekeeper-sqlite-template-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "bk.db")
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		return nil, fmt.Errorf("migrate the SQLite template: %w", err)
	}
	if err := s.Close(); err != nil {
		return nil, fmt.Errorf("close the SQLite template: %w", err)
	}
	// The last connection to close checkpoints the WAL into the file and
	// deletes it; a WAL left over would hold part of the schema.
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > 0 {
		return nil, fmt.Errorf("the SQLite template %s kept a WAL of %d bytes after Close", path, fi.Size())
	}
	return os.ReadFile(path)
}
