package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	oauth2errors "github.com/go-oauth2/oauth2/v4/errors"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/grants"
	"github.com/bridgekeeper/bridgekeeper/throttle"
)

// oauthStatus is RFC 6749 §5.2: 400 for every error but invalid_client.
// (go-oauth2's errors.StatusCodes answers 401 to invalid_grant and others,
// which §5.2 does not allow, so only its error values are used.)
var oauthStatus = map[error]int{
	oauth2errors.ErrInvalidClient:          http.StatusUnauthorized,
	oauth2errors.ErrTemporarilyUnavailable: http.StatusServiceUnavailable,
	oauth2errors.ErrServerError:            http.StatusInternalServerError,
}

// oauthKinds is the OAuth2 answer to a refusal that no grant gave a code:
// its status and error value by kind.
// The description is for a store sentinel, which carries none.
var oauthKinds = map[broker.Kind]struct {
	status     int
	code, desc string
}{
	broker.KindInvalid:         {http.StatusBadRequest, oauth2errors.ErrInvalidRequest.Error(), "the request is invalid"},
	broker.KindUnauthenticated: {http.StatusUnauthorized, oauth2errors.ErrInvalidClient.Error(), "authentication failed"},
	broker.KindForbidden:       {http.StatusBadRequest, oauth2errors.ErrUnauthorizedClient.Error(), "not allowed"},
	broker.KindNotFound:        {http.StatusNotFound, "not_found", "not found"},
	broker.KindConflict:        {http.StatusConflict, "conflict", "conflict"},
	// RFC 6749 has no code for this; RFC 8628's slow_down says it.
	broker.KindRateLimited: {http.StatusTooManyRequests, "slow_down", "too many requests; retry after Retry-After seconds"},
	broker.KindUnavailable: {http.StatusServiceUnavailable, oauth2errors.ErrTemporarilyUnavailable.Error(), "the service is briefly unavailable; retry"},
	broker.KindInternal:    {http.StatusInternalServerError, oauth2errors.ErrServerError.Error(), "internal error"},
}

// oauthError is an answer of the OAuth2-style surface that only web gives:
// a routing refusal (404, 405), a Bearer challenge (RFC 6750 §3).
type oauthError struct {
	status      int
	code        string
	description string
	challenge   string // WWW-Authenticate, when not the default
}

func (e *oauthError) Error() string { return e.code + ": " + e.description }

type oauthErrorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// oauthAnswer is what writeOAuthError sends for err: the status, the error
// value and a safe description. It logs what is not the caller's fault.
func (s *Server) oauthAnswer(r *http.Request, err error) (int, string, string) {
	var (
		oe *oauthError
		ge *grants.Error
	)
	kind := broker.KindOf(err)
	m := oauthKinds[kind]
	desc := m.desc
	if e := broker.Refusal(err); e != nil && kind != broker.KindRateLimited {
		desc = e.Description
	}
	switch {
	case errors.As(err, &oe):
		return oe.status, oe.code, oe.description
	case kind == broker.KindUnavailable:
		// A platform's outage names the platform (platforms.Unavailable);
		// the store's says no more than the kind.
		s.log.WarnContext(r.Context(), "unavailable", "route", routeName(r), "err", err)
		return m.status, m.code, desc
	case kind == broker.KindInternal:
		s.log.ErrorContext(r.Context(), "internal error", "route", routeName(r), "err", err)
		return m.status, m.code, m.desc
	case errors.As(err, &ge):
		status, ok := oauthStatus[ge.Code]
		if !ok {
			status = http.StatusBadRequest
		}
		return status, ge.Code.Error(), desc
	case errors.Is(err, errTooLarge):
		return http.StatusRequestEntityTooLarge, oauth2errors.ErrInvalidRequest.Error(), desc
	}
	switch e := broker.Refusal(err); {
	case kind != broker.KindInvalid:
	case e.Field == "scope":
		m.code = oauth2errors.ErrInvalidScope.Error()
	case e.Field == "response_type":
		m.code = oauth2errors.ErrUnsupportedResponseType.Error()
	case e.Reason == broker.ReasonTarget:
		m.code = "invalid_target" // RFC 8707 §2
	}
	return m.status, m.code, desc
}

// writeOAuthError is the one writer of the OAuth2-style surface's errors
// (RFC 6749 §5.2): the token endpoint, introspection and revocation,
// /account/*, the router's 404 and 405. A refusal is answered with its
// code (a grant's, or its kind's) and safe description; anything else is
// logged once and answered as server_error without detail.
func (s *Server) writeOAuthError(w http.ResponseWriter, r *http.Request, err error) {
	status, code, desc := s.oauthAnswer(r, err)
	if e := broker.Refusal(err); e != nil && e.Err != nil && status < 500 {
		s.log.DebugContext(r.Context(), "request refused", "error", code, "cause", e.Err)
	}
	var oe *oauthError
	switch {
	case errors.As(err, &oe) && oe.challenge != "":
		w.Header().Set("WWW-Authenticate", oe.challenge)
	case status == http.StatusUnauthorized && r.Header.Get("Authorization") != "":
		// RFC 6749 §5.2: a failed authentication through the Authorization
		// header is answered with 401 and the scheme the client should use.
		w.Header().Set("WWW-Authenticate", `Basic realm="bridgekeeper", charset="UTF-8"`)
	}
	setRetryAfter(w, status, err)
	writeJSON(w, status, oauthErrorBody{Error: code, Description: safeDescription(desc)})
}

// setRetryAfter tells a rate-limited caller when to come back, and any
// caller of an unavailable service to retry in a second.
func setRetryAfter(w http.ResponseWriter, status int, err error) {
	switch e := broker.Refusal(err); {
	case e != nil && e.Kind == broker.KindRateLimited:
		w.Header().Set("Retry-After", strconv.Itoa(throttle.RetryAfter(e.RetryAfter)))
	case status == http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "1")
	}
}

// safeDescription keeps error_description within RFC 6749 §5.2's character
// set (%x20-21 / %x23-5B / %x5D-7E), whatever a description came to hold.
func safeDescription(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7E || r == '"' || r == '\\' {
			return '?'
		}
		return r
	}, s)
}
