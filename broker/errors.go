package broker

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Storage sentinels. Every Store implementation maps its driver's errors onto
// these, and the conformance suite checks that it does. KindOf reads them as
// refusals of their kind, so that a store's answer needs no translation
// where it already says what went wrong.
var (
	ErrNotFound      = errors.New("not found")
	ErrAlreadyExists = errors.New("already exists")
	// ErrConflict: a lost race (a revision compare-and-swap, a code spent
	// twice). Never "busy": that is ErrUnavailable.
	ErrConflict = errors.New("conflict")
	// ErrUnavailable: the database cannot be reached, did not answer within
	// the request's time, or stayed busy (locked, serialization failures,
	// deadlocks) through the store's retries. The request may be retried;
	// every surface answers 503 with Retry-After.
	ErrUnavailable = errors.New("storage unavailable")
	// ErrLastLink: removing the link would leave the user no way to sign
	// in.
	ErrLastLink = Conflict("the last way to sign in cannot be removed", nil)
)

// Unavailable reports whether err means "retry later": the store is
// unreachable or the request ran out of time.
func Unavailable(err error) bool {
	return errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
}

// Kind is what sort of refusal an error is. It is the whole vocabulary the
// domain shares with the surfaces: each surface has one writer that maps
// kinds to its own wire errors (OAuth2 JSON, GS2's message array, Xsolla's
// code and description).
type Kind uint8

const (
	// KindInternal is not a refusal: something failed. Surfaces answer 500
	// without detail and log the error once.
	KindInternal Kind = iota
	// KindInvalid: the input breaks a rule; Field names it when one field
	// is at fault.
	KindInvalid
	// KindUnauthenticated: a credential (client secret, token, code,
	// password, signature) does not prove what it claims.
	KindUnauthenticated
	// KindForbidden: the caller is known but may not do this (a client not
	// allowed a grant, a banned player, a policy that denies).
	KindForbidden
	// KindNotFound: what the request names does not exist.
	KindNotFound
	// KindConflict: the request clashes with what is stored (an identity
	// linked elsewhere, a lost revision race).
	KindConflict
	// KindRateLimited: too many requests; RetryAfter says when to come back.
	KindRateLimited
	// KindUnavailable: the store is down or busy; retry.
	KindUnavailable
)

var kindNames = [...]string{"internal", "invalid", "unauthenticated", "forbidden", "not found", "conflict", "rate limited", "unavailable"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Error is a refusal: its kind, a description that is safe to show the
// caller, and a cause that is only ever logged.
type Error struct {
	Kind Kind
	// Field is the input at fault, spelled as the surface's request spells
	// it ("userId", "attributes[2].key"); empty when no one field is.
	Field string
	// Reason is a short word for surfaces whose errors name one (GS2's
	// required, tooLong, invalid); empty means the kind says enough.
	Reason      string
	Description string
	// RetryAfter is when a rate-limited caller would be let through.
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string {
	s := e.Kind.String() + ": "
	if e.Field != "" {
		s += e.Field + ": "
	}
	s += e.Description
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf is the kind of err: that of the outermost *Error in its chain, or
// that of a store sentinel; KindInternal for anything else. Unavailability
// wins over any kind, since what failed was the store, not the request.
func KindOf(err error) Kind {
	if Unavailable(err) {
		return KindUnavailable
	}
	var e *Error
	switch {
	case errors.As(err, &e):
		return e.Kind
	case errors.Is(err, ErrNotFound):
		return KindNotFound
	case errors.Is(err, ErrAlreadyExists), errors.Is(err, ErrConflict):
		return KindConflict
	}
	return KindInternal
}

// Refusal is the outermost *Error in err's chain, or nil.
func Refusal(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// Invalid refuses input that breaks a rule; field names it.
func Invalid(field, description string) *Error {
	return &Error{Kind: KindInvalid, Field: field, Description: description}
}

// InvalidBecause is Invalid with a reason word for surfaces that name one.
func InvalidBecause(field, reason, description string) *Error {
	return &Error{Kind: KindInvalid, Field: field, Reason: reason, Description: description}
}

// Unauthenticated refuses a credential that proves nothing.
func Unauthenticated(description string, cause error) *Error {
	return &Error{Kind: KindUnauthenticated, Description: description, Err: cause}
}

// Forbidden refuses a known caller what it may not do.
func Forbidden(description string, cause error) *Error {
	return &Error{Kind: KindForbidden, Description: description, Err: cause}
}

// NotFound refuses a request for something that does not exist.
func NotFound(description string, cause error) *Error {
	return &Error{Kind: KindNotFound, Description: description, Err: cause}
}

// Conflict refuses a request that clashes with what is stored.
func Conflict(description string, cause error) *Error {
	return &Error{Kind: KindConflict, Description: description, Err: cause}
}

// RateLimited refuses a caller over its rate until retryAfter has passed.
func RateLimited(retryAfter time.Duration) *Error {
	return &Error{Kind: KindRateLimited, Description: "too many requests", RetryAfter: retryAfter}
}
