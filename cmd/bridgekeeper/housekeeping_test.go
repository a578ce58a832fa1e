package main

import (
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/internal/proctest"
)

// purgedTables are the tables the janitor keeps to the live sessions.
var purgedTables = []string{"refresh_tokens", "revoked_families", "revoked_access_tokens", "bans"}

// countRows counts the rows of each purged table through database/sql (the
// stores register the "pgx" and "sqlite" drivers).
func countRows(t *testing.T, database string) map[string]int {
	t.Helper()
	driver, dsn := "pgx", database
	if path, ok := strings.CutPrefix(database, "sqlite://"); ok {
		driver, dsn = "sqlite", path
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := map[string]int{}
	for _, table := range purgedTables {
		var n int
		if err := db.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
			t.Fatalf("count %s: %v", table, err)
		}
		out[table] = n
	}
	return out
}

// TestJanitorShrinksTables: expired refresh tokens, family and access-token
// revocations and released bans go, and the tables shrink back, while the
// broker serves (the janitor runs every janitor_interval).
func TestJanitorShrinksTables(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s store) {
		db := s.newURL(t)
		env := []string{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY=" + proctest.NewKEK(), "BRIDGEKEEPER_JANITOR_INTERVAL=1s"}
		// Every row must still be there when the rows are first counted, or
		// the test proves nothing (it fails then). The lifetimes leave room
		// for the logins, revocations and the ban on a busy machine (make
		// test runs many tests at once): 1s and 2s did not.
		c := createClient(t, env, "--database", db, "--namespace", "game", "--name", "short",
			"--grant", "client_credentials", "--grant", "server_custom_id", "--grant", "refresh_token",
			"--access-ttl", "4s", "--refresh-ttl", "10s")
		srv := startServe(t, db, env)

		login := func(player string) tokenResponse {
			tr := token(t, srv.URL, c.ClientID, c.ClientSecret, url.Values{
				"grant_type": {"server_custom_id"}, "server_custom_id": {player},
			})
			if tr.status != http.StatusOK {
				t.Fatalf("login of %s: %d %s", player, tr.status, tr.raw)
			}
			return tr
		}
		// The ban first: running the CLI is the slowest step, and the access
		// tokens, the shortest-lived rows, come after it.
		userID := subject(t, login("banned-player").AccessToken)
		mustBK(t, nil, "user", "ban", "--database", db, "--namespace", "game", "--user", userID,
			"--until", time.Now().Add(10*time.Second).UTC().Format(time.RFC3339Nano))

		const logins = 60
		var access, refresh []string
		for i := range logins {
			tr := login(fmt.Sprintf("player-%d", i))
			access, refresh = append(access, tr.AccessToken), append(refresh, refreshOf(t, tr))
		}
		for i := range 10 { // 10 families and 10 access tokens revoked
			revoke(t, srv.URL, c.ClientID, c.ClientSecret, refresh[i])
			revoke(t, srv.URL, c.ClientID, c.ClientSecret, access[logins-1-i])
		}

		before := countRows(t, db)
		for _, table := range purgedTables {
			if before[table] == 0 {
				t.Fatalf("nothing in %s to purge: %v", table, before)
			}
		}
		deadline := time.Now().Add(20 * time.Second)
		after := before
		for time.Now().Before(deadline) {
			time.Sleep(500 * time.Millisecond)
			if after = countRows(t, db); after["refresh_tokens"]+after["revoked_families"]+after["revoked_access_tokens"]+after["bans"] == 0 {
				break
			}
		}
		t.Logf("rows before %v, after expiry %v", before, after)
		for _, table := range purgedTables {
			if after[table] != 0 {
				t.Errorf("%s: %d rows left after everything expired (before: %d)", table, after[table], before[table])
			}
		}
		if !strings.Contains(srv.stdout.String()+srv.stderr.String(), "janitor purged expired rows") {
			t.Errorf("the janitor did not log its purge")
		}
	})
}

func refreshOf(t *testing.T, tr tokenResponse) string {
	t.Helper()
	var body struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal([]byte(tr.raw), &body); err != nil || body.RefreshToken == "" {
		t.Fatalf("no refresh token in %s", tr.raw)
	}
	return body.RefreshToken
}

// subject is the sub claim of a JWT (read, not verified: the broker
// issued it in this test).
func subject(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	var claims struct {
		Sub string `json:"sub"`
	}
	if err != nil || json.Unmarshal(payload, &claims) != nil || claims.Sub == "" {
		t.Fatalf("no sub in %q", tok)
	}
	return claims.Sub
}

func revoke(t *testing.T, base, id, secret, tok string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/oauth2/revoke", strings.NewReader(url.Values{"token": {tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	res, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d", res.StatusCode)
	}
}

// TestShutdownDrainsInFlight: SIGTERM lets a request already in flight
// finish with its answer, refuses new connections, and exits 0.
func TestShutdownDrainsInFlight(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s store) {
		db := s.newURL(t)
		env := []string{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY=" + proctest.NewKEK()}
		c := createClient(t, env, "--database", db, "--namespace", "game", "--name", "n", "--grant", "client_credentials")
		srv := startServe(t, db, env)

		// The request's body arrives in two halves, a second apart; the
		// signal comes between them.
		form := "grant_type=client_credentials"
		pr, pw := io.Pipe()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/oauth2/token", pr)
		req.ContentLength = int64(len(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(c.ClientID, c.ClientSecret)
		type answer struct {
			status int
			body   string
			err    error
		}
		answered := make(chan answer, 1)
		go func() {
			res, err := httpClient.Do(req)
			if err != nil {
				answered <- answer{err: err}
				return
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			answered <- answer{status: res.StatusCode, body: string(b)}
		}()
		if _, err := io.WriteString(pw, form[:10]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond) // the request is being read
		if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		// Draining: the listener is closed, so a new request is refused.
		if res, err := (&http.Client{Timeout: 2 * time.Second}).Get(srv.URL + "/healthz"); err == nil {
			res.Body.Close()
			t.Errorf("a new request was served while draining: %d", res.StatusCode)
		}
		if _, err := io.WriteString(pw, form[10:]); err != nil {
			t.Fatalf("finishing the in-flight body: %v", err)
		}
		pw.Close()
		a := <-answered
		if a.err != nil || a.status != http.StatusOK || !strings.Contains(a.body, "access_token") {
			t.Fatalf("in-flight request across SIGTERM: %d %q %v, want 200 with a token", a.status, a.body, a.err)
		}
		select {
		case <-srv.done:
		case <-time.After(10 * time.Second):
			t.Fatal("serve did not exit after draining")
		}
		if code := srv.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("exit code %d, want 0", code)
		}
	})
}
