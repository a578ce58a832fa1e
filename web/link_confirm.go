package web

import (
	"cmp"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// A browser link is made only when the player confirms it. Whoever opens a
// link URL signs in upstream; were the identity linked on the upstream's
// return, a player could send their own link URL to someone else and
// capture that person's identity. So the callback holds the link
// (broker.HoldLink: a single-use, short-lived row in the store) and shows
// a page naming the player it would be linked to; only the POST of that
// page's form makes it.
//
// The POST is bound to the browser by double submit: linkCookie carries
// the held link's ID, which only this browser was given, and the form
// carries its MAC (broker.LinkConfirmToken), which no other site can read
// or compute. A POST without both is refused and spends nothing; with
// both, the held link is taken at once (broker.TakeLink), so a replay,
// or a Link after Cancel, finds nothing.

// linkCookie holds the ID of the browser's held link.
const linkCookie = "bk_link"

// linkConfirmPath is where the confirmation form posts, and the only path
// the cookie is sent to.
const linkConfirmPath = "/oauth2/link/confirm"

// holdLink answers the upstream's return of a link request with the
// confirmation page. It links nothing.
func (s *Server) holdLink(w http.ResponseWriter, r *http.Request, req broker.AuthRequest, up Upstream, subject string) {
	id, u, err := s.authz.HoldLink(r.Context(), req, subject)
	if err != nil {
		s.log.ErrorContext(r.Context(), "hold link", "err", err)
		s.finishWithError(w, r, req, "server_error", "the account could not be linked")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: linkCookie, Value: id, Path: linkConfirmPath, MaxAge: int(broker.PendingLinkTTL / time.Second),
		HttpOnly: true, Secure: strings.HasPrefix(s.broker.Issuer(), "https://"),
		// Strict: only the broker's own page posts the form.
		SameSite: http.SameSiteStrictMode,
	})
	s.page(w, r, http.StatusOK, "confirm_link", pageData{
		Provider: up.Name, Player: cmp.Or(u.Nickname, u.ID), Token: s.authz.LinkConfirmToken(id),
		formAction: confirmFormAction(req.RedirectURI),
	})
}

// confirmLink is the confirmation form's POST: action=link makes the held
// link, action=cancel drops it.
func (s *Server) confirmLink(w http.ResponseWriter, r *http.Request) {
	form, err := s.readForm(w, r)
	cookie, cerr := r.Cookie(linkCookie)
	switch action := form.Get("action"); {
	case err != nil:
		s.errorPage(w, r, http.StatusBadRequest, "This confirmation is malformed. Nothing was linked.")
		return
	case cerr != nil || !s.authz.ConfirmsLink(cookie.Value, form.Get("token")):
		s.errorPage(w, r, http.StatusForbidden, "This confirmation is not valid in this browser. Nothing was linked. Please start again from the game.")
		return
	case action != "link" && action != "cancel":
		s.errorPage(w, r, http.StatusBadRequest, "This confirmation is malformed. Nothing was linked.")
		return
	}
	req, subject, err := s.authz.TakeLink(r.Context(), cookie.Value)
	up, ok := s.upstreams[req.Provider]
	switch {
	case err != nil && !errors.Is(err, broker.ErrNotFound):
		s.log.ErrorContext(r.Context(), "take held link", "err", err)
		s.errorPage(w, r, http.StatusInternalServerError, "The link could not be completed. Nothing was linked. Please try again.")
		return
	case err != nil || !ok:
		s.errorPage(w, r, http.StatusBadRequest, "This confirmation has expired or was already used. Nothing was linked. Please start again from the game.")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: linkCookie, Path: linkConfirmPath, MaxAge: -1})
	if form.Get("action") == "cancel" {
		s.finishWithError(w, r, req, "access_denied", "the player cancelled the link")
		return
	}
	s.finishLink(w, r, req, up, subject)
}

// confirmFormAction is the confirmation page's CSP form-action: the form
// posts to the broker ('self'), whose answer may redirect to the client's
// redirect_uri, so its origin too, or its scheme for a native app's
// private-use scheme (RFC 8252 §7.1). A host with characters a CSP source
// cannot hold is left out: such a redirect is then blocked, never the
// policy widened.
func confirmFormAction(redirectURI string) string {
	src := "'self'"
	u, err := url.Parse(redirectURI)
	switch {
	case redirectURI == "" || err != nil || u.Scheme == "":
	case u.Scheme == "http" || u.Scheme == "https":
		if u.Host != "" && strings.Trim(u.Host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") == "" {
			src += " " + u.Scheme + "://" + u.Host
		}
	default: // url.Parse allows only letters, digits, "+", "-" and "." in a scheme
		src += " " + u.Scheme + ":"
	}
	return src
}
