package web_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/gs2"
	"github.com/bridgekeeper/bridgekeeper/broker/keys"
	"github.com/bridgekeeper/bridgekeeper/broker/store/postgres"
	"github.com/bridgekeeper/bridgekeeper/broker/store/sqlite"
	"github.com/bridgekeeper/bridgekeeper/broker/xsolla"
	"github.com/bridgekeeper/bridgekeeper/clientjwt"
	"github.com/bridgekeeper/bridgekeeper/dpop"
	"github.com/bridgekeeper/bridgekeeper/grants"
	"github.com/bridgekeeper/bridgekeeper/internal/openapitest"
	"github.com/bridgekeeper/bridgekeeper/internal/testdb"
	"github.com/bridgekeeper/bridgekeeper/throttle"
	"github.com/bridgekeeper/bridgekeeper/web"
)

// clock is real time plus an offset the test can advance, so that go-oidc
// (which reads the real clock) and the broker agree until a test moves on.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

// fixture is a broker served over real HTTP on loopback, on a real store.
type fixture struct {
	URL     string
	Handler http.Handler
	// Metrics is what the admin listener serves at /metrics.
	Metrics http.Handler
	Store   broker.Store
	Broker  *broker.Broker
	svc     web.Services
	Secrets *keys.Secrets
	Clock   *clock
	Logs    *strings.Builder
}

// eachStore runs fn against SQLite and PostgreSQL.
func eachStore(t *testing.T, fn func(t *testing.T, f *fixture)) {
	eachStoreWith(t, nil, fn)
}

// eachStoreWith is eachStore with the server's options changed by
// configure (nil: as they are).
func eachStoreWith(t *testing.T, configure func(*settings), fn func(t *testing.T, f *fixture)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel() // each backend has a fixture of its own
		fn(t, buildFixture(t, openSQLite(t), nil, configure))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		fn(t, buildFixture(t, openPostgres(t), nil, configure))
	})
}

func openSQLite(t testing.TB) broker.Store {
	path, err := sqlite.PathFromURL(testdb.SQLiteURL(t))
	if err != nil {
		t.Fatal(err)
	}
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openPostgres(t *testing.T) broker.Store {
	s, err := postgres.Open(context.Background(), testdb.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

type syncBuilder struct {
	mu sync.Mutex
	strings.Builder
}

func (b *syncBuilder) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Builder.Write(p)
}

func newFixture(t *testing.T, store broker.Store) *fixture {
	t.Helper()
	return buildFixture(t, store, nil)
}

// buildFixture is newFixture with upstream identity providers: upstreams,
// when not nil, makes them from the broker's issuer URL (their callbacks are
// under it), which is known only once the listener is. configure, when
// given, changes the server's options (the fixture's clock is their Now).
func buildFixture(t *testing.T, store broker.Store, upstreams func(issuer string) []web.Upstream, configure ...func(*settings)) *fixture {
	t.Helper()
	logs := &syncBuilder{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := httptest.NewUnstartedServer(nil)
	srv.Listener = checkedListener(t, srv.Listener)
	issuer := "http://" + srv.Listener.Addr().String()
	opts := settings{Options: web.Options{MaxBodyBytes: 64 << 10}}
	if upstreams != nil {
		opts.Upstreams = upstreams(issuer)
	}
	for _, c := range configure {
		if c != nil {
			c(&opts)
		}
	}
	w := wire(t, store, issuer, log, opts)
	srv.Config.Handler = w.handler
	srv.Start()
	t.Cleanup(srv.Close)
	return &fixture{URL: issuer, Handler: w.handler, Metrics: w.metrics, Store: store, Broker: w.services.Broker, svc: w.services, Secrets: w.secrets, Clock: w.clock, Logs: &logs.Builder}
}

// checkedListener has every exchange on ln, whoever the client, checked
// against the OpenAPI document (api/openapi.yaml): a mismatch fails t when
// it ends. Register the server's Close in a cleanup after this call.
func checkedListener(t testing.TB, ln net.Listener) net.Listener {
	t.Helper()
	c, err := openapitest.Default()
	if err != nil {
		t.Fatal(err)
	}
	return openapitest.Listener(t, c, ln)
}

// settings are what a test may change of the wiring: the server's
// options and the pipeline's guards.
type settings struct {
	web.Options
	Limits grants.Limits
}

// wired is a broker and its HTTP surface over a store, wired as serve wires
// them, on a test clock.
type wired struct {
	services web.Services
	handler  http.Handler
	metrics  http.Handler // the admin listener's /metrics
	secrets  *keys.Secrets
	clock    *clock
}

// wire builds the broker (a fresh KEK and signing key, client rate limits
// on the test clock, bcrypt at its minimum cost: the default cost is tested
// in broker, here it would only be slow) and the handler with opts, whose
// Now becomes the test clock.
func wire(tb testing.TB, store broker.Store, issuer string, log *slog.Logger, opts settings) wired {
	tb.Helper()
	kek := make([]byte, keys.KEKSize)
	rand.Read(kek)
	secrets, err := keys.NewSecrets(kek)
	if err != nil {
		tb.Fatal(err)
	}
	clk := &clock{}
	keys := keys.NewKeyring(store, secrets, clk.Now)
	if _, err := keys.EnsureActive(context.Background(), "ES256"); err != nil {
		tb.Fatal(err)
	}
	b := broker.New(broker.Config{Issuer: issuer, RefreshGrace: 5 * time.Second}, store, secrets, keys, clk.Now, log)
	svc := services(b, store, secrets, clk, opts.BrokerSlots()...)
	opts.Now = clk.Now
	srv := web.NewServer(svc, pipeline(b, store, clk, opts.Limits, log, opts.Platforms...), log, opts.Options)
	return wired{services: svc, handler: srv.Handler(), metrics: srv.Metrics(),
		secrets: secrets, clock: clk}
}

// services are serve's services over b, on the test clock.
func services(b *broker.Broker, store broker.Store, secrets *keys.Secrets, clk *clock, slots ...int) web.Services {
	return web.Services{
		Broker: b,
		GS2Accounts: gs2.NewAccounts(gs2.Config{PasswordCost: bcrypt.MinCost, Slots: broker.NewSlots(store, slots...)},
			store, b, secrets, clk.Now),
		GS2Auth: gs2.NewAuth(store, b, secrets, clk.Now),
		Xsolla:  xsolla.New(b, store, xsolla.DefaultAttributeBound, clk.Now),
	}
}

// pipeline is serve's pipeline over b: every grant, the guards of limits
// and client rate limits on the test clock.
func pipeline(b *broker.Broker, store broker.Store, clk *clock, limits grants.Limits, log *slog.Logger, plats ...grants.Platform) *grants.Pipeline {
	proofs, err := dpop.New(dpop.Config{Replay: store})
	if err != nil {
		panic(err)
	}
	iss := b.Issuer()
	assertions, err := clientjwt.New(clientjwt.Config{Replay: store, Audiences: []string{iss, iss + "/oauth2/token",
		iss + "/oauth2/introspect", iss + "/oauth2/revoke", iss + "/oauth2/device_authorization"}})
	if err != nil {
		panic(err)
	}
	return grants.New(grants.Config{Clients: b, Limiter: throttle.New(1000, clk.Now), Limits: limits, Log: log,
		Proofs: proofs, Assertions: assertions},
		grants.AuthorizationCode{Redeemer: broker.NewAuthorizations(b)}, grants.ClientCredentials{Issuer: b},
		grants.ServerCustomID{Login: b}, grants.RefreshToken{Refresher: b},
		grants.TokenExchange{Platforms: plats, SignIn: b}, grants.DeviceCode{Poller: broker.NewDevices(b)})
}

// gameServer is the spec of a typical confidential game-server client.
func gameServer(ns string) broker.ClientSpec {
	return broker.ClientSpec{
		Namespace: ns, Name: "game server", Scopes: []string{"game", "profile"},
		Grants: []string{broker.GrantClientCredentials, broker.GrantServerCustomID, broker.GrantRefreshToken, broker.GrantGS2Trusted},
	}
}

// client registers a client and returns its credentials.
func (f *fixture) client(t *testing.T, spec broker.ClientSpec) (id, secret string) {
	t.Helper()
	c, secret, err := broker.CreateClient(context.Background(), f.Store, f.Secrets, spec, f.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c.ID, secret
}

// response is a decoded JSON answer.
type response struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

func (r response) str(key string) string {
	s, _ := r.Body[key].(string)
	return s
}

// do sends a request with an optional Basic client authentication.
func (f *fixture) do(t *testing.T, method, path, contentType, body string, basic *[2]string) response {
	t.Helper()
	req, err := http.NewRequest(method, f.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if basic != nil {
		req.SetBasicAuth(url.QueryEscape(basic[0]), url.QueryEscape(basic[1]))
	}
	return roundTrip(t, req)
}

// roundTrip sends req and reads the answer, JSON or not.
func roundTrip(t *testing.T, req *http.Request) response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	_ = json.Unmarshal(raw, &r.Body)
	return r
}

const formType = "application/x-www-form-urlencoded"

// token posts a token request authenticated with client_secret_basic.
func (f *fixture) token(t *testing.T, id, secret string, form url.Values) response {
	t.Helper()
	return f.do(t, http.MethodPost, "/oauth2/token", formType, form.Encode(), &[2]string{id, secret})
}

// mustToken is token that must succeed.
func (f *fixture) mustToken(t *testing.T, id, secret string, form url.Values) response {
	t.Helper()
	r := f.token(t, id, secret, form)
	if r.Status != http.StatusOK {
		t.Fatalf("token %v: %d %s", form.Get("grant_type"), r.Status, r.Raw)
	}
	return r
}

func customID(id string) url.Values {
	return url.Values{"grant_type": {"server_custom_id"}, "server_custom_id": {id}}
}

func refresh(rt string) url.Values {
	return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
}

// introspect asks whether token is active, as client id.
func (f *fixture) introspect(t *testing.T, id, secret, token string) response {
	t.Helper()
	return f.do(t, http.MethodPost, "/oauth2/introspect", formType, url.Values{"token": {token}}.Encode(), &[2]string{id, secret})
}
