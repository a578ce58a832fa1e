// Package dpop verifies DPoP proofs (RFC 9449): the signed JWT a client
// sends in the DPoP header to show that it holds the private key an access
// token is bound to. The broker checks a proof at the token endpoint, to
// learn the key (its RFC 7638 thumbprint, the cnf.jkt it binds the token
// to), and at protected resources, where the proof must also name the
// access token it accompanies (ath).
//
// A stolen bearer token is as good as the original; a DPoP-bound one is
// worthless without the key. That only holds if a proof cannot be replayed
// either, so every proof's jti is spent once through a Replay that the
// database implements: an in-process cache would let a proof be replayed
// against another broker replica.
//
// Refusals are *broker.Error of kind invalid on the field "DPoP"; their
// descriptions are meant for the caller and never quote the proof.
package dpop
