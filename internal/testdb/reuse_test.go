package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os/exec"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// cloneForReuse makes a database from the template under a name of this
// process's, dropped when t ends, and returns its name and URL.
func cloneForReuse(t *testing.T, pool *pgxpool.Pool) (name, u string) {
	t.Helper()
	tmpl, err := templateName()
	if err != nil {
		t.Fatal(err)
	}
	if err := pool.AcquireFunc(t.Context(), func(c *pgxpool.Conn) error { return ensureTemplate(t.Context(), c.Conn(), tmpl) }); err != nil {
		t.Fatal(err)
	}
	var b [6]byte
	rand.Read(b[:])
	name = reusableName("reusetest" + hex.EncodeToString(b[:]))
	if err := createDatabase(t.Context(), pool, name, tmpl); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropDatabase(t, pool, name) })
	return name, databaseURL(t, name)
}

func databaseURL(t *testing.T, name string) string {
	parsed, err := url.Parse(adminURL(t))
	if err != nil {
		t.Fatal(err)
	}
	parsed.Path = "/" + name
	return parsed.String()
}

func count(t *testing.T, u, table string) int {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestReuse: a database goes back for the next test only as the template
// left it; one that a test changed otherwise is dropped.
func TestReuse(t *testing.T) {
	admin := adminURL(t)
	pool, err := adminPool(admin)
	if err != nil {
		t.Fatal(err)
	}
	const insert = `INSERT INTO namespaces (id, name, created_at) VALUES ('ns-1', 'alpha', now())`
	for _, tc := range []struct {
		name     string
		use      func(t *testing.T, u string) // what the test did to the database
		reusable bool
	}{
		{"rows written are deleted", func(t *testing.T, u string) { execSQL(t, u, insert) }, true},
		{"a session left open in a transaction is ended", func(t *testing.T, u string) {
			conn, err := pgx.Connect(t.Context(), u)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close(context.Background()) })
			if _, err := conn.Exec(t.Context(), "BEGIN; "+insert+"; LOCK TABLE clients IN ACCESS EXCLUSIVE MODE"); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"should be dropped because a column was added", func(t *testing.T, u string) {
			execSQL(t, u, `ALTER TABLE namespaces ADD COLUMN extra int`)
		}, false},
		{"should be dropped because an index was dropped", func(t *testing.T, u string) {
			execSQL(t, u, `DROP INDEX refresh_tokens_user_idx`)
		}, false},
		{"should be dropped because a migration was rolled back", func(t *testing.T, u string) {
			execSQL(t, u, `DELETE FROM goose_db_version WHERE version_id = (SELECT max(version_id) FROM goose_db_version)`)
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &reuse{}
			name, u := cloneForReuse(t, pool)
			r.learn(t.Context(), u)
			if r.plan == nil {
				t.Fatalf("no reset plan learned from a fresh clone: %v", r.planErr)
			}
			tc.use(t, u)
			err := r.release(t.Context(), pool, u, name)
			got := r.take()
			if !tc.reusable {
				if err == nil || got != "" {
					t.Fatalf("release = %v and take = %q; want an error and nothing to take", err, got)
				}
				return
			}
			if err != nil || got != name {
				t.Fatalf("release = %v and take = %q; want nil and %q", err, got, name)
			}
			if n := count(t, u, "namespaces"); n != 0 {
				t.Errorf("%d namespaces in the reused database, want 0", n)
			}
			if n := pending(t, u); n != 0 {
				t.Errorf("%d migrations pending on the reused database, want none", n)
			}
		})
	}

	t.Run("should not reuse because the template holds rows", func(t *testing.T) {
		r := &reuse{}
		name, u := cloneForReuse(t, pool)
		execSQL(t, u, insert) // as a migration seeding a row would
		r.learn(t.Context(), u)
		if r.plan != nil || r.planErr == nil || !strings.Contains(r.planErr.Error(), "rows in namespaces") {
			t.Fatalf("learned plan %v, %v from a clone with a row in namespaces; want none, for that reason", r.plan, r.planErr)
		}
		if err := r.release(t.Context(), pool, u, name); err == nil || r.take() != "" {
			t.Fatalf("release = %v over a seeded template; want an error and nothing kept", err)
		}
	})
}

// TestDropOrphans: the databases of a binary that has exited go, and a
// running one's stay.
func TestDropOrphans(t *testing.T) {
	admin := adminURL(t)
	pool, err := adminPool(admin)
	if err != nil {
		t.Fatal(err)
	}
	exited := exec.Command("true")
	if err := exited.Run(); err != nil {
		t.Fatal(err)
	}
	var b [6]byte
	rand.Read(b[:])
	orphan := fmt.Sprintf("%s%d_%s", dbPrefix, exited.Process.Pid, hex.EncodeToString(b[:]))
	if err := createDatabase(t.Context(), pool, orphan, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropDatabase(t, pool, orphan) })
	own, _ := cloneForReuse(t, pool)

	dropOrphans(t.Context(), pool)
	for name, want := range map[string]bool{orphan: false, own: true} {
		var exists bool
		if err := pool.QueryRow(t.Context(), `SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
			t.Fatal(err)
		}
		if exists != want {
			t.Errorf("database %s exists = %v after dropOrphans, want %v", name, exists, want)
		}
	}
}
