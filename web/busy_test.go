package web_test

import (
	"context"
	"database/sql"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/store/postgres"
	"github.com/bridgekeeper/bridgekeeper/internal/testdb"
	"github.com/bridgekeeper/bridgekeeper/internal/teststore"
)

// lockedStore is a store and a way to hold its database's write lock from
// outside the broker, as a migration, a backup tool or another replica
// would.
type lockedStore struct {
	store broker.Store
	lock  func(t *testing.T) (release func())
}

// busyStores are both backends with short lock waits, so that a held lock
// is answered within a test's patience: SQLite's busy_timeout and
// PostgreSQL's lock_timeout at 100 ms.
var busyStores = []struct {
	name string
	open func(t *testing.T) lockedStore
}{
	{"sqlite", func(t *testing.T) lockedStore {
		s, path := teststore.SQLiteBusy(t, 100*time.Millisecond)
		return lockedStore{s, func(t *testing.T) func() {
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			conn, err := db.Conn(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := conn.ExecContext(t.Context(), "BEGIN IMMEDIATE"); err != nil {
				t.Fatal(err)
			}
			return func() {
				conn.ExecContext(context.Background(), "ROLLBACK")
				conn.Close()
				db.Close()
			}
		}}
	}},
	{"postgres", func(t *testing.T) lockedStore {
		u := testdb.Postgres(t)
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		s, err := postgres.Open(t.Context(), u+sep+"lock_timeout=100ms")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return lockedStore{s, func(t *testing.T) func() {
			conn, err := pgx.Connect(t.Context(), u)
			if err != nil {
				t.Fatal(err)
			}
			tx, err := conn.Begin(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			// EXCLUSIVE blocks writes and lets reads through: a write lock.
			if _, err := tx.Exec(t.Context(), "LOCK TABLE users, refresh_tokens IN EXCLUSIVE MODE"); err != nil {
				t.Fatal(err)
			}
			return func() {
				tx.Rollback(context.Background())
				conn.Close(context.Background())
			}
		}}
	}},
}

// TestBusyDatabaseIsUnavailable: while another process holds the write
// lock, every surface that writes answers 503 with Retry-After in its own
// wire format (never 409, never 500), and the same request succeeds once
// the lock is released.
func TestBusyDatabaseIsUnavailable(t *testing.T) {
	t.Parallel()
	for _, bs := range busyStores {
		t.Run(bs.name, func(t *testing.T) {
			ls := bs.open(t)
			f := buildFixture(t, ls.store, nil, xsollaOptions, func(o *settings) { o.RequestTimeout = 5 * time.Second })
			id, secret := f.client(t, gameServer("game"))
			project := f.gs2ProjectToken(t, id, secret)
			xsBearer := f.xsBearer(t, id, secret)
			ns := xsProject(t, f, "game")

			surfaces := []struct {
				name  string
				call  func(player string) response
				check func(t *testing.T, r response)
			}{
				{"OAuth2 server_custom_id", func(player string) response {
					return f.token(t, id, secret, url.Values{"grant_type": {"server_custom_id"}, "server_custom_id": {player}})
				}, func(t *testing.T, r response) {
					if r.str("error") != "temporarily_unavailable" {
						t.Errorf("error = %q, want temporarily_unavailable: %s", r.str("error"), r.Raw)
					}
				}},
				{"GS2 createAccount", func(string) response {
					return f.gs2Send(t, gs2Call{path: "/gs2/account/game/account", body: `{"contextStack":null}`, header: trusted(id, project)})
				}, func(t *testing.T, r response) {
					checkGS2Error(t, r, http.StatusServiceUnavailable, "account")
				}},
				{"Xsolla login", func(player string) response {
					return f.xsLogin(t, xsBearer, xsQuery(ns), xsBody(t, map[string]any{"server_custom_id": player}))
				}, func(t *testing.T, r response) {
					xsWantError(t, "under a held lock", r, http.StatusServiceUnavailable, "temporarily_unavailable", "")
				}},
			}
			release := ls.lock(t)
			for i, s := range surfaces {
				r := s.call("locked-player-" + string(rune('a'+i)))
				if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
					t.Errorf("%s under a held write lock: want 503 with Retry-After, got %d (Retry-After %q) %s",
						s.name, r.Status, r.Header.Get("Retry-After"), r.Raw)
					continue
				}
				s.check(t, r)
			}
			release()
			for i, s := range surfaces {
				if r := s.call("locked-player-" + string(rune('a'+i))); r.Status != http.StatusOK {
					t.Errorf("%s after the lock was released: %d %s", s.name, r.Status, r.Raw)
				}
			}
		})
	}
}
