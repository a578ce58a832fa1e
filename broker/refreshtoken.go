package broker

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"time"
)

// A refresh token is "rt_" and the base64url of its family's row key and a
// 32-byte secret. The store keeps a family as one row whose key never
// changes, and a rotation replaces the row's current token in place: an
// update, where inserting a row per rotation cost a heap tuple and three
// index entries (BENCHMARKS.md, session 14). So a token must name its row.
// Tokens issued before that change are "rt_" and 32 random bytes; their
// rows are keyed by their hash, and rotating one gives a token of the new
// shape for the same row.

const (
	refreshPrefix    = "rt_"
	refreshSecretLen = 32
	familyKeyLen     = 16
	// maxRefreshTokenLen bounds what is decoded; ours are 46 to 89 characters.
	maxRefreshTokenLen = 128
)

// refreshEncoding is strict: a token has one spelling, as its hash is its
// identity.
var refreshEncoding = base64.RawURLEncoding.Strict()

// refreshRef is where a presented refresh token is kept: its family's row
// and its own hash.
type refreshRef struct{ key, hash []byte }

// parseRefresh finds a refresh token's row; false for anything that is not
// one of ours.
func parseRefresh(token string) (refreshRef, bool) {
	raw, ok := strings.CutPrefix(token, refreshPrefix)
	if !ok || len(token) > maxRefreshTokenLen {
		return refreshRef{}, false
	}
	b, err := refreshEncoding.DecodeString(raw)
	if err != nil {
		return refreshRef{}, false
	}
	h := TokenHash(token)
	switch len(b) - refreshSecretLen {
	case 0: // from before rotation in place: keyed by its hash
		return refreshRef{key: h, hash: h}, true
	case familyKeyLen, len(h): // a new family's key, or an older row's hash
		return refreshRef{key: b[:len(b)-refreshSecretLen], hash: h}, true
	}
	return refreshRef{}, false
}

// FindRefreshToken finds a presented refresh token in its family (see
// RefreshStore.GetRefreshToken); ErrNotFound for anything not ours.
func FindRefreshToken(ctx context.Context, s RefreshStore, token string) (RefreshToken, error) {
	ref, ok := parseRefresh(token)
	if !ok {
		return RefreshToken{}, ErrNotFound
	}
	return s.GetRefreshToken(ctx, ref.key, ref.hash)
}

// refreshToken is the token of family key with secret.
func refreshToken(key, secret []byte) string {
	return refreshPrefix + refreshEncoding.EncodeToString(append(key[:len(key):len(key)], secret...))
}

// newFamilyToken is the first token of a new family, started at now, and
// the family's key. The key begins with now in milliseconds, as a UUIDv7
// does, so that new rows land at the right edge of the key's index, which
// PostgreSQL appends to without a descent; 80 random bits follow. The
// family's ID is the key encrypted (keys.Secrets.FamilyID).
func newFamilyToken(now time.Time) (token string, key []byte) {
	b := make([]byte, familyKeyLen+refreshSecretLen)
	rand.Read(b[6:])
	ms := uint64(now.UnixMilli())
	b[0], b[1], b[2], b[3], b[4], b[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	return refreshToken(b[:familyKeyLen], b[familyKeyLen:]), b[:familyKeyLen]
}
