package migrations_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/store/postgres"
	"github.com/bridgekeeper/bridgekeeper/broker/store/sqlite"
	"github.com/bridgekeeper/bridgekeeper/internal/testdb"
	"github.com/bridgekeeper/bridgekeeper/migrations"
)

// TestRotateInPlaceMigration: migration 11 turns the refresh tokens of a
// running broker, a row per token, into rows that rotate in place without
// losing a session: an unspent token stays current in its own row, a spent
// one is kept as spent (reuse still detected), every row learns its
// session's start. Undone, the rows of sessions rotated in place go.
func TestRotateInPlaceMigration(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	for _, tc := range dialects() {
		t.Run(string(tc.dialect), func(t *testing.T) {
			ctx := context.Background()
			db, _ := tc.migratedTo(t, 10)
			q := tc.rebind
			insert := q(`INSERT INTO refresh_tokens (hash, family_id, client_id, user_id, namespace_id, scope,
				created_at, expires_at, spent_at) VALUES (?, ?, 'c', 'u', 'n', '', ?, ?, ?)`)
			rows := []struct {
				token, family string
				created       time.Time
				spent         any
			}{
				{"a", "f", t0, tc.ts(t0.Add(time.Hour))},      // spent: replaced by b
				{"b", "f", t0.Add(time.Hour), nil},            // f's current token
				{"c", "g", t0.Add(2 * time.Hour), nil},        // g's first and current token
				{"d", "g-old", t0.Add(-time.Hour), tc.ts(t0)}, // spent, its successor purged
			}
			for _, r := range rows {
				if _, err := db.ExecContext(ctx, insert, h(r.token), r.family, tc.ts(r.created), tc.ts(t0.Add(24*time.Hour)), r.spent); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := migrations.Up(ctx, db, tc.dialect); err != nil {
				t.Fatal(err)
			}
			for _, want := range []struct {
				token     string
				cur, prev []byte
				started   time.Time
			}{
				{"a", nil, h("a"), t0},
				{"b", h("b"), nil, t0},
				{"c", h("c"), nil, t0.Add(2 * time.Hour)},
				{"d", nil, h("d"), t0.Add(-time.Hour)},
			} {
				var cur, prev []byte
				var started any
				if err := db.QueryRowContext(ctx, q(`SELECT cur, prev, started_at FROM refresh_tokens WHERE hash = ?`),
					h(want.token)).Scan(&cur, &prev, &started); err != nil {
					t.Fatalf("row of %s: %v", want.token, err)
				}
				if !bytes.Equal(cur, want.cur) || !bytes.Equal(prev, want.prev) || !sameTime(started, tc.ts(want.started)) {
					t.Errorf("row of %s: cur %x prev %x started %v; want %x, %x, %v", want.token, cur, prev, started, want.cur, want.prev, want.started)
				}
			}

			// A session rotated in place: its key is not its token's hash.
			if _, err := db.ExecContext(ctx, q(`UPDATE refresh_tokens SET cur = ? WHERE hash = ?`), h("c2"), h("c")); err != nil {
				t.Fatal(err)
			}
			if _, err := migrations.DownTo(ctx, db, tc.dialect, 10); err != nil {
				t.Fatal(err)
			}
			var left int
			if err := db.QueryRowContext(ctx, `SELECT count(*) FROM refresh_tokens`).Scan(&left); err != nil || left != 3 {
				t.Errorf("rows after undoing migration 11: %d (%v), want 3: all but the session rotated in place", left, err)
			}
		})
	}
}

// dialect is a dialect, an empty database of it, how it keeps a time, and
// the store on it.
type dialect struct {
	dialect migrations.Dialect
	driver  string
	dsn     func(t *testing.T) string
	ts      func(time.Time) any
	store   func(ctx context.Context, dsn string) (broker.Store, error)
}

// migratedTo opens an empty database of d, migrated up to version.
func (d dialect) migratedTo(t *testing.T, version int64) (*sql.DB, string) {
	t.Helper()
	dsn := d.dsn(t)
	db := openDB(t, d.driver, dsn)
	if _, err := migrations.UpTo(context.Background(), db, d.dialect, version); err != nil {
		t.Fatal(err)
	}
	return db, dsn
}

func dialects() []dialect {
	return []dialect{
		{migrations.Postgres, "pgx", func(t *testing.T) string { return testdb.EmptyPostgres(t) }, func(at time.Time) any { return at },
			func(ctx context.Context, dsn string) (broker.Store, error) { return postgres.Open(ctx, dsn) }},
		{migrations.SQLite, "sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "bk.db") },
			func(at time.Time) any { return at.UnixMilli() },
			func(ctx context.Context, dsn string) (broker.Store, error) { return sqlite.Open(ctx, dsn) }},
	}
}

func openDB(t *testing.T, driver, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// h is a token's hash, as the store keeps it.
func h(s string) []byte { b := sha256.Sum256([]byte(s)); return b[:] }

// rebind numbers a query's ? placeholders for PostgreSQL.
func (d dialect) rebind(text string) string {
	if d.dialect != migrations.Postgres {
		return text
	}
	var b strings.Builder
	n := 0
	for _, r := range text {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// sameTime compares a scanned time column with what was written.
func sameTime(got, want any) bool {
	if g, ok := got.(time.Time); ok {
		w, ok := want.(time.Time)
		return ok && g.Equal(w)
	}
	return got == want
}
