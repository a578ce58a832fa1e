package console

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/admin"
)

// Broker is what the console's sign-in needs of the broker's core: its
// own client, ending the session its sign-in made, and reading who signed
// in.
type Broker interface {
	Issuer() string
	Client(ctx context.Context, id string) (broker.Client, error)
	Revoke(ctx context.Context, c broker.Client, token, hint string) error
	Links(ctx context.Context, userID string) ([]broker.Link, error)
}

// CodeExchanger redeems the code the console's authorization request
// brought back (broker.Authorizations).
type CodeExchanger interface {
	ExchangeCode(ctx context.Context, c broker.Client, code, redirectURI, verifier string, bind broker.Binding) (broker.Token, error)
}

// Provider is an upstream provider staff may sign in with (type oidc or
// oauth2), and the takeover slot of its identities.
type Provider struct {
	Name string
	Slot int
}

// Admin is an upstream identity let into the console.
type Admin struct{ Provider, Subject string }

// Slot names a takeover slot on the search and player pages.
type Slot struct {
	Slot int
	Name string
}

// Config is what the console needs.
type Config struct {
	Service *admin.Service
	Broker  Broker
	Codes   CodeExchanger
	// ClientID is the console's own client (admin.EnsureConsoleClient).
	ClientID string
	// BaseURL is where staff's browsers reach the admin listener; https
	// makes the cookies Secure.
	BaseURL string
	// Providers are the browser sign-in providers; Admins who may sign in
	// through them.
	Providers []Provider
	Admins    []Admin
	// Slots name the takeover slots a player's identities may live in;
	// searching "everywhere" looks in these and the clients' custom-ID
	// slots.
	Slots []Slot
	// SigningAlgs are offered when rotating the signing key; the first is
	// the default.
	SigningAlgs []string
	// Address tells the caller's address from a request (the public
	// listener's rule for trusted proxies), for the audit trail.
	Address func(r *http.Request) string
	Log     *slog.Logger
	Now     func() time.Time // nil: time.Now
}

// Console serves the support console: the sign-in, the players' pages and
// the tenants' pages, each a type of its own over the site they share.
type Console struct {
	site    *site
	signIn  *signIn
	players *players
	tenants *tenants
}

// site is what every page shares: the configuration, the sessions, and
// rendering, refusing and confirming.
type site struct {
	cfg      Config
	sessions *sessions
	secure   bool
	origin   string // scheme://host of BaseURL, what a POST's Origin must be
}

// signIn signs staff in (signin.go).
type signIn struct {
	*site
	redirectURI string
	// providers are those some admin signs in with, in configuration
	// order; admins the identities let in.
	providers []Provider
	admins    map[Admin]bool
}

// players are the search and player pages (search.go, players.go).
type players struct{ *site }

// tenants are the clients, keys and audit pages (tenants.go).
type tenants struct{ *site }

// Paths of the console.
const (
	prefix       = "/console"
	callbackPath = prefix + "/callback"
	loginPath    = prefix + "/login"
	searchPath   = prefix + "/search"
)

// Cookies: the session, and the sign-in under way.
const (
	sessionCookie = "bk_console"
	loginCookie   = "bk_console_login"
)

// New builds the console; its configuration is checked here, so that a
// wiring mistake stops serve at start.
func New(cfg Config) (*Console, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	base, err := url.Parse(strings.TrimSuffix(cfg.BaseURL, "/"))
	switch {
	case err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" || base.Path != "":
		return nil, fmt.Errorf("console: base URL %q is not an http(s) origin", cfg.BaseURL)
	case cfg.Service == nil || cfg.Broker == nil || cfg.Codes == nil || cfg.Address == nil || cfg.Log == nil:
		return nil, errors.New("console: the service, broker, code exchanger, address rule and log are required")
	case cfg.ClientID == "":
		return nil, errors.New("console: no client")
	}
	st := &site{cfg: cfg, sessions: newSessions(cfg.Now), secure: base.Scheme == "https", origin: base.Scheme + "://" + base.Host}
	in := &signIn{site: st, redirectURI: st.origin + callbackPath, admins: map[Admin]bool{}}
	byName := map[string]Provider{}
	for _, p := range cfg.Providers {
		byName[p.Name] = p
	}
	listed := map[string]bool{}
	for _, a := range cfg.Admins {
		if _, ok := byName[a.Provider]; !ok {
			return nil, fmt.Errorf("console: admin of provider %q: no such sign-in provider", a.Provider)
		}
		listed[a.Provider] = true
		in.admins[a] = true
	}
	for _, p := range cfg.Providers {
		if listed[p.Name] {
			in.providers = append(in.providers, p)
		}
	}
	return &Console{site: st, signIn: in, players: &players{st}, tenants: &tenants{st}}, nil
}

// RedirectURI is the console's callback, to register for its client.
func RedirectURI(baseURL string) string { return strings.TrimSuffix(baseURL, "/") + callbackPath }

// Handler serves /console/ and everything under it.
func (c *Console) Handler() http.Handler {
	st, in, pl, tn := c.site, c.signIn, c.players, c.tenants
	r := mux.NewRouter()
	get := func(path string, h http.HandlerFunc) { r.HandleFunc(path, h).Methods(http.MethodGet, http.MethodHead) }
	r.Handle(prefix, http.RedirectHandler(prefix+"/", http.StatusMovedPermanently))
	get(prefix+"/", st.home)
	get(prefix+"/static/console.css", st.stylesheet)
	get(loginPath, in.loginPage)
	get(loginPath+"/{provider}", in.startLogin)
	get(callbackPath, in.callback)
	r.HandleFunc(prefix+"/logout", in.logout).Methods(http.MethodPost)
	page := func(path string, h pageHandler) { get(path, st.signedIn(h)) }
	act := func(path string, a action) {
		r.Handle(path, st.confirm(a)).Methods(http.MethodGet, http.MethodHead)
		r.Handle(path, st.perform(a)).Methods(http.MethodPost)
	}
	page(searchPath, pl.search)
	page(prefix+"/players/{user}", pl.player)
	for path, a := range pl.actions() {
		act(prefix+"/players/{user}/"+path, a)
	}
	page(prefix+"/clients", tn.clients)
	page(prefix+"/clients/new", tn.newClient)
	act(prefix+"/clients/create", tn.createClient())
	act(prefix+"/clients/{client}/rotate-secret", tn.rotateSecret())
	page(prefix+"/keys", tn.keys)
	act(prefix+"/keys/rotate", tn.rotateKey())
	page(prefix+"/audit", tn.audit)
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st.problem(w, r, http.StatusNotFound, "There is no such page in the console.")
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st.problem(w, r, http.StatusMethodNotAllowed, "This page does not take that method: actions are confirmed on their page, then posted from it.")
	})
	return st.guard(r)
}

// guard sets the headers every answer carries: a strict Content-Security-
// Policy (no script at all, styles only from the console's own
// stylesheet, forms posting only to the console, never framed), and
// no-store, since every page shows players' data. It bounds what a POST
// may send.
func (c *site) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		// same-origin, not no-referrer: under no-referrer browsers send
		// "Origin: null" with a form, which sameOrigin must refuse.
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		}
		next.ServeHTTP(w, r)
	})
}

// csp is the console's Content-Security-Policy. The sign-in interstitial
// moves on with a meta refresh, which no directive governs.
const csp = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'"

// maxForm bounds a form's body; the largest, a new client, is far below.
const maxForm = 64 << 10

// visit is a signed-in request: the session and the actor it acts as,
// from the address the request came from.
type visit struct {
	current
	actor admin.Actor
}

// pageHandler serves a signed-in page; a returned error is shown by
// fail.
type pageHandler func(w http.ResponseWriter, r *http.Request, v visit) error

// session is the request's live session, if any.
func (c *site) session(r *http.Request) (visit, bool) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return visit{}, false
	}
	cur, ok := c.sessions.get(ck.Value)
	if !ok {
		return visit{}, false
	}
	// Console admins see every namespace (Actor.NamespaceID "").
	return visit{current: cur, actor: admin.Actor{ID: cur.actorID, Address: c.cfg.Address(r)}}, true
}

// signedIn serves h to a signed-in request and sends anyone else to the
// sign-in page, clearing a cookie that names no live session.
func (c *site) signedIn(h pageHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, ok := c.session(r)
		if !ok {
			if _, err := r.Cookie(sessionCookie); err == nil {
				c.clearCookie(w, sessionCookie)
			}
			http.Redirect(w, r, loginPath, http.StatusSeeOther)
			return
		}
		if err := h(w, r, v); err != nil {
			c.fail(w, r, v, err)
		}
	}
}

// home sends staff where they can start.
func (c *site) home(w http.ResponseWriter, r *http.Request) {
	if _, ok := c.session(r); ok {
		http.Redirect(w, r, searchPath, http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, loginPath, http.StatusSeeOther)
}

// setCookie sets one of the console's cookies: never readable by script,
// Secure when the console is reached over https, sent to the console's
// paths only.
func (c *site) setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration, same http.SameSite) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: prefix + "/", MaxAge: int(maxAge / time.Second),
		HttpOnly: true, Secure: c.secure, SameSite: same,
	})
}

func (c *site) clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Path: prefix + "/", MaxAge: -1, HttpOnly: true, Secure: c.secure})
}

// sameOrigin refuses a POST whose browser says it came from elsewhere.
// The session cookie (SameSite=Strict) and the form's CSRF token already
// do; this is the third lock, for browsers that send Origin.
func (c *site) sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	return o == "" || o == c.origin
}
