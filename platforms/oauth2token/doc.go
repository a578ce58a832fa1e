// Package oauth2token verifies OAuth 2.0 access tokens that a platform's
// SDK hands the game (Discord's, a Mobage-style platform's) for RFC 8693
// token exchange, by asking the platform itself: a token-info API must say
// the token was issued to our application — an access token proves nothing
// about who it was meant for, and one from any other app that signs the
// player in must not open our account — and a user-info API says whose it
// is. The token is sent as a Bearer credential (RFC 6750 §2.1) and is never
// logged or returned.
//
// Package oauth2tokentest is a fake Discord-shaped platform for tests.
package oauth2token
