package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/bridgekeeper/bridgekeeper/migrations"
)

// EnvPostgresURL names the variable holding the admin URL of the test
// cluster: a superuser connection to its `postgres` database.
const EnvPostgresURL = "BRIDGEKEEPER_TEST_POSTGRES_URL"

// adminTimeout bounds CREATE and DROP DATABASE, and building the template;
// with fsync on, each waits for a flush and can take a while on a slow disk.
const adminTimeout = 2 * time.Minute

// templateLockKey is the advisory lock (on the admin database) that
// serialises building a template across the test binaries that go test runs
// at once.
const templateLockKey = 0x626b746d706c // "bktmpl"

// Postgres returns the URL of a new database on the test cluster with every
// migration applied: a clone (CREATE DATABASE ... TEMPLATE) of a template
// database that is migrated once per cluster, not once per test. When t
// ends, connections still open to it are ended and it is emptied for the
// next test of the binary, or dropped if the test changed its schema.
func Postgres(t testing.TB) string {
	t.Helper()
	return newPostgres(t, true)
}

// EmptyPostgres returns the URL of a new database on the test cluster with
// no schema at all, for the tests of migrating one. It is dropped when t
// ends.
func EmptyPostgres(t testing.TB) string {
	t.Helper()
	return newPostgres(t, false)
}

// adminURL returns the test cluster's admin URL; without one the test is
// skipped, or fails under CI.
func adminURL(t testing.TB) string {
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
	return admin
}

func newPostgres(t testing.TB, migrated bool) string {
	t.Helper()
	admin := adminURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	pool, err := adminPool(admin)
	if err != nil {
		t.Fatalf("testdb: connect to %s: %v", EnvPostgresURL, err)
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("testdb: %v", err)
	}
	urlOf := func(name string) string {
		u, _ := url.Parse(admin)
		u.Path = "/" + name
		return u.String()
	}

	if !migrated {
		name := "bkempty_" + hex.EncodeToString(b[:])
		if err := createDatabase(ctx, pool, name, ""); err != nil {
			t.Fatalf("testdb: %v", err)
		}
		t.Cleanup(func() { dropDatabase(t, pool, name) })
		return urlOf(name)
	}

	r := reuseFor(ctx, admin, pool)
	name := r.take()
	if name == "" {
		name = reusableName(hex.EncodeToString(b[:]))
		tmpl, err := templateName()
		if err == nil {
			err = pool.AcquireFunc(ctx, func(c *pgxpool.Conn) error { return ensureTemplate(ctx, c.Conn(), tmpl) })
		}
		if err == nil {
			err = createDatabase(ctx, pool, name, tmpl)
		}
		if err != nil {
			t.Fatalf("testdb: %v", err)
		}
		r.learn(ctx, urlOf(name))
	}
	t.Cleanup(func() {
		// Not t.Context(): that is already cancelled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
		defer cancel()
		if err := r.release(ctx, pool, urlOf(name), name); err != nil {
			dropDatabase(t, pool, name)
		}
	})
	return urlOf(name)
}

// createDatabase creates name, as a clone of template unless that is "".
func createDatabase(ctx context.Context, pool *pgxpool.Pool, name, template string) error {
	create := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if template != "" {
		create += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	return execRetryInUse(ctx, pool, create)
}

// dropDatabase drops name, with any sessions still open on it.
func dropDatabase(t testing.TB, pool *pgxpool.Pool, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	// FORCE: a test that failed midway may not have closed its pool.
	if _, err := pool.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		t.Errorf("testdb: drop database %s: %v", name, err)
	}
}

// adminPools holds one pool of admin sessions per cluster URL for the
// whole test binary: a connection costs the server a process, tens of
// milliseconds of CPU, and every PostgreSQL test creates and drops a
// database through one.
var adminPools sync.Map // admin URL → *pgxpool.Pool

func adminPool(admin string) (*pgxpool.Pool, error) {
	if p, ok := adminPools.Load(admin); ok {
		return p.(*pgxpool.Pool), nil
	}
	cfg, err := pgxpool.ParseConfig(admin)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = 4
	p, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, err
	}
	if prev, loaded := adminPools.LoadOrStore(admin, p); loaded {
		p.Close()
		return prev.(*pgxpool.Pool), nil
	}
	return p, nil
}

// templateName is the name of the migrated template database: it carries
// the migrations' fingerprint, so that a template built from other
// migrations (another branch, an edited file) is never cloned.
func templateName() (string, error) {
	sum, err := migrations.Fingerprint(migrations.Postgres)
	if err != nil {
		return "", err
	}
	return "bktmpl_" + sum[:20], nil
}

// ensureTemplate makes sure the template database name exists, migrated,
// on the cluster that conn (a superuser session on another database) is
// connected to. The test binaries of one `go test ./...` run at once and
// share the cluster, so the first one to get the advisory lock builds it
// and the others wait for it, then find it ready. Ready means marked
// IS_TEMPLATE, which happens last: a database by that name that is not (a
// build that died midway) is dropped and built again. A ready template also
// refuses connections, so that no session ever blocks cloning it.
func ensureTemplate(ctx context.Context, conn *pgx.Conn, name string) error {
	ready := func() (exists, ready bool, err error) {
		err = conn.QueryRow(ctx, `SELECT datistemplate FROM pg_database WHERE datname = $1`, name).Scan(&ready)
		if errors.Is(err, pgx.ErrNoRows) {
			return false, false, nil
		}
		return err == nil, ready, err
	}
	if _, ok, err := ready(); err != nil || ok {
		return err // the common case: built by an earlier test
	}

	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(templateLockKey)); err != nil {
		return fmt.Errorf("lock for the template %s: %w", name, err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(templateLockKey))
	exists, ok, err := ready()
	if err != nil || ok {
		return err // another binary built it while this one waited
	}
	ident := pgx.Identifier{name}.Sanitize()
	if exists {
		if _, err := conn.Exec(ctx, "DROP DATABASE "+ident+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("drop the unfinished template %s: %w", name, err)
		}
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident); err != nil {
		return fmt.Errorf("create the template %s: %w", name, err)
	}
	cfg := conn.Config().Copy()
	cfg.Database = name
	db := stdlib.OpenDB(*cfg)
	_, err = migrations.Up(ctx, db, migrations.Postgres)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("migrate the template %s: %w", name, err)
	}
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+ident+" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"); err != nil {
		return fmt.Errorf("mark %s a template: %w", name, err)
	}
	return nil
}

// execRetryInUse runs sql, again while PostgreSQL answers object_in_use:
// CREATE DATABASE ... TEMPLATE refuses a template with a session on it, and
// the backend of the migration that built it may take a moment to exit.
func execRetryInUse(ctx context.Context, conn interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}, sql string) error {
	for wait := 50 * time.Millisecond; ; wait *= 2 {
		_, err := conn.Exec(ctx, sql)
		var pgErr *pgconn.PgError
		if err == nil || !errors.As(err, &pgErr) || pgErr.Code != "55006" || wait > 5*time.Second {
			if err != nil {
				return fmt.Errorf("%s: %w", sql, err)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", sql, err)
		case <-time.After(wait):
		}
	}
}
