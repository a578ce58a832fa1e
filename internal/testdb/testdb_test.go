package testdb

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestPostgres(t *testing.T) {
	var name string
	t.Run("fresh database", func(t *testing.T) {
		u := Postgres(t)
		other := Postgres(t)
		if u == other {
			t.Fatalf("two calls returned the same database %s", u)
		}
		conn, err := pgx.Connect(t.Context(), u)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		var tables int
		err = conn.QueryRow(t.Context(), `SELECT current_database(),
			(SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public')`).Scan(&name, &tables)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(name, "bktest_") || tables != 0 {
			t.Errorf("got database %q with %d tables, want a fresh bktest_ database", name, tables)
		}
		// Left open on purpose: the drop must not wait for it.
		if _, err := pgx.Connect(t.Context(), u); err != nil {
			t.Fatal(err)
		}
	})
	if name == "" {
		return // skipped
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
}

func TestSQLiteURL(t *testing.T) {
	u := SQLiteURL(t)
	if !strings.HasPrefix(u, "sqlite:///") || !strings.HasSuffix(u, "/bk.db") || strings.HasPrefix(u, "sqlite:////") {
		t.Errorf("SQLiteURL = %q, want sqlite:///<abs dir>/bk.db", u)
	}
}
