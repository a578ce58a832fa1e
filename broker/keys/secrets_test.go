package keys_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/bridgekeeper/bridgekeeper/broker/keys"
)

func kek(b byte) []byte { return bytes.Repeat([]byte{b}, keys.KEKSize) }

func newSecrets(t *testing.T, b byte) *keys.Secrets {
	t.Helper()
	s, err := keys.NewSecrets(kek(b))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// flip returns a copy of b with byte i changed.
func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}

func TestNewSecrets(t *testing.T) {
	for _, tc := range []struct {
		name    string
		kek     []byte
		wantErr bool
	}{
		{"accepts a KEK of KEKSize bytes", make([]byte, 32), false},
		{"should fail because the KEK is nil", nil, true},
		{"should fail because the KEK is empty", []byte{}, true},
		{"should fail because the KEK is one byte short", make([]byte, 31), true},
		{"should fail because the KEK is one byte long", make([]byte, 33), true},
		{"should fail because the KEK is an AES-128 key", make([]byte, 16), true},
		{"should fail because the KEK is twice the size", make([]byte, 64), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := keys.NewSecrets(tc.kek)
			switch {
			case tc.wantErr && (err == nil || s != nil):
				t.Fatalf("NewSecrets(%d bytes) = %v, %v; want an error", len(tc.kek), s, err)
			case !tc.wantErr && (err != nil || s == nil):
				t.Fatalf("NewSecrets(%d bytes) = %v, %v; want secrets", len(tc.kek), s, err)
			}
		})
	}
	if keys.KEKSize != 32 {
		t.Errorf("KEKSize = %d, want 32 (AES-256)", keys.KEKSize)
	}
}

func TestSealOpen(t *testing.T) {
	s1, s1again, s2 := newSecrets(t, 1), newSecrets(t, 1), newSecrets(t, 2)
	plaintext := []byte("a PKCS#8 private key, in DER")
	aad := []byte("bridgekeeper signing key kid-1 ES256")
	sealed := s1.Seal(plaintext, aad)

	t.Run("opens under the same KEK and AAD", func(t *testing.T) {
		for name, s := range map[string]*keys.Secrets{"same Secrets": s1, "Secrets rebuilt from the KEK": s1again} {
			got, err := s.Open(sealed, aad)
			if err != nil || !bytes.Equal(got, plaintext) {
				t.Errorf("%s: Open = %q, %v; want %q", name, got, err, plaintext)
			}
		}
	})
	t.Run("hides the plaintext and never repeats", func(t *testing.T) {
		if bytes.Contains(sealed, plaintext) {
			t.Errorf("sealed value %x holds the plaintext", sealed)
		}
		if again := s1.Seal(plaintext, aad); bytes.Equal(again, sealed) {
			t.Errorf("sealing twice gave the same value %x: the nonce is not random", sealed)
		}
		if len(sealed) <= len(plaintext) {
			t.Errorf("sealed value is %d bytes for a %d-byte plaintext: no nonce or tag", len(sealed), len(plaintext))
		}
	})

	for _, tc := range []struct {
		name   string
		s      *keys.Secrets
		sealed []byte
		aad    []byte
	}{
		{"should fail because the KEK is another", s2, sealed, aad},
		{"should fail because the AAD is another", s1, sealed, []byte("bridgekeeper signing key kid-2 ES256")},
		{"should fail because the AAD is missing", s1, sealed, nil},
		{"should fail because a nonce byte is flipped", s1, flip(sealed, 0), aad},
		{"should fail because a ciphertext byte is flipped", s1, flip(sealed, 12), aad},
		{"should fail because a tag byte is flipped", s1, flip(sealed, len(sealed)-1), aad},
		{"should fail because the value is truncated", s1, sealed[:len(sealed)-1], aad},
		{"should fail because the value is shorter than a nonce", s1, sealed[:5], aad},
		{"should fail because the value is empty", s1, nil, aad},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.s.Open(tc.sealed, tc.aad)
			if err == nil || got != nil {
				t.Fatalf("Open = %q, %v; want an error", got, err)
			}
		})
	}
	t.Run("should fail because any one byte is flipped", func(t *testing.T) {
		for i := range sealed {
			if got, err := s1.Open(flip(sealed, i), aad); err == nil {
				t.Errorf("byte %d flipped: Open = %q, want an error", i, got)
			}
		}
	})
}

func TestClientSecret(t *testing.T) {
	s1, s1again, s2 := newSecrets(t, 1), newSecrets(t, 1), newSecrets(t, 2)
	const secret = "cs_Vq3nH0b7YvF1sXo2lQk9Jm4Rt8WzEuPa"
	hash := s1.HashClientSecret(secret)
	if len(hash) != 32 {
		t.Fatalf("hash is %d bytes, want 32 (HMAC-SHA-256)", len(hash))
	}
	if bytes.Contains(hash, []byte(secret)) {
		t.Fatalf("hash %x holds the secret", hash)
	}

	t.Run("the right secret passes", func(t *testing.T) {
		if !s1.CheckClientSecret(secret, hash) {
			t.Error("CheckClientSecret refused the right secret")
		}
		if !s1again.CheckClientSecret(secret, hash) {
			t.Error("CheckClientSecret refused the right secret after a restart (same KEK)")
		}
	})
	for _, tc := range []struct {
		name   string
		s      *keys.Secrets
		secret string
		hash   []byte
	}{
		{"should fail because the secret is wrong", s1, "cs_wrong", hash},
		{"should fail because the secret has one more character", s1, secret + "x", hash},
		{"should fail because the secret lacks its last character", s1, secret[:len(secret)-1], hash},
		{"should fail because the secret differs in case", s1, strings.ToUpper(secret), hash},
		{"should fail because the secret is empty", s1, "", hash},
		{"should fail because the hash was made under another KEK", s1, secret, s2.HashClientSecret(secret)},
		{"should fail because the check runs under another KEK", s2, secret, hash},
		{"should fail because the hash is truncated", s1, secret, hash[:len(hash)-1]},
		{"should fail because a hash byte is flipped", s1, secret, flip(hash, 7)},
		{"should fail because the hash is empty", s1, secret, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.s.CheckClientSecret(tc.secret, tc.hash) {
				t.Fatalf("CheckClientSecret(%q, %x) passed", tc.secret, tc.hash)
			}
		})
	}
}

func TestSuccessorAndDerive(t *testing.T) {
	s1, s1again, s2 := newSecrets(t, 1), newSecrets(t, 1), newSecrets(t, 2)
	const tok, other = "rt_first-refresh-token", "rt_second-refresh-token"
	const id = "0b6f2c3e-authz-request"

	t.Run("Successor is a 32-byte secret", func(t *testing.T) {
		if got := s1.Successor(tok); len(got) != 32 {
			t.Fatalf("Successor = %x (%d bytes); want 32", got, len(got))
		}
	})
	t.Run("Derive is 32 base64url bytes", func(t *testing.T) {
		got := s1.Derive("nonce", id)
		if raw, err := base64.RawURLEncoding.DecodeString(got); err != nil || len(raw) != 32 {
			t.Fatalf("Derive = %q (%d bytes, %v)", got, len(raw), err)
		}
	})

	for _, tc := range []struct {
		name string
		a, b string
		same bool
	}{
		{"Successor is deterministic", succ(s1, tok), succ(s1, tok), true},
		{"Successor is the same after a restart (same KEK)", succ(s1, tok), succ(s1again, tok), true},
		{"should differ because the KEK is another (Successor)", succ(s1, tok), succ(s2, tok), false},
		{"should differ because the token is another (Successor)", succ(s1, tok), succ(s1, other), false},
		{"Derive is deterministic", s1.Derive("nonce", id), s1.Derive("nonce", id), true},
		{"Derive is the same after a restart (same KEK)", s1.Derive("nonce", id), s1again.Derive("nonce", id), true},
		{"should differ because the KEK is another (Derive)", s1.Derive("nonce", id), s2.Derive("nonce", id), false},
		{"should differ because the purpose is another", s1.Derive("nonce", id), s1.Derive("pkce", id), false},
		{"should differ because the purpose is another, under KEK 2", s2.Derive("nonce", id), s2.Derive("pkce", id), false},
		{"should differ because the id is another", s1.Derive("nonce", id), s1.Derive("nonce", id+"x"), false},
		{"should differ because the purpose/id split is another", s1.Derive("nonce", "pkce"), s1.Derive("noncepkce", ""), false},
		// Derive MACs purpose+"\x00"+id: the same message under the other
		// uses' keys must give other values.
		{"should differ because successors and derived values use separate keys", succ(s1, "nonce\x00"+id), s1.Derive("nonce", id), false},
		{"should differ because client-secret hashes and derived values use separate keys", base64.RawURLEncoding.EncodeToString(s1.HashClientSecret("nonce\x00" + id)), s1.Derive("nonce", id), false},
		{"should differ because successors and client-secret hashes use separate keys", succ(s1, tok), base64.RawURLEncoding.EncodeToString(s1.HashClientSecret(tok)), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if (tc.a == tc.b) != tc.same {
				t.Fatalf("%q vs %q: equal = %v, want %v", tc.a, tc.b, tc.a == tc.b, tc.same)
			}
		})
	}
}

// newKeyring is a keyring over a fresh store, with one active key of alg.

// succ is Successor in base64url, as Derive answers.
func succ(s *keys.Secrets, token string) string {
	return base64.RawURLEncoding.EncodeToString(s.Successor(token))
}

// TestFamilyID: a family's ID leads the broker back to its row key, and
// shows nobody else the key: a refresh token carrying a family's key is
// taken for one of its tokens, so the key must not be read off an access
// token's sid.
func TestFamilyID(t *testing.T) {
	s, other := newSecrets(t, 1), newSecrets(t, 2)
	key := []byte("0123456789abcdef")
	id := s.FamilyID(key)
	if got := s.FamilyKey(id); !bytes.Equal(got, key) {
		t.Fatalf("FamilyKey(FamilyID(%x)) = %x, want the key back", key, got)
	}
	if strings.Contains(strings.ReplaceAll(id, "-", ""), fmt.Sprintf("%x", key)) {
		t.Errorf("FamilyID(%x) = %s spells the key", key, id)
	}
	if again := s.FamilyID(key); again != id {
		t.Errorf("FamilyID is not stable: %s, then %s", id, again)
	}
	if got := other.FamilyKey(id); bytes.Equal(got, key) {
		t.Errorf("another KEK reads the same key from %s", id)
	}
	for _, c := range []struct{ id, because string }{
		{strings.ToUpper(id), "upper case is another spelling of the ID"},
		{"urn:uuid:" + id, "a URN is another spelling of the ID"},
		{"family-1", "not a UUID"},
		{"", "empty"},
	} {
		if got := s.FamilyKey(c.id); got != nil {
			t.Errorf("FamilyKey(%q) = %x, want nil because %s", c.id, got, c.because)
		}
	}
}
