// Package grants is the one pipeline to a token and the token endpoint's
// grants, one type per file. Pipeline admits every caller that mints a
// token, whatever its surface: the guards, client authentication, the
// client's rate limit, its allowance for the grant and the scope policy run
// there once, before any grant or surface call.
//
// This is where OAuth2 lives besides web's OAuth2 writer: go-oauth2
// supplies the vocabulary (RFC 6749 error values), and refusals of the
// token endpoint carry their code (*Error) over the domain's kinded refusal.
// go-oauth2's own server runs a non-atomic refresh rotation without reuse
// detection and rejects grant types it does not know, so the pipeline is
// ours.
//
// A new grant is one file: a type with Type and Exchange, a compile-time
// assertion, and an entry in the list cmd passes to New.
package grants
