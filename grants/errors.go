package grants

import (
	"errors"
	"slices"

	oauth2errors "github.com/go-oauth2/oauth2/v4/errors"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// Error is a refusal of the OAuth2 token endpoint: an RFC 6749 §5.2 error
// code (one of go-oauth2's values) over the domain refusal it stands for,
// which keeps its kind and safe description. OAuth2 codes live here and in
// web's OAuth2 writer only; the domain speaks in kinds.
type Error struct {
	Code error
	Err  error
}

func (e *Error) Error() string { return e.Code.Error() + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// withCode gives err an OAuth2 code, unless it is no refusal of the
// request (the store is unavailable, the caller is rate limited, or
// something failed), which keeps its kind and is answered by it.
func withCode(code error, err error) error {
	switch broker.KindOf(err) {
	case broker.KindInternal, broker.KindUnavailable, broker.KindRateLimited:
		return err
	}
	var already *Error
	if errors.As(err, &already) {
		return err
	}
	return &Error{Code: code, Err: err}
}

// refused says in OAuth2 terms why the grant's exchange was refused: a
// scope beyond what may be granted is invalid_scope, a missing or malformed
// parameter the grant reads is invalid_request, anything else the broker
// refuses (a code or token that is unknown, expired, spent, revoked, of
// another client; a banned player) is invalid_grant (§5.2).
func refused(err error) error {
	e := broker.Refusal(err)
	switch {
	case e == nil:
	case bindingRefusal(e) != nil:
		return withCode(bindingRefusal(e), err)
	case slices.Contains(broker.DeviceReasons, e.Reason):
		// RFC 8628 §3.5: the polling answers are error codes of their own.
		return withCode(errors.New(e.Reason), err)
	case e.Kind == broker.KindInvalid && e.Field == "scope":
		return withCode(oauth2errors.ErrInvalidScope, err)
	case e.Kind == broker.KindInvalid && e.Reason == reasonRequest:
		return withCode(oauth2errors.ErrInvalidRequest, err)
	}
	return withCode(oauth2errors.ErrInvalidGrant, err)
}

// reasonRequest marks the grants' own parameter checks, which are
// invalid_request, apart from the broker's refusals of a grant's content.
const reasonRequest = "request"

// missing refuses a request without a parameter the grant needs.
func missing(param string) error {
	return broker.InvalidBecause(param, reasonRequest, param+" is required")
}

// malformed refuses a parameter the grant cannot use.
func malformed(param, description string) error {
	return broker.InvalidBecause(param, reasonRequest, description)
}
