package fault

// Issue 15 item 1: three `bridgekeeper serve` processes on one PostgreSQL
// behave as one broker. The peers' trackers hold the bugs this guards
// against: concurrent refreshes on several replicas answered 500 (Hydra
// #3604, Dex #4830), a refresh reused across a cluster (Keycloak #45647).

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bridgekeeper/bridgekeeper/internal/proctest"
	"github.com/bridgekeeper/bridgekeeper/internal/testdb"
)

// propagation bounds how long an operator's change may take to hold on
// every replica, from the moment the command that made it returned.
const propagation = time.Second

func TestReplicasActAsOne(t *testing.T) {
	db := testdb.Postgres(t)
	// The default request timeout, not the fault tests' 2 s: 100 refreshes
	// at once on a two-core machine busy with the rest of make test can
	// queue past 2 s, and a 503 for that would say nothing about replicas.
	env := append(faultEnv(), "BRIDGEKEEPER_REQUEST_TIMEOUT=10s")
	creds := createClient(t, env, db, "agree")
	replicas := startReplicas(t, 3, db, env, creds)
	cli := func(args ...string) []byte {
		t.Helper()
		return runCLI(t, env, append(args, "--database", db, "--output", "json")...)
	}

	t.Run("client created, changed, given a new secret and deleted", func(t *testing.T) {
		c := createClient(t, env, db, "agree-changing")
		as := func(c credentials) []*api { return withCredentials(t, replicas, c) }
		everyReplica(t, "a new client signs in", as(c), func(a *api) error { return wantOK(a.clientCredentials()) })

		cli("client", "update", "--client-id", c.ClientID, "--scope", "game chat")
		everyReplica(t, "a scope added", as(c), func(a *api) error {
			return wantOK(a.post(opClientCredentials, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"chat"}}))
		})

		var rotated credentials
		if err := json.Unmarshal(cli("client", "update", "--client-id", c.ClientID, "--rotate-secret"), &rotated); err != nil || rotated.ClientSecret == "" {
			t.Fatalf("client update --rotate-secret: %v, %+v", err, rotated)
		}
		rotated.ClientID = c.ClientID
		everyReplica(t, "the old secret refused", as(c), func(a *api) error { return wantStatus(a.clientCredentials(), http.StatusUnauthorized) })
		everyReplica(t, "the new secret accepted", as(rotated), func(a *api) error { return wantOK(a.clientCredentials()) })

		cli("client", "delete", "--client-id", c.ClientID)
		everyReplica(t, "a deleted client refused", as(rotated), func(a *api) error {
			return wantStatus(a.clientCredentials(), http.StatusUnauthorized)
		})
	})

	t.Run("key rotated", func(t *testing.T) {
		var k struct {
			Kid string `json:"kid"`
		}
		if err := json.Unmarshal(cli("key", "rotate"), &k); err != nil || k.Kid == "" {
			t.Fatalf("key rotate: %v, %+v", err, k)
		}
		everyReplica(t, "the new key published and signing", replicas, func(a *api) error {
			kids, err := jwksKids(a)
			if err != nil {
				return err
			}
			if !slices.Contains(kids, k.Kid) {
				return fmt.Errorf("JWKS %v lacks %s", kids, k.Kid)
			}
			r := a.clientCredentials()
			if err := wantOK(r); err != nil {
				return err
			}
			if kid, err := tokenKid(r.AccessToken); err != nil || kid != k.Kid {
				return fmt.Errorf("signed with %q (%v), want %s", kid, err, k.Kid)
			}
			return nil
		})
	})

	t.Run("ban", func(t *testing.T) {
		first := replicas[0].login("agree-banned")
		if err := wantOK(first); err != nil {
			t.Fatal(err)
		}
		until := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		cli("user", "ban", "--namespace", "fault", "--user", tokenSubject(t, first.AccessToken), "--until", until)
		everyReplica(t, "a banned player's login refused", replicas, func(a *api) error { return wantRefused(a.login("agree-banned")) })
		everyReplica(t, "a banned player's refresh refused", replicas, func(a *api) error { return wantRefused(a.refresh(first.RefreshToken)) })
	})

	t.Run("with_logout", func(t *testing.T) {
		earlier := replicas[0].login("agree-logout")
		if err := wantOK(earlier); err != nil {
			t.Fatal(err)
		}
		r := replicas[1].xsollaLogin(t, namespaceID(t, db, "fault"), "agree-logout")
		if r.Status != http.StatusOK {
			t.Fatalf("Xsolla login with_logout=1: %s", r)
		}
		everyReplica(t, "an earlier session's refresh refused", replicas, func(a *api) error { return wantRefused(a.refresh(earlier.RefreshToken)) })
	})

	t.Run("100 concurrent refreshes of one token", func(t *testing.T) {
		first := replicas[0].login("agree-storm")
		if err := wantOK(first); err != nil {
			t.Fatal(err)
		}
		replies := make([]reply, 100)
		parallel(len(replies), len(replies), func(i int) { replies[i] = replicas[i%len(replicas)].refresh(first.RefreshToken) })
		successors := map[string]int{}
		refused := 0
		for _, r := range replies {
			switch {
			case r.ok():
				successors[r.RefreshToken]++
			case r.Err == nil && r.Error == "invalid_grant":
				refused++
			default:
				t.Errorf("refresh storm: neither the successor nor invalid_grant: %s", r)
			}
		}
		if len(successors) != 1 {
			t.Fatalf("100 refreshes of one token gave %d successors, want exactly one rotation", len(successors))
		}
		for rt := range successors {
			// A session is one row: its current token, and the one that
			// token replaced.
			var rows int
			err := queryRow(t, db, `SELECT count(*) FROM refresh_tokens WHERE user_id = $1 AND prev = sha256($2) AND cur = sha256($3)`,
				&rows, tokenSubject(t, first.AccessToken), []byte(first.RefreshToken), []byte(rt))
			if err != nil || rows != 1 {
				t.Errorf("sessions of the player that replaced the first token with its one successor: %d (%v), want 1", rows, err)
			}
		}
		for rt, n := range successors {
			t.Logf("100 refreshes over %d replicas: %d got the one successor, %d invalid_grant", len(replicas), n, refused)
			if err := wantOK(replicas[2].refresh(rt)); err != nil {
				t.Errorf("the successor does not rotate: %v", err)
			}
		}
	})

	t.Run("50 concurrent first sign-ins of one identity", func(t *testing.T) {
		replies := make([]reply, 50)
		parallel(len(replies), len(replies), func(i int) { replies[i] = replicas[i%len(replicas)].login("agree-first") })
		users := map[string]int{}
		for _, r := range replies {
			if err := wantOK(r); err != nil {
				t.Errorf("first sign-in: %v", err)
				continue
			}
			users[tokenSubject(t, r.AccessToken)]++
		}
		if len(users) != 1 {
			t.Errorf("50 first sign-ins of one identity made players %v, want one", users)
		}
		var links int
		if err := queryRow(t, db, `SELECT count(*) FROM takeover_links WHERE identifier = 'agree-first'`, &links); err != nil || links != 1 {
			t.Errorf("takeover links of the identity: %d (%v), want 1", links, err)
		}
	})
}

// startReplicas starts n serve processes on database and an API client of
// each, closed when the test ends.
func startReplicas(t *testing.T, n int, database string, env []string, creds credentials) []*api {
	t.Helper()
	replicas := make([]*api, n)
	for i := range replicas {
		bk := startBroker(t, proctest.FreeAddr(t), database, env)
		replicas[i] = newAPI(bk.Base, creds)
		t.Cleanup(replicas[i].close)
	}
	return replicas
}

// withCredentials is an API client of each replica calling as c.
func withCredentials(t *testing.T, replicas []*api, c credentials) []*api {
	as := make([]*api, len(replicas))
	for i, a := range replicas {
		as[i] = newAPI(a.base, c)
		t.Cleanup(as[i].close)
	}
	return as
}

// everyReplica polls each replica until check passes, and fails the test if
// one took longer than propagation (it keeps polling for a while, so that
// the log tells how much longer).
func everyReplica(t *testing.T, what string, replicas []*api, check func(*api) error) {
	t.Helper()
	start := time.Now()
	took := make([]time.Duration, len(replicas))
	errs := make([]error, len(replicas))
	var wg sync.WaitGroup
	for i, a := range replicas {
		wg.Go(func() {
			for {
				errs[i] = check(a)
				took[i] = time.Since(start)
				if errs[i] == nil || took[i] > 10*propagation {
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	for i := range replicas {
		switch {
		case errs[i] != nil:
			t.Errorf("%s: replica %d still not after %s: %v", what, i, took[i].Round(time.Millisecond), errs[i])
		case took[i] > propagation:
			t.Errorf("%s: replica %d took %s, more than %s", what, i, took[i].Round(time.Millisecond), propagation)
		}
	}
	t.Logf("%s: on every replica after %v", what, roundAll(took))
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}

func wantOK(r reply) error {
	if !r.ok() {
		return fmt.Errorf("want a success: %s", r)
	}
	return nil
}

func wantStatus(r reply, status int) error {
	if r.Err != nil || r.Status != status {
		return fmt.Errorf("want %d: %s", status, r)
	}
	return nil
}

// wantRefused is a 4xx refusal: the request was understood and said no.
func wantRefused(r reply) error {
	if r.Err != nil || r.Status < 400 || r.Status >= 500 {
		return fmt.Errorf("want a refusal: %s", r)
	}
	return nil
}

// xsollaLogin signs customID in through the Xsolla-style login with
// with_logout=1, as a game server holding a client_credentials token.
func (a *api) xsollaLogin(t *testing.T, projectID, customID string) reply {
	t.Helper()
	server := a.clientCredentials()
	if err := wantOK(server); err != nil {
		t.Fatal(err)
	}
	q := url.Values{"projectId": {projectID}, "with_logout": {"1"}}
	req, err := http.NewRequest(http.MethodPost, a.base+"/users/login/server_custom_id?"+q.Encode(),
		strings.NewReader(`{"server_custom_id":`+jsonString(customID)+`}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+server.AccessToken)
	req.Header.Set("Content-Type", "application/json")
	return a.do("xsolla_login", req)
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// tokenSubject is the sub claim of a JWT, read without checking it.
func tokenSubject(t *testing.T, jwt string) string {
	t.Helper()
	sub, err := subject(jwt)
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

func namespaceID(t *testing.T, database, name string) string {
	t.Helper()
	var id string
	if err := queryRow(t, database, `SELECT id FROM namespaces WHERE name = $1`, &id, name); err != nil {
		t.Fatal(err)
	}
	return id
}

// queryRow runs one query on database and scans its one column into dest.
func queryRow(t *testing.T, database, sql string, dest any, args ...any) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, database)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.QueryRow(ctx, sql, args...).Scan(dest)
}
