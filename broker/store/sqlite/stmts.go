package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// stmts runs queries on a pool through statements prepared once per query
// text. Otherwise SQLite parses every query at every call, and the
// driver's parser (SQLite's C translated to Go) was the largest cost of a
// query after the query itself. The query texts are fixed by this package;
// maxStmts still bounds the cache, should one ever be built at run time.
type stmts struct {
	db *sql.DB

	mu sync.Mutex
	m  map[string]*sql.Stmt
}

const maxStmts = 256

func newStmts(db *sql.DB) *stmts { return &stmts{db: db, m: map[string]*sql.Stmt{}} }

// prepared is query's statement, prepared now if it is not yet; nil when
// it cannot be (the caller then runs the query unprepared, which reports
// the error, if any, as it always did).
func (c *stmts) prepared(ctx context.Context, query string) *sql.Stmt {
	c.mu.Lock()
	st, ok := c.m[query]
	full := len(c.m) >= maxStmts
	c.mu.Unlock()
	if ok || full {
		return st
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.m[query]; ok {
		// Prepared by another caller meanwhile.
		_ = st.Close()
		return prev
	}
	c.m[query] = st
	return st
}

func (c *stmts) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := c.prepared(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return c.db.ExecContext(ctx, query, args...)
}

func (c *stmts) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := c.prepared(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return c.db.QueryContext(ctx, query, args...)
}

func (c *stmts) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := c.prepared(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return c.db.QueryRowContext(ctx, query, args...)
}

// close closes the statements; the pool stays open.
func (c *stmts) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for q, st := range c.m {
		errs = append(errs, st.Close())
		delete(c.m, q)
	}
	return errors.Join(errs...)
}

// txStmts runs queries in tx through the statements of its pool, which
// database/sql reuses on the transaction's connection. A statement not yet
// prepared cannot be prepared on the pool now: the transaction holds the
// writer's only connection. The query runs unprepared and is remembered;
// prepareMissed prepares it once the transaction is over.
type txStmts struct {
	tx *sql.Tx
	c  *stmts

	mu     sync.Mutex
	missed []string
}

func (t *txStmts) stmt(ctx context.Context, query string) *sql.Stmt {
	t.c.mu.Lock()
	st := t.c.m[query]
	t.c.mu.Unlock()
	if st == nil {
		t.mu.Lock()
		t.missed = append(t.missed, query)
		t.mu.Unlock()
		return nil
	}
	return t.tx.StmtContext(ctx, st)
}

// prepareMissed prepares, on the pool, the queries the transaction ran
// unprepared. Call it after the transaction ended.
func (t *txStmts) prepareMissed(ctx context.Context) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, q := range t.missed {
		t.c.prepared(ctx, q)
	}
	t.missed = nil
}

func (t *txStmts) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := t.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, query, args...)
}

func (t *txStmts) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := t.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, query, args...)
}

func (t *txStmts) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := t.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, query, args...)
}
