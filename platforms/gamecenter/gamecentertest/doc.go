// Package gamecentertest is a fake of the server Apple publishes Game
// Center keys on (static.gc.apple.com/public-key/), for tests of code that
// verifies Game Center identity signatures.
//
// NewKeyServer makes a test PKI — a root CA, an intermediate, and leaf
// certificates for "Apple Inc." — and serves the leaves over HTTPS on
// loopback, DER-encoded as Apple serves them. Sign plays GameKit's
// fetchItemsForIdentityVerificationSignature: it signs the player ID,
// bundle ID, timestamp and a random salt with the leaf's key and answers
// the subject token a game sends. Config wires a gamecenter.Config to the
// server (its roots, host and HTTPS client). Other keys (Expired, OtherCA,
// SelfSigned, NotApple, ECDSA, WeakRSA, Garbage, Missing, Redirect) and
// outages (Failing, Hanging) are there for the refusals a verifier must make.
//
// The server closes when the test ends.
package gamecentertest
