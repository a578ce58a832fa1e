package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// loginSlot is the takeover slot of the players these tests log in.
const loginSlot = 3

// heldLogins is a store whose one login worker is stuck behind a lock the
// test holds, so that the logins the test starts queue up and run as one
// batch when it lets go.
type heldLogins struct {
	s       *Store
	release func()
	users   []string // users[i] is linked as "p<i>"
}

// holdLogins opens a store (four connections, so one login worker) with
// players p0..p<players-1>, the last of them banned, and parks its login
// worker on a lock on refresh_tokens.
func holdLogins(t *testing.T, players int) heldLogins {
	t.Helper()
	ctx := t.Context()
	s, other := openOneConn(t, url.Values{"pool_max_conns": {"4"}})
	now := time.Now()
	if err := s.CreateNamespace(ctx, broker.Namespace{ID: "ns", Name: "ns", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	h := heldLogins{s: s}
	for i := range players {
		u := broker.User{ID: fmt.Sprintf("user-%d", i), NamespaceID: "ns", CreatedAt: now}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateLink(ctx, broker.Link{NamespaceID: "ns", Slot: loginSlot, Identifier: fmt.Sprintf("p%d", i), UserID: u.ID, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		h.users = append(h.users, u.ID)
	}
	ban := broker.Ban{UserID: h.users[players-1], Name: "cheat", Reason: "r", ReleaseAt: now.Add(time.Hour), CreatedAt: now}
	if err := s.PutBan(ctx, ban); err != nil {
		t.Fatal(err)
	}

	lock, err := other.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.Exec(ctx, "LOCK TABLE refresh_tokens IN SHARE MODE"); err != nil {
		t.Fatal(err)
	}
	blocked := make(chan error, 1)
	go func() {
		_, err := s.CreateRefreshTokenByLink(context.WithoutCancel(ctx), loginSlot, "p0", loginRow(now))
		blocked <- err
	}()
	// Polled on the store's pool, not on the lock's connection: a
	// transaction reads pg_stat_activity once and keeps that snapshot.
	for waiting := 0; waiting == 0; time.Sleep(10 * time.Millisecond) {
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'
			  AND query LIKE 'INSERT INTO refresh_tokens%'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
	}
	h.release = sync.OnceFunc(func() {
		if err := lock.Rollback(ctx); err != nil {
			t.Error(err)
		}
		if err := <-blocked; err != nil {
			t.Errorf("the login that held the worker: %v", err)
		}
	})
	t.Cleanup(h.release)
	return h
}

// start begins one login per identifier and returns once all are queued
// behind the held worker; wait gives their outcomes in the same order.
func (h heldLogins) start(t *testing.T, ctx context.Context, rows []broker.RefreshToken, ids []string) (wait func() ([]broker.RefreshToken, []error)) {
	t.Helper()
	got, errs := make([]broker.RefreshToken, len(ids)), make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() { got[i], errs[i] = h.s.CreateRefreshTokenByLink(ctx, loginSlot, id, rows[i]) })
	}
	for give := time.Now().Add(10 * time.Second); len(h.s.logins.queue) < len(ids); time.Sleep(time.Millisecond) {
		if time.Now().After(give) {
			t.Fatalf("%d logins queued, want %d", len(h.s.logins.queue), len(ids))
		}
	}
	return func() ([]broker.RefreshToken, []error) {
		wg.Wait()
		return got, errs
	}
}

// runQueued queues one login per identifier behind the held worker, lets
// it go, and returns the outcomes in order.
func (h heldLogins) runQueued(t *testing.T, rows []broker.RefreshToken, ids []string) ([]broker.RefreshToken, []error) {
	t.Helper()
	wait := h.start(t, t.Context(), rows, ids)
	h.release()
	return wait()
}

func loginRow(now time.Time) broker.RefreshToken {
	key := make([]byte, 16)
	copy(key, fmt.Appendf(nil, "%016d", keySeq.Add(1)))
	return broker.RefreshToken{
		Key: key, Hash: append([]byte("hash-"), key...), FamilyID: fmt.Sprintf("family-%x", key), ClientID: "client",
		NamespaceID: "ns", Scope: "game", CreatedAt: now, ExpiresAt: now.Add(time.Hour),
	}
}

var keySeq atomic.Int64

// Concurrent logins share a statement, and each caller gets its own
// outcome from it: its user, or not found for a player who is not linked
// or is banned (the broker's slower path takes those).
func TestLoginsShareAStatement(t *testing.T) {
	t.Parallel()
	const players, logins = 6, 30 // p0..p5 linked, p5 banned; p6 and p7 linked to no one
	h := holdLogins(t, players)
	now := time.Now()
	rows, ids := make([]broker.RefreshToken, logins), make([]string, logins)
	for i := range logins {
		rows[i], ids[i] = loginRow(now), fmt.Sprintf("p%d", i%(players+2))
	}
	got, errs := h.runQueued(t, rows, ids)

	var stored [][]byte
	for i, id := range ids {
		switch p := i % (players + 2); {
		case p < players-1:
			if errs[i] != nil {
				t.Errorf("login %d (%s): %v", i, id, errs[i])
			} else if got[i].UserID != h.users[p] || string(got[i].Key) != string(rows[i].Key) {
				t.Errorf("login %d (%s): got user %q key %q, want %q %q", i, id, got[i].UserID, got[i].Key, h.users[p], rows[i].Key)
			}
			stored = append(stored, rows[i].Key)
		default:
			if !errors.Is(errs[i], broker.ErrNotFound) {
				t.Errorf("login %d (%s, banned or not linked): got %v, want not found", i, id, errs[i])
			}
		}
	}
	var rowsStored, statements int
	err := h.s.pool.QueryRow(t.Context(), `SELECT count(*), count(DISTINCT xmin::text) FROM refresh_tokens WHERE hash = ANY($1)`,
		stored).Scan(&rowsStored, &statements)
	if err != nil {
		t.Fatal(err)
	}
	if rowsStored != len(stored) {
		t.Errorf("rows stored: got %d, want %d", rowsStored, len(stored))
	}
	// Rows written by one statement share its transaction ID.
	if statements != 1 {
		t.Errorf("the queued logins were stored by %d statements, want 1", statements)
	}
}

// A row that fails the shared statement fails only its own login: here two
// logins carry the same key, so the statement breaks the primary key; each
// row is then stored alone, and only the second of the two is refused.
func TestLoginsRowFailsAlone(t *testing.T) {
	t.Parallel()
	h := holdLogins(t, 3)
	now := time.Now()
	rows, ids := make([]broker.RefreshToken, 8), make([]string, 8)
	for i := range rows {
		rows[i], ids[i] = loginRow(now), fmt.Sprintf("p%d", i%2)
	}
	rows[5].Key = rows[2].Key
	got, errs := h.runQueued(t, rows, ids)

	dup := 0
	for i := range rows {
		switch {
		case (i == 2 || i == 5) && errors.Is(errs[i], broker.ErrAlreadyExists):
			dup++
		case errs[i] != nil:
			t.Errorf("login %d: %v", i, errs[i])
		case got[i].UserID != h.users[i%2]:
			t.Errorf("login %d: got user %q, want %q", i, got[i].UserID, h.users[i%2])
		}
	}
	if dup != 1 {
		t.Errorf("of the two logins with one key, %d were refused as duplicates, want 1", dup)
	}
}

// A login whose deadline passes while its batch cannot run answers
// unavailable at that deadline, without failing the logins queued with it;
// after Close a login answers unavailable at once.
func TestLoginsDeadlineAndClose(t *testing.T) {
	t.Parallel()
	h := holdLogins(t, 2)
	now := time.Now()
	short, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	waitShort := h.start(t, short, []broker.RefreshToken{loginRow(now)}, []string{"p0"})
	_, errs := waitShort()
	if !errors.Is(errs[0], broker.ErrUnavailable) {
		t.Errorf("login past its deadline: got %v, want unavailable", errs[0])
	}
	waitOther := h.start(t, t.Context(), []broker.RefreshToken{loginRow(now)}, []string{"p0"})
	h.release()
	if got, errs := waitOther(); errs[0] != nil || got[0].UserID != h.users[0] {
		t.Errorf("login queued beside the expired one: got %q, %v", got[0].UserID, errs[0])
	}

	if err := h.s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := h.s.CreateRefreshTokenByLink(t.Context(), loginSlot, "p0", loginRow(now))
	if !errors.Is(err, broker.ErrUnavailable) {
		t.Errorf("login after Close: got %v, want unavailable", err)
	}
}
