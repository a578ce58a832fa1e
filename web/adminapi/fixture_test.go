package adminapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/admin"
	"github.com/bridgekeeper/bridgekeeper/broker/keys"
	"github.com/bridgekeeper/bridgekeeper/internal/openapitest"
	"github.com/bridgekeeper/bridgekeeper/internal/teststore"
	"github.com/bridgekeeper/bridgekeeper/web/adminapi"
)

// fixture is the admin API over a real broker and store, on loopback, with
// the tokens of four callers: an admin of every namespace, an admin of the
// "game" namespace only, a game server without the admin scope, and a
// player.
type fixture struct {
	t       *testing.T
	url     string
	store   broker.Store
	broker  *broker.Broker
	secrets *keys.Secrets
	// game and other are namespaces; server is a game server of game.
	game, other    broker.Namespace
	server         broker.Client
	admin, limited string // admin tokens
	noScope        string // the game server's own token
}

// eachStore runs fn on SQLite and on PostgreSQL.
func eachStore(t *testing.T, fn func(t *testing.T, f *fixture)) {
	teststore.Each(t, func(t *testing.T, s broker.Store) { fn(t, newFixture(t, s)) })
}

func newFixture(t *testing.T, store broker.Store) *fixture {
	ctx := context.Background()
	kek := make([]byte, keys.KEKSize)
	rand.Read(kek)
	secrets, err := keys.NewSecrets(kek)
	if err != nil {
		t.Fatal(err)
	}
	ring := keys.NewKeyring(store, secrets, time.Now)
	if _, err := ring.EnsureActive(ctx, "ES256"); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	b := broker.New(broker.Config{Issuer: "http://bridgekeeper.test"}, store, secrets, ring, time.Now, log)
	api := adminapi.New(adminapi.Config{
		Service: admin.New(store, secrets, time.Now, log), Tokens: b, Log: log, SigningAlg: "ES256",
		Address: func(r *http.Request) string { host, _, _ := net.SplitHostPort(r.RemoteAddr); return host },
	})
	r := mux.NewRouter()
	api.Register(r)
	// Every exchange with the API is checked against the OpenAPI document
	// (api/openapi.yaml), whoever the client: a mismatch fails the test.
	contract, err := openapitest.Default()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(r)
	srv.Listener = openapitest.Listener(t, contract, srv.Listener)
	srv.Start()
	t.Cleanup(srv.Close) // after the listener's cleanup, which waits for it

	f := &fixture{t: t, url: srv.URL, store: store, broker: b, secrets: secrets}
	f.admin = f.clientToken(broker.ClientSpec{Namespace: admin.AdminNamespace, Name: "ops",
		Grants: []string{broker.GrantClientCredentials}, Scopes: []string{admin.Scope}}, admin.Scope)
	f.limited = f.clientToken(broker.ClientSpec{Namespace: "game", Name: "game ops",
		Grants: []string{broker.GrantClientCredentials}, Scopes: []string{admin.Scope}}, admin.Scope)
	f.server, _, err = broker.CreateClient(ctx, store, secrets, broker.ClientSpec{Namespace: "game", Name: "game server",
		Grants: []string{broker.GrantClientCredentials, broker.GrantServerCustomID, broker.GrantRefreshToken}, Scopes: []string{"game"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tok, err := b.IssueClientToken(ctx, f.server, nil, broker.Binding{})
	if err != nil {
		t.Fatal(err)
	}
	f.noScope = tok.AccessToken
	if f.game, err = store.GetNamespaceByName(ctx, "game"); err != nil {
		t.Fatal(err)
	}
	if f.other, err = broker.CreateNamespace(ctx, store, "other", time.Now()); err != nil {
		t.Fatal(err)
	}
	return f
}

// clientToken creates a client and returns an access token of it.
func (f *fixture) clientToken(spec broker.ClientSpec, scope ...string) string {
	f.t.Helper()
	c, _, err := broker.CreateClient(context.Background(), f.store, f.secrets, spec, time.Now())
	if err != nil {
		f.t.Fatal(err)
	}
	tok, err := f.broker.IssueClientToken(context.Background(), c, scope, broker.Binding{})
	if err != nil {
		f.t.Fatal(err)
	}
	return tok.AccessToken
}

// player signs a player in through the game server's custom-ID slot and
// returns the token pair.
func (f *fixture) player(customID string) broker.Token {
	f.t.Helper()
	tok, err := f.broker.LoginByLink(context.Background(), f.server, f.server.CustomIDSlot, customID, nil, broker.Binding{})
	if err != nil {
		f.t.Fatal(err)
	}
	return tok
}

// answer is an API response, its body decoded.
type answer struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

func (a answer) str(key string) string { s, _ := a.Body[key].(string); return s }

// items are a listing's items.
func (a answer) items() []map[string]any {
	raw, _ := a.Body["items"].([]any)
	out := make([]map[string]any, 0, len(raw))
	for _, v := range raw {
		m, _ := v.(map[string]any)
		out = append(out, m)
	}
	return out
}

// call makes an API call with token ("" for none) and body (nil for none).
func (f *fixture) call(token, method, path string, body any) answer {
	f.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			f.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, f.url+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &a.Body)
	}
	return a
}

// want fails the test unless the answer has status.
func (f *fixture) want(a answer, status int, what string) answer {
	f.t.Helper()
	if a.Status != status {
		f.t.Fatalf("%s: got %d %s, want %d", what, a.Status, a.Raw, status)
	}
	return a
}

// wantError fails the test unless the answer is the error writer's shape
// with status, code and (when not "") field.
func (f *fixture) wantError(a answer, status int, code, field, what string) {
	f.t.Helper()
	if a.Status != status || a.str("error") != code || a.str("field") != field || a.str("error_description") == "" {
		f.t.Errorf("%s: got %d %s, want %d %s field %q", what, a.Status, a.Raw, status, code, field)
	}
}

// lastEvent is the newest audit event, as the all-seeing admin reads it.
func (f *fixture) lastEvent() map[string]any {
	f.t.Helper()
	a := f.want(f.call(f.admin, http.MethodGet, "/admin/v1/audit?limit=1", nil), http.StatusOK, "audit")
	items := a.items()
	if len(items) == 0 {
		f.t.Fatal("the audit trail is empty")
	}
	return items[0]
}

// wantEvent checks the newest audit event's type, actor and target.
func (f *fixture) wantEvent(typ, actorPrefix, target string) {
	f.t.Helper()
	e := f.lastEvent()
	actor, _ := e["actor"].(string)
	if e["type"] != typ || len(actor) < len(actorPrefix) || actor[:len(actorPrefix)] != actorPrefix ||
		(target != "" && e["target"] != target) || e["address"] != "127.0.0.1" {
		f.t.Errorf("last audit event = %v, want type %s by %s* on %q from 127.0.0.1", e, typ, actorPrefix, target)
	}
}
