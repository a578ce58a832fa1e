// Package teststore opens the broker's two stores for tests: SQLite in the
// test's temporary directory, PostgreSQL as a fresh database of the
// cluster make test starts (internal/testdb). Each is closed when the test
// ends.
package teststore

import (
	"context"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/store/postgres"
	"github.com/bridgekeeper/bridgekeeper/broker/store/sqlite"
	"github.com/bridgekeeper/bridgekeeper/internal/testdb"
)

// Each runs fn on SQLite and on PostgreSQL, as parallel subtests named
// for the store.
func Each(t *testing.T, fn func(t *testing.T, s broker.Store)) {
	t.Helper()
	for _, open := range []struct {
		name string
		open func(testing.TB) broker.Store
	}{{"sqlite", SQLite}, {"postgres", Postgres}} {
		t.Run(open.name, func(t *testing.T) {
			t.Parallel()
			fn(t, open.open(t))
		})
	}
}

// SQLite is a new, migrated SQLite store.
func SQLite(t testing.TB) broker.Store {
	t.Helper()
	path, err := sqlite.PathFromURL(testdb.SQLiteURL(t))
	if err != nil {
		t.Fatal(err)
	}
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// SQLiteBusy is a new, migrated SQLite store that waits only busy for a
// lock held elsewhere, and its file's path, so that a test can hold that
// lock from outside as another process would.
func SQLiteBusy(t testing.TB, busy time.Duration) (broker.Store, string) {
	t.Helper()
	path, err := sqlite.PathFromURL(testdb.SQLiteURL(t))
	if err != nil {
		t.Fatal(err)
	}
	s, err := sqlite.OpenWith(context.Background(), path, sqlite.Options{BusyTimeout: busy})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

// Postgres is a new, migrated PostgreSQL store; testdb.Postgres skips or
// fails the test when no cluster is configured.
func Postgres(t testing.TB) broker.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), testdb.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
