// Package gamecenter verifies Game Center identity signatures for RFC 8693
// token exchange (subject_token_type
// urn:bridgekeeper:params:oauth:token-type:gamecenter).
//
// An iOS or macOS game calls GameKit's
// GKLocalPlayer.fetchItemsForIdentityVerificationSignature and gets a
// public key URL, a signature, a salt and a timestamp; it sends them, with
// the player's teamPlayerID and its bundle ID, as one JSON object:
//
//	{"publicKeyUrl": "https://static.gc.apple.com/public-key/gc-prod-10.cer",
//	 "signature": "<base64>", "salt": "<base64>", "timestamp": 1700000000000,
//	 "playerId": "T:_...", "bundleId": "com.example.game"}
//
// The signature is RSASSA-PKCS1-v1_5 with SHA-256 (RFC 8017 §8.2) over
// playerId ‖ bundleId ‖ timestamp (uint64, big-endian) ‖ salt, made with
// the key of the certificate at publicKeyUrl. Anyone can sign such a
// message with a key of their own, so what makes it Apple's is the
// certificate. Nakama (social/social.go, CheckGameCenterID) checks the
// URL's scheme and host and the signature, but not the certificate's
// chain, its validity or the timestamp: a key of anyone's that can be
// served from an *.apple.com path would do, and a captured signature can be
// replayed forever. This package also checks that
//
//   - the bundle ID is one of the game's;
//   - the URL is https on an allowed host (apple.com and its subdomains by
//     default), with no user, port, query or fragment, and names a .cer;
//   - the timestamp is at most MaxAge old (5 minutes by default) and at
//     most a minute ahead of our clock;
//   - the certificate chains to the configured roots — by default DigiCert
//     Trusted Root G4 through DigiCert's G4 code-signing intermediate, both
//     embedded (see roots.go) — is valid now, names an allowed organization
//     (Apple) as its subject, and holds an RSA key of 2048 bits or more.
//
// Certificates are fetched without following redirects and kept, by URL,
// until they expire or for a day, at most 16 of them. A fetch that fails
// (transport error, timeout, 429, 5xx) is [platforms.Unavailable]; a
// certificate that is missing or cannot be parsed, and every other check,
// is [platforms.Refused] with a reason that never quotes the signature.
//
// Package gamecentertest is a fake key server for tests.
package gamecenter
