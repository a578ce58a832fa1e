package testdb

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
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
