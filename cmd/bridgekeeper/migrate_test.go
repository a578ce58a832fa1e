package main

import (
	"os"
	"strings"
	"testing"

	"github.com/bridgekeeper/bridgekeeper/internal/proctest"
	"github.com/bridgekeeper/bridgekeeper/internal/testdb"
)

func TestMigrate(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s store) {
		db := unmigratedURL(t, s)
		// migrate needs no key-encryption key: it touches no secret.
		for i := range 2 {
			r := mustBK(t, nil, "migrate", "--database", db)
			if !strings.Contains(r.stdout, "migrations applied") {
				t.Errorf("run %d: stdout %q does not confirm the migrations", i+1, r.stdout)
			}
		}
		if s.name == "sqlite" {
			path := strings.TrimPrefix(db, "sqlite://")
			if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
				t.Errorf("migrate did not create the SQLite file %s: %v", path, err)
			}
		}
		// The schema is usable: the other commands work on it.
		if ls := listClients(t, db); len(ls) != 0 {
			t.Errorf("a freshly migrated database lists clients: %v", listedIDs(ls))
		}
		c := createClient(t, []string{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY=" + proctest.NewKEK()}, "--database", db, "--namespace", "ns", "--name", "n", "--grant", "client_credentials")
		// Migrating a database in use changes nothing.
		mustBK(t, nil, "migrate", "--database", db)
		if ls := listClients(t, db); len(ls) != 1 || ls[0].ClientID != c.ClientID {
			t.Errorf("after migrating again client list shows %v, want %s", listedIDs(ls), c.ClientID)
		}
	})
}

func TestMigrateDefaultDatabase(t *testing.T) {
	t.Parallel()
	// Without --database, migrate uses <data-dir>/bridgekeeper.db.
	dir := t.TempDir()
	mustBK(t, nil, "migrate", "--data-dir", dir)
	if _, err := os.Stat(dir + "/bridgekeeper.db"); err != nil {
		t.Errorf("migrate --data-dir %s: %v", dir, err)
	}
}

func TestMigrateUnreachablePostgres(t *testing.T) {
	t.Parallel()
	// Nothing listens on port 1: a clear failure, not a hang.
	r := bk(t, nil, "migrate", "--database", "postgres://bk:hunter2secret@127.0.0.1:1/bk?connect_timeout=5")
	if r.code == 0 {
		t.Fatalf("want a non-zero exit; got %v", r)
	}
	if strings.Contains(r.stderr, "hunter2secret") {
		t.Errorf("the error shows the database password:\n%s", r.stderr)
	}
}

// TestMigrateConcurrent: replicas (or serve and the CLI) starting at once on
// a fresh database must not trip over each other's migrations.
func TestMigrateConcurrent(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s store) {
		db := unmigratedURL(t, s)
		const n = 4
		results := make(chan result, n)
		for range n {
			go func() { results <- bkNoFatal(t, nil, "migrate", "--database", db) }()
		}
		var failed []result
		for range n {
			if r := <-results; r.code != 0 {
				failed = append(failed, r)
			}
		}
		for _, r := range failed {
			t.Errorf("concurrent migrate: %v", r)
		}
		if ls := listClients(t, db); len(ls) != 0 {
			t.Errorf("client list after concurrent migrations: %v", listedIDs(ls))
		}
	})
}

// unmigratedURL is the database the tests of migrate start from: an empty
// PostgreSQL database, as an operator's new one is (s.newURL is migrated
// already), and on SQLite what s.newURL gives, as before.
func unmigratedURL(t *testing.T, s store) string {
	if s.name == "postgres" {
		return testdb.EmptyPostgres(t)
	}
	return s.newURL(t)
}
