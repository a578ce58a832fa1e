package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/store/sqlite"
	"github.com/bridgekeeper/bridgekeeper/migrations"
)

// pending reports how many migrations Up applies to the database at u: 0
// for a migrated one.
func pending(t *testing.T, u string) int {
	t.Helper()
	cfg, err := pgx.ParseConfig(u)
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	n, err := migrations.Up(t.Context(), db, migrations.Postgres)
	if err != nil {
		t.Fatalf("migrate %s: %v", u, err)
	}
	return n
}

// publicTables counts the tables of the database at u's public schema.
func publicTables(t *testing.T, u string) (name string, tables int) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	err = conn.QueryRow(t.Context(), `SELECT current_database(),
		(SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public')`).Scan(&name, &tables)
	if err != nil {
		t.Fatal(err)
	}
	return name, tables
}

func TestPostgres(t *testing.T) {
	for _, tc := range []struct {
		name     string
		new      func(testing.TB) string
		migrated bool
		prefix   string
	}{
		{"migrated clone", Postgres, true, "bktest_"},
		{"empty", EmptyPostgres, false, "bkempty_"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var name string
			t.Run("database", func(t *testing.T) {
				u := tc.new(t)
				other := tc.new(t)
				if u == other {
					t.Fatalf("two calls returned the same database %s", u)
				}
				var tables int
				name, tables = publicTables(t, u)
				if !strings.HasPrefix(name, tc.prefix) {
					t.Errorf("got database %q, want a %s database", name, tc.prefix)
				}
				if tc.migrated {
					if n := pending(t, u); n != 0 {
						t.Errorf("%d migrations were pending on the clone (%d tables), want none", n, tables)
					}
					// Clones do not share rows: a write to one is not in the other.
					execSQL(t, u, `INSERT INTO namespaces (id, name, created_at) VALUES ('ns-1', 'alpha', now())`)
					var n int
					conn, err := pgx.Connect(t.Context(), other)
					if err != nil {
						t.Fatal(err)
					}
					defer conn.Close(context.Background())
					if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM namespaces`).Scan(&n); err != nil || n != 0 {
						t.Errorf("the other clone has %d namespaces (%v), want 0", n, err)
					}
				} else if tables != 0 {
					t.Errorf("got database %q with %d tables, want an empty one", name, tables)
				}
				// Left open on purpose: the drop must not wait for it.
				if _, err := pgx.Connect(t.Context(), u); err != nil {
					t.Fatal(err)
				}
			})
			if name == "" || tc.migrated {
				return // skipped; migrated databases are reused (TestPostgresReuse)
			}
			conn, err := pgx.Connect(t.Context(), os.Getenv(EnvPostgresURL))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			var exists bool
			if err := conn.QueryRow(t.Context(), `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).
				Scan(&exists); err != nil {
				t.Fatal(err)
			}
			if exists {
				t.Errorf("database %s still exists after its test ended", name)
			}
		})
	}
}

// TestEnsureTemplate builds a template of its own name, as several test
// binaries starting at once do, also over one that a build left unfinished.
func TestEnsureTemplate(t *testing.T) {
	admin := adminURL(t)

	for _, tc := range []struct {
		name       string
		unfinished bool // a database by the template's name exists, not marked a template
	}{
		{"concurrent builds", false},
		{"over an unfinished build", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b [6]byte
			rand.Read(b[:])
			name := "bktmpl_test_" + hex.EncodeToString(b[:])
			ident := pgx.Identifier{name}.Sanitize()
			t.Cleanup(func() {
				// A template cannot be dropped; IS_TEMPLATE false fails only
				// when there is nothing to drop.
				execSQL(t, admin, "DO $$ BEGIN ALTER DATABASE "+ident+" WITH IS_TEMPLATE false; EXCEPTION WHEN invalid_catalog_name THEN END $$")
				execSQL(t, admin, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)")
			})
			if tc.unfinished {
				execSQL(t, admin, "CREATE DATABASE "+ident)
			}

			const builders = 4
			errs := make(chan error, builders)
			var wg sync.WaitGroup
			for range builders {
				wg.Go(func() {
					conn, err := pgx.Connect(t.Context(), admin)
					if err != nil {
						errs <- err
						return
					}
					defer conn.Close(context.Background())
					errs <- ensureTemplate(t.Context(), conn, name)
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Errorf("ensureTemplate: %v", err)
				}
			}

			conn, err := pgx.Connect(t.Context(), admin)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			var isTemplate, allowConn bool
			if err := conn.QueryRow(t.Context(), `SELECT datistemplate, datallowconn FROM pg_database WHERE datname = $1`, name).
				Scan(&isTemplate, &allowConn); err != nil {
				t.Fatal(err)
			}
			if !isTemplate || allowConn {
				t.Errorf("%s: datistemplate %v, datallowconn %v; want a template that refuses connections", name, isTemplate, allowConn)
			}
			clone := name + "_clone"
			if err := execRetryInUse(t.Context(), conn, "CREATE DATABASE "+pgx.Identifier{clone}.Sanitize()+" TEMPLATE "+ident); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { execSQL(t, admin, "DROP DATABASE IF EXISTS "+pgx.Identifier{clone}.Sanitize()+" WITH (FORCE)") })
			u, _ := url.Parse(admin)
			u.Path = "/" + clone
			if n := pending(t, u.String()); n != 0 {
				t.Errorf("%d migrations pending on a clone of %s, want none", n, name)
			}
		})
	}
}

// execSQL runs one statement on the database at u.
func execSQL(t *testing.T, u, sql string) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func TestSQLiteURL(t *testing.T) {
	u, other := SQLiteURL(t), SQLiteURL(t)
	for _, u := range []string{u, other} {
		if !strings.HasPrefix(u, "sqlite:///") || !strings.HasSuffix(u, "/bk.db") || strings.HasPrefix(u, "sqlite:////") {
			t.Errorf("SQLiteURL = %q, want sqlite:///<abs dir>/bk.db", u)
		}
	}
	if u == other {
		t.Fatalf("two calls returned the same file %s", u)
	}
	open := func(u string) *sqlite.Store {
		path, err := sqlite.PathFromURL(u)
		if err != nil {
			t.Fatal(err)
		}
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		n, err := migrations.Up(t.Context(), db, migrations.SQLite)
		if cerr := db.Close(); err == nil {
			err = cerr
		}
		if err != nil || n != 0 {
			t.Errorf("%s: %d migrations were pending (%v), want a migrated file", u, n, err)
		}
		s, err := sqlite.Open(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	// Copies do not share rows: a write to one is not in the other.
	a, b := open(u), open(other)
	if err := a.CreateNamespace(t.Context(), broker.Namespace{ID: "ns-1", Name: "alpha", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetNamespace(t.Context(), "ns-1"); !errors.Is(err, broker.ErrNotFound) {
		t.Errorf("the other copy: GetNamespace = %v, want ErrNotFound", err)
	}
}
