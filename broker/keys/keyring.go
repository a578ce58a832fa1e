package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Store keeps signing keys.
type Store interface {
	CreateKey(ctx context.Context, k SigningKey) error
	ListKeys(ctx context.Context) ([]SigningKey, error)                                // ordered by CreatedAt, then ID
	RetireKey(ctx context.Context, id string, retiredAt, publishUntil time.Time) error // ErrNotFound if absent or already retired
}

// SigningKey is a JWS signing key; the private key is sealed (AES-256-GCM)
// under the key-encryption key and never stored in clear.
type SigningKey struct {
	ID           string // the JWS kid
	Alg          string // ES256 | EdDSA | RS256
	Sealed       []byte
	CreatedAt    time.Time
	RetiredAt    time.Time // zero while active; a later time: active until then
	PublishUntil time.Time // zero while active; JWKS drops the key after this
	// ActivatesAt is when a key made ahead of time (scheduled rotation)
	// starts signing; until then it is only published, so that relying
	// parties that cache JWKS know it before they see a token it signed.
	// Zero: from CreatedAt.
	ActivatesAt time.Time
}

// SignsFrom is when k starts signing.
func (k SigningKey) SignsFrom() time.Time {
	if k.ActivatesAt.IsZero() {
		return k.CreatedAt
	}
	return k.ActivatesAt
}

// SignsAt reports whether k may sign at now: activated and not yet retired.
func (k SigningKey) SignsAt(now time.Time) bool {
	return !k.SignsFrom().After(now) && (k.RetiredAt.IsZero() || k.RetiredAt.After(now))
}

// randomID is a key ID: 128 random bits, base64url.
func randomID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Signing algorithms the broker can sign with.
var SigningAlgs = []string{"ES256", "EdDSA", "RS256"}

var joseAlgs = []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256}

// signingKey is an unsealed key ready to sign: access tokens carry
// typ at+jwt (RFC 9068 §2.1), ID tokens the plain JWT type, so that one can
// never be passed off as the other.
type signingKey struct {
	id       string
	alg      jose.SignatureAlgorithm
	signer   compactSigner
	idSigner compactSigner
}

type publicKey struct {
	alg          jose.SignatureAlgorithm
	key          crypto.PublicKey
	publishUntil time.Time // zero while active
}

// Keyring holds the signing keys: the active one that signs, and retired ones
// that still verify (and stay in JWKS) until every token they signed expired.
// It is reloaded from the store so that a `key rotate` run by another process
// takes effect without a restart.
type Keyring struct {
	store   Store
	secrets *Secrets
	now     func() time.Time

	mu       sync.RWMutex
	active   *signingKey
	verify   map[string]publicKey
	jwks     []byte
	algs     []string // of the published keys, each once, in key order
	loadedAt time.Time
}

// NewKeyring returns an empty keyring; call Load (or EnsureActive) before use.
func NewKeyring(store Store, secrets *Secrets, now func() time.Time) *Keyring {
	return &Keyring{store: store, secrets: secrets, now: now, verify: map[string]publicKey{}}
}

// GenerateKey makes a new signing key of alg and stores it sealed. Callers
// that replace an active key use Rotate.
func GenerateKey(ctx context.Context, store Store, secrets *Secrets, alg string, now time.Time) (SigningKey, error) {
	return GenerateNextKey(ctx, store, secrets, alg, now, time.Time{})
}

// GenerateNextKey is GenerateKey for a key that is published from now but
// signs only from activatesAt (zero: from now).
func GenerateNextKey(ctx context.Context, store Store, secrets *Secrets, alg string, now, activatesAt time.Time) (SigningKey, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "EdDSA":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case "RS256":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		return SigningKey{}, fmt.Errorf("signing algorithm %q is not one of %v", alg, SigningAlgs)
	}
	if err != nil {
		return SigningKey{}, fmt.Errorf("generate %s key: %w", alg, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return SigningKey{}, fmt.Errorf("encode %s key: %w", alg, err)
	}
	k := SigningKey{ID: randomID(), Alg: alg, CreatedAt: now, ActivatesAt: activatesAt}
	k.Sealed = secrets.Seal(der, keyAAD(k.ID, alg))
	if err := store.CreateKey(ctx, k); err != nil {
		return SigningKey{}, fmt.Errorf("store signing key: %w", err)
	}
	return k, nil
}

func keyAAD(id, alg string) []byte { return []byte("bridgekeeper signing key " + id + " " + alg) }

// Load reads every published key from the store and makes the newest one
// that signs now active. A key made ahead of time becomes active, and the
// key it replaces retired, at the first Load after its activation time
// (serve loads every second).
func (k *Keyring) Load(ctx context.Context) error {
	keys, err := k.store.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("load signing keys: %w", err)
	}
	now := k.now()
	verify := make(map[string]publicKey, len(keys))
	var active *signingKey
	set := jose.JSONWebKeySet{}
	var algs []string
	for _, sk := range keys {
		if !sk.RetiredAt.IsZero() && !sk.PublishUntil.After(now) {
			continue
		}
		der, err := k.secrets.Open(sk.Sealed, keyAAD(sk.ID, sk.Alg))
		if err != nil {
			return fmt.Errorf("signing key %s: %w", sk.ID, err)
		}
		priv, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			return fmt.Errorf("signing key %s: %w", sk.ID, err)
		}
		signer, ok := priv.(crypto.Signer)
		if !ok {
			return fmt.Errorf("signing key %s: not a signer", sk.ID)
		}
		alg := jose.SignatureAlgorithm(sk.Alg)
		pub := signer.Public()
		verify[sk.ID] = publicKey{alg: alg, key: pub, publishUntil: sk.PublishUntil}
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: pub, KeyID: sk.ID, Algorithm: sk.Alg, Use: "sig"})
		if !slices.Contains(algs, sk.Alg) {
			algs = append(algs, sk.Alg)
		}
		if sk.SignsAt(now) {
			js, err := newCompactSigner(alg, sk.ID, "at+jwt", signer)
			if err != nil {
				return fmt.Errorf("signing key %s: %w", sk.ID, err)
			}
			ids, err := newCompactSigner(alg, sk.ID, "JWT", signer)
			if err != nil {
				return fmt.Errorf("signing key %s: %w", sk.ID, err)
			}
			active = &signingKey{id: sk.ID, alg: alg, signer: js, idSigner: ids} // newest unretired wins: keys are ordered
		}
	}
	jwks, err := json.Marshal(set)
	if err != nil {
		return fmt.Errorf("encode JWKS: %w", err)
	}
	k.mu.Lock()
	k.active, k.verify, k.jwks, k.algs, k.loadedAt = active, verify, jwks, algs, now
	k.mu.Unlock()
	return nil
}

// EnsureActive loads the keys and generates one of alg if none is active:
// the broker's first start.
func (k *Keyring) EnsureActive(ctx context.Context, alg string) (generated bool, err error) {
	if err := k.Load(ctx); err != nil {
		return false, err
	}
	if k.Active() != nil {
		return false, nil
	}
	if _, err := GenerateKey(ctx, k.store, k.secrets, alg, k.now()); err != nil {
		return false, err
	}
	return true, k.Load(ctx)
}

// Active returns the signing key, or nil before one exists.
func (k *Keyring) Active() *signingKey {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.active
}

// JWKS is the RFC 7517 key set of every published key.
func (k *Keyring) JWKS() []byte {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.jwks
}

// Algs are the algorithms of the published keys: what tokens of this
// broker may be signed with, and all discovery may promise.
func (k *Keyring) Algs() []string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.algs
}

func (k *Keyring) publicKey(kid string) (publicKey, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	pk, ok := k.verify[kid]
	return pk, ok
}

// lookup finds a verification key, reloading once if the kid is unknown (a key
// rotated by another process) but not more than once a second.
func (k *Keyring) lookup(ctx context.Context, kid string) (publicKey, bool) {
	if pk, ok := k.publicKey(kid); ok {
		return pk, true
	}
	k.mu.RLock()
	stale := k.now().Sub(k.loadedAt) > time.Second
	k.mu.RUnlock()
	if stale && k.Load(ctx) == nil {
		return k.publicKey(kid)
	}
	return publicKey{}, false
}
