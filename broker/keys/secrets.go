package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/google/uuid"
)

// KEKSize is the size of the key-encryption key: AES-256.
const KEKSize = 32

// Secrets holds the keys derived from the key-encryption key (KEK): the AEAD
// that seals signing keys, the HMAC key of client secrets, and the HMAC key
// that derives a refresh token's successor. One KEK, separate keys per use.
type Secrets struct {
	seal        cipher.AEAD
	clientKey   []byte
	successorKy []byte
	deriveKey   []byte
	familyIDs   cipher.Block // a family's ID is its row key, encrypted (FamilyID)
}

// NewSecrets derives the broker's keys from a 32-byte key-encryption key.
func NewSecrets(kek []byte) (*Secrets, error) {
	if len(kek) != KEKSize {
		return nil, fmt.Errorf("key-encryption key must be %d bytes, got %d", KEKSize, len(kek))
	}
	derive := func(info string) ([]byte, error) {
		return hkdf.Key(sha256.New, kek, nil, "bridgekeeper "+info, 32)
	}
	blockCipher := func(info string) (cipher.Block, error) {
		key, err := derive(info)
		if err != nil {
			return nil, err
		}
		return aes.NewCipher(key)
	}
	block, err := blockCipher("key sealing")
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	clientKey, err := derive("client secret")
	if err != nil {
		return nil, err
	}
	succ, err := derive("refresh successor")
	if err != nil {
		return nil, err
	}
	dk, err := derive("per-request values")
	if err != nil {
		return nil, err
	}
	families, err := blockCipher("refresh family IDs")
	if err != nil {
		return nil, err
	}
	return &Secrets{seal: aead, clientKey: clientKey, successorKy: succ, deriveKey: dk, familyIDs: families}, nil
}

// FamilyID is the ID of the refresh-token family kept under key (16
// bytes): the key encrypted as one AES block, spelled as a UUID. The
// broker reads the key back (FamilyKey), so that revoking a family by the
// ID that access tokens (sid), codes and the operator carry finds its row;
// to anyone else the ID is a random UUID. It must not be the key itself:
// a refresh token with a family's key and any secret is taken for an
// older token of that family, and presenting one revokes the family as
// reused, so the key is known only to who held a token of it.
func (s *Secrets) FamilyID(key []byte) string {
	var id uuid.UUID
	s.familyIDs.Encrypt(id[:], key)
	return id.String()
}

// FamilyKey is the row key of the family with this ID, nil for an ID that
// is not a UUID in its canonical spelling. An ID that FamilyID did not make
// (an older family's random UUID) gives a key no family has.
func (s *Secrets) FamilyKey(id string) []byte {
	u, err := uuid.Parse(id)
	if err != nil || u.String() != id {
		return nil
	}
	key := make([]byte, aes.BlockSize)
	s.familyIDs.Decrypt(key, u[:])
	return key
}

// Seal encrypts plaintext with AES-256-GCM; aad binds it to its context (the kid).
func (s *Secrets) Seal(plaintext, aad []byte) []byte {
	nonce := make([]byte, s.seal.NonceSize())
	rand.Read(nonce)
	return s.seal.Seal(nonce, nonce, plaintext, aad)
}

// Open decrypts what Seal produced.
func (s *Secrets) Open(sealed, aad []byte) ([]byte, error) {
	n := s.seal.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("sealed value too short")
	}
	pt, err := s.seal.Open(nil, sealed[:n], sealed[n:], aad)
	if err != nil {
		return nil, fmt.Errorf("unseal: wrong key-encryption key or corrupted value: %w", err)
	}
	return pt, nil
}

// HashClientSecret is the stored form of a client secret. Secrets are
// system-generated with 256 bits of entropy, so a fast keyed hash is enough
// (no password stretching needed) and keeps client_credentials cheap; the key
// keeps a stolen database alone from confirming a secret.
func (s *Secrets) HashClientSecret(secret string) []byte {
	m := hmac.New(sha256.New, s.clientKey)
	m.Write([]byte(secret))
	return m.Sum(nil)
}

// CheckClientSecret compares in constant time.
func (s *Secrets) CheckClientSecret(secret string, hash []byte) bool {
	return hmac.Equal(s.HashClientSecret(secret), hash)
}

// Successor derives the 32-byte secret of the refresh token that replaces
// token. Deriving it instead of storing it means a client that retries
// inside the grace window (its response was lost, even to a broker crash)
// gets the same successor back, while the database still holds only hashes.
func (s *Secrets) Successor(token string) []byte {
	m := hmac.New(sha256.New, s.successorKy)
	m.Write([]byte(token))
	return m.Sum(nil)
}

// Derive returns a value bound to id for one purpose (HMAC-SHA-256,
// base64url): the upstream nonce and PKCE verifier of an authorization
// request are derived from its ID rather than stored.
func (s *Secrets) Derive(purpose, id string) string {
	m := hmac.New(sha256.New, s.deriveKey)
	m.Write([]byte(purpose + "\x00" + id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
