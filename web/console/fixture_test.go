package console_test

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/admin"
	"github.com/bridgekeeper/bridgekeeper/broker/keys"
	"github.com/bridgekeeper/bridgekeeper/grants"
	"github.com/bridgekeeper/bridgekeeper/internal/oidctest"
	"github.com/bridgekeeper/bridgekeeper/internal/proctest"
	"github.com/bridgekeeper/bridgekeeper/internal/testclock"
	"github.com/bridgekeeper/bridgekeeper/internal/teststore"
	"github.com/bridgekeeper/bridgekeeper/throttle"
	"github.com/bridgekeeper/bridgekeeper/web"
	"github.com/bridgekeeper/bridgekeeper/web/console"
)

// The console's fixture: a real broker over a real store, its public
// listener (where the authorization-code flow runs) with "google" as the
// upstream (mockoidc, through providers/oidc), and the console on a
// listener of its own, as the admin listener serves it.

const (
	googleSlot = 2
	steamSlot  = 10
	// admins are the google subjects console.admins lists.
	adminSubject  = "staff-alice"
	adminSubject2 = "staff-bob"
)

type fixture struct {
	t       *testing.T
	store   broker.Store
	broker  *broker.Broker
	svc     *admin.Service
	google  *oidctest.Upstream
	issuer  string // the public listener
	URL     string // the console's listener
	console broker.Client
	// server is a game server that signs players in by its own ID.
	server broker.Client
	clock  *testclock.Clock // the console's
	logs   *proctest.SyncBuffer
}

// eachStore runs fn on SQLite and on PostgreSQL.
func eachStore(t *testing.T, fn func(t *testing.T, store broker.Store)) { teststore.Each(t, fn) }

// newFixture builds the broker, its public listener and the console;
// baseURL, when not "", is the console's configured base URL in place of
// its listener's (a console behind an https proxy).
func newFixture(t *testing.T, store broker.Store, baseURL string) *fixture {
	t.Helper()
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
	logs := &proctest.SyncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	public := httptest.NewUnstartedServer(nil)
	issuer := "http://" + public.Listener.Addr().String()
	b := broker.New(broker.Config{Issuer: issuer, RefreshGrace: 5 * time.Second}, store, secrets, ring, time.Now, log)
	google := oidctest.Start(t)
	srv := web.NewServer(web.Services{Broker: b},
		grants.New(grants.Config{Clients: b, Limiter: throttle.New(1000, time.Now), Log: log}, grants.AuthorizationCode{Redeemer: broker.NewAuthorizations(b)}),
		log, web.Options{Upstreams: []web.Upstream{{Name: "google", Slot: googleSlot,
			Provider: google.Provider(t, "google", googleSlot, issuer+"/oauth2/callback/google")}}})
	public.Config.Handler = srv.Handler()
	public.Start()
	t.Cleanup(public.Close)

	f := &fixture{t: t, store: store, broker: b, svc: admin.New(store, secrets, time.Now, log), google: google, issuer: issuer,
		clock: testclock.New(time.Now()), logs: logs}
	consoleSrv := httptest.NewUnstartedServer(nil)
	f.URL = "http://" + consoleSrv.Listener.Addr().String()
	if baseURL == "" {
		baseURL = f.URL
	}
	if f.console, err = f.svc.Tenants.EnsureConsoleClient(ctx, admin.Actor{ID: "serve"}, console.RedirectURI(baseURL)); err != nil {
		t.Fatal(err)
	}
	c, err := console.New(console.Config{
		Service: f.svc, Broker: b, Codes: broker.NewAuthorizations(b), ClientID: f.console.ID, BaseURL: baseURL,
		Providers:   []console.Provider{{Name: "google", Slot: googleSlot}},
		Admins:      []console.Admin{{Provider: "google", Subject: adminSubject}, {Provider: "google", Subject: adminSubject2}},
		Slots:       []console.Slot{{Slot: googleSlot, Name: "google"}, {Slot: steamSlot, Name: "steam"}},
		SigningAlgs: keys.SigningAlgs, Log: log, Now: f.clock.Now,
		Address: func(r *http.Request) string { host, _, _ := net.SplitHostPort(r.RemoteAddr); return host },
	})
	if err != nil {
		t.Fatal(err)
	}
	// Mounted as serve's adminHandler mounts it.
	r := mux.NewRouter()
	h := c.Handler()
	r.Handle("/console", h)
	r.PathPrefix("/console/").Handler(h)
	consoleSrv.Config.Handler = r
	consoleSrv.Start()
	t.Cleanup(consoleSrv.Close)

	f.server, _, err = broker.CreateClient(ctx, store, secrets, broker.ClientSpec{Namespace: "game", Name: "game server",
		Grants: []string{broker.GrantClientCredentials, broker.GrantServerCustomID, broker.GrantRefreshToken}, Scopes: []string{"game"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// player signs a player in through the game server's custom-ID slot,
// links steamID (when not "") and sets the nickname (when not ""); it
// returns the token pair of that sign-in.
func (f *fixture) player(customID, steamID, nickname string) broker.Token {
	f.t.Helper()
	ctx := context.Background()
	tok, err := f.broker.LoginByLink(ctx, f.server, f.server.CustomIDSlot, customID, nil, broker.Binding{})
	if err != nil {
		f.t.Fatal(err)
	}
	if steamID != "" {
		if err := f.broker.Link(ctx, f.server.NamespaceID, tok.UserID, steamSlot, steamID); err != nil {
			f.t.Fatal(err)
		}
	}
	if nickname != "" {
		if err := f.store.SetNickname(ctx, tok.UserID, nickname); err != nil {
			f.t.Fatal(err)
		}
	}
	return tok
}

// login signs customID's player in once more: a new session.
func (f *fixture) login(customID string) broker.Token {
	return f.player(customID, "", "")
}

// family is the session (refresh-token family) of a refresh token.
func (f *fixture) family(refreshToken string) string {
	f.t.Helper()
	rt, err := broker.FindRefreshToken(context.Background(), f.store, refreshToken)
	if err != nil {
		f.t.Fatal(err)
	}
	return rt.FamilyID
}

// live reports whether the player's session is live.
func (f *fixture) live(userID, family string) bool {
	f.t.Helper()
	sessions, err := f.svc.Players.Sessions(context.Background(), admin.Actor{ID: "test"}, userID)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, s := range sessions {
		if s.FamilyID == family {
			return true
		}
	}
	return false
}

// staff is a browser without script: a cookie jar that follows redirects,
// recording the Set-Cookie headers the console sent.
type staff struct {
	*http.Client
	mu      sync.Mutex
	cookies []*http.Cookie
}

func newStaff(t *testing.T) *staff {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &staff{}
	s.Client = &http.Client{Jar: jar, Transport: recorder{s}}
	return s
}

type recorder struct{ s *staff }

func (r recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err == nil && strings.HasPrefix(req.URL.Path, "/console") {
		r.s.mu.Lock()
		r.s.cookies = append(r.s.cookies, resp.Cookies()...)
		r.s.mu.Unlock()
	}
	return resp, err
}

// setCookie is the last Set-Cookie of name the console sent.
func (s *staff) setCookie(name string) *http.Cookie {
	s.mu.Lock()
	defer s.mu.Unlock()
	var last *http.Cookie
	for _, c := range s.cookies {
		if c.Name == name {
			last = c
		}
	}
	return last
}

// page is an answer, its body read.
type page struct {
	Status int
	URL    *url.URL
	Header http.Header
	Body   string
}

func (s *staff) do(t *testing.T, req *http.Request) page {
	t.Helper()
	resp, err := s.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return page{Status: resp.StatusCode, URL: resp.Request.URL, Header: resp.Header, Body: string(b)}
}

func (s *staff) get(t *testing.T, u string) page {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s.do(t, req)
}

func (s *staff) post(t *testing.T, u string, form url.Values) page {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return s.do(t, req)
}

// signIn signs staff in at google as subject through the whole flow and
// returns the page it ends on (the console's callback).
func (f *fixture) signIn(t *testing.T, s *staff, subject string) page {
	t.Helper()
	f.google.Queue(subject)
	return s.get(t, f.URL+"/console/login/google")
}

// signedIn is staff signed in as an admin.
func (f *fixture) signedIn(t *testing.T, subject string) *staff {
	t.Helper()
	s := newStaff(t)
	p := f.signIn(t, s, subject)
	if p.Status != http.StatusOK || p.URL.Path != "/console/callback" || !strings.Contains(p.Body, "Signed in") {
		t.Fatalf("sign-in as %s ended at %s with %d: %.600s", subject, p.URL, p.Status, p.Body)
	}
	return s
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf is the CSRF token of the session, read off a page.
func (f *fixture) csrf(t *testing.T, s *staff) string {
	t.Helper()
	p := s.get(t, f.URL+"/console/search")
	m := csrfField.FindStringSubmatch(p.Body)
	if p.Status != http.StatusOK || m == nil {
		t.Fatalf("no CSRF token on the search page: %d %.400s", p.Status, p.Body)
	}
	return m[1]
}

// lastEvent is the newest audit event.
func (f *fixture) lastEvent() broker.AuditEvent {
	f.t.Helper()
	page, err := f.svc.Tenants.Audit(context.Background(), admin.Actor{ID: "test"}, admin.AuditFilter{}, admin.Page{Limit: 1})
	if err != nil || len(page.Events) == 0 {
		f.t.Fatalf("audit: %v %v", page, err)
	}
	return page.Events[0]
}
