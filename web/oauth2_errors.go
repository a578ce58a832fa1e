package web

import (
	"errors"
	"net/http"
	"strings"

	oauth2errors "github.com/go-oauth2/oauth2/v4/errors"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// oauthStatus is RFC 6749 §5.2: 400 for every error but invalid_client.
// (go-oauth2's errors.StatusCodes answers 401 to invalid_grant and others,
// which §5.2 does not allow, so only its error values are used.)
var oauthStatus = map[error]int{
	oauth2errors.ErrInvalidClient:          http.StatusUnauthorized,
	oauth2errors.ErrTemporarilyUnavailable: http.StatusServiceUnavailable,
	oauth2errors.ErrServerError:            http.StatusInternalServerError,
}

type oauthErrorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// writeOAuthError is the one writer of RFC 6749 §5.2 error responses. A
// broker.Error is answered with its code and safe description; anything else
// is logged once and answered as server_error without detail.
func (s *Server) writeOAuthError(w http.ResponseWriter, r *http.Request, err error, basicAuth bool) {
	var rl *broker.RateLimited
	if errors.As(err, &rl) {
		// RFC 6749 has no code for this; RFC 8628's slow_down says it.
		setRetryAfter(w, rl)
		writeJSON(w, http.StatusTooManyRequests, oauthErrorBody{Error: "slow_down", Description: "too many requests; retry after Retry-After seconds"})
		return
	}
	if broker.Unavailable(err) {
		s.log.WarnContext(r.Context(), "storage unavailable", "route", routeName(r), "err", err)
		err = broker.TemporarilyUnavailable("the service is briefly unavailable; retry", err)
	}
	var be *broker.Error
	if !errors.As(err, &be) {
		s.log.ErrorContext(r.Context(), "internal error", "route", routeName(r), "err", err)
		be = &broker.Error{Code: oauth2errors.ErrServerError, Description: "internal error"}
	}
	status, ok := oauthStatus[be.Code]
	switch {
	case errors.Is(err, errTooLarge):
		status = http.StatusRequestEntityTooLarge
	case !ok:
		status = http.StatusBadRequest
	}
	if be.Err != nil && status < 500 {
		s.log.DebugContext(r.Context(), "request refused", "error", be.Code, "cause", be.Err)
	}
	switch {
	case status == http.StatusUnauthorized && basicAuth:
		// RFC 6749 §5.2: a failed Basic authentication is answered with 401
		// and the scheme the client used.
		w.Header().Set("WWW-Authenticate", `Basic realm="bridgekeeper", charset="UTF-8"`)
	case status == http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, oauthErrorBody{Error: be.Code.Error(), Description: safeDescription(be.Description)})
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
