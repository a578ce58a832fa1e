package keys_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/bridgekeeper/bridgekeeper/broker/keys"
)

// memStore is an in-memory keys.Store.
type memStore struct {
	mu   sync.Mutex
	keys []keys.SigningKey
}

var errNotFound = errors.New("not found")

func (s *memStore) CreateKey(_ context.Context, k keys.SigningKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, have := range s.keys {
		if have.ID == k.ID {
			return errors.New("duplicate key id " + k.ID)
		}
	}
	k.Sealed = bytes.Clone(k.Sealed)
	s.keys = append(s.keys, k)
	return nil
}

// ListKeys returns the keys ordered by CreatedAt, then ID.
func (s *memStore) ListKeys(context.Context) ([]keys.SigningKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]keys.SigningKey, len(s.keys))
	for i, k := range s.keys {
		k.Sealed = bytes.Clone(k.Sealed)
		out[i] = k
	}
	slices.SortFunc(out, func(a, b keys.SigningKey) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

func (s *memStore) RetireKey(_ context.Context, id string, retiredAt, publishUntil time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.keys {
		if s.keys[i].ID == id && s.keys[i].RetiredAt.IsZero() {
			s.keys[i].RetiredAt, s.keys[i].PublishUntil = retiredAt, publishUntil
			return nil
		}
	}
	return errNotFound
}

// edit changes the stored keys in place (to corrupt them).
func (s *memStore) edit(f func([]keys.SigningKey) []keys.SigningKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = f(s.keys)
}

// clock is a settable time source for NewKeyring.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func newKeyring(t *testing.T, kekByte byte, alg string) (*keys.Keyring, *memStore, *clock) {
	t.Helper()
	store, clk := &memStore{}, &clock{t: t0}
	kr := keys.NewKeyring(store, newSecrets(t, kekByte), clk.Now)
	generated, err := kr.EnsureActive(context.Background(), alg)
	if err != nil || !generated {
		t.Fatalf("EnsureActive(%s) = %v, %v; want a generated key", alg, generated, err)
	}
	if kr.Active() == nil {
		t.Fatal("no active key after EnsureActive")
	}
	return kr, store, clk
}

type jwsHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

func header(t *testing.T, token string) jwsHeader {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if err != nil {
		t.Fatalf("header of %q: %v", token, err)
	}
	var h jwsHeader
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatalf("header %s: %v", raw, err)
	}
	return h
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// jwksKids are the key IDs the keyring publishes.
func jwksKids(t *testing.T, kr *keys.Keyring) []string {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(kr.JWKS(), &set); err != nil {
		t.Fatalf("JWKS %s: %v", kr.JWKS(), err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KeyID)
	}
	slices.Sort(kids)
	return kids
}

func TestKeyringVerify(t *testing.T) {
	ctx := context.Background()
	kr, store, _ := newKeyring(t, 1, "ES256")
	stored, _ := store.ListKeys(ctx)
	if len(stored) != 1 || stored[0].Alg != "ES256" || !stored[0].CreatedAt.Equal(t0) || !stored[0].RetiredAt.IsZero() {
		t.Fatalf("store holds %+v, want one active ES256 key created at %v", stored, t0)
	}
	kid := stored[0].ID
	if again, err := kr.EnsureActive(ctx, "ES256"); err != nil || again {
		t.Fatalf("second EnsureActive = %v, %v; want no new key", again, err)
	}
	if n, _ := store.ListKeys(ctx); len(n) != 1 {
		t.Fatalf("second EnsureActive left %d keys, want 1", len(n))
	}

	claims := map[string]any{"sub": "user-1", "jti": "jti-1", "client_id": "game", "exp": float64(t0.Unix() + 300)}
	token, err := kr.Sign(claims)
	if err != nil {
		t.Fatal(err)
	}
	if h := header(t, token); h != (jwsHeader{Alg: "ES256", Kid: kid, Typ: "at+jwt"}) {
		t.Fatalf("header %+v, want alg ES256, kid %s, typ at+jwt", h, kid)
	}

	t.Run("the untouched token verifies and gives back its claims", func(t *testing.T) {
		payload, err := kr.Verify(ctx, token)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := json.Unmarshal(payload, &got); err != nil || !reflect.DeepEqual(got, claims) {
			t.Fatalf("payload %s (%v), want %v", payload, err, claims)
		}
	})

	parts := strings.Split(token, ".")
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	flippedSig := parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(flip(sig, len(sig)/2))

	// The signature's last character carries padding bits that a lenient
	// decoder ignores: another spelling of the very same signature.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, parts[2][len(parts[2])-1])
	lenientSig := parts[2][:len(parts[2])-1] + string(alphabet[last^1])
	if same, err := base64.RawURLEncoding.DecodeString(lenientSig); err != nil || !bytes.Equal(same, sig) {
		t.Fatalf("test setup: %q does not decode to the same signature (%v)", lenientSig, err)
	}

	// The JSON serialization of the very same, valid JWS.
	parsed, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	jsonForm := parsed.FullSerialize()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(kr.JWKS(), &set); err != nil || len(set.Key(kid)) != 1 {
		t.Fatalf("JWKS %s lacks kid %s (%v)", kr.JWKS(), kid, err)
	}
	if js, err := jose.ParseSignedJSON(jsonForm, []jose.SignatureAlgorithm{jose.ES256}); err != nil {
		t.Fatalf("test setup: JSON form does not parse: %v", err)
	} else if _, err := js.Verify(set.Key(kid)[0].Key); err != nil {
		t.Fatalf("test setup: JSON form does not verify: %v", err)
	}

	idToken, err := kr.SignIDToken(claims)
	if err != nil {
		t.Fatal(err)
	}
	if h := header(t, idToken); h.Typ != "JWT" || h.Kid != kid {
		t.Fatalf("ID token header %+v, want typ JWT and kid %s", h, kid)
	}

	otherKR, _, _ := newKeyring(t, 2, "ES256")
	otherToken, err := otherKR.Sign(claims)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, token string
		why         string // what the error must say
	}{
		{"should fail because a signature byte is flipped", flippedSig, "signature"},
		{"should fail because the payload is changed", parts[0] + "." + b64(`{"sub":"admin"}`) + "." + parts[2], "signature"},
		{"should fail because the signature is spelled non-canonically", parts[0] + "." + parts[1] + "." + lenientSig, "canonical"},
		{"should fail because the header JSON is spelled differently", b64(`{"typ":"at+jwt","alg":"ES256","kid":"`+kid+`"}`) + "." + parts[1] + "." + parts[2], "canonical"},
		{"should fail because white space is appended", token + " ", "not a compact JWS"},
		{"should fail because a newline is appended", token + "\n", "not a compact JWS"},
		{"should fail because white space is prepended", " " + token, "not a compact JWS"},
		{"should fail because white space follows a dot", parts[0] + ". " + parts[1] + "." + parts[2], "not a compact JWS"},
		{"should fail because it is the JSON serialization", jsonForm, "not a compact JWS"},
		{"should fail because base64 padding is added", token + "==", "not a compact JWS"},
		{"should fail because it is an ID token (typ JWT)", idToken, "typ"},
		{"should fail because another keyring signed it (unknown kid)", otherToken, "unknown kid"},
		{"should fail because the alg does not match the key", b64(`{"alg":"RS256","kid":"`+kid+`","typ":"at+jwt"}`) + "." + parts[1] + "." + parts[2], "does not match"},
		{"should fail because the alg is none", b64(`{"alg":"none","kid":"`+kid+`","typ":"at+jwt"}`) + "." + parts[1] + "." + parts[2], "parse"},
		{"should fail because the token is empty", "", "not a compact JWS"},
		{"should fail because the token has 2 parts", parts[0] + "." + parts[1], "not a compact JWS"},
		{"should fail because the signature part is empty", parts[0] + "." + parts[1] + ".", "not a compact JWS"},
		{"should fail because the token has 4 parts", token + "." + parts[2], "not a compact JWS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			payload, err := kr.Verify(ctx, tc.token)
			if err == nil || payload != nil {
				t.Fatalf("Verify = %s, %v; want an error", payload, err)
			}
			if !strings.Contains(err.Error(), tc.why) {
				t.Fatalf("error %q, want one saying %q", err, tc.why)
			}
		})
	}
}

func TestKeyringAlgorithms(t *testing.T) {
	ctx := context.Background()
	if !reflect.DeepEqual(keys.SigningAlgs, []string{"ES256", "EdDSA", "RS256"}) {
		t.Errorf("SigningAlgs = %v", keys.SigningAlgs)
	}
	for _, alg := range []string{"ES256", "EdDSA", "RS256"} {
		t.Run(alg+" generates, signs and verifies", func(t *testing.T) {
			kr, store, _ := newKeyring(t, 1, alg)
			stored, _ := store.ListKeys(ctx)
			if len(stored) != 1 || stored[0].Alg != alg {
				t.Fatalf("store holds %+v, want one %s key", stored, alg)
			}
			token, err := kr.Sign(map[string]any{"sub": "u-" + alg})
			if err != nil {
				t.Fatal(err)
			}
			if h := header(t, token); h.Alg != alg || h.Kid != stored[0].ID || h.Typ != "at+jwt" {
				t.Fatalf("header %+v, want alg %s kid %s typ at+jwt", h, alg, stored[0].ID)
			}
			payload, err := kr.Verify(ctx, token)
			if err != nil || string(payload) != `{"sub":"u-`+alg+`"}` {
				t.Fatalf("Verify = %s, %v", payload, err)
			}
			var set jose.JSONWebKeySet
			if err := json.Unmarshal(kr.JWKS(), &set); err != nil || len(set.Keys) != 1 ||
				set.Keys[0].KeyID != stored[0].ID || set.Keys[0].Algorithm != alg || !set.Keys[0].IsPublic() {
				t.Fatalf("JWKS %s (%v), want the one public %s key", kr.JWKS(), err, alg)
			}
		})
	}
	for _, alg := range []string{"", "HS256", "none", "es256", "RS512", "ES384", "PS256"} {
		t.Run("should fail because the algorithm "+strconv.Quote(alg)+" is unknown", func(t *testing.T) {
			store := &memStore{}
			k, err := keys.GenerateKey(ctx, store, newSecrets(t, 1), alg, t0)
			if err == nil || k.ID != "" {
				t.Fatalf("GenerateKey(%q) = %+v, %v; want an error", alg, k, err)
			}
			if stored, _ := store.ListKeys(ctx); len(stored) != 0 {
				t.Fatalf("GenerateKey(%q) stored %+v", alg, stored)
			}
			kr := keys.NewKeyring(store, newSecrets(t, 1), (&clock{t: t0}).Now)
			if generated, err := kr.EnsureActive(ctx, alg); err == nil || generated || kr.Active() != nil {
				t.Fatalf("EnsureActive(%q) = %v, %v; want an error and no key", alg, generated, err)
			}
		})
	}
}

func TestKeyringRetiredKey(t *testing.T) {
	ctx := context.Background()
	store, clk, secrets := &memStore{}, &clock{t: t0}, newSecrets(t, 1)
	kr := keys.NewKeyring(store, secrets, clk.Now)
	a, err := keys.GenerateKey(ctx, store, secrets, "ES256", t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := kr.Load(ctx); err != nil {
		t.Fatal(err)
	}
	oldToken, err := kr.Sign(map[string]any{"sub": "u1"})
	if err != nil || header(t, oldToken).Kid != a.ID {
		t.Fatalf("Sign = %q, %v; want a token of kid %s", oldToken, err, a.ID)
	}

	// Rotate: B becomes active, A is retired and published for an hour.
	clk.Set(t0.Add(time.Minute))
	b, err := keys.GenerateKey(ctx, store, secrets, "EdDSA", clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	publishUntil := t0.Add(time.Hour)
	if err := store.RetireKey(ctx, a.ID, clk.Now(), publishUntil); err != nil {
		t.Fatal(err)
	}
	if err := kr.Load(ctx); err != nil {
		t.Fatal(err)
	}
	newToken, err := kr.Sign(map[string]any{"sub": "u2"})
	if err != nil || header(t, newToken).Kid != b.ID {
		t.Fatalf("after rotation Sign = %q, %v; want a token of kid %s", newToken, err, b.ID)
	}

	t.Run("a retired key still verifies while published", func(t *testing.T) {
		if p, err := kr.Verify(ctx, oldToken); err != nil || string(p) != `{"sub":"u1"}` {
			t.Fatalf("Verify(old) = %s, %v", p, err)
		}
		if want := sortedIDs(a.ID, b.ID); !reflect.DeepEqual(jwksKids(t, kr), want) {
			t.Fatalf("JWKS kids %v, want %v", jwksKids(t, kr), want)
		}
	})

	clk.Set(publishUntil.Add(-time.Second))
	if err := kr.Load(ctx); err != nil {
		t.Fatal(err)
	}
	t.Run("a retired key verifies up to its last published second", func(t *testing.T) {
		if _, err := kr.Verify(ctx, oldToken); err != nil {
			t.Fatalf("Verify(old) one second before PublishUntil: %v", err)
		}
	})

	clk.Set(publishUntil)
	if err := kr.Load(ctx); err != nil {
		t.Fatal(err)
	}
	t.Run("should fail because the retired key's PublishUntil has passed", func(t *testing.T) {
		if p, err := kr.Verify(ctx, oldToken); err == nil || !strings.Contains(err.Error(), "unknown kid") {
			t.Fatalf("Verify(old) = %s, %v; want unknown kid", p, err)
		}
		if want := []string{b.ID}; !reflect.DeepEqual(jwksKids(t, kr), want) {
			t.Fatalf("JWKS kids %v, want only the active %v", jwksKids(t, kr), want)
		}
	})
	t.Run("the active key still verifies", func(t *testing.T) {
		if p, err := kr.Verify(ctx, newToken); err != nil || string(p) != `{"sub":"u2"}` {
			t.Fatalf("Verify(new) = %s, %v", p, err)
		}
	})
	t.Run("should fail because the key is already retired", func(t *testing.T) {
		if err := store.RetireKey(ctx, a.ID, clk.Now(), clk.Now()); !errors.Is(err, errNotFound) {
			t.Fatalf("RetireKey(retired) = %v", err)
		}
	})
}

func sortedIDs(ids ...string) []string { slices.Sort(ids); return ids }

func TestKeyringWithoutActiveKey(t *testing.T) {
	ctx := context.Background()
	store, clk, secrets := &memStore{}, &clock{t: t0}, newSecrets(t, 1)
	kr := keys.NewKeyring(store, secrets, clk.Now)
	t.Run("should fail because nothing is loaded", func(t *testing.T) {
		if tok, err := kr.Sign(map[string]any{"sub": "u"}); err == nil || tok != "" {
			t.Fatalf("Sign = %q, %v; want an error", tok, err)
		}
		if tok, err := kr.SignIDToken(map[string]any{"sub": "u"}); err == nil || tok != "" {
			t.Fatalf("SignIDToken = %q, %v; want an error", tok, err)
		}
	})
	a, err := keys.GenerateKey(ctx, store, secrets, "ES256", t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := kr.Load(ctx); err != nil {
		t.Fatal(err)
	}
	token, err := kr.Sign(map[string]any{"sub": "u"})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.RetireKey(ctx, a.ID, t0, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := kr.Load(ctx); err != nil {
		t.Fatal(err)
	}
	t.Run("should fail because the only key is retired", func(t *testing.T) {
		if kr.Active() != nil {
			t.Fatal("a retired key is still active")
		}
		if tok, err := kr.Sign(map[string]any{"sub": "u"}); err == nil || tok != "" {
			t.Fatalf("Sign = %q, %v; want an error", tok, err)
		}
	})
	t.Run("its tokens still verify while it is published", func(t *testing.T) {
		if _, err := kr.Verify(ctx, token); err != nil {
			t.Fatal(err)
		}
	})
}

func TestKeyringReloadsUnknownKid(t *testing.T) {
	ctx := context.Background()
	store, clk, secrets := &memStore{}, &clock{t: t0}, newSecrets(t, 1)
	if _, err := keys.GenerateKey(ctx, store, secrets, "ES256", t0); err != nil {
		t.Fatal(err)
	}
	verifier := keys.NewKeyring(store, secrets, clk.Now)
	if err := verifier.Load(ctx); err != nil {
		t.Fatal(err)
	}
	// Another process rotates: a newer key signs.
	clk.Set(t0.Add(500 * time.Millisecond))
	b, err := keys.GenerateKey(ctx, store, secrets, "ES256", clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	signer := keys.NewKeyring(store, secrets, clk.Now)
	if err := signer.Load(ctx); err != nil {
		t.Fatal(err)
	}
	token, err := signer.Sign(map[string]any{"sub": "u"})
	if err != nil || header(t, token).Kid != b.ID {
		t.Fatalf("Sign = %q, %v; want the newest key %s to sign", token, err, b.ID)
	}
	t.Run("should fail because the keyring was loaded less than a second ago", func(t *testing.T) {
		if _, err := verifier.Verify(ctx, token); err == nil || !strings.Contains(err.Error(), "unknown kid") {
			t.Fatalf("Verify = %v; want unknown kid", err)
		}
	})
	clk.Set(t0.Add(2 * time.Second))
	t.Run("an unknown kid reloads a stale keyring", func(t *testing.T) {
		if p, err := verifier.Verify(ctx, token); err != nil || string(p) != `{"sub":"u"}` {
			t.Fatalf("Verify = %s, %v", p, err)
		}
	})
}

func TestKeyringLoadRefusals(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		secrets byte // the KEK the keyring loads with
		corrupt func([]keys.SigningKey) []keys.SigningKey
	}{
		{"should fail because the KEK is another", 2, nil},
		{"should fail because a sealed byte is flipped", 1, func(ks []keys.SigningKey) []keys.SigningKey {
			ks[0].Sealed = flip(ks[0].Sealed, len(ks[0].Sealed)/2)
			return ks
		}},
		{"should fail because the sealed key is moved to another kid", 1, func(ks []keys.SigningKey) []keys.SigningKey {
			ks[0].ID += "x"
			return ks
		}},
		{"should fail because the sealed key is relabelled another alg", 1, func(ks []keys.SigningKey) []keys.SigningKey {
			ks[0].Alg = "RS256"
			return ks
		}},
		{"should fail because a retired, still published key is relabelled another alg", 1, func(ks []keys.SigningKey) []keys.SigningKey {
			ks[0].RetiredAt, ks[0].PublishUntil, ks[0].Alg = t0, t0.Add(time.Hour), "EdDSA"
			return ks
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := &memStore{}
			if _, err := keys.GenerateKey(ctx, store, newSecrets(t, 1), "ES256", t0); err != nil {
				t.Fatal(err)
			}
			if tc.corrupt != nil {
				store.edit(tc.corrupt)
			}
			kr := keys.NewKeyring(store, newSecrets(t, tc.secrets), (&clock{t: t0}).Now)
			if err := kr.Load(ctx); err == nil {
				t.Fatal("Load succeeded")
			}
			if kr.Active() != nil {
				t.Fatal("a key is active after a failed Load")
			}
		})
	}
}

// A key made ahead of time (scheduled rotation) is published at once but
// signs only from its activation; the key it replaces signs until then and
// stays published after.
func TestKeyringScheduledKey(t *testing.T) {
	ctx := context.Background()
	kr, store, clk := newKeyring(t, 1, "ES256")
	old, err := store.ListKeys(ctx)
	if err != nil || len(old) != 1 {
		t.Fatalf("ListKeys = %v, %v", old, err)
	}
	switchAt := t0.Add(time.Hour)
	b, err := keys.GenerateNextKey(ctx, store, newSecrets(t, 1), "EdDSA", t0, switchAt)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.RetireKey(ctx, old[0].ID, switchAt, switchAt.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	signer := func(at time.Time) string {
		t.Helper()
		clk.Set(at)
		if err := kr.Load(ctx); err != nil {
			t.Fatal(err)
		}
		tok, err := kr.Sign(map[string]any{"sub": "u"})
		if err != nil {
			t.Fatalf("Sign at %s: %v", at, err)
		}
		return header(t, tok).Kid
	}
	for _, tc := range []struct {
		name     string
		at       time.Time
		signer   string
		jwksKids []string
	}{
		{"the next key is published before it signs", t0, old[0].ID, sortedIDs(old[0].ID, b.ID)},
		{"the old key signs up to its retirement", switchAt.Add(-time.Millisecond), old[0].ID, sortedIDs(old[0].ID, b.ID)},
		{"the next key signs from its activation", switchAt, b.ID, sortedIDs(old[0].ID, b.ID)},
		{"the old key stays published until PublishUntil", switchAt.Add(time.Hour - time.Millisecond), b.ID, sortedIDs(old[0].ID, b.ID)},
		{"the old key is dropped after PublishUntil", switchAt.Add(time.Hour), b.ID, []string{b.ID}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := signer(tc.at); got != tc.signer {
				t.Errorf("signed with %s, want %s (old %s, next %s)", got, tc.signer, old[0].ID, b.ID)
			}
			if got := jwksKids(t, kr); !reflect.DeepEqual(got, tc.jwksKids) {
				t.Errorf("JWKS kids %v, want %v", got, tc.jwksKids)
			}
		})
	}
	t.Run("SignsAt", func(t *testing.T) {
		if b.SignsAt(switchAt.Add(-time.Nanosecond)) || !b.SignsAt(switchAt) {
			t.Errorf("next key SignsAt around %s wrong: %+v", switchAt, b)
		}
	})
}
