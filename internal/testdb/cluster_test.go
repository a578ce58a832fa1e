package testdb

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func TestCluster(t *testing.T) {
	c := NewCluster(t)
	db := c.NewDatabase(t)
	if !strings.Contains(db, "127.0.0.1:") || !strings.Contains(db, "/bkfault_") {
		t.Fatalf("NewDatabase = %q", db)
	}
	exec := func(sql string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, db)
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := exec(`CREATE TABLE kept (n int); INSERT INTO kept VALUES (1)`); err != nil {
		t.Fatal(err)
	}

	c.Stop()
	if err := exec(`SELECT 1`); err == nil {
		t.Fatal("the stopped cluster still answers")
	}
	c.Start()
	if err := exec(`DELETE FROM kept WHERE n = 1`); err != nil {
		t.Fatalf("after Start, on the same URL: %v", err)
	}
}

// A synchronous standby has each row its primary committed, refuses
// writes, and takes them once promoted after the primary was killed. (The
// asynchronous standby gets the same workout in the fault package's
// TestFailoverAsynchronousStandby; a case of its own here would cost
// another 8 s of make test for one ALTER SYSTEM less.)
func TestStandby(t *testing.T) {
	primary := NewCluster(t)
	db := primary.NewDatabase(t)
	standby := primary.NewStandby(t, true)
	onStandby := strings.Replace(db, fmt.Sprintf(":%d/", primary.Port()), fmt.Sprintf(":%d/", standby.Port()), 1)
	exec := func(url, sql string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := exec(db, `CREATE TABLE kept (n int); INSERT INTO kept VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	// synchronous_commit = on waits for the standby's flush, not for its
	// replay, which the poll covers.
	for deadline := time.Now().Add(10 * time.Second); ; {
		err := exec(onStandby, `DO $$ BEGIN PERFORM 1 FROM kept WHERE n = 1; IF NOT FOUND THEN RAISE 'not replicated'; END IF; END $$`)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the standby does not have the primary's row: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var pgErr *pgconn.PgError
	if err := exec(onStandby, `INSERT INTO kept VALUES (2)`); !errors.As(err, &pgErr) || pgErr.Code != "25006" {
		t.Fatalf("a write on the standby should fail with 25006 (read_only_sql_transaction); got %v", err)
	}

	primary.Kill9()
	if err := exec(db, `SELECT 1`); err == nil {
		t.Fatal("the killed primary still answers")
	}
	standby.Promote()
	if err := exec(onStandby, `INSERT INTO kept VALUES (2)`); err != nil {
		t.Fatalf("the promoted standby refuses a write: %v", err)
	}
}
