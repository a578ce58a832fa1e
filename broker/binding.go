package broker

import (
	"errors"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Binding is what a token request binds its tokens to: the resource
// server (RFC 8707) its access tokens are for, and the DPoP key (RFC 9449)
// they are bound to. The zero Binding is a plain token for the client.
type Binding struct {
	// Resource is the access tokens' audience; "" for the client itself.
	Resource string
	// JKT is the RFC 7638 thumbprint of the request's DPoP key; "" without
	// a proof.
	JKT string
	// Proof is the proof's replay record when it is still to be spent by
	// the write that issues the token (a refresh rotation); zero when it
	// was spent before, or there is no proof.
	Proof Once
}

// Once is a value that may be used once, such as a DPoP proof's jti under
// its key, and how long it must be remembered as used.
type Once struct {
	Key   string
	Until time.Time
}

// ErrProofReplayed refuses a DPoP proof whose jti was used before.
var ErrProofReplayed = &Error{Kind: KindInvalid, Field: "DPoP", Description: "the DPoP proof was used before"}

// Confirmation is an access token's cnf claim (RFC 9449 §6.1).
type Confirmation struct {
	JKT string `json:"jkt"`
}

// TokenTypeDPoP is the token_type of a DPoP-bound access token.
const TokenTypeDPoP = "DPoP"

// ValidResource reports whether s can name a resource server: an absolute
// URI without a fragment (RFC 8707 §2).
func ValidResource(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.IsAbs() && u.Fragment == "" && len(s) <= 2048 && !strings.ContainsFunc(s, unicode.IsSpace)
}

// CheckResource refuses a resource the client may not ask tokens for: RFC
// 8707's invalid_target (Field "resource", Reason ReasonTarget).
func CheckResource(c Client, resource string) error {
	if resource == "" || slices.Contains(c.Resources, resource) {
		return nil
	}
	if !ValidResource(resource) {
		return InvalidBecause("resource", ReasonTarget, "resource must be an absolute URI without a fragment")
	}
	return InvalidBecause("resource", ReasonTarget, "the client may not ask tokens for this resource")
}

// ErrDPoPRequired refuses a request without a DPoP proof where one is
// needed: a bound refresh token, a client that must use DPoP.
var ErrDPoPRequired = &Error{Kind: KindInvalid, Field: "DPoP", Description: "a DPoP proof is required"}

// ErrBoundToken refuses a DPoP-bound access token presented as a Bearer
// token: without the proof, it could be anyone's copy.
var ErrBoundToken = errors.New("the access token is DPoP-bound; present it with a DPoP proof")

// ReasonTarget marks a refused resource (RFC 8707 invalid_target).
const ReasonTarget = "target"

// audience is the aud of an access token of the binding: its resource, or
// the client.
func (bd Binding) audience(c Client) string {
	if bd.Resource != "" {
		return bd.Resource
	}
	return c.ID
}

// tokenType is the token_type of the binding's access token: "" is Bearer.
func (bd Binding) tokenType() string {
	if bd.JKT == "" {
		return ""
	}
	return TokenTypeDPoP
}

// confirmation is the cnf claim of the binding, nil without DPoP.
func (bd Binding) confirmation() *Confirmation {
	if bd.JKT == "" {
		return nil
	}
	return &Confirmation{JKT: bd.JKT}
}
