package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bridgekeeper/bridgekeeper/broker/store/internal/sqlstore"
	"github.com/bridgekeeper/bridgekeeper/broker/store/retry"
)

// retrying is the querier of a Store outside InTx. Each statement there is
// a transaction of its own, and like InTx's it runs again (retry.Tx) when
// the database was too busy to take it: a deadlock or lock timeout on
// PostgreSQL, a serialization failure on CockroachDB or YugabyteDB
// (DISTRIBUTED-SQL.md). A statement that failed busy changed nothing, so
// running it again is safe; one whose outcome is unknown (a connection lost
// mid-commit) is classified unavailable and is never run again.
type retrying struct{ pool *pgxpool.Pool }

func (r retrying) Exec(ctx context.Context, sql string, args ...any) (tag pgconn.CommandTag, err error) {
	err = again(ctx, func() error {
		tag, err = r.pool.Exec(ctx, sql, args...)
		return err
	})
	return tag, err
}

// QueryRow runs the statement when the row is scanned, where pgx reports
// its error, so that is where it is retried.
func (r retrying) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return retryingRow{ctx: ctx, pool: r.pool, sql: sql, args: args}
}

// Query is not retried: its rows stream to the caller, who may have used
// some before an error shows. The store's multi-row statements are reads,
// which READ COMMITTED never fails for serialization on PostgreSQL, and
// which CockroachDB retries itself while the results fit its buffer.
func (r retrying) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return r.pool.Query(ctx, sql, args...)
}

type retryingRow struct {
	ctx  context.Context
	pool *pgxpool.Pool
	sql  string
	args []any
}

func (r retryingRow) Scan(dest ...any) error {
	return again(r.ctx, func() error { return r.pool.QueryRow(r.ctx, r.sql, r.args...).Scan(dest...) })
}

// again runs fn through retry.Tx, marking the driver errors classify calls
// busy, and returns fn's last error as the driver gave it, for the caller
// to wrap.
func again(ctx context.Context, fn func() error) error {
	var err error
	_ = retry.Tx(ctx, func() error {
		if err = fn(); err != nil && classify(err) == sqlstore.Busy {
			return retry.Busy(err)
		}
		return err
	})
	return err
}
