package adminapi_test

import (
	"context"
	"database/sql"
	"net/http"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/internal/teststore"
)

// TestAdminChallenges: each refusal's WWW-Authenticate says what would
// help — an error code only where RFC 6750 has one for the case.
func TestAdminChallenges(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		for _, c := range []struct {
			name, token, method, path, want string
		}{
			{"there is no token", "", http.MethodGet, "/admin/v1/namespaces",
				`Bearer realm="bridgekeeper-admin"`},
			{"the token is garbage", "not-a-token", http.MethodGet, "/admin/v1/namespaces",
				`Bearer realm="bridgekeeper-admin", error="invalid_token"`},
			{"the token lacks the admin scope", f.noScope, http.MethodGet, "/admin/v1/namespaces",
				`Bearer realm="bridgekeeper-admin", error="insufficient_scope", scope="bridgekeeper:admin"`},
			// More scope would not help a namespace-limited admin.
			{"a limited admin rotates keys", f.limited, http.MethodPost, "/admin/v1/keys",
				`Bearer realm="bridgekeeper-admin"`},
		} {
			t.Run("should fail because "+c.name, func(t *testing.T) {
				if got := f.call(c.token, c.method, c.path, nil).Header.Get("WWW-Authenticate"); got != c.want {
					t.Errorf("WWW-Authenticate = %q, want %q", got, c.want)
				}
			})
		}
	})
}

// TestAdminWrongMethod: a call the path does not take is the writer's JSON
// with an Allow header, not the router's plain text.
func TestAdminWrongMethod(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		for _, c := range []struct{ method, path, allow string }{
			{http.MethodDelete, "/admin/v1/namespaces", "GET, POST"},
			{http.MethodPut, "/admin/v1/clients/x", "GET, PATCH, DELETE"},
			{http.MethodGet, "/admin/v1/clients/x/secret", "POST"},
		} {
			a := f.call(f.admin, c.method, c.path, nil)
			f.wantError(a, http.StatusMethodNotAllowed, "method_not_allowed", "", c.method+" "+c.path)
			if got := a.Header.Get("Allow"); got != c.allow {
				t.Errorf("%s %s: Allow = %q, want %q", c.method, c.path, got, c.allow)
			}
		}
	})
}

// TestAdminUnavailable: a database another process holds locked past the
// store's patience is 503 with Retry-After.
func TestAdminUnavailable(t *testing.T) {
	t.Parallel()
	s, path := teststore.SQLiteBusy(t, 100*time.Millisecond)
	f := newFixture(t, s)

	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Writers only: in WAL mode readers go on past a held write lock.
	if _, err := conn.ExecContext(t.Context(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(context.Background(), "ROLLBACK")

	for _, c := range []struct {
		method, path string
		body         any
	}{
		{http.MethodPost, "/admin/v1/namespaces", map[string]string{"name": "busy"}},
		{http.MethodPost, "/admin/v1/keys", nil},
	} {
		a := f.call(f.admin, c.method, c.path, c.body)
		f.wantError(a, http.StatusServiceUnavailable, "temporarily_unavailable", "", c.method+" "+c.path)
		if got := a.Header.Get("Retry-After"); got != "1" {
			t.Errorf("%s %s: Retry-After = %q, want 1", c.method, c.path, got)
		}
	}
}
