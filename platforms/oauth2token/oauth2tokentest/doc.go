// Package oauth2tokentest is a fake Discord-shaped platform for tests of
// code that verifies platform access tokens: Issue mints a token of a user
// for an application, and the fake answers Discord's GET /api/oauth2/@me
// (the token's application, scopes, expiry and user) and GET
// /api/users/@me (the user) for it, or Discord's 401 for a token it does
// not know or has revoked. It serves on loopback and closes itself when
// the test ends.
package oauth2tokentest
