// Package idtoken verifies OpenID Connect ID tokens that a native game
// client got from its platform's SDK and sends as the subject_token of an
// RFC 8693 token exchange (subject_token_type
// urn:ietf:params:oauth:token-type:id_token, or ...:jwt).
//
// The platforms that matter issue ordinary OIDC ID tokens (OpenID Connect
// Core 1.0 §2), so one verifier configured per platform serves them all:
//
//   - Sign in with Apple: issuer https://appleid.apple.com, RS256; aud is the
//     app's bundle ID (or the Services ID on the web).
//   - Google Sign-In: issuer https://accounts.google.com; aud is the server
//     (web) client ID the app asked the token for, azp the Android/iOS client.
//   - Epic Online Services: Epic Account Services (Auth) ID tokens have issuer
//     https://api.epicgames.dev/epic/oauth/v1 and sub the Epic account ID;
//     EOS Connect ID tokens have issuer https://api.epicgames.dev/auth/v1/oauth
//     and sub the product user ID; aud is the client ID.
//   - any other OpenID provider, by its issuer.
//
// [New] needs no network: the discovery document (OpenID Connect Discovery
// 1.0 §4) and the key set (RFC 7517 §5) are fetched on the first Verify, so
// the broker starts while a platform is down. Verify checks the JWS
// signature (RFC 7515) against the issuer's keys and then the claims (OpenID
// Connect Core §3.1.3.7): iss exactly, aud always (the check Nakama skips
// for Apple and Google), exp, nbf and iat with one minute of leeway, the
// nonce when the request carries one, and the configured user ID claim.
//
// A token that does not hold is refused with [platforms.Refused] and a
// reason that never quotes the token; a discovery or key-set fetch that
// fails (transport error, timeout, 5xx, an answer that is not a key set) is
// [platforms.Unavailable], and a key set fetched earlier stays in use.
//
// Package idtokentest holds a fake issuer for tests.
package idtoken
