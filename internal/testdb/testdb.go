package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvPostgresURL names the variable holding the admin URL of the test
// cluster: a superuser connection to its `postgres` database.
const EnvPostgresURL = "BRIDGEKEEPER_TEST_POSTGRES_URL"

// adminTimeout bounds CREATE and DROP DATABASE; with fsync on, both wait for
// a checkpoint-sized write and can take a while on a slow disk.
const adminTimeout = 2 * time.Minute

// Postgres returns the URL of a new, empty database on the test cluster; it
// is dropped, with any connections still open to it, when t ends.
func Postgres(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(EnvPostgresURL)
	if admin == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set; under CI the PostgreSQL tests must run (make test sets it)", EnvPostgresURL)
		}
		t.Skipf("%s is not set; it is set by make test", EnvPostgresURL)
	}
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("%s must be a postgres:// URL, got %q", EnvPostgresURL, admin)
	}

	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("testdb: %v", err)
	}
	name := "bktest_" + hex.EncodeToString(b[:])
	if err := adminExec(admin, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("testdb: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		// FORCE: a test that failed midway may not have closed its pool.
		if err := adminExec(admin, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("testdb: drop database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

// adminExec runs one statement on the admin database. Not t.Context(): that
// is already cancelled when cleanups run.
func adminExec(admin, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", EnvPostgresURL, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	return nil
}

// SQLiteURL returns a sqlite:// URL of a database file in t's temporary
// directory; the file does not exist yet.
func SQLiteURL(t testing.TB) string {
	t.Helper()
	// Escaped: subtest directories can hold '#' and '%', which PathFromURL
	// would otherwise read as URL syntax.
	u := url.URL{Scheme: "sqlite", Path: filepath.ToSlash(filepath.Join(t.TempDir(), "bk.db"))}
	return u.String()
}
