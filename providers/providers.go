// Package providers defines what an upstream identity provider gives the
// broker: the redirect to its login, and the identity behind the code it
// returns. Each kind lives in its own package (oidc, oauth2); the broker maps
// an identity to a user through the takeover slot configured for the
// provider.
package providers

import (
	"context"
	"errors"
)

// Identity is who the upstream says signed in.
type Identity struct {
	Provider string         // the configured provider name
	Slot     int            // the takeover slot its identities are linked in
	Subject  string         // the upstream's stable user ID
	Claims   map[string]any // what the upstream said about the user (ID token or userinfo)
}

// Login is one sign-in attempt towards the upstream. The broker derives its
// values from the attempt's ID and never sends or stores them in clear
// elsewhere: State goes to the upstream and comes back, Nonce binds an OIDC
// ID token to the attempt, and Verifier is the PKCE (RFC 7636) code verifier
// towards the upstream.
type Login struct {
	State, Nonce, Verifier string
}

// Provider is an upstream identity provider.
type Provider interface {
	// AuthCodeURL is where the browser goes to sign in; the upstream comes
	// back to the provider's callback with a code and l.State.
	AuthCodeURL(l Login) string
	// Exchange trades the code the callback received for the identity,
	// verifying what the upstream signed (an OIDC ID token and its nonce).
	Exchange(ctx context.Context, code string, l Login) (Identity, error)
}

// ErrUpstream marks a failure of the upstream (unreachable, a malformed or
// unverifiable answer), as opposed to a bad request from the browser.
var ErrUpstream = errors.New("upstream identity provider")
