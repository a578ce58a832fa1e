// Package keys is the broker's cryptography: the key-encryption key (KEK)
// and the keys derived from it (Secrets: sealing, client-secret hashing,
// refresh-token successors, derived values), and the signing keys (Keyring:
// the active key that signs, retired ones that still verify and stay in
// JWKS, generation). It checks a JWS and leaves what its claims must say to
// the core (broker.VerifyAccessToken); rotation, which retires and creates
// keys in one transaction, is broker.Rotate.
package keys
