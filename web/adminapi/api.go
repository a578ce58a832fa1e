package adminapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gorilla/mux"

	apidoc "github.com/bridgekeeper/bridgekeeper/api"
	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/admin"
)

// Tokens verifies the admin API's bearer tokens (the broker).
type Tokens interface {
	VerifyAccess(ctx context.Context, token string) (broker.AccessClaims, error)
	Client(ctx context.Context, id string) (broker.Client, error)
	Namespace(ctx context.Context, id string) (broker.Namespace, error)
}

// Config is what the API needs.
type Config struct {
	Service *admin.Service
	Tokens  Tokens
	Log     *slog.Logger
	// Address tells the caller's address from a request (the public
	// listener's rule for trusted proxies).
	Address func(r *http.Request) string
	// SigningAlg is the algorithm of a key the API rotates in when the
	// call names none.
	SigningAlg string
}

// API serves /admin/v1.
type API struct{ Config }

// New builds the API.
func New(cfg Config) *API { return &API{Config: cfg} }

// Register adds the API's routes to r.
func (api *API) Register(r *mux.Router) {
	v1 := r.PathPrefix("/admin/v1").Subrouter()
	route := func(path, method string, h handler) {
		v1.Handle(path, api.authenticated(h)).Methods(method)
	}
	t := tenants{svc: api.Service.Tenants, alg: api.SigningAlg}
	route("/namespaces", http.MethodGet, t.listNamespaces)
	route("/namespaces", http.MethodPost, t.createNamespace)
	route("/namespaces/{namespace}", http.MethodGet, t.getNamespace)
	route("/clients", http.MethodGet, t.listClients)
	route("/clients", http.MethodPost, t.createClient)
	route("/clients/{client}", http.MethodGet, t.getClient)
	route("/clients/{client}", http.MethodPatch, t.updateClient)
	route("/clients/{client}", http.MethodDelete, t.deleteClient)
	route("/clients/{client}/secret", http.MethodPost, t.rotateSecret)
	route("/keys", http.MethodGet, t.listKeys)
	route("/keys", http.MethodPost, t.rotateKey)
	route("/audit", http.MethodGet, t.listAudit)
	p := players{svc: api.Service.Players}
	route("/players", http.MethodGet, p.find)
	route("/players/{user}", http.MethodGet, p.get)
	route("/players/{user}/links", http.MethodGet, p.listLinks)
	route("/players/{user}/links/{slot}", http.MethodDelete, p.deleteLink)
	route("/players/{user}/sessions", http.MethodGet, p.listSessions)
	route("/players/{user}/sessions", http.MethodDelete, p.revokeSessions)
	route("/players/{user}/sessions/{session}", http.MethodDelete, p.revokeSession)
	route("/players/{user}/bans", http.MethodGet, p.listBans)
	route("/players/{user}/bans", http.MethodPost, p.ban)
	route("/players/{user}/bans", http.MethodDelete, p.unban)
	route("/players/{user}/bans/{name}", http.MethodDelete, p.unban)
	route("/players/{user}/attributes", http.MethodGet, p.listAttributes)
	// The contract of every surface, the admin API's included: not a
	// secret, so served without a token.
	r.HandleFunc("/openapi.yaml", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(apidoc.Document)
	}).Methods(http.MethodGet)
	// mux on a subrouter answers a wrong method as not found, so the 405
	// is told apart here.
	v1.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if methods := allowed(v1, r); len(methods) > 0 {
			w.Header().Set("Allow", strings.Join(methods, ", "))
			writeJSON(w, http.StatusMethodNotAllowed, wireError{Error: "method_not_allowed", Description: "this admin API call does not take " + r.Method})
			return
		}
		api.writeError(w, r, broker.NotFound("no such admin API call", nil))
	})
}

// allowed lists the methods r's path takes, for a 405's Allow header.
func allowed(router *mux.Router, r *http.Request) []string {
	var methods []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		var match mux.RouteMatch
		if router.Match(probe, &match) && match.MatchErr == nil {
			methods = append(methods, m)
		}
	}
	return methods
}

// handler is an admin call: the actor is authenticated; a returned error
// is written by writeError.
type handler func(w http.ResponseWriter, r *http.Request, a admin.Actor) error

// authenticated admits the caller of an admin call by its bearer token.
func (api *API) authenticated(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, err := api.actor(r)
		if err == nil {
			err = h(w, r, a)
		}
		if err != nil {
			api.writeError(w, r, err)
		}
	})
}

// errInsufficientScope marks a refusal of a known client without the
// admin scope (RFC 6750 insufficient_scope).
var errInsufficientScope = errors.New("insufficient_scope")

// actor checks the bearer token; every refusal is recorded in the audit
// trail as a failed admin authentication.
func (api *API) actor(r *http.Request) (admin.Actor, error) {
	addr := api.Address(r)
	refuse := func(err error) (admin.Actor, error) {
		if aerr := api.Service.Tenants.AuthFailed(r.Context(), addr, err.Error()); aerr != nil {
			return admin.Actor{}, aerr
		}
		return admin.Actor{}, err
	}
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return admin.Actor{}, broker.Unauthenticated("a Bearer access token is required", nil)
	}
	claims, err := api.Tokens.VerifyAccess(r.Context(), token)
	switch {
	case broker.Unavailable(err):
		return admin.Actor{}, err
	case err != nil:
		return refuse(broker.Unauthenticated("the access token is invalid or expired", err))
	case claims.UserID != "":
		return refuse(broker.Unauthenticated("the access token is a player's, not an admin client's", nil))
	case claims.Confirmation != nil:
		return refuse(broker.Unauthenticated("a DPoP-bound token cannot be used as a Bearer token", nil))
	case !slices.Contains(strings.Fields(claims.Scope), admin.Scope):
		return refuse(&broker.Error{Kind: broker.KindForbidden, Description: "the token lacks the scope " + admin.Scope, Err: errInsufficientScope})
	}
	c, err := api.Tokens.Client(r.Context(), claims.ClientID)
	if errors.Is(err, broker.ErrNotFound) {
		return refuse(broker.Unauthenticated("the token's client was deleted", nil))
	}
	if err != nil {
		return admin.Actor{}, err
	}
	ns, err := api.Tokens.Namespace(r.Context(), c.NamespaceID)
	if err != nil {
		return admin.Actor{}, err
	}
	a := admin.Actor{ID: "client:" + c.ID, Address: addr}
	if ns.Name != admin.AdminNamespace {
		a.NamespaceID = ns.ID
	}
	return a, nil
}

// page reads page_token and limit.
func page(r *http.Request) (admin.Page, error) {
	q := r.URL.Query()
	p := admin.Page{Token: q.Get("page_token")}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > admin.MaxLimit {
			return admin.Page{}, broker.Invalid("limit", "limit must be 1..1000")
		}
		p.Limit = n
	}
	return p, nil
}

// decode reads a JSON body into v, refusing unknown fields so that a
// misspelt setting is not silently ignored.
func decode(r *http.Request, v any) error {
	d := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return broker.Invalid("", "the body is not the JSON this call takes: "+err.Error())
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// wireError is the OAuth2 error writer's shape, with the field at fault.
type wireError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
	Field       string `json:"field,omitempty"`
}

// writeError is the API's one error writer.
func (api *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, code := http.StatusInternalServerError, "server_error"
	description, field := "internal error", ""
	if e := broker.Refusal(err); e != nil {
		description, field = e.Description, e.Field
	}
	switch broker.KindOf(err) {
	case broker.KindInvalid:
		status, code = http.StatusBadRequest, "invalid_request"
	case broker.KindUnauthenticated:
		status, code = http.StatusUnauthorized, "invalid_token"
	case broker.KindForbidden:
		status, code = http.StatusForbidden, "access_denied"
		if errors.Is(err, errInsufficientScope) {
			code = "insufficient_scope"
		}
	case broker.KindNotFound:
		status, code = http.StatusNotFound, "not_found"
	case broker.KindConflict:
		status, code = http.StatusConflict, "conflict"
		if broker.Refusal(err) == nil {
			description = "it already exists"
		}
	case broker.KindUnavailable:
		status, code, description, field = http.StatusServiceUnavailable, "temporarily_unavailable", "the database is unavailable; retry", ""
	default:
		api.Log.ErrorContext(r.Context(), "admin API", "path", r.URL.Path, "err", err)
		description, field = "internal error", ""
	}
	challenge := ""
	switch {
	case status == http.StatusUnauthorized && r.Header.Get("Authorization") == "":
		// RFC 6750 §3.1: no error code when no credentials were sent.
		challenge = `Bearer realm="bridgekeeper-admin"`
	case status == http.StatusUnauthorized:
		challenge = `Bearer realm="bridgekeeper-admin", error="invalid_token"`
	case code == "insufficient_scope":
		challenge = `Bearer realm="bridgekeeper-admin", error="insufficient_scope", scope="` + admin.Scope + `"`
	case status == http.StatusForbidden:
		// A namespace-limited admin reaching past its namespace: the
		// token is fine and more scope would not help, so no error code.
		challenge = `Bearer realm="bridgekeeper-admin"`
	case status == http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "1")
	}
	if challenge != "" {
		w.Header().Set("WWW-Authenticate", challenge)
	}
	writeJSON(w, status, wireError{Error: code, Description: description, Field: field})
}

// vars are the route's path variables.
func vars(r *http.Request) map[string]string { return mux.Vars(r) }
