// Package oidc signs players in at an OpenID Connect provider (OpenID Connect
// Core 1.0, authorization code flow, §3.1).
//
// [New] discovers the provider from its issuer (OpenID Connect Discovery 1.0
// §4) and returns a [providers.Provider] whose AuthCodeURL sends the browser
// to the upstream with the attempt's state, nonce and a PKCE S256 challenge
// (RFC 7636 §4.3), and whose Exchange trades the code for tokens at the
// upstream's token endpoint (with the PKCE verifier, RFC 7636 §4.5), then
// verifies the ID token (OpenID Connect Core §3.1.3.7: signature, issuer,
// audience, authorized party, expiry) and its nonce before it trusts the
// subject. The identity's claims are every claim of the ID token; the
// userinfo endpoint is not called.
//
// Every failure of the upstream — unreachable, a token-endpoint error, an ID
// token that does not verify, a nonce that does not match — wraps
// [providers.ErrUpstream]; a token-endpoint error also wraps the
// *oauth2.RetrieveError (golang.org/x/oauth2) that carries the RFC 6749 §5.2
// error code.
package oidc
