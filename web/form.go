package web

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/go-oauth2/oauth2/v4/server"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/grants"
)

// errTooLarge marks a body over the limit; it is answered with 413.
var errTooLarge = broker.Invalid("", "request body is too large")

// readForm reads an application/x-www-form-urlencoded body (RFC 6749 §3.2)
// with the body limit, and refuses what the RFC forbids: repeated parameters
// (§3.1) and anything that is not UTF-8 (Appendix B).
func (s *Server) readForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, broker.Invalid("", "Content-Type must be application/x-www-form-urlencoded")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return nil, broker.Invalid("", "the form must be UTF-8")
	}
	if r.ContentLength > s.maxBody {
		return nil, errTooLarge
	}
	body, err := io.ReadAll(limitBody(w, r, s.maxBody))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, errTooLarge
	}
	if err != nil {
		return nil, broker.Invalid("", "the request body could not be read")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, broker.Invalid("", "the form is malformed")
	}
	for k, vs := range form {
		if len(vs) > 1 {
			return nil, broker.Invalid("", "a parameter is repeated")
		}
		if !utf8.ValidString(k) || !utf8.ValidString(vs[0]) {
			return nil, broker.Invalid("", "parameters must be UTF-8")
		}
	}
	return form, nil
}

// clientRequest reads the form and the client credentials of an endpoint
// that authenticates its client, answering a malformed request itself
// (ok=false).
func (s *Server) clientRequest(w http.ResponseWriter, r *http.Request) (url.Values, grants.Caller, bool) {
	who := s.caller(r)
	form, err := s.readForm(w, r)
	if err == nil {
		who.ID, who.Secret, err = clientCredentials(r, form)
	}
	if err == nil {
		who.AssertionType, who.Assertion = form.Get("client_assertion_type"), form.Get("client_assertion")
		err = s.readProof(r, &who)
	}
	if err != nil {
		s.writeOAuthError(w, r, err)
		return nil, who, false
	}
	return form, who, true
}

// clientCredentials parses client authentication: client_secret_basic
// (RFC 6749 §2.3.1, with the form-urlencoding the RFC asks for) or
// client_secret_post, never both.
func clientCredentials(r *http.Request, form url.Values) (id, secret string, err error) {
	if r.Header.Get("Authorization") == "" {
		if form.Get("client_secret") != "" && form.Get("client_id") == "" {
			return "", "", broker.Invalid("client_secret", "client_secret without client_id")
		}
		// server.ClientFormHandler reads r.Form.
		r.Form = form
		id, secret, err := server.ClientFormHandler(r)
		if err != nil {
			return "", "", nil // no credentials: the pipeline says invalid_client
		}
		return id, secret, nil
	}
	if scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " "); !strings.EqualFold(scheme, "Basic") {
		// RFC 6749 §5.2: an unsupported authentication method is invalid_client.
		return "", "", broker.Unauthenticated("client authentication must use HTTP Basic or client_secret_post", nil)
	}
	user, pass, err := server.ClientBasicHandler(r)
	if err != nil {
		return "", "", broker.Invalid("Authorization", "the Basic authorization header is malformed")
	}
	id, err1 := url.QueryUnescape(user)
	secret, err2 := url.QueryUnescape(pass)
	if err1 != nil || err2 != nil || !utf8.ValidString(id) || !utf8.ValidString(secret) {
		return "", "", broker.Invalid("Authorization", "the Basic credentials are not form-urlencoded UTF-8")
	}
	if form.Has("client_secret") {
		return "", "", broker.Invalid("client_secret", "use one client authentication method, not both client_secret_basic and client_secret_post")
	}
	if fid := form.Get("client_id"); fid != "" && fid != id {
		return "", "", broker.Invalid("client_id", "client_id differs from the authenticated client")
	}
	return id, secret, nil
}
