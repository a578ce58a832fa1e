package web

import (
	"cmp"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"path"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/gs2"
	"github.com/bridgekeeper/bridgekeeper/broker/xsolla"
	"github.com/bridgekeeper/bridgekeeper/grants"
)

// Services are what the surfaces call: the broker's core, GS2's two
// services beside it, and the Xsolla login.
type Services struct {
	Broker      *broker.Broker
	GS2Accounts *gs2.Accounts
	GS2Auth     *gs2.Auth
	Xsolla      *xsolla.Service
}

// Server is the HTTP surface.
type Server struct {
	broker      *broker.Broker
	authz       *broker.Authorizations
	devices     *broker.Devices
	gs2Accounts *gs2.Accounts
	gs2Auth     *gs2.Auth
	xsolla      *xsolla.Service
	pipeline    *grants.Pipeline
	log         *slog.Logger
	maxBody     int64
	timeout     time.Duration
	// upstreams by name, in configuration order, and slot -> provider name.
	upstreams    map[string]Upstream
	upstreamList []Upstream
	platforms    []grants.Platform
	slotNames    map[int]string
	now          func() time.Time
	gs2Region    string
	gs2Owner     string
	// Xsolla surface: publisher_project_id -> namespace name, social
	// platform -> takeover slot.
	publisherProjects map[int64]string
	socialSlots       map[string]int
	registry          *prometheus.Registry
	requests          *prometheus.CounterVec
	latency           *prometheus.HistogramVec

	// trustedProxies are the peers whose forwarding headers name the caller.
	trustedProxies []netip.Prefix
}

// Options configures the server.
type Options struct {
	MaxBodyBytes   int64
	RequestTimeout time.Duration
	Upstreams      []Upstream // the identity providers players sign in with
	GS2Region      string     // GS2 resource names: grn:gs2:{region}:{owner}:...
	GS2Owner       string
	// XsollaPublisherProjects maps publisher_project_id to a namespace name;
	// SocialSlots maps a social_profile platform to its takeover slot.
	XsollaPublisherProjects map[int64]string
	SocialSlots             map[string]int
	Now                     func() time.Time // nil: time.Now

	// TrustedProxies are the peers whose X-Forwarded-For and Forwarded
	// headers name the caller, whose address the guards key on; none are
	// by default, since anyone else can write those headers.
	TrustedProxies []netip.Prefix
	// Platforms are the platform sign-in providers (token exchange), which
	// /account/links can also link.
	Platforms []grants.Platform
	// Metrics are collectors /metrics serves besides the server's own:
	// the shared rate-limit store's.
	Metrics []prometheus.Collector
}

// NewServer builds the HTTP surface over the services and the token
// pipeline.
func NewServer(svc Services, pipeline *grants.Pipeline, log *slog.Logger, opts Options) *Server {
	s := &Server{
		broker: svc.Broker, authz: broker.NewAuthorizations(svc.Broker), devices: broker.NewDevices(svc.Broker), gs2Accounts: svc.GS2Accounts, gs2Auth: svc.GS2Auth, xsolla: svc.Xsolla, pipeline: pipeline, log: log, maxBody: opts.MaxBodyBytes, timeout: opts.RequestTimeout,
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bridgekeeper_http_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "bridgekeeper_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
	}
	s.gs2Region, s.gs2Owner = cmp.Or(opts.GS2Region, "ap-northeast-1"), cmp.Or(opts.GS2Owner, "bridgekeeper")
	s.now = opts.Now
	if s.now == nil {
		s.now = time.Now
	}
	s.publisherProjects, s.socialSlots = opts.XsollaPublisherProjects, opts.SocialSlots
	s.trustedProxies = opts.TrustedProxies
	s.upstreams, s.slotNames, s.upstreamList, s.platforms = map[string]Upstream{}, map[int]string{}, opts.Upstreams, opts.Platforms
	for _, p := range opts.Platforms {
		s.slotNames[p.Slot] = p.Name
	}
	for _, up := range opts.Upstreams {
		s.upstreams[up.Name] = up
		s.slotNames[up.Slot] = up.Name
	}
	if s.maxBody <= 0 {
		s.maxBody = 1 << 20
	}
	if s.timeout <= 0 {
		s.timeout = 10 * time.Second
	}
	s.registry.MustRegister(s.requests, s.latency,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	s.registry.MustRegister(opts.Metrics...)
	return s
}

// Handler returns the routed, instrumented handler.
func (s *Server) Handler() http.Handler {
	r := mux.NewRouter()
	r.HandleFunc("/oauth2/token", s.token).Methods(http.MethodPost).Name("token")
	r.HandleFunc("/connect/1.0/api/token", s.token).Methods(http.MethodPost).Name("token")
	r.HandleFunc("/oauth2/introspect", s.introspect).Methods(http.MethodPost).Name("introspect")
	r.HandleFunc("/oauth2/revoke", s.revoke).Methods(http.MethodPost).Name("revoke")
	r.HandleFunc("/.well-known/openid-configuration", s.discovery).Methods(http.MethodGet).Name("discovery")
	r.HandleFunc("/.well-known/oauth-authorization-server", s.discovery).Methods(http.MethodGet).Name("discovery")
	r.HandleFunc("/.well-known/jwks.json", s.jwks).Methods(http.MethodGet).Name("jwks")
	r.HandleFunc("/oauth2/authorize", s.authorize).Methods(http.MethodGet).Name("authorize")
	r.HandleFunc("/oauth2/callback/{provider}", s.callback).Methods(http.MethodGet).Name("callback")
	r.HandleFunc("/oauth2/link", s.linkRedirect).Methods(http.MethodGet).Name("link")
	r.HandleFunc(linkConfirmPath, s.confirmLink).Methods(http.MethodPost).Name("link")
	r.HandleFunc("/oauth2/device_authorization", s.deviceAuthorization).Methods(http.MethodPost).Name("device")
	r.HandleFunc(devicePath, s.devicePage).Methods(http.MethodGet).Name("device")
	r.HandleFunc(devicePath, s.startDevice).Methods(http.MethodPost).Name("device")
	r.HandleFunc(deviceConfirmPath, s.confirmDevice).Methods(http.MethodPost).Name("device")
	r.HandleFunc("/userinfo", s.userinfo).Methods(http.MethodGet, http.MethodPost).Name("userinfo")
	r.HandleFunc("/account/links", s.links).Methods(http.MethodGet).Name("links")
	r.HandleFunc("/account/links", s.startLink).Methods(http.MethodPost).Name("links")
	r.HandleFunc("/account/links/{slot}", s.unlink).Methods(http.MethodDelete).Name("links")
	r.HandleFunc("/healthz", s.healthz).Methods(http.MethodGet).Name("healthz")
	r.HandleFunc("/readyz", s.readyz).Methods(http.MethodGet).Name("readyz")
	// GS2's wire format (gs2.go): one route name, so metrics count the surface.
	r.HandleFunc("/gs2/identifier/projectToken/login", s.gs2Handler("projectToken", s.gs2ProjectLogin)).Methods(http.MethodPost).Name("gs2")
	r.HandleFunc("/gs2/auth/login", s.gs2Handler("accessToken", s.gs2Login)).Methods(http.MethodPost).Name("gs2")
	r.HandleFunc("/gs2/auth/timeoffset/token", s.gs2Handler("timeOffsetToken", s.gs2IssueTimeOffsetToken)).Methods(http.MethodPost).Name("gs2")
	r.HandleFunc("/gs2/auth/login/signed", s.gs2Handler("accessToken", s.gs2LoginBySignature)).Methods(http.MethodPost).Name("gs2")
	r.HandleFunc("/gs2/account/{ns}/account", s.gs2Handler("account", s.gs2CreateAccount)).Methods(http.MethodPost).Name("gs2")
	r.HandleFunc("/gs2/account/{ns}/account", s.gs2Handler("account", s.gs2DescribeAccounts)).Methods(http.MethodGet).Name("gs2")
	r.HandleFunc("/gs2/account/{ns}/account/{userId}", s.gs2Handler("account", s.gs2GetAccount)).Methods(http.MethodGet).Name("gs2")
	r.HandleFunc("/gs2/account/{ns}/account/{userId}", s.gs2Handler("account", s.gs2Authenticate)).Methods(http.MethodPut).Name("gs2")
	r.HandleFunc("/gs2/auth/federation", s.gs2Handler("accessToken", s.gs2Federation)).Methods(http.MethodPost).Name("gs2")
	// Takeovers: {userId} "me" names the player of X-GS2-ACCESS-TOKEN.
	const takeOver = "/gs2/account/{ns}/account/{userId}/takeover"
	r.HandleFunc(takeOver, s.gs2TakeOverHandler(s.gs2CreateTakeOver)).Methods(http.MethodPost).Name("gs2")
	r.HandleFunc(takeOver, s.gs2TakeOverHandler(s.gs2DescribeTakeOvers)).Methods(http.MethodGet).Name("gs2")
	r.HandleFunc(takeOver+"/type/{type}", s.gs2TakeOverHandler(s.gs2GetTakeOver)).Methods(http.MethodGet).Name("gs2")
	r.HandleFunc(takeOver+"/type/{type}", s.gs2TakeOverHandler(s.gs2UpdateTakeOver)).Methods(http.MethodPut).Name("gs2")
	r.HandleFunc(takeOver+"/type/{type}", s.gs2TakeOverHandler(s.gs2DeleteTakeOver)).Methods(http.MethodDelete).Name("gs2")
	r.HandleFunc(takeOver+"/type/{type}/takeover", s.gs2TakeOverHandler(s.gs2DeleteTakeOver)).Methods(http.MethodDelete).Name("gs2")
	r.HandleFunc("/gs2/account/{ns}/takeover/type/{type}", s.gs2TakeOverHandler(s.gs2DoTakeOver)).Methods(http.MethodPost).Name("gs2")
	// OpenID Connect takeovers (gs2_openid.go).
	r.HandleFunc(takeOver+"/openIdConnect", s.gs2TakeOverHandler(s.gs2CreateTakeOverOpenIDConnect)).Methods(http.MethodPost).Name("gs2")
	r.HandleFunc("/gs2/account/{ns}/takeover/type/{type}/openIdConnect", s.gs2TakeOverHandler(s.gs2DoTakeOverOpenIDConnect)).Methods(http.MethodPost).Name("gs2")
	// Path segments arrive unescaped: an identifier may hold slashes.
	r.HandleFunc("/gs2/account/{ns}/takeover/type/{type}/userIdentifier/{userIdentifier:.+}",
		s.gs2TakeOverHandler(s.gs2DeleteTakeOverByIdentifier)).Methods(http.MethodDelete).Name("gs2")
	r.HandleFunc("/gs2/{service:auth|identifier|account}/system/version", s.gs2ServiceVersion).Methods(http.MethodGet).Name("gs2")
	r.HandleFunc("/users/login/server_custom_id", s.xsollaLogin).Methods(http.MethodPost).Name("xsolla")
	r.HandleFunc("/users/{userId}/attributes", s.xsollaAttributes).Methods(http.MethodGet).Name("xsolla")
	// Last: any other /gs2/ call (or method) gets a 404 the SDKs can read.
	r.PathPrefix("/gs2/").HandlerFunc(s.gs2NotFound).Name("gs2")
	// mux runs r.Use middleware only on a match; these two are instrumented
	// by hand so that every request is timed, counted and bounded.
	r.NotFoundHandler = s.instrument(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s.writeOAuthError(w, req, &oauthError{status: http.StatusNotFound, code: "not_found", description: "no such endpoint"})
	}))
	r.MethodNotAllowedHandler = s.instrument(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Allow", strings.Join(allowedMethods(r, req), ", "))
		s.writeOAuthError(w, req, &oauthError{status: http.StatusMethodNotAllowed, code: "method_not_allowed", description: "method not allowed on this endpoint"})
	}))
	r.Use(s.instrument)
	return s.recoverPanics(s.edge(r))
}

// edge is what every request meets first. Every answer says nosniff, so
// that no browser reads a JSON error as a page. A request with a
// Transfer-Encoding gets its answer and then the connection is closed:
// with a Content-Length beside it, a proxy in front may have framed the
// body otherwise (request smuggling, RFC 9112 §6.3), and net/http drops
// the Content-Length before a handler could tell the two cases apart.
// And a path that is not in its clean form ("..", ".", "//" segments,
// once decoded) is refused with a 400: mux would answer it with a 301 to
// the cleaned path, which a client following it turns into a request to
// another route (a DELETE of a takeover identifier full of "..%2F" became
// a DELETE of another player's takeover).
func (s *Server) edge(next http.Handler) http.Handler {
	refuse := s.instrument(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/gs2/") {
			s.writeGS2Error(w, r, "api", gs2Refuse(http.StatusBadRequest, "api", "path", "invalid"))
			return
		}
		s.writeOAuthError(w, r, &oauthError{status: http.StatusBadRequest, code: "invalid_request", description: "the path is not in canonical form"})
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if len(r.TransferEncoding) > 0 {
			w.Header().Set("Connection", "close")
		}
		if p := r.URL.Path; p == "" || path.Clean(p) != p {
			refuse.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// instrument times each request, bounds it by the request timeout, and
// counts it. It logs no parameters or headers: they carry secrets.
func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
		defer cancel()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		ctx = context.WithValue(ctx, rawWriterKey{}, w)
		next.ServeHTTP(sw, r.WithContext(ctx))
		route := routeName(r)
		elapsed := time.Since(start)
		s.requests.WithLabelValues(route, strconv.Itoa(sw.status)).Inc()
		s.latency.WithLabelValues(route).Observe(elapsed.Seconds())
		if s.log.Enabled(ctx, slog.LevelDebug) {
			s.log.DebugContext(ctx, "request", "method", r.Method, "route", route, "status", sw.status, "duration", elapsed)
		}
	})
}

// recoverPanics turns a panic into a logged 500 instead of a dropped
// connection; a panic is a bug, and the stack goes to the log.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.ErrorContext(r.Context(), "panic", "value", v, "stack", string(debug.Stack()))
				writeJSON(w, http.StatusInternalServerError, oauthErrorBody{Error: "server_error", Description: "internal error"})
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// allowedMethods lists the methods a path answers (RFC 9110 §15.5.6).
func allowedMethods(router *mux.Router, req *http.Request) []string {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
		probe := req.Clone(req.Context())
		probe.Method = m
		var match mux.RouteMatch
		if router.Match(probe, &match) && match.MatchErr == nil {
			allowed = append(allowed, m)
		}
	}
	return allowed
}

func routeName(r *http.Request) string {
	if rt := mux.CurrentRoute(r); rt != nil && rt.GetName() != "" {
		return rt.GetName()
	}
	return "other"
}

// rawWriterKey holds the server's own ResponseWriter in the request's
// context, for limitBody.
type rawWriterKey struct{}

// limitBody is http.MaxBytesReader on the server's own ResponseWriter: only
// that one can tell the server the limit was hit, so that it closes the
// connection after the answer instead of first reading on (up to 256 KiB)
// of a body it is refusing.
func limitBody(w http.ResponseWriter, r *http.Request, n int64) io.ReadCloser {
	if raw, ok := r.Context().Value(rawWriterKey{}).(http.ResponseWriter); ok {
		w = raw
	}
	return http.MaxBytesReader(w, r.Body, n)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// writeJSON writes v with the no-store headers every token-bearing or error
// response needs (RFC 6749 §5.1, §5.2).
// Metrics serves the broker's Prometheus metrics. They are the admin
// listener's: the public one is for players only (issue 14).
func (s *Server) Metrics() http.Handler {
	return promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
