package console

import (
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/gorilla/mux"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// Staff sign in as players do, through the broker's authorization-code
// flow: the console is a public PKCE client of the broker (in the admin
// namespace), sends the browser to the broker's /oauth2/authorize naming
// the provider, and the broker runs the upstream sign-in on the public
// listener, where the upstream's registered callback is. The broker then
// returns a code to the console's callback, which redeems it in-process
// (no HTTP round trip) and reads who signed in: the identifier of the
// signed-in user's link in the provider's slot is the upstream subject.
// Only a (provider, subject) listed in console.admins gets a session.

type loginBody struct {
	Providers []string
	SignedOut bool
}

// loginPage lists the providers staff sign in with.
func (c *signIn) loginPage(w http.ResponseWriter, r *http.Request) {
	if _, ok := c.session(r); ok {
		http.Redirect(w, r, searchPath, http.StatusSeeOther)
		return
	}
	body := loginBody{SignedOut: r.URL.Query().Has("signed_out")}
	for _, p := range c.providers {
		body.Providers = append(body.Providers, p.Name)
	}
	c.render(w, r, http.StatusOK, "login", view{Title: "Sign in to the support console", Body: body})
}

// startLogin sends the browser to the broker's authorization endpoint for
// the chosen provider. Starting a sign-in changes nothing but this
// browser's own sign-in cookie, so a GET may do it.
func (c *signIn) startLogin(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["provider"]
	if _, ok := c.provider(name); !ok {
		c.problem(w, r, http.StatusNotFound, "No console admin signs in with that provider.")
		return
	}
	state, verifier, ok := c.sessions.startLogin(name)
	if !ok {
		c.problem(w, r, http.StatusServiceUnavailable, "Too many sign-ins are under way; try again in a few minutes.")
		return
	}
	// Lax, not Strict: the browser comes back from the upstream, another
	// site, whose redirect would not carry a Strict cookie.
	c.setCookie(w, loginCookie, state, loginTTL, http.SameSiteLaxMode)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"response_type": {"code"}, "client_id": {c.cfg.ClientID}, "redirect_uri": {c.redirectURI},
		"state": {state}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"}, "provider": {name},
	}
	http.Redirect(w, r, strings.TrimSuffix(c.cfg.Broker.Issuer(), "/")+"/oauth2/authorize?"+q.Encode(), http.StatusFound)
}

func (c *signIn) provider(name string) (Provider, bool) {
	for _, p := range c.providers {
		if p.Name == name {
			return p, true
		}
	}
	return Provider{}, false
}

// callback is where the broker returns the browser (RFC 6749 §4.1.2):
// the sign-in of this browser's cookie, once; the code redeemed with its
// PKCE verifier; the identity checked against console.admins.
func (c *signIn) callback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	cookieState := ""
	if ck, err := r.Cookie(loginCookie); err == nil {
		cookieState = ck.Value
	}
	c.clearCookie(w, loginCookie)
	login, ok := c.sessions.takeLogin(q.Get("state"), cookieState)
	switch {
	case !ok:
		c.problem(w, r, http.StatusBadRequest, "This sign-in is not valid in this browser, has expired or was already used. Please sign in again.")
		return
	case q.Get("iss") != "" && q.Get("iss") != c.cfg.Broker.Issuer():
		// RFC 9207: an answer of another server is not this sign-in's.
		c.problem(w, r, http.StatusBadRequest, "This sign-in came back from another server. Please sign in again.")
		return
	case q.Get("error") != "":
		c.problem(w, r, http.StatusForbidden, "Sign-in did not complete: "+cmp.Or(q.Get("error_description"), q.Get("error"))+".")
		return
	}
	client, err := c.cfg.Broker.Client(ctx, c.cfg.ClientID)
	if err != nil {
		c.fail(w, r, visit{}, fmt.Errorf("console client: %w", err))
		return
	}
	tok, err := c.cfg.Codes.ExchangeCode(ctx, client, q.Get("code"), c.redirectURI, login.verifier, broker.Binding{})
	switch {
	case errors.Is(err, broker.ErrBanned):
		c.refuse(w, r, login.provider, "", "the console account is banned")
		return
	case broker.KindOf(err) == broker.KindUnavailable:
		c.fail(w, r, visit{}, err)
		return
	case err != nil:
		c.cfg.Log.WarnContext(ctx, "console: redeem the sign-in code", "err", err)
		c.problem(w, r, http.StatusBadRequest, "This sign-in could not be completed. Please sign in again.")
		return
	}
	// The tokens only proved who signed in; the console keeps none, and
	// ends the broker session they started.
	if err := c.cfg.Broker.Revoke(ctx, client, tok.RefreshToken, "refresh_token"); err != nil {
		c.cfg.Log.WarnContext(ctx, "console: end the sign-in's broker session", "err", err)
	}
	subject, err := c.subject(r, login.provider, tok.UserID)
	if err != nil {
		c.fail(w, r, visit{}, err)
		return
	}
	if !c.admins[Admin{Provider: login.provider, Subject: subject}] {
		c.refuse(w, r, login.provider, subject, login.provider+" identity "+subject+" is not a console admin")
		return
	}
	actorID := "console:" + login.provider + ":" + subject
	id, ok := c.sessions.start(actorID)
	if !ok {
		c.problem(w, r, http.StatusServiceUnavailable, "Too many console sessions are open; try again later.")
		return
	}
	// Strict: no other site can make the browser send it. No Max-Age:
	// the browser forgets it when it closes; the console ends it sooner.
	c.setCookie(w, sessionCookie, id, 0, http.SameSiteStrictMode)
	c.cfg.Log.InfoContext(ctx, "console: signed in", "actor", actorID, "address", c.cfg.Address(r))
	// This answer ends a redirect chain that began at the upstream,
	// another site: a redirect from here would still be cross-site and
	// go without the Strict cookie. The page moves on by itself instead.
	c.render(w, r, http.StatusOK, "signed_in", view{Title: "Signed in", Actor: actorID, Refresh: searchPath})
}

// subject is the upstream user ID the user signed in with at provider:
// the identifier of its link in the provider's slot, which the broker's
// sign-in found or created.
func (c *signIn) subject(r *http.Request, provider, userID string) (string, error) {
	p, _ := c.provider(provider)
	links, err := c.cfg.Broker.Links(r.Context(), userID)
	if err != nil {
		return "", fmt.Errorf("console: links of the signed-in user: %w", err)
	}
	for _, l := range links {
		if l.Slot == p.Slot {
			return l.Identifier, nil
		}
	}
	return "", fmt.Errorf("console: the user signed in at %s has no link in its slot %d", provider, p.Slot)
}

// refuse answers a sign-in that is not let in, and records it in the
// audit trail. The page names the identity, so that staff can ask for it
// to be listed.
func (c *signIn) refuse(w http.ResponseWriter, r *http.Request, provider, subject, reason string) {
	if err := c.cfg.Service.Tenants.AuthFailed(r.Context(), c.cfg.Address(r), "console sign-in refused: "+reason); err != nil {
		c.cfg.Log.ErrorContext(r.Context(), "console: audit a refused sign-in", "err", err)
	}
	body := problemBody{Message: "This account may not use the support console: " + reason + "."}
	if subject != "" {
		body.Detail = fmt.Sprintf("You signed in at %s as %s. An operator lets you in by adding {provider: %s, subject: %q} to console.admins.",
			provider, subject, provider, subject)
	}
	c.render(w, r, http.StatusForbidden, "problem", view{Title: "Not a console admin", Body: body})
}

// logout ends the session. It is a POST with the CSRF token, so that no
// other site can sign staff out.
func (c *signIn) logout(w http.ResponseWriter, r *http.Request) {
	v, ok := c.session(r)
	if !ok {
		http.Redirect(w, r, loginPath, http.StatusSeeOther)
		return
	}
	if !c.sameOrigin(r) || !v.checkCSRF(r.PostFormValue("csrf")) {
		c.problem(w, r, http.StatusForbidden, "This form has expired. Reload the page and try again.")
		return
	}
	c.sessions.end(v.key)
	c.clearCookie(w, sessionCookie)
	http.Redirect(w, r, loginPath+"?signed_out", http.StatusSeeOther)
}
