package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/providers"
)

// Upstream is a configured identity provider and the takeover slot its
// identities are linked in.
type Upstream struct {
	Name string
	Slot int
	providers.Provider
}

// stateCookie binds an upstream round trip to the browser that started it,
// so that a state replayed into another browser (login CSRF) is refused.
const stateCookie = "bk_login"

// authorize is the authorization endpoint (RFC 6749 §4.1.1, RFC 7636 §4.3).
// Errors about the client or its redirect_uri are shown on a page and never
// redirected (§4.1.2.1); every other error goes back to the client.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k, vs := range q {
		if len(vs) > 1 {
			s.errorPage(w, r, http.StatusBadRequest, "The request repeats the parameter "+k+".")
			return
		}
	}
	c, err := s.broker.Client(r.Context(), q.Get("client_id"))
	if err != nil {
		s.errorPage(w, r, http.StatusBadRequest, "This sign-in link names an unknown application.")
		return
	}
	redirectURI := q.Get("redirect_uri")
	if err := broker.CheckRedirect(c, redirectURI); err != nil {
		s.errorPage(w, r, http.StatusBadRequest, "This sign-in link does not name a registered return address.")
		return
	}
	req := broker.AuthorizeRequest{
		ResponseType: q.Get("response_type"), Scope: q.Get("scope"), State: q.Get("state"),
		CodeChallenge: q.Get("code_challenge"), CodeChallengeMethod: q.Get("code_challenge_method"), Nonce: q.Get("nonce"),
		Resource: q.Get("resource"),
	}
	scope, err := broker.ValidateAuthorize(c, req)
	if err != nil {
		s.redirectError(w, r, redirectURI, req.State, err)
		return
	}
	name := q.Get("provider")
	if name == "" {
		s.loginPage(w, r, q)
		return
	}
	up, ok := s.upstreams[name]
	if !ok {
		s.redirectError(w, r, redirectURI, req.State, broker.Invalid("provider", "provider is not configured"))
		return
	}
	id, err := s.authz.StartAuthorization(r.Context(), c, redirectURI, scope, req, name, "")
	if err != nil {
		s.redirectError(w, r, redirectURI, req.State, err)
		return
	}
	s.toUpstream(w, r, up, id)
}

// toUpstream sends the browser to the upstream's sign-in for request id.
func (s *Server) toUpstream(w http.ResponseWriter, r *http.Request, up Upstream, id string) {
	nonce, verifier := s.authz.UpstreamSecrets(id)
	http.SetCookie(w, &http.Cookie{
		Name: stateCookie, Value: id, Path: "/oauth2/", MaxAge: int(broker.AuthRequestTTL / time.Second),
		HttpOnly: true, Secure: strings.HasPrefix(s.broker.Issuer(), "https://"),
		// Lax: the upstream comes back with a top-level GET navigation.
		SameSite: http.SameSiteLaxMode,
	})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, up.AuthCodeURL(providers.Login{State: id, Nonce: nonce, Verifier: verifier}), http.StatusFound)
}

// callback is where the upstream returns the browser (RFC 6749 §4.1.2 from
// the upstream's side).
func (s *Server) callback(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["provider"]
	up, ok := s.upstreams[name]
	q := r.URL.Query()
	state := q.Get("state")
	cookie, cerr := r.Cookie(stateCookie)
	if !ok || state == "" || cerr != nil || cookie.Value != state {
		s.errorPage(w, r, http.StatusBadRequest, "This sign-in attempt is not valid in this browser or has expired. Please start again from the game.")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Path: "/oauth2/", MaxAge: -1})
	req, err := s.authz.ResumeAuthorization(r.Context(), state)
	if err != nil || req.Provider != name {
		if err != nil && !errors.Is(err, broker.ErrNotFound) {
			s.log.ErrorContext(r.Context(), "resume authorization", "err", err)
		}
		s.errorPage(w, r, http.StatusBadRequest, "This sign-in attempt has expired or was already used. Please start again from the game.")
		return
	}
	if upErr := q.Get("error"); upErr != "" {
		// The upstream's refusal (access_denied, ...) reaches the client.
		s.finishWithError(w, r, req, upstreamError(upErr), "sign-in at "+name+" did not complete")
		return
	}
	nonce, verifier := s.authz.UpstreamSecrets(state)
	ident, err := up.Exchange(r.Context(), q.Get("code"), providers.Login{State: state, Nonce: nonce, Verifier: verifier})
	if err != nil {
		s.log.WarnContext(r.Context(), "upstream exchange failed", "provider", name, "err", err)
		s.finishWithError(w, r, req, "server_error", "sign-in at "+name+" could not be verified")
		return
	}
	if req.LinkUserID != "" {
		s.holdLink(w, r, req, up, ident.Subject) // linked only when confirmed (link_confirm.go)
		return
	}
	if req.DeviceCode != "" {
		s.holdDevice(w, r, req, up, ident.Subject) // approved only when confirmed (device.go)
		return
	}
	code, err := s.authz.CompleteLogin(r.Context(), req, up.Slot, ident.Subject, s.now())
	if err != nil {
		s.log.ErrorContext(r.Context(), "complete login", "err", err)
		s.finishWithError(w, r, req, "server_error", "sign-in could not be completed")
		return
	}
	s.redirect(w, r, req.RedirectURI, url.Values{"code": {code}, "state": {req.State}})
}

// upstreamError passes the upstream's RFC 6749 §4.1.2.1 error code on when
// it is one, and access_denied otherwise.
func upstreamError(code string) string {
	switch code {
	case "access_denied", "temporarily_unavailable", "server_error":
		return code
	}
	return "access_denied"
}

// finishWithError ends a request with an error: on the client's redirect_uri
// for a login, on a page for a link without one.
func (s *Server) finishWithError(w http.ResponseWriter, r *http.Request, req broker.AuthRequest, code, desc string) {
	if req.RedirectURI == "" {
		// 502 only when the upstream failed; a refusal is the player's.
		status := http.StatusBadRequest
		if code == "server_error" {
			status = http.StatusBadGateway
		}
		s.errorPage(w, r, status, "Sign-in did not complete: "+desc+".")
		return
	}
	s.redirect(w, r, req.RedirectURI, url.Values{"error": {code}, "error_description": {desc}, "state": {req.State}})
}

// finishLink links subject, signed in at up, to the user of the link
// request req, once the player confirmed it (confirmLink).
func (s *Server) finishLink(w http.ResponseWriter, r *http.Request, req broker.AuthRequest, up Upstream, subject string) {
	err := s.authz.CompleteLink(r.Context(), req, up.Slot, subject)
	switch {
	case errors.Is(err, broker.ErrLinkConflict), errors.Is(err, broker.ErrSlotTaken):
		s.page(w, r, http.StatusConflict, "conflict", pageData{Provider: up.Name})
	case err != nil:
		s.log.ErrorContext(r.Context(), "complete link", "err", err)
		s.finishWithError(w, r, req, "server_error", "the account could not be linked")
	case req.RedirectURI != "":
		s.redirect(w, r, req.RedirectURI, url.Values{"linked": {up.Name}, "state": {req.State}})
	default:
		s.page(w, r, http.StatusOK, "linked", pageData{Provider: up.Name})
	}
}

// redirectError answers an authorization request on the client's
// redirect_uri (RFC 6749 §4.1.2.1), with the code and description the
// OAuth2 writer would give.
func (s *Server) redirectError(w http.ResponseWriter, r *http.Request, redirectURI, state string, err error) {
	_, code, desc := s.oauthAnswer(r, err)
	s.redirect(w, r, redirectURI, url.Values{
		"error": {code}, "error_description": {safeDescription(desc)}, "state": {state},
	})
}

// redirect sends the browser to base with params added to its query; an
// empty state is left out, and iss is added (RFC 9207) so that a client
// talking to several servers can tell the answers apart.
func (s *Server) redirect(w http.ResponseWriter, r *http.Request, base string, params url.Values) {
	u, err := url.Parse(base)
	if err != nil {
		s.errorPage(w, r, http.StatusBadRequest, "The return address is malformed.")
		return
	}
	q := u.Query()
	for k, vs := range params {
		if vs[0] != "" {
			q.Set(k, vs[0])
		}
	}
	q.Set("iss", s.broker.Issuer())
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.String(), http.StatusFound)
}
