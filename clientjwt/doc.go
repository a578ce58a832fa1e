// Package clientjwt is private_key_jwt client authentication (RFC 7523
// §2.2 and §3, OpenID Connect Core §9): a client proves who it is at the
// token, introspection, revocation and device endpoints by a JWT it signs
// with a private key whose public half it registered, inline as a JWK Set
// or as a jwks_uri. No shared secret is stored at the broker, so a leak of
// the client table authenticates no one.
//
// Verifier.Verify checks one assertion against one client's keys: the JWS
// structure and algorithm (asymmetric only, so a public key can never be
// used as an HMAC secret), the key, the signature, the claims RFC 7523
// requires, and single use of the jti through a Replay store that the
// broker replicas share. A jwks_uri is fetched on demand and cached per
// URI; an unknown kid refetches at most once a minute so that key rotation
// is picked up without letting a caller make the broker hammer someone's
// server. A jwks_uri that cannot be fetched is reported as unavailable, not
// as a refusal: the client did nothing wrong and may retry.
//
// ParseJWKS and CheckJWKSURI are the registration-time checks; ClientID
// reads the unverified issuer of an assertion for requests that omit
// client_id (RFC 7521 §4.2).
package clientjwt
