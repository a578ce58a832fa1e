// Package oauth2 signs players in at a plain OAuth 2.0 platform that has no
// OpenID Connect ID token, such as Mobage Connect: the identity comes from a
// user-info ("People") API called with the access token.
//
// AuthCodeURL is an authorization request (RFC 6749 §4.1.1) with a PKCE S256
// challenge (RFC 7636 §4.3; a platform that does not know PKCE ignores the
// extra parameters, RFC 6749 §3.1). Exchange redeems the code at the token
// endpoint (RFC 6749 §4.1.3) authenticating with client_secret_basic or
// client_secret_post (RFC 6749 §2.3.1) as configured, then GETs the user-info
// URL with the access token as a Bearer token (RFC 6750 §2.1) and reads the
// user ID from the configured field of the JSON answer — a dotted path such
// as "entry.id", since Mobage's People API nests the person under "entry".
//
// Every failure of the upstream wraps [providers.ErrUpstream]; a
// token-endpoint error also wraps the *oauth2.RetrieveError
// (golang.org/x/oauth2) that carries the RFC 6749 §5.2 error code, and a
// user-info error says the status and the platform's error_description (such
// as Mobage's "The access token expired").
package oauth2
