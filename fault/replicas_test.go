package fault

// Issue 15: several `bridgekeeper serve` processes on one PostgreSQL act
// as one broker.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bridgekeeper/bridgekeeper/internal/testdb"
)

// Scheduled key rotation on three replicas: one replica makes each key
// (no two keys per interval), every replica publishes the next key before
// any replica signs with it (Hydra #2535), and every replica switches.
func TestReplicasRotateKeysOnSchedule(t *testing.T) {
	const interval, ahead = 4 * time.Second, 2 * time.Second
	db := testdb.Postgres(t)
	env := append(faultEnv(),
		"BRIDGEKEEPER_KEY_ROTATION_INTERVAL="+interval.String(),
		"BRIDGEKEEPER_KEY_PUBLISH_AHEAD="+ahead.String())
	creds := createClient(t, env, db, "replicas")
	replicas := startReplicas(t, 3, db, env, creds)

	// Each replica's JWKS is polled, and a token taken from it, every
	// 100 ms for 2.5 intervals: at least two scheduled rotations.
	type signed struct {
		kid     string
		replica int
		at      time.Time // the request's start: the key was in use by then
	}
	var mu sync.Mutex
	published := make([]map[string]time.Time, len(replicas)) // kid → first seen, per replica
	var tokens []signed
	var wg sync.WaitGroup
	// The key every replica had at its start is published before the load:
	// read here, so that a replica's first poll racing another's first
	// token does not count as that key being used before it was published.
	for i, a := range replicas {
		published[i] = map[string]time.Time{}
		seen := time.Now()
		kids, err := jwksKids(a)
		if err != nil {
			t.Fatalf("replica %d JWKS: %v", i, err)
		}
		for _, kid := range kids {
			published[i][kid] = seen
		}
	}
	end := time.Now().Add(interval*5/2 + ahead)
	for i, a := range replicas {
		wg.Go(func() {
			for time.Now().Before(end) {
				seen := time.Now()
				kids, err := jwksKids(a)
				if err != nil {
					t.Errorf("replica %d JWKS: %v", i, err)
					return
				}
				start := time.Now()
				r := a.clientCredentials()
				if !r.ok() {
					t.Errorf("replica %d client_credentials: %s", i, r)
					return
				}
				kid, err := tokenKid(r.AccessToken)
				if err != nil {
					t.Errorf("replica %d: %v", i, err)
					return
				}
				mu.Lock()
				for _, kid := range kids {
					if _, ok := published[i][kid]; !ok {
						published[i][kid] = seen
					}
				}
				tokens = append(tokens, signed{kid: kid, replica: i, at: start})
				mu.Unlock()
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	signers := map[string]bool{}
	for _, tok := range tokens {
		signers[tok.kid] = true
		for i := range replicas {
			if first, ok := published[i][tok.kid]; !ok || !first.Before(tok.at) {
				t.Errorf("replica %d signed with %s at %s; replica %d published it first at %v (want before)",
					tok.replica, tok.kid, tok.at.Format(time.StampMilli), i, first.Format(time.StampMilli))
			}
		}
	}
	if len(signers) < 3 {
		t.Errorf("tokens were signed by %d keys over %s; want the first key and at least two scheduled ones", len(signers), interval*5/2+ahead)
	}

	// One key per rotation: the activations are an interval apart, and
	// each has its audit event.
	conn, err := pgx.Connect(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(context.Background(), `SELECT COALESCE(activates_at, created_at) FROM signing_keys ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	activations, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(activations); i++ {
		// A rotation is checked for once a second, so it comes up to a
		// second (and a slow tick) after it is due.
		if gap := activations[i].Sub(activations[i-1]); gap < interval-ahead || gap > interval+2*time.Second {
			t.Errorf("key %d signs %s after key %d; want about %s (two replicas rotating at once make a short gap)", i, gap, i-1, interval)
		}
	}
	var audited int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM audit_events WHERE type = 'admin.key.rotate' AND actor = 'broker'`).Scan(&audited); err != nil {
		t.Fatal(err)
	}
	if audited != len(activations)-1 {
		t.Errorf("%d scheduled rotations audited for %d keys; want one per key after the first", audited, len(activations))
	}
	t.Logf("3 replicas, %d tokens, %d keys, activations %v", len(tokens), len(activations), activations)
}

// jwksKids are the key IDs of a replica's JWKS.
func jwksKids(a *api) ([]string, error) {
	res, err := a.hc.Get(a.base + "/.well-known/jwks.json")
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if res.StatusCode != http.StatusOK {
		return nil, &httpError{res.StatusCode, string(body)}
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, err
	}
	kids := make([]string, len(set.Keys))
	for i, k := range set.Keys {
		kids[i] = k.Kid
	}
	return kids, nil
}

type httpError struct {
	status int
	body   string
}

func (e *httpError) Error() string { return http.StatusText(e.status) + ": " + e.body }

// tokenKid is the kid of a JWS's header.
func tokenKid(jws string) (string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(jws, ".")[0])
	var h struct {
		Kid string `json:"kid"`
	}
	if err == nil {
		err = json.Unmarshal(raw, &h)
	}
	if err == nil && h.Kid == "" {
		err = errors.New("no kid")
	}
	if err != nil {
		return "", fmt.Errorf("token header of %.40q: %w", jws, err)
	}
	return h.Kid, nil
}
