package broker

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

func TestParseRefresh(t *testing.T) {
	now := time.Date(2026, 12, 6, 17, 30, 0, 0, time.UTC)
	fresh, key := newFamilyToken(now)
	if len(key) != familyKeyLen || !strings.HasPrefix(fresh, refreshPrefix) {
		t.Fatalf("newFamilyToken = %q, key %x", fresh, key)
	}
	// The key starts with the family's start in milliseconds.
	if ms := int64(key[0])<<40 | int64(key[1])<<32 | int64(key[2])<<24 | int64(key[3])<<16 | int64(key[4])<<8 | int64(key[5]); ms != now.UnixMilli() {
		t.Errorf("key starts with %d, want %d", ms, now.UnixMilli())
	}
	if again, _ := newFamilyToken(now); again == fresh {
		t.Error("two families started at once got one token")
	}
	legacy := NewOpaqueToken(refreshPrefix) // a token from before rotation in place
	olderRow := TokenHash(legacy)
	ofOlderRow := refreshToken(olderRow, bytes.Repeat([]byte{7}, refreshSecretLen))

	for _, tc := range []struct {
		name, token string
		key         []byte
	}{
		{"a new family's token names its key", fresh, key},
		{"a token from before rotation in place is keyed by its hash", legacy, TokenHash(legacy)},
		{"the successor of such a token names the older row", ofOlderRow, olderRow},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref, ok := parseRefresh(tc.token)
			if !ok || !bytes.Equal(ref.key, tc.key) || !bytes.Equal(ref.hash, TokenHash(tc.token)) {
				t.Fatalf("parseRefresh(%q) = %x, %x, %v; want key %x", tc.token, ref.key, ref.hash, ok, tc.key)
			}
		})
	}

	raw := strings.TrimPrefix(fresh, refreshPrefix)
	// 32 bytes leave 2 bits of the last character unused: they must be 0.
	old := strings.TrimPrefix(legacy, refreshPrefix)
	for _, tc := range []struct{ name, token string }{
		{"should fail because it is empty", ""},
		{"should fail because the prefix is missing", raw},
		{"should fail because the prefix is another", "at_" + raw},
		{"should fail because it is not base64url", refreshPrefix + strings.Repeat("*", len(raw))},
		{"should fail because it is padded", refreshPrefix + base64.URLEncoding.EncodeToString(make([]byte, 47))},
		{"should fail because it is too short for a key and a secret", refreshPrefix + base64.RawURLEncoding.EncodeToString(make([]byte, 40))},
		{"should fail because it is too long", refreshPrefix + base64.RawURLEncoding.EncodeToString(make([]byte, 96))},
		{"should fail because it is not the canonical spelling", refreshPrefix + old[:len(old)-1] + nonCanonical(old[len(old)-1:])},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if ref, ok := parseRefresh(tc.token); ok {
				t.Fatalf("parseRefresh(%q) = %x, %x; want refused", tc.token, ref.key, ref.hash)
			}
		})
	}
}

// nonCanonical is another spelling of a final base64url character whose
// two low bits are unused: the same bits, the lowest set.
func nonCanonical(c string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	return string(alphabet[strings.Index(alphabet, c)|1])
}
