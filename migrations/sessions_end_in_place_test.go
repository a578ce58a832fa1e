package migrations_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/migrations"
)

// TestSessionsEndInPlaceMigration: migration 12 marks on their rows the
// sessions that a family revocation or a logout had already ended, and
// leaves every other session live; the store then finds an older family's
// row by its ID, whose key FamilyKey cannot read; undone, the marks go.
func TestSessionsEndInPlaceMigration(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	for _, tc := range dialects() {
		t.Run(string(tc.dialect), func(t *testing.T) {
			ctx := context.Background()
			db, dsn := tc.migratedTo(t, 11)
			q := tc.rebind
			exec := func(text string, args ...any) {
				t.Helper()
				if _, err := db.ExecContext(ctx, q(text), args...); err != nil {
					t.Fatal(err)
				}
			}
			exec(`INSERT INTO namespaces (id, name, created_at) VALUES ('n', 'n', ?)`, tc.ts(t0))
			for _, u := range []string{"u", "v"} {
				exec(`INSERT INTO users (id, namespace_id, created_at) VALUES (?, 'n', ?)`, u, tc.ts(t0))
			}
			for _, r := range []struct {
				token, family, user string
				created             time.Time
			}{
				{"revoked", "f-revoked", "v", t0},
				{"before-logout", "f-before", "u", t0},
				{"at-logout", "f-at", "u", t0.Add(time.Hour)},
				{"after-logout", "f-after", "u", t0.Add(2 * time.Hour)},
				{"live", "f-live", "v", t0},
			} {
				exec(`INSERT INTO refresh_tokens (hash, cur, family_id, client_id, user_id, namespace_id, scope,
					created_at, started_at, expires_at) VALUES (?, ?, ?, 'c', ?, 'n', '', ?, ?, ?)`,
					h(r.token), h(r.token), r.family, r.user, tc.ts(r.created), tc.ts(r.created), tc.ts(t0.Add(24*time.Hour)))
			}
			exec(`INSERT INTO revoked_families (family_id, revoked_at, expires_at) VALUES ('f-revoked', ?, ?)`,
				tc.ts(t0.Add(30*time.Minute)), tc.ts(t0.Add(48*time.Hour)))
			exec(`INSERT INTO user_logouts (user_id, logged_out_at, keep_jti) VALUES ('u', ?, '')`, tc.ts(t0.Add(time.Hour)))

			if _, err := migrations.Up(ctx, db, tc.dialect); err != nil {
				t.Fatal(err)
			}
			for _, want := range []struct {
				token string
				ended any // nil: live
			}{
				{"revoked", tc.ts(t0.Add(30 * time.Minute))},
				{"before-logout", tc.ts(t0.Add(time.Hour))},
				{"at-logout", tc.ts(t0.Add(time.Hour))},
				{"after-logout", nil},
				{"live", nil},
			} {
				var ended any
				if err := db.QueryRowContext(ctx, q(`SELECT ended_at FROM refresh_tokens WHERE hash = ?`), h(want.token)).Scan(&ended); err != nil {
					t.Fatalf("row of %s: %v", want.token, err)
				}
				if (ended == nil) != (want.ended == nil) || (ended != nil && !sameTime(ended, want.ended)) {
					t.Errorf("row of %s: ended_at %v, want %v", want.token, ended, want.ended)
				}
			}

			// An older family's ID is a random UUID: the key the broker
			// reads from it is no row's, and the store finds the row by ID.
			s, err := tc.store(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			later := t0.Add(3 * time.Hour)
			if err := s.RevokeFamily(ctx, "f-live", h("no row's key")[:16], later, t0.Add(48*time.Hour)); err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				token string
				want  error
			}{{"live", broker.ErrNotFound}, {"after-logout", nil}} {
				_, err := s.RotateRefreshToken(ctx, broker.Rotation{Key: h(c.token), OldHash: h(c.token), NewHash: h(c.token + "-next"),
					ClientID: "c", Now: later, ExpiresAt: later.Add(time.Hour)})
				if !errors.Is(err, c.want) {
					t.Errorf("rotating %s after revoking f-live: %v, want %v", c.token, err, c.want)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			if _, err := migrations.DownTo(ctx, db, tc.dialect, 11); err != nil {
				t.Fatal(err)
			}
			if _, err := db.ExecContext(ctx, `SELECT ended_at FROM refresh_tokens`); err == nil {
				t.Errorf("ended_at still there after undoing migration 12")
			}
		})
	}
}
