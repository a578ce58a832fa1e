package dpop

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

const (
	// DefaultWindow is how far a proof's iat may be from now when Config
	// leaves Window zero. RFC 9449 leaves it to the server; a minute
	// tolerates ordinary clock skew without keeping proofs alive for long.
	DefaultWindow = 60 * time.Second

	// MaxProofSize is the longest DPoP header read at all. A proof holds one
	// public key and a handful of short claims; 8 KB fits a 4096-bit RSA key
	// with room to spare, and refusing earlier keeps parsing cheap.
	MaxProofSize = 8 << 10

	// maxJTI bounds the jti, which becomes part of a database key. It counts
	// bytes, not runes, because the database's limit does.
	maxJTI = 256

	// minRSABits refuses RSA keys too short to be trusted with binding a
	// token; 4096 as the ceiling is go-jose's own (MaxRSAModulusBits).
	minRSABits = 2048

	// replayGrace keeps a spent jti remembered a little past the last moment
	// its proof could pass, so that replicas whose clocks disagree by less
	// than this still all refuse it.
	replayGrace = time.Minute

	proofType = "dpop+jwt"
	field     = "DPoP"
)

// Replay records that a key (a proof's jti under its key) was used; first
// is false when it was seen before. Implemented elsewhere by the database,
// so that it holds across broker replicas.
type Replay interface {
	UseOnce(ctx context.Context, key string, until time.Time) (first bool, err error)
}

// Proof is a verified DPoP proof.
type Proof struct {
	// JKT is the RFC 7638 JWK SHA-256 thumbprint of the proof's key,
	// base64url without padding: the cnf.jkt a token is bound to.
	JKT      string
	JTI      string
	IssuedAt time.Time
	// Once is the proof's replay record: its jti under its key, and how
	// long it must be remembered. Verify has spent it; Check leaves it to
	// the caller.
	Once broker.Once
}

// Config configures a Verifier; zero fields take their defaults, except
// Replay, which has none.
type Config struct {
	// Algs are the JWS algs a proof may be signed with; empty means
	// DefaultAlgs(). "none" and the HMAC algs are refused by New even if
	// listed: a DPoP key must be one the client alone holds.
	Algs []string
	// Window is how far iat may be from now, either way; zero means
	// DefaultWindow.
	Window time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Replay spends each proof's jti once. Required.
	Replay Replay
}

// Verifier checks DPoP proofs. It holds no state of its own beyond its
// configuration, so one is safe for concurrent use.
type Verifier struct {
	algs   []string
	jose   []jose.SignatureAlgorithm
	window time.Duration
	now    func() time.Time
	replay Replay
}

// DefaultAlgs are the algs allowed when Config lists none: every asymmetric
// JWS alg go-jose verifies. It is a function so that no caller can change
// another's default.
func DefaultAlgs() []string {
	return []string{"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"}
}

// asymmetric reports whether alg is one New accepts: a signature that only
// the holder of a private key can make, and that go-jose can check. ML-DSA
// is left out until the toolchain go-jose needs for it is the one we build
// with.
func asymmetric(alg string) bool {
	return slices.Contains(DefaultAlgs(), alg)
}

// New builds a Verifier, refusing a configuration that would let a proof
// through unsigned or signed with a shared secret.
func New(cfg Config) (*Verifier, error) {
	if cfg.Replay == nil {
		return nil, errors.New("dpop: Config.Replay is required: without it a proof could be replayed")
	}
	if cfg.Window < 0 {
		return nil, fmt.Errorf("dpop: Config.Window %v is negative", cfg.Window)
	}
	v := &Verifier{window: cfg.Window, now: cfg.Now, replay: cfg.Replay}
	if v.window == 0 {
		v.window = DefaultWindow
	}
	if v.now == nil {
		v.now = time.Now
	}
	algs := cfg.Algs
	if len(algs) == 0 {
		algs = DefaultAlgs()
	}
	for _, alg := range algs {
		switch {
		case strings.EqualFold(alg, "none"):
			return nil, errors.New("dpop: alg none is never allowed")
		case strings.HasPrefix(strings.ToUpper(alg), "HS"):
			return nil, fmt.Errorf("dpop: HMAC alg %q is never allowed: a DPoP key must be a public key", alg)
		case !asymmetric(alg):
			return nil, fmt.Errorf("dpop: alg %q is not supported", alg)
		}
		if !slices.Contains(v.algs, alg) {
			v.algs = append(v.algs, alg)
			v.jose = append(v.jose, jose.SignatureAlgorithm(alg))
		}
	}
	return v, nil
}

// Algs lists the allowed algs (for discovery's
// dpop_signing_alg_values_supported).
func (v *Verifier) Algs() []string {
	return slices.Clone(v.algs)
}

// Thumbprint is the RFC 7638 SHA-256 thumbprint (base64url, unpadded) of a
// public JWK, for tests and callers. A private key gives its public half's.
func Thumbprint(k jose.JSONWebKey) (string, error) {
	sum, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("dpop: thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sum), nil
}

// refuse is a refusal the caller sees; reason must never quote the proof,
// which is the client's credential.
func refuse(reason string) error {
	return broker.Invalid(field, reason)
}

// header is the protected header as read before go-jose parses the proof,
// only to say precisely why a proof is refused: go-jose's own errors lump
// a private key, a missing alg and a bad signature together.
type header struct {
	Typ *string         `json:"typ"`
	Alg string          `json:"alg"`
	JWK json.RawMessage `json:"jwk"`
}

type claims struct {
	JTI *string  `json:"jti"`
	HTM *string  `json:"htm"`
	HTU *string  `json:"htu"`
	IAT *float64 `json:"iat"`
	ATH *string  `json:"ath"`
}

// Verify checks proof (the DPoP header's value) for an HTTP request with
// method and url (the absolute URL the server is reached at), and spends
// its jti. accessToken is "" at the token endpoint; when non-empty (a
// protected resource call) the proof's ath claim must equal
// base64url(SHA-256(accessToken)).
//
// A refusal is a *broker.Error of kind invalid. Any other error (the
// Replay's, or a url the caller should never have passed) is not the
// client's fault.
func (v *Verifier) Verify(ctx context.Context, proof, method, url, accessToken string) (Proof, error) {
	p, err := v.Check(proof, method, url, accessToken)
	if err != nil {
		return Proof{}, err
	}
	if err := v.Spend(ctx, p.Once); err != nil {
		return Proof{}, err
	}
	return p, nil
}

// Check is Verify without spending the jti: the caller must spend
// Proof.Once, with Spend or in the same write that issues its token (a
// refresh rotation does), before it acts on the proof. That saves a round
// trip to the store per request.
func (v *Verifier) Check(proof, method, url, accessToken string) (Proof, error) {
	want, err := normalURL(url)
	if err != nil {
		return Proof{}, fmt.Errorf("dpop: the request URL: %w", err)
	}
	if err := checkShape(proof); err != nil {
		return Proof{}, err
	}
	jws, err := jose.ParseSignedCompact(proof, v.jose)
	if err != nil {
		// go-jose's errors lump a private key, a missing alg and a
		// malformed header together; the header, read again, says which.
		if err := v.checkHeader(proof); err != nil {
			return Proof{}, err
		}
		return Proof{}, refuse("the DPoP proof is not a valid JWS")
	}
	if len(jws.Signatures) != 1 {
		return Proof{}, refuse("the DPoP proof does not have exactly one signature")
	}
	// go-jose's reading of the header is the one checked: it is what the
	// signature is verified against, so no second JSON parser can see
	// another header (duplicate names, say).
	h := jws.Signatures[0].Protected
	typ, hasTyp := h.ExtraHeaders[jose.HeaderType]
	switch {
	case !hasTyp:
		return Proof{}, refuse("the DPoP proof has no typ header")
	case typ != proofType:
		return Proof{}, refuse("the DPoP proof's typ is not " + proofType)
	case h.JSONWebKey == nil:
		return Proof{}, refuse("the DPoP proof has no jwk header")
	}
	if err := checkKey(h.JSONWebKey); err != nil {
		return Proof{}, err
	}
	payload, err := jws.Verify(h.JSONWebKey)
	if err != nil {
		return Proof{}, refuse("the DPoP proof's signature does not verify with its jwk")
	}
	jkt, err := Thumbprint(*h.JSONWebKey)
	if err != nil {
		return Proof{}, refuse("the DPoP proof's jwk has no thumbprint")
	}

	var c claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return Proof{}, refuse("the DPoP proof's claims are not a valid JSON object")
	}
	iat, err := v.checkClaims(c, method, want, accessToken)
	if err != nil {
		return Proof{}, err
	}
	return Proof{JKT: jkt, JTI: *c.JTI, IssuedAt: iat,
		Once: broker.Once{Key: jkt + ":" + *c.JTI, Until: iat.Add(v.window + replayGrace)}}, nil
}

// Spend records a checked proof's jti (Proof.Once); a proof used before is
// refused with broker.ErrProofReplayed.
func (v *Verifier) Spend(ctx context.Context, once broker.Once) error {
	return broker.SpendOnce(ctx, v.replay, once)
}

// checkShape refuses what is not even a compact JWS of a sane size, before
// anything is parsed.
func checkShape(proof string) error {
	switch {
	case proof == "":
		return refuse("the DPoP proof is missing")
	case len(proof) > MaxProofSize:
		return refuse(fmt.Sprintf("the DPoP proof is longer than %d bytes", MaxProofSize))
	case strings.HasPrefix(strings.TrimSpace(proof), "{") || strings.Count(proof, ".") != 2:
		return refuse("the DPoP proof is not a compact JWS")
	}
	return nil
}

// checkHeader says why go-jose could not parse a proof of the right shape,
// from its header alone.
func (v *Verifier) checkHeader(proof string) error {
	head, _, _ := strings.Cut(proof, ".")
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return refuse("the DPoP proof's header is not base64url")
	}
	var h header
	if err := json.Unmarshal(raw, &h); err != nil {
		return refuse("the DPoP proof's header is not a valid JSON object")
	}
	switch {
	case h.Typ == nil:
		return refuse("the DPoP proof has no typ header")
	case *h.Typ != proofType:
		return refuse("the DPoP proof's typ is not " + proofType)
	case h.Alg == "":
		return refuse("the DPoP proof has no alg header")
	case strings.EqualFold(h.Alg, "none"):
		return refuse("the DPoP proof is unsigned (alg none)")
	case strings.HasPrefix(strings.ToUpper(h.Alg), "HS"):
		return refuse("the DPoP proof is signed with a shared secret (HMAC), not a private key")
	case !slices.Contains(v.algs, h.Alg):
		return refuse("the DPoP proof's alg is not one of " + strings.Join(v.algs, ", "))
	case len(h.JWK) == 0 || string(h.JWK) == "null":
		return refuse("the DPoP proof has no jwk header")
	}
	// JSONWebKey's own unmarshalling accepts private keys, which is what
	// lets a private key be told apart from a malformed one here.
	var k jose.JSONWebKey
	if err := json.Unmarshal(h.JWK, &k); err != nil {
		return refuse("the DPoP proof's jwk is not a valid key")
	}
	return checkKey(&k)
}

// checkKey refuses a jwk that could not bind a token: a private or secret
// key (a client that sends its private key has none to prove), an
// incomplete one, or a short RSA key.
func checkKey(k *jose.JSONWebKey) error {
	if !k.IsPublic() {
		return refuse("the DPoP proof's jwk is not a public key")
	}
	if !k.Valid() {
		return refuse("the DPoP proof's jwk is not a valid key")
	}
	if r, ok := k.Key.(*rsa.PublicKey); ok && r.N.BitLen() < minRSABits {
		return refuse(fmt.Sprintf("the DPoP proof's jwk is an RSA key shorter than %d bits", minRSABits))
	}
	return nil
}

// checkClaims checks the claims against the request and the clock and
// returns iat.
func (v *Verifier) checkClaims(c claims, method, url, accessToken string) (time.Time, error) {
	switch {
	case c.JTI == nil || *c.JTI == "":
		return time.Time{}, refuse("the DPoP proof has no jti")
	case len(*c.JTI) > maxJTI:
		return time.Time{}, refuse(fmt.Sprintf("the DPoP proof's jti is longer than %d bytes", maxJTI))
	case c.HTM == nil || *c.HTM == "":
		return time.Time{}, refuse("the DPoP proof has no htm")
	case *c.HTM != method:
		return time.Time{}, refuse("the DPoP proof's htm does not match the request method")
	case c.HTU == nil || *c.HTU == "":
		return time.Time{}, refuse("the DPoP proof has no htu")
	}
	htu, err := normalURL(*c.HTU)
	if err != nil {
		return time.Time{}, refuse("the DPoP proof's htu is not an absolute http(s) URL")
	}
	if htu != url {
		return time.Time{}, refuse("the DPoP proof's htu does not match the request URL")
	}
	if c.IAT == nil {
		return time.Time{}, refuse("the DPoP proof has no iat")
	}
	// Compared in float seconds before any conversion, so that an absurd
	// iat cannot overflow into the window.
	now := v.now()
	age := float64(now.UnixNano())/1e9 - *c.IAT
	switch {
	case age > v.window.Seconds():
		return time.Time{}, refuse("the DPoP proof was issued too long ago (iat)")
	case -age > v.window.Seconds():
		return time.Time{}, refuse("the DPoP proof is issued in the future (iat)")
	}
	if accessToken != "" {
		if c.ATH == nil || *c.ATH == "" {
			return time.Time{}, refuse("the DPoP proof has no ath, which a request with an access token needs")
		}
		sum := sha256.Sum256([]byte(accessToken))
		want := base64.RawURLEncoding.EncodeToString(sum[:])
		if subtle.ConstantTimeCompare([]byte(*c.ATH), []byte(want)) != 1 {
			return time.Time{}, refuse("the DPoP proof's ath does not match the access token")
		}
	}
	sec, frac := math.Modf(*c.IAT)
	return time.Unix(int64(sec), int64(frac*1e9)), nil
}
