package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/internal/proctest"
)

// TestServeSeesCLIClientUpdates: a client changed by `client update` while
// serve runs is served as changed within a second: a grant taken away, a
// secret rotated (the old one refused, the new one accepted).
func TestServeSeesCLIClientUpdates(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s store) {
		db := s.newURL(t)
		env := []string{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY=" + proctest.NewKEK()}
		srv := startServe(t, db, env)
		c := createClient(t, env, "--database", db, "--namespace", "live", "--name", "game server",
			"--grant", "client_credentials", "--grant", "server_custom_id", "--scope", "game")
		if tr := clientCredentials(t, srv.URL, c.ClientID, c.ClientSecret); tr.status != http.StatusOK {
			t.Fatalf("before the update: %d %s", tr.status, tr.raw)
		}

		// Take client_credentials away; the name changes too, the scope stays.
		mustBK(t, env, "client", "update", "--database", db, "--client-id", c.ClientID,
			"--grant", "server_custom_id", "--name", "renamed")
		tr, ok := pollToken(t, srv.URL, c.ClientID, c.ClientSecret, liveWithin, func(tr tokenResponse) bool { return tr.status != http.StatusOK })
		if !ok || tr.status != http.StatusBadRequest || tr.Error != "unauthorized_client" {
			t.Fatalf("grant removed by the CLI: %d %s, want 400 unauthorized_client within %s", tr.status, tr.raw, liveWithin)
		}
		ls := listClients(t, db)
		if len(ls) != 1 || ls[0].Name != "renamed" || !slices.Equal(ls[0].Scopes, []string{"game"}) ||
			!slices.Equal(ls[0].Grants, []string{"urn:bridgekeeper:params:oauth:grant-type:server_custom_id"}) {
			t.Errorf("client after update: %+v", ls)
		}

		// Rotate the secret: exactly one JSON object with the new one.
		r := mustBK(t, env, "client", "update", "--database", db, "--client-id", c.ClientID, "--rotate-secret", "--output", "json")
		var rotated created
		if err := json.Unmarshal([]byte(r.stdout), &rotated); err != nil || rotated.ClientID != c.ClientID || len(rotated.ClientSecret) < 43 || rotated.ClientSecret == c.ClientSecret {
			t.Fatalf("rotate-secret output: %v %v", err, r)
		}
		login := url.Values{"grant_type": {"server_custom_id"}, "server_custom_id": {"p1"}}
		deadline := pollUntil(liveWithin, func() bool {
			return token(t, srv.URL, c.ClientID, c.ClientSecret, login).status == http.StatusUnauthorized
		})
		if !deadline {
			t.Errorf("the old secret still works %s after rotation", liveWithin)
		}
		if tr := token(t, srv.URL, rotated.ClientID, rotated.ClientSecret, login); tr.status != http.StatusOK {
			t.Errorf("the new secret: %d %s", tr.status, tr.raw)
		}
	})
}

func TestClientUpdateBadInput(t *testing.T) {
	t.Parallel()
	db := migratedSQLite(t)
	env := []string{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY=" + proctest.NewKEK()}
	c := createClient(t, env, "--database", db, "--namespace", "ns", "--name", "n", "--grant", "client_credentials")
	pub := createClient(t, env, "--database", db, "--namespace", "ns", "--name", "app", "--public", "--grant", "refresh_token")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no client id", nil, "client-id"},
		{"unknown client", []string{"--client-id", "nope", "--name", "x"}, "not found"},
		{"unknown grant", []string{"--client-id", c.ClientID, "--grant", "password"}, "grant"},
		{"zero access ttl", []string{"--client-id", c.ClientID, "--access-ttl", "0s"}, "access-ttl"},
		{"public client gets client_credentials", []string{"--client-id", pub.ClientID, "--grant", "client_credentials"}, "public"},
		{"public client secret rotation", []string{"--client-id", pub.ClientID, "--rotate-secret"}, "rotate-secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := bk(t, env, append([]string{"client", "update", "--database", db}, tc.args...)...)
			if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("want a non-zero exit naming %q; got %v", tc.want, r)
			}
		})
	}
	// Nothing changed.
	for _, l := range listClients(t, db) {
		if (l.ClientID == c.ClientID && !slices.Equal(l.Grants, []string{"client_credentials"})) || (l.ClientID == pub.ClientID && !l.Public) {
			t.Errorf("a refused update changed the client: %+v", l)
		}
	}
}

// pollUntil calls ok until it reports true or within has passed.
func pollUntil(within time.Duration, ok func() bool) bool {
	deadline := time.Now().Add(within)
	for {
		if ok() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(25 * time.Millisecond)
	}
}
