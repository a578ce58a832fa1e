package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/store/internal/sqlstore"
	"github.com/bridgekeeper/bridgekeeper/broker/store/retry"
	"github.com/bridgekeeper/bridgekeeper/migrations"
)

// busyTimeout is how long a connection waits for a lock held by another
// process (a `bridgekeeper migrate`, a backup) before giving up; InTx then
// tries retry.Attempts times in all, which stays inside the default
// request timeout (10 s).
const busyTimeout = 2 * time.Second

// dsnParams are the DSN parameters of the writer and the readers. Pragmas
// are per connection, so they ride in the DSN and every connection
// database/sql (re)opens gets them.
func dsnParams(busy time.Duration) (write, read string) {
	pragmas := func(p ...string) string { return "_pragma=" + strings.Join(p, "&_pragma=") }
	timeout := fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds())
	write = pragmas(timeout, "journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(1)") + "&_txlock=immediate"
	// Readers are query_only so that a write routed to them by mistake fails
	// loudly instead of racing the writer for the lock.
	read = pragmas(timeout, "foreign_keys(1)", "query_only(1)")
	return write, read
}

// Options tune Open; the zero value is what the broker runs with.
type Options struct {
	// BusyTimeout replaces busyTimeout (tests of a locked database use a
	// short one).
	BusyTimeout time.Duration
}

// dbtx is what queries run on: a pool, or the transaction of InTx.
type dbtx interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Store is a broker.Store on one SQLite file: the connections and one part
// per group of tables, each a type of its own.
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

// conn is what every part queries through.
type conn struct {
	writeDB, readDB *sql.DB
	// The pools' prepared statements, shared by every InTx store.
	writeStmts, readStmts *stmts
	// r runs plain reads and w runs writes; inside InTx both are the
	// transaction, so fn reads its own writes.
	r, w  dbtx
	tx    *sql.Tx
	store *Store // the Store this conn belongs to, for InTx's fn
}

func newStore(c *conn) *Store {
	s := &Store{conn: c, identities: identities{c}, tokens: tokens{c}, accounts: accounts{c},
		gs2Rows: gs2Rows{c}, authRows: authRows{c}, xsollaRows: xsollaRows{c}, operator: operator{c}}
	c.store = s
	return s
}

var _ broker.Store = (*Store)(nil)

// Open opens (creating if needed) the database file at path, applies pending
// migrations and returns a ready store.
func Open(ctx context.Context, path string) (*Store, error) {
	return OpenWith(ctx, path, Options{})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, path string, o Options) (*Store, error) {
	if path == "" || strings.Contains(path, "?") {
		// The driver splits its DSN at the first '?'.
		return nil, fmt.Errorf("sqlite: unusable database path %q", path)
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("sqlite: %w", err)
		}
	}
	busy := busyTimeout
	if o.BusyTimeout > 0 {
		busy = o.BusyTimeout
	}
	writeParams, readParams := dsnParams(busy)
	writeDB, err := sql.Open("sqlite", path+"?"+writeParams)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	writeDB.SetMaxOpenConns(1)
	writeDB.SetMaxIdleConns(1)
	writeDB.SetConnMaxLifetime(0)
	writeDB.SetConnMaxIdleTime(0)
	ws := newStmts(writeDB)
	s := newStore(&conn{writeDB: writeDB, writeStmts: ws, w: ws})
	if err := s.setUp(ctx, path, readParams); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	return s, nil
}

func (s *conn) setUp(ctx context.Context, path, readParams string) error {
	// journal_mode=WAL is silently ignored where WAL is impossible (some
	// network filesystems); durability and concurrent reads depend on it.
	var mode string
	if err := s.writeDB.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("sqlite: open %s: journal_mode is %q, want wal", path, mode)
	}
	if err := migrateLocked(ctx, s.writeDB, path); err != nil {
		return err
	}
	readDB, err := sql.Open("sqlite", path+"?"+readParams)
	if err != nil {
		return fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	n := max(4, runtime.NumCPU())
	readDB.SetMaxOpenConns(n)
	readDB.SetMaxIdleConns(n)
	s.readDB, s.readStmts = readDB, newStmts(readDB)
	s.r = s.readStmts
	if err := readDB.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return nil
}

// InTx runs fn in one IMMEDIATE transaction on the writer connection, again
// (retry.Tx) if the database stayed locked past busy_timeout. Called on the
// transaction's own Store it runs fn in the enclosing transaction, since
// SQLite cannot nest transactions.
func (s *conn) InTx(ctx context.Context, fn func(broker.Store) error) error {
	if s.tx != nil {
		return fn(s.store)
	}
	return retry.Tx(ctx, func() error { return s.inNewTx(ctx, fn) })
}

func (s *conn) inNewTx(ctx context.Context, fn func(broker.Store) error) error {
	tx, err := s.writeDB.BeginTx(ctx, nil)
	if err != nil {
		return wrap("begin", err)
	}
	q := &txStmts{tx: tx, c: s.writeStmts}
	defer func() {
		// Also covers a panicking fn; after Commit it is a no-op.
		_ = tx.Rollback()
		q.prepareMissed(context.WithoutCancel(ctx))
	}()
	if err := fn(newStore(&conn{writeDB: s.writeDB, readDB: s.readDB, writeStmts: s.writeStmts, readStmts: s.readStmts,
		r: q, w: q, tx: tx})); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return wrap("commit", err)
	}
	return nil
}

// atomic runs fn on one transaction: a new one, or a savepoint inside InTx so
// that a failing fn undoes its own writes even if the caller's fn carries on.
func (s *conn) atomic(ctx context.Context, op string, fn func(q dbtx) error) error {
	if s.tx != nil {
		if _, err := s.tx.ExecContext(ctx, "SAVEPOINT atomic"); err != nil {
			return wrap(op, err)
		}
		if err := fn(s.w); err != nil {
			_, rbErr := s.tx.ExecContext(ctx, "ROLLBACK TO atomic")
			if rbErr == nil {
				_, rbErr = s.tx.ExecContext(ctx, "RELEASE atomic")
			}
			return errors.Join(err, wrap(op+": rollback to savepoint", rbErr))
		}
		_, err := s.tx.ExecContext(ctx, "RELEASE atomic")
		return wrap(op, err)
	}
	return s.InTx(ctx, func(tx broker.Store) error { return fn(tx.(*Store).w) })
}

// Ping reports whether the database file can be read.
func (s *conn) Ping(ctx context.Context) error {
	return wrap("ping", s.readDB.PingContext(ctx))
}

// Close closes both pools. The Store given to an InTx fn does not own them.
func (s *conn) Close() error {
	if s.tx != nil {
		return errors.New("sqlite: Close called inside InTx")
	}
	var errs []error
	if s.readDB != nil {
		errs = append(errs, s.readStmts.close(), s.readDB.Close())
	}
	errs = append(errs, s.writeStmts.close(), s.writeDB.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

// errs wraps the driver's errors in the shape both stores share; classify
// is SQLite's part.
var errs = sqlstore.Errors{Backend: "sqlite", Classify: classify}

// wrap maps driver errors onto the broker's sentinels, keeping the driver's
// error in the chain for logs. It returns nil for nil.
func wrap(op string, err error) error { return errs.Wrap(op, err) }

// classify says what a database/sql or SQLite error means to the broker.
func classify(err error) sqlstore.Kind {
	if errors.Is(err, sql.ErrNoRows) {
		return sqlstore.NoRows
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch code := se.Code(); {
		case code == sqlite3.SQLITE_CONSTRAINT_UNIQUE, code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return sqlstore.Duplicate
		case code&0xff == sqlite3.SQLITE_BUSY, code&0xff == sqlite3.SQLITE_LOCKED:
			// Another process held the lock past busy_timeout: retryable,
			// and unavailable if it stays so. Never a conflict.
			return sqlstore.Busy
		}
	}
	return sqlstore.Other
}

// affectedOne turns "no row matched" into ErrNotFound.
func affectedOne(op string, res sql.Result, err error) error {
	var n int64
	if err == nil {
		n, err = res.RowsAffected()
	}
	return errs.AffectedOne(op, n, err)
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

// codec maps the broker's models to and from the columns both schemas
// share; SQLite keeps times as Unix milliseconds.
var codec = sqlstore.Codec{Times: unixMS{}}

// unixMS is sqlstore.Times for INTEGER columns of Unix milliseconds.
type unixMS struct{}

func (unixMS) Arg(t time.Time) any       { return ms(t) }
func (unixMS) Dest(t *time.Time) any     { return (*msTime)(t) }
func (unixMS) NullDest(t *time.Time) any { return (*nullMSTime)(t) }

// msTime scans a NOT NULL column of Unix milliseconds, converting as
// database/sql would into an int64.
type msTime time.Time

func (t *msTime) Scan(src any) error {
	var v sql.NullInt64
	if err := v.Scan(src); err != nil {
		return err
	}
	if !v.Valid {
		return errors.New("converting NULL to a time is unsupported")
	}
	*t = msTime(fromMS(v.Int64))
	return nil
}

// nullMSTime scans a nullable column of Unix milliseconds, NULL as the
// zero time.
type nullMSTime time.Time

func (t *nullMSTime) Scan(src any) error {
	if src == nil {
		*t = nullMSTime{}
		return nil
	}
	return (*msTime)(t).Scan(src)
}

// migrateLocked applies migrations while holding an exclusive flock on
// LockPath(path): goose takes no lock on SQLite, so processes opening a fresh
// file together (serve and a CLI command) would each apply version 1.
//
// The lock is on a file of its own, never on the database: closing any
// descriptor of a file drops every POSIX lock the process holds on it
// (sqlite.org/howtocorrupt.html §2.2). Losing SQLite's shared lock lets
// another process (a `sqlite3` shell reading the file) believe it is the
// last connection and delete the WAL this process is still writing to.
func migrateLocked(ctx context.Context, db *sql.DB, path string) error {
	f, err := os.OpenFile(LockPath(path), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("sqlite: lock for migration: %w", err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("sqlite: lock for migration: %w", err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	if _, err := migrations.Up(ctx, db, migrations.SQLite); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	return nil
}

// LockPath is the file that serialises migrations of the database at path.
// It holds no data: a backup needs only the database file.
func LockPath(path string) string { return path + ".migrate-lock" }
