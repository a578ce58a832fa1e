package postgres

import (
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/internal/testdb"
)

// openOneConn opens a store on a new database with a one-connection pool
// and the extra URL settings given, and a second, plain connection to the
// same database for the test to hold locks with.
func openOneConn(t *testing.T, settings url.Values) (*Store, *pgx.Conn) {
	t.Helper()
	dbURL := testdb.Postgres(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("pool_max_conns", "1")
	for k, v := range settings {
		q[k] = v
	}
	u.RawQuery = q.Encode()
	s, err := Open(t.Context(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	other, err := pgx.Connect(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close(t.Context()) })
	return s, other
}

// A statement outside InTx that fails busy runs again: here the store's
// insert waits on a row another transaction holds, gives up after
// lock_timeout (55P03), and succeeds on its next attempt once the row is
// released. Without the retry it would answer unavailable.
func TestSingleStatementRetriedWhenBusy(t *testing.T) {
	t.Parallel()
	s, other := openOneConn(t, url.Values{"lock_timeout": {"200ms"}})
	var storePID uint32
	if err := s.pool.QueryRow(t.Context(), "SELECT pg_backend_pid()").Scan(&storePID); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	holder, err := other.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback(t.Context())
	if _, err := holder.Exec(t.Context(), `INSERT INTO revoked_families (family_id, revoked_at, expires_at)
		VALUES ('fam', $1, $2)`, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}

	done := make(chan error, 1)
	go func() { done <- s.RevokeFamily(t.Context(), "fam", nil, now, now.Add(2*time.Hour)) }()
	// The first attempt waits on the lock, then fails; release the row only
	// after that, while the store backs off before its next attempt.
	waitFor(t, other, storePID, true)
	waitFor(t, other, storePID, false)
	if err := holder.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("RevokeFamily after a lock timeout: %v, want it retried to success", err)
	}
	if revoked, err := s.FamilyRevoked(t.Context(), "fam"); err != nil || !revoked {
		t.Errorf("FamilyRevoked = %v, %v; want true", revoked, err)
	}
}

// waitFor polls until backend pid is (waiting) or is not (!waiting) waiting
// on a lock.
func waitFor(t *testing.T, c *pgx.Conn, pid uint32, waiting bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var n int
		if err := c.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity
			WHERE pid = $1 AND wait_event_type = 'Lock'`, pid).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if (n == 1) == waiting {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("backend %d: waiting on a lock never became %v", pid, waiting)
}

// A connection that finds itself on a read-only node is closed, not used
// again, and the write answers unavailable: after a failover only a new
// connection (target_session_attrs=read-write) reaches the new primary.
// Here the one connection of the pool is made read-only by hand.
func TestReadOnlyConnectionDropped(t *testing.T) {
	t.Parallel()
	s, _ := openOneConn(t, nil)
	pid := func() (p uint32) {
		t.Helper()
		if err := s.pool.QueryRow(t.Context(), "SELECT pg_backend_pid()").Scan(&p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	before := pid()
	if _, err := s.pool.Exec(t.Context(), "SET default_transaction_read_only = on"); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	err := s.RevokeFamily(t.Context(), "fam", nil, now, now.Add(time.Hour))
	if !errors.Is(err, broker.ErrUnavailable) {
		t.Fatalf("write on a read-only connection: %v, want unavailable", err)
	}
	if after := pid(); after == before {
		t.Errorf("the read-only connection (backend %d) was used again", before)
	}
	if err := s.RevokeFamily(t.Context(), "fam", nil, now, now.Add(time.Hour)); err != nil {
		t.Errorf("write on the next connection: %v", err)
	}
}
