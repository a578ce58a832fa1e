package testdb

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// A migrated database is the costliest thing a PostgreSQL test makes: a
// CREATE DATABASE ... TEMPLATE and its DROP cost the server about 0.23 s of
// CPU (PostgreSQL 15 copies every catalog page of the template through the
// WAL), which was 35 s of the 43 s the server spent on the web tests. So a
// database is made once and reused: when a test ends, its rows are deleted
// (a few milliseconds) and the next test of the same binary gets it. A
// database whose schema a test changed, or that cannot be emptied, is
// dropped instead.

// reuse holds one test binary's emptied databases on one cluster.
type reuse struct {
	mu   sync.Mutex
	free []string

	planOnce sync.Once
	plan     *resetPlan // nil when the databases cannot be emptied safely,
	planErr  error      // for this reason
}

// resetPlan is how to bring a used database back to the template's state.
type resetPlan struct {
	reset       string // one statement batch: delete every row, restart sequences
	fingerprint string // the template's schema, checked before reuse
}

var reuses sync.Map // admin URL → *reuse

// reuseFor returns the binary's reuse pool for the cluster, dropping on
// first use the databases that binaries no longer running left behind.
func reuseFor(ctx context.Context, admin string, pool *pgxpool.Pool) *reuse {
	if r, ok := reuses.Load(admin); ok {
		return r.(*reuse)
	}
	r, loaded := reuses.LoadOrStore(admin, &reuse{})
	if !loaded {
		dropOrphans(ctx, pool)
	}
	return r.(*reuse)
}

// dbPrefix names the databases of a test binary: bktest_<pid>_<random>.
const dbPrefix = "bktest_"

func reusableName(random string) string {
	return fmt.Sprintf("%s%d_%s", dbPrefix, syscall.Getpid(), random)
}

// dropOrphans drops the databases of test binaries that have exited; the
// cluster is on loopback, so their process IDs are this machine's.
func dropOrphans(ctx context.Context, pool *pgxpool.Pool) {
	rows, err := pool.Query(ctx, `SELECT datname FROM pg_database WHERE datname LIKE 'bktest\_%\_%'`)
	if err != nil {
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	for _, name := range names {
		pid, err := strconv.Atoi(strings.SplitN(strings.TrimPrefix(name, dbPrefix), "_", 2)[0])
		if err != nil || !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
			continue
		}
		pool.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	}
}

func (r *reuse) take() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.free) == 0 {
		return ""
	}
	name := r.free[len(r.free)-1]
	r.free = r.free[:len(r.free)-1]
	return name
}

// learn reads the reset plan from dbURL, a database just cloned from the
// template and not yet used. If the template holds rows (seeded by a
// migration), deleting every row would not give it back, and nothing is
// reused.
func (r *reuse) learn(ctx context.Context, dbURL string) {
	r.planOnce.Do(func() { r.plan, r.planErr = readPlan(ctx, dbURL) })
}

func readPlan(ctx context.Context, dbURL string) (*resetPlan, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	var tables, sequences []string
	err = conn.QueryRow(ctx, `
		SELECT
			coalesce((SELECT array_agg(quote_ident(tablename::text) ORDER BY tablename) FROM pg_tables
				WHERE schemaname = 'public' AND tablename <> 'goose_db_version'), '{}'),
			coalesce((SELECT array_agg(quote_ident(sequencename::text) ORDER BY sequencename) FROM pg_sequences
				WHERE schemaname = 'public' AND sequencename NOT LIKE 'goose\_db\_version%'), '{}')`).Scan(&tables, &sequences)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	var reset strings.Builder
	for _, t := range tables {
		var seeded bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM "+t+")").Scan(&seeded); err != nil {
			return nil, err
		}
		if seeded {
			return nil, fmt.Errorf("the template has rows in %s", t)
		}
		fmt.Fprintf(&reset, "DELETE FROM %s;", t)
	}
	for _, s := range sequences {
		fmt.Fprintf(&reset, "ALTER SEQUENCE %s RESTART;", s)
	}
	fp, err := fingerprint(ctx, conn)
	if err != nil {
		return nil, fmt.Errorf("schema fingerprint: %w", err)
	}
	return &resetPlan{reset: reset.String(), fingerprint: fp}, nil
}

// release empties the database and keeps it for the next test; an error
// means it was not kept and should be dropped.
func (r *reuse) release(ctx context.Context, admin *pgxpool.Pool, dbURL, name string) error {
	if r.plan == nil {
		return fmt.Errorf("not reusable: %w", r.planErr)
	}
	// Sessions a failed test left open would hold locks, or see the rows
	// of the next test.
	if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, name); err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		fp, err := fingerprint(ctx, tx)
		if err != nil {
			return err
		}
		if fp != r.plan.fingerprint {
			return errors.New("the test changed the schema")
		}
		// replica: no foreign-key triggers, so the order of the deletes
		// does not matter. A terminated session may hold a lock a moment
		// longer.
		_, err = tx.Exec(ctx, "SET LOCAL session_replication_role = replica; SET LOCAL lock_timeout = '10s';"+r.plan.reset)
		return err
	})
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.free = append(r.free, name)
	r.mu.Unlock()
	return nil
}

// fingerprint sums the schema the broker's tables live in (every relation
// with its columns and types, every index's definition) and the migrations
// applied.
func fingerprint(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (string, error) {
	var fp string
	err := q.QueryRow(ctx, `
		SELECT md5(concat_ws('|',
			(SELECT string_agg(format('%s:%s:%s:%s', c.relname, c.relkind,
					CASE WHEN c.relkind = 'i' THEN pg_get_indexdef(c.oid) END,
					(SELECT string_agg(format('%s %s %s', a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull), ',' ORDER BY a.attnum)
						FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)),
				';' ORDER BY c.relname)
				FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace),
			(SELECT format('%s:%s', count(*), max(version_id)) FROM goose_db_version)))`).Scan(&fp)
	return fp, err
}
