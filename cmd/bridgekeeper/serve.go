package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/admin"
	"github.com/bridgekeeper/bridgekeeper/broker/gs2"
	"github.com/bridgekeeper/bridgekeeper/broker/keys"
	"github.com/bridgekeeper/bridgekeeper/broker/xsolla"
	"github.com/bridgekeeper/bridgekeeper/clientjwt"
	"github.com/bridgekeeper/bridgekeeper/config"
	"github.com/bridgekeeper/bridgekeeper/dpop"
	"github.com/bridgekeeper/bridgekeeper/grants"
	"github.com/bridgekeeper/bridgekeeper/web"
	"github.com/bridgekeeper/bridgekeeper/web/adminapi"
	"github.com/bridgekeeper/bridgekeeper/web/console"
	"github.com/gorilla/mux"
)

// tuneGC applies config.GCPercent unless GOGC, which the runtime read at
// start, is set.
func tuneGC(lookupEnv func(string) (string, bool)) {
	if _, set := lookupEnv("GOGC"); !set {
		debug.SetGCPercent(config.GCPercent)
	}
}

func serve(ctx context.Context, args []string, e env) error {
	s := newSettings("serve", e,
		"addr", "listen address host:port",
		"issuer", "issuer URL: the public base URL",
		"signing-alg", "ES256 | EdDSA | RS256, for a newly generated key")
	cfg, err := s.load(args, e)
	if err != nil {
		return err
	}
	log := newLogger(e.stderr, cfg.LogLevel)
	tuneGC(os.LookupEnv)
	store, secrets, keys, err := openSealed(ctx, cfg, mayCreate)
	if err != nil {
		return err
	}
	defer store.Close()
	b := broker.New(broker.Config{Issuer: cfg.Issuer, RefreshGrace: time.Duration(cfg.RefreshGrace)},
		store, secrets, keys, time.Now, log)
	limits := grants.Limits{
		AddressRate:           cfg.AddressRateLimit,
		AuthFailuresPerMinute: max(cfg.AuthFailuresPerMinute, 0), PasswordFailuresPerMinute: max(cfg.PasswordFailuresPerMinute, 0),
		AddressFailuresPerMinute: max(cfg.AddressFailuresPerMinute, 0), IdentifierFailuresPerMinute: max(cfg.IdentifierFailuresPerMinute, 0),
	}
	ups, err := upstreams(ctx, cfg)
	if err != nil {
		return err
	}
	plats, err := platformSignIns(cfg)
	if err != nil {
		return err
	}
	proofs, assertions, err := bindings(store, cfg.Issuer)
	if err != nil {
		return err
	}
	limiter, limiterMetrics, stopLimiter, err := rateLimiter(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer stopLimiter()
	// The grants the token endpoint serves, in one explicit list.
	pipeline := grants.New(grants.Config{Clients: b, Limiter: limiter, Limits: limits, Log: log,
		Proofs: proofs, Assertions: assertions},
		grants.AuthorizationCode{Redeemer: broker.NewAuthorizations(b)},
		grants.ClientCredentials{Issuer: b},
		grants.ServerCustomID{Login: b},
		grants.RefreshToken{Refresher: b},
		grants.TokenExchange{Platforms: plats, SignIn: b},
		grants.DeviceCode{Poller: broker.NewDevices(b)},
	)
	opts := web.Options{
		MaxBodyBytes: cfg.MaxBodyBytes, RequestTimeout: time.Duration(cfg.RequestTimeout), Upstreams: ups,
		GS2Region: cfg.GS2.Region, GS2Owner: cfg.GS2.OwnerID,
		XsollaPublisherProjects: cfg.Xsolla.PublisherProjects, SocialSlots: cfg.Xsolla.SocialSlots,
		TrustedProxies: cfg.Proxies(), Platforms: plats, Metrics: limiterMetrics,
	}
	services := web.Services{
		Broker:      b,
		GS2Accounts: gs2.NewAccounts(gs2.Config{Slots: broker.NewSlots(store, opts.BrokerSlots()...)}, store, b, secrets, time.Now),
		GS2Auth:     gs2.NewAuth(store, b, secrets, time.Now),
		Xsolla:      xsolla.New(b, store, attributeBound(cfg.Xsolla), time.Now),
	}
	srv := web.NewServer(services, pipeline, log, opts)
	for _, name := range cfg.Namespaces {
		if _, err := store.GetNamespaceByName(ctx, name); errors.Is(err, broker.ErrNotFound) {
			if _, err := broker.CreateNamespace(ctx, store, name, time.Now()); err != nil && !errors.Is(err, broker.ErrAlreadyExists) {
				return fmt.Errorf("namespaces: %s: %w", name, err)
			}
			log.Info("namespace created from the configuration", "namespace", name)
		} else if err != nil {
			return fmt.Errorf("namespaces: %s: %w", name, err)
		}
	}
	if cfg.Demo {
		if err := ensureDemo(ctx, store, secrets, cfg, e); err != nil {
			return err
		}
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("addr: %w", err)
	}
	httpSrv := newHTTPServer(cfg, srv.Handler(), log)
	servers := []*http.Server{httpSrv}
	errc := make(chan error, 2)
	if addr := cfg.AdminListen(); addr != "" {
		adminLn, err := net.Listen("tcp", addr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("admin_addr: %w", err)
		}
		h, err := adminHandler(ctx, cfg, adminLn.Addr().String(), store, secrets, b, srv, log)
		if err != nil {
			ln.Close()
			adminLn.Close()
			return err
		}
		adminSrv := newHTTPServer(cfg, h, log)
		servers = append(servers, adminSrv)
		go func() { errc <- adminSrv.Serve(adminLn) }()
		log.Info("admin listener serving", "addr", adminLn.Addr().String())
	}
	// Keys rotated by another process (`key rotate`, another replica) are
	// picked up here: every half second, so that a rotation shows on every
	// replica within a second of it (issue 15). It is one small SELECT.
	go every(ctx, 500*time.Millisecond, func() {
		if err := keys.Load(ctx); err != nil && ctx.Err() == nil {
			log.Warn("reload signing keys", "err", err)
		}
	})
	if interval := time.Duration(cfg.KeyRotationInterval); interval > 0 {
		// Every replica checks; the store's compare-and-swap lets one
		// rotate. Checking a hundred times an interval (within 1s..1m)
		// keeps a rotation within 1% of its schedule.
		check := min(max(interval/100, time.Second), time.Minute)
		go every(ctx, check, func() {
			e, rotated, err := broker.RotateIfDue(ctx, store, secrets, cfg.SigningAlg, interval, time.Duration(cfg.KeyPublishAhead), time.Now())
			switch {
			case err != nil && ctx.Err() == nil:
				log.Warn("scheduled key rotation", "err", err)
			case rotated:
				broker.LogAudit(ctx, log, e)
				if err := keys.Load(ctx); err != nil && ctx.Err() == nil {
					log.Warn("reload signing keys", "err", err)
				}
			}
		})
	}
	// The janitor keeps the tables the size of the live sessions, and the
	// audit trail its configured length.
	go every(ctx, time.Duration(cfg.JanitorInterval), func() {
		now := time.Now()
		n, err := store.PurgeExpired(ctx, now)
		if err == nil {
			var audit int64
			audit, err = store.PurgeAudit(ctx, now.Add(-time.Duration(cfg.AuditRetention)))
			n += audit
		}
		if err != nil && ctx.Err() == nil {
			log.Warn("janitor", "err", err)
		} else if n > 0 {
			log.Info("janitor purged expired rows", "rows", n)
		}
	})
	go func() { errc <- httpSrv.Serve(ln) }()
	log.Info("bridgekeeper serving", "addr", ln.Addr().String(), "issuer", cfg.Issuer, "database", cfg.Redacted().Database,
		"rate_limit_store", cmp.Or(cfg.Redacted().RateLimitStore, "in-process"))

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Drain in-flight requests before the store closes.
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for _, hs := range servers {
		if err := hs.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("shutdown: %w", err)
		}
	}
	return nil
}

// adminHandler is the admin listener's: the admin API, the support
// console (when console.admins lists someone) and the metrics.
// listening is the listener's address, which the console's base URL
// defaults from (admin_addr may name port 0).
func adminHandler(ctx context.Context, cfg config.Config, listening string, store broker.Store, secrets *keys.Secrets, b *broker.Broker, srv *web.Server, log *slog.Logger) (http.Handler, error) {
	svc := admin.New(store, secrets, time.Now, log)
	api := adminapi.New(adminapi.Config{
		Service: svc, Tokens: b, Log: log,
		Address: srv.CallerAddress, SigningAlg: cfg.SigningAlg,
	})
	r := mux.NewRouter()
	api.Register(r)
	r.Handle("/metrics", srv.Metrics()).Methods(http.MethodGet)
	if len(cfg.Console.Admins) > 0 {
		base := cfg.Console.BaseURL
		if base == "" {
			base = "http://" + listening
		}
		h, err := supportConsole(ctx, cfg, strings.TrimSuffix(base, "/"), svc, b, srv, log)
		if err != nil {
			return nil, err
		}
		r.Handle("/console", h)
		r.PathPrefix("/console/").Handler(h)
	}
	return r, nil
}

// supportConsole builds the support console, first making sure its own
// client is registered for the console's address.
func supportConsole(ctx context.Context, cfg config.Config, base string, svc *admin.Service, b *broker.Broker, srv *web.Server, log *slog.Logger) (http.Handler, error) {
	client, err := svc.Tenants.EnsureConsoleClient(ctx, admin.Actor{ID: "serve"}, console.RedirectURI(base))
	if err != nil {
		return nil, fmt.Errorf("console: register its client: %w", err)
	}
	ccfg := console.Config{
		Service: svc, Broker: b, Codes: broker.NewAuthorizations(b), ClientID: client.ID, BaseURL: base, Address: srv.CallerAddress, Log: log,
		SigningAlgs: append([]string{cfg.SigningAlg}, slices.DeleteFunc(slices.Clone(keys.SigningAlgs), func(a string) bool { return a == cfg.SigningAlg })...),
	}
	for _, p := range cfg.Providers {
		if p.Type == "oidc" || p.Type == "oauth2" {
			ccfg.Providers = append(ccfg.Providers, console.Provider{Name: p.Name, Slot: p.Slot})
		}
		ccfg.Slots = append(ccfg.Slots, console.Slot{Slot: p.Slot, Name: p.Name})
	}
	for _, platform := range slices.Sorted(maps.Keys(cfg.Xsolla.SocialSlots)) {
		ccfg.Slots = append(ccfg.Slots, console.Slot{Slot: cfg.Xsolla.SocialSlots[platform], Name: "xsolla " + platform})
	}
	for _, a := range cfg.Console.Admins {
		ccfg.Admins = append(ccfg.Admins, console.Admin{Provider: a.Provider, Subject: a.Subject})
	}
	c, err := console.New(ccfg)
	if err != nil {
		return nil, err
	}
	log.Info("support console serving", "url", base+"/console/", "admins", len(ccfg.Admins))
	return c.Handler(), nil
}

// every runs fn every d until ctx ends: the broker's background chores.
func every(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// ensureDemo creates the demo namespace and client on first start and prints
// how to use them: what `make run` promises a newcomer.
func ensureDemo(ctx context.Context, store broker.Store, secrets *keys.Secrets, cfg config.Config, e env) error {
	if ns, err := store.GetNamespaceByName(ctx, "demo"); err == nil {
		fmt.Fprintf(e.stdout, "demo: namespace \"demo\" (projectId %s) exists; its client credentials were printed on first start\n", ns.ID)
		return nil
	} else if !errors.Is(err, broker.ErrNotFound) {
		return fmt.Errorf("demo: %w", err)
	}
	c, secret, err := broker.CreateClient(ctx, store, secrets, broker.ClientSpec{
		Namespace: "demo", Name: "demo game server", Scopes: []string{"game"},
		Grants: []string{broker.GrantClientCredentials, broker.GrantServerCustomID, broker.GrantRefreshToken, broker.GrantGS2Trusted},
	}, time.Now())
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	fmt.Fprintf(e.stdout, `
demo client created in namespace "demo" (projectId %s; shown once):
  client_id:     %s
  client_secret: %s

get a token:
  curl -s -u '%s:%s' -d grant_type=client_credentials %s/oauth2/token

log a player in by your own player ID:
  curl -s -u '%s:%s' -d grant_type=server_custom_id -d server_custom_id=player-1 %s/oauth2/token

`, c.NamespaceID, c.ID, secret, c.ID, secret, cfg.Issuer, c.ID, secret, cfg.Issuer)
	return nil
}

// attributeBound is the configured cap of a player's attributes: 0 keeps
// xsolla's default, -1 is none.
func attributeBound(x config.Xsolla) broker.AttributeBound {
	b := xsolla.DefaultAttributeBound
	if x.MaxAttributes != 0 {
		b.Count = max(x.MaxAttributes, 0)
	}
	if x.MaxAttributeBytes != 0 {
		b.Bytes = max(x.MaxAttributeBytes, 0)
	}
	return b
}

// newHTTPServer bounds every phase of a connection, so that a slow client
// holds one only so long: its headers 5 s, its body and the answer the
// request timeout and 5 s more (a reader taking the answer slowly is cut
// off there), and an idle keep-alive 2 minutes.
func newHTTPServer(cfg config.Config, h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       time.Duration(cfg.RequestTimeout) + 5*time.Second,
		WriteTimeout:      time.Duration(cfg.RequestTimeout) + 5*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// bindings are the verifiers of DPoP proofs and of private_key_jwt client
// assertions; both remember what they saw in the store, so that a replay
// is refused on every replica.
func bindings(store broker.Store, issuer string) (*dpop.Verifier, *clientjwt.Verifier, error) {
	proofs, err := dpop.New(dpop.Config{Replay: store})
	if err != nil {
		return nil, nil, fmt.Errorf("dpop: %w", err)
	}
	iss := strings.TrimSuffix(issuer, "/")
	// RFC 7523 §3: the audience is the server; OIDC Core §9 names the
	// token endpoint. Either, or the endpoint the assertion is sent to.
	assertions, err := clientjwt.New(clientjwt.Config{Replay: store, Audiences: []string{
		iss, iss + "/", iss + "/oauth2/token", iss + "/oauth2/introspect", iss + "/oauth2/revoke",
		iss + "/oauth2/device_authorization",
	}})
	if err != nil {
		return nil, nil, fmt.Errorf("private_key_jwt: %w", err)
	}
	return proofs, assertions, nil
}
