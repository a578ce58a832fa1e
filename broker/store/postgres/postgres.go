package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/store/internal/sqlstore"
	"github.com/bridgekeeper/bridgekeeper/broker/store/retry"
	"github.com/bridgekeeper/bridgekeeper/migrations"
)

// querier is what queries run on: the pool (retrying each statement), or
// the transaction of InTx.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

var (
	_ querier = retrying{}
	_ querier = pgx.Tx(nil)

	_ broker.Store = (*Store)(nil)
)

// defaultMaxConns is the pool size unless the URL sets pool_max_conns.
const defaultMaxConns = 32

// Store is a broker.Store on a PostgreSQL database: the connection and
// one part per group of tables, each a type of its own.
type Store struct {
	*conn
	identities
	tokens
	accounts
	gs2Rows
	authRows
	xsollaRows
	operator
}

// conn is what every part queries through: the pool, or the transaction
// of InTx.
type conn struct {
	pool *pgxpool.Pool
	q    querier
	tx   pgx.Tx // non-nil for the Store given to an InTx fn
	// logins batches CreateRefreshTokenByLink outside InTx; nil inside.
	logins *logins
	store  *Store // the Store this conn belongs to, for InTx's fn
}

func newStore(c *conn) *Store {
	s := &Store{conn: c, identities: identities{c}, tokens: tokens{c}, accounts: accounts{c},
		gs2Rows: gs2Rows{c}, authRows: authRows{c}, xsollaRows: xsollaRows{c}, operator: operator{c}}
	c.store = s
	return s
}

// Open connects to the database at url (a postgres:// URL or key=value DSN;
// pool_max_conns and the other pgxpool settings are honoured), applies
// pending migrations and returns a ready store.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse URL: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		// pgxpool's default (4 on two cores) starves a broker whose requests
		// mostly wait on commits; each request holds a connection only for
		// its one or two statements.
		cfg.MaxConns = defaultMaxConns
	}
	var opened atomic.Pointer[pgxpool.Pool]
	dropOnReadOnly(cfg.ConnConfig, func() {
		if pool := opened.Load(); pool != nil {
			// Not from inside pgconn's callback, which holds the connection.
			go pool.Reset()
		}
	})
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	opened.Store(pool)
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	c := &conn{pool: pool, q: retrying{pool}}
	c.logins = newLogins(pool, tokens{c}.createByLink)
	return newStore(c), nil
}

// migrate runs goose through database/sql on the pool's own connections, so
// that Open needs no second set of credentials or connection settings.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	if err := pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: connect: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	_, err := migrations.Up(ctx, db, migrations.Postgres)
	if closeErr := db.Close(); closeErr != nil {
		err = errors.Join(err, closeErr)
	}
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}

// InTx runs fn in one READ COMMITTED transaction, again (retry.Tx) after a
// serialization failure or deadlock. Called on the transaction's own Store
// it runs fn in the enclosing transaction.
func (s *conn) InTx(ctx context.Context, fn func(broker.Store) error) error {
	if s.tx != nil {
		return fn(s.store)
	}
	return retry.Tx(ctx, func() error { return s.inNewTx(ctx, fn) })
}

func (s *conn) inNewTx(ctx context.Context, fn func(broker.Store) error) error {
	// READ COMMITTED by name, not by the server's default: the store's
	// statements are written for it (see doc.go), and CockroachDB and
	// YugabyteDB default to other levels (DISTRIBUTED-SQL.md).
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return wrap("begin", err)
	}
	defer func() {
		// Also covers a panicking fn; after Commit it is a no-op. It must run
		// even when ctx is done, or the connection returns to the pool
		// mid-transaction.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = tx.Rollback(rctx)
	}()
	if err := fn(newStore(&conn{pool: s.pool, q: tx, tx: tx})); err != nil {
		return err
	}
	return wrap("commit", tx.Commit(ctx))
}

// Ping reports whether the database answers.
func (s *conn) Ping(ctx context.Context) error {
	return wrap("ping", s.pool.Ping(ctx))
}

// Close closes the pool, waiting for connections in use to be released. The
// Store given to an InTx fn does not own the pool.
func (s *conn) Close() error {
	if s.tx != nil {
		return errors.New("postgres: Close called inside InTx")
	}
	s.logins.close()
	s.pool.Close()
	return nil
}

// SQLSTATE codes the broker has a sentinel for.
const (
	uniqueViolation      = "23505"
	tooManyConnections   = "53300"
	serializationFailure = "40001"
	deadlockDetected     = "40P01"
	lockNotAvailable     = "55P03"
	readOnlyTransaction  = "25006"
	// CockroachDB's "statement completion unknown": the commit may or may
	// not have happened, so the statement must not run again.
	statementCompletionUnknown = "40003"
)

// dropOnReadOnly makes a connection that gets "read-only transaction"
// close, and calls reset for the rest of the pool: the connection landed on
// a standby (a primary fenced or demoted under it, a URL that named a
// standby), the pool's other connections are most likely on the same node,
// and only a new connection can pick the new primary
// (target_session_attrs=read-write). pgx's default handler, which closes
// on FATAL, still runs for every other error.
func dropOnReadOnly(cfg *pgx.ConnConfig, reset func()) {
	next := cfg.OnPgError
	cfg.OnPgError = func(c *pgconn.PgConn, e *pgconn.PgError) bool {
		if e.Code == readOnlyTransaction {
			reset()
			return false
		}
		return next == nil || next(c, e)
	}
}

// errs wraps pgx's errors in the shape both stores share; classify is
// PostgreSQL's part.
var errs = sqlstore.Errors{Backend: "postgres", Classify: classify}

// wrap maps driver errors onto the broker's sentinels, keeping the driver's
// error in the chain for logs. It returns nil for nil.
func wrap(op string, err error) error { return errs.Wrap(op, err) }

// violates reports whether err is a unique violation of constraint.
func violates(err error, constraint string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == uniqueViolation && pgErr.ConstraintName == constraint
}

// classify says what a pgx error means to the broker.
func classify(err error) sqlstore.Kind {
	if errors.Is(err, pgx.ErrNoRows) {
		return sqlstore.NoRows
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == uniqueViolation:
			return sqlstore.Duplicate
		case pgErr.Code == serializationFailure, pgErr.Code == deadlockDetected, pgErr.Code == lockNotAvailable:
			// Retryable, and unavailable if it stays so. Never a conflict:
			// that is for a lost revision race.
			return sqlstore.Busy
		case strings.HasPrefix(pgErr.Code, "08"), strings.HasPrefix(pgErr.Code, "57P"), pgErr.Code == tooManyConnections,
			pgErr.Code == readOnlyTransaction, pgErr.Code == statementCompletionUnknown:
			// Connection exceptions, the server shutting down or starting,
			// a standby where the primary was, an outcome unknown: not
			// retried here; the client retries after Retry-After.
			return sqlstore.Unavailable
		}
		return sqlstore.Other
	}
	// No answer from the server at all: it is down, unreachable, or the
	// request's deadline (which bounds pool waits too) passed first.
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) || pgconn.Timeout(err) || pgconn.SafeToRetry(err) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		isNetError(err) || strings.Contains(err.Error(), "conn closed") {
		return sqlstore.Unavailable
	}
	return sqlstore.Other
}

// affectedOne turns "no row matched" into ErrNotFound.
func affectedOne(op string, tag pgconn.CommandTag, err error) error {
	return errs.AffectedOne(op, tag.RowsAffected(), err)
}

// codec maps the broker's models to and from the columns both schemas
// share; PostgreSQL keeps times as timestamptz.
var codec = sqlstore.Codec{Times: timestamptz{}}

// timestamptz is sqlstore.Times for timestamptz columns: a time.Time goes
// as it is and comes back in UTC.
type timestamptz struct{}

func (timestamptz) Arg(t time.Time) any       { return t }
func (timestamptz) Dest(t *time.Time) any     { return (*utcTime)(t) }
func (timestamptz) NullDest(t *time.Time) any { return (*nullUTCTime)(t) }

// utcTime scans a NOT NULL timestamptz, in UTC; it refuses what pgx refuses
// for a *time.Time.
type utcTime time.Time

func (t *utcTime) ScanTimestamptz(v pgtype.Timestamptz) error {
	if !v.Valid {
		return errors.New("cannot scan NULL into *time.Time")
	}
	if v.InfinityModifier != pgtype.Finite {
		return fmt.Errorf("cannot scan %v into *time.Time", v.InfinityModifier)
	}
	*t = utcTime(v.Time.UTC())
	return nil
}

// nullUTCTime scans a nullable timestamptz, NULL as the zero time.
type nullUTCTime time.Time

func (t *nullUTCTime) ScanTimestamptz(v pgtype.Timestamptz) error {
	if !v.Valid {
		*t = nullUTCTime{}
		return nil
	}
	return (*utcTime)(t).ScanTimestamptz(v)
}

// isNetError reports a network-level failure under err.
func isNetError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne)
}
