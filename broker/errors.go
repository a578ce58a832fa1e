package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	oauth2errors "github.com/go-oauth2/oauth2/v4/errors"
)

// Storage sentinels. Every Store implementation maps its driver's errors onto
// these, and the conformance suite checks that it does.
var (
	ErrNotFound      = errors.New("not found")
	ErrAlreadyExists = errors.New("already exists")
	ErrConflict      = errors.New("conflict")
	// ErrLastLink: removing the link would leave the user no way to sign
	// in.
	ErrLastLink = errors.New("the last link of a user cannot be removed")
	// ErrUnavailable: the database cannot be reached, did not answer within
	// the request's time, or stayed busy (locked, serialization failures,
	// deadlocks) through the store's retries. The request may be retried;
	// every surface answers 503 with Retry-After.
	ErrUnavailable = errors.New("storage unavailable")
)

// Unavailable reports whether err means "retry later": the store is
// unreachable or the request ran out of time.
func Unavailable(err error) bool {
	return errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
}

// Error is a protocol error: an RFC 6749 §5.2 error code, a description that is
// safe to show the client, and an internal cause that is only ever logged.
//
// Code is one of go-oauth2's error values (oauth2errors.ErrInvalidGrant, ...),
// so the vocabulary is the library's; the HTTP status is chosen by the web
// layer, because go-oauth2's own status table departs from §5.2.
type Error struct {
	Code        error
	Description string
	Err         error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Description, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Description)
}

func (e *Error) Unwrap() error { return e.Err }

func newError(code error, desc string, err error) *Error {
	return &Error{Code: code, Description: desc, Err: err}
}

// InvalidRequest: RFC 6749 §5.2 invalid_request.
func InvalidRequest(desc string) *Error {
	return newError(oauth2errors.ErrInvalidRequest, desc, nil)
}

// InvalidClient: RFC 6749 §5.2 invalid_client.
func InvalidClient(desc string, err error) *Error {
	return newError(oauth2errors.ErrInvalidClient, desc, err)
}

// InvalidGrant: RFC 6749 §5.2 invalid_grant.
func InvalidGrant(desc string, err error) *Error {
	return newError(oauth2errors.ErrInvalidGrant, desc, err)
}

// UnauthorizedClient: RFC 6749 §5.2 unauthorized_client.
func UnauthorizedClient(desc string) *Error {
	return newError(oauth2errors.ErrUnauthorizedClient, desc, nil)
}

// UnsupportedGrantType: RFC 6749 §5.2 unsupported_grant_type.
func UnsupportedGrantType(desc string) *Error {
	return newError(oauth2errors.ErrUnsupportedGrantType, desc, nil)
}

// InvalidScope: RFC 6749 §5.2 invalid_scope.
func InvalidScope(desc string) *Error {
	return newError(oauth2errors.ErrInvalidScope, desc, nil)
}

// TemporarilyUnavailable marks a failure the client may retry, such as a
// serialization failure or an unreachable database.
func TemporarilyUnavailable(desc string, err error) *Error {
	return newError(oauth2errors.ErrTemporarilyUnavailable, desc, err)
}

// RateLimited refuses a caller over its rate; RetryAfter says when a
// request would be let through again.
type RateLimited struct {
	RetryAfter time.Duration
}

func (e *RateLimited) Error() string {
	return fmt.Sprintf("rate limit exceeded; retry after %v", e.RetryAfter)
}
