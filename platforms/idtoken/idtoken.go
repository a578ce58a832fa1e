package idtoken

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/sync/singleflight"

	"github.com/bridgekeeper/bridgekeeper/platforms"
)

// Why go-jose and not go-oidc's IDTokenVerifier: go-oidc checks a single
// client ID (we accept several audiences: bundle ID, web client ID),
// refetches its RemoteKeySet on every unknown kid with no rate limit (a
// stream of tokens with made-up kids becomes a stream of requests to the
// platform), and reports every failure as an untyped string, so "the key
// set could not be fetched" (Unavailable) cannot be told from "the
// signature does not verify" (Refused). The checks themselves are few;
// writing them here keeps each refusal's reason exact.

// Leeway is how far exp, nbf and iat may be off against our clock, for the
// clock skew between the platform, the game client and the broker.
const Leeway = time.Minute

// maxTokenSize bounds the token parsed; real ID tokens are 1-2 KB.
const maxTokenSize = 32 << 10

// maxUserID bounds the user ID in characters: it becomes a link identifier.
const maxUserID = 1024

// defaultAlgs are the signature algorithms accepted when
// Config.AllowedAlgs is empty: what Apple, Google and Epic sign with.
var defaultAlgs = []string{"RS256", "ES256"}

// supportedAlgs are those AllowedAlgs may name: asymmetric JWS algorithms
// only (RFC 7518 §3.3-3.5, RFC 8037). HS* would make the verification key a
// shared secret — with a public JWKS, the attacker's.
var supportedAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// Config configures the verifier of one platform's ID tokens.
type Config struct {
	// Name is the platform's name as Unavailable reports it.
	Name string
	// Issuer is the iss the tokens must carry, exactly (OpenID Connect Core
	// §3.1.3.7 step 2). An https URL; http only on a loopback host.
	Issuer string
	// JWKSURL is where the signing keys are; "" reads jwks_uri from
	// Issuer + "/.well-known/openid-configuration".
	JWKSURL string
	// Audiences: a token's aud must contain one of them. Required.
	Audiences []string
	// AllowedAlgs are the JWS algorithms accepted; empty means RS256 and
	// ES256. RS384, RS512, PS256, PS384, PS512, ES384, ES512 and EdDSA may
	// be named; "none" and HS* are refused (RFC 8725 §3.1-3.2).
	AllowedAlgs []string
	// UserIDClaim names the claim holding the platform user ID; "" means
	// "sub".
	UserIDClaim string
	// Timeout bounds each request to the platform; 0 means
	// platforms.DefaultTimeout.
	Timeout time.Duration
	// Client makes the requests; nil means a new http.Client.
	Client *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Validate reports every problem with c at once, joined with errors.Join.
// It does not contact the platform.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("id_token platform %q: "+format, append([]any{c.Name}, args...)...))
	}
	if c.Name == "" {
		add("name must not be empty")
	}
	if u, err := platforms.CheckURL(c.Issuer); err != nil {
		add("issuer: %v", err)
	} else if u.RawQuery != "" {
		// OpenID Connect Core §2: the issuer has no query or fragment.
		add("issuer %q must not have a query or fragment", c.Issuer)
	}
	if c.JWKSURL != "" {
		if _, err := platforms.CheckURL(c.JWKSURL); err != nil {
			add("jwks_url: %v", err)
		}
	}
	if len(c.Audiences) == 0 {
		// Without it any game's token at the same platform would do.
		add("audiences must name at least one audience")
	}
	for i, a := range c.Audiences {
		if a == "" {
			add("audiences[%d] must not be empty", i)
		}
	}
	for _, a := range c.AllowedAlgs {
		switch {
		case strings.EqualFold(a, "none"):
			add("allowed_algs: %q would accept unsigned tokens", a)
		case strings.HasPrefix(strings.ToUpper(a), "HS"):
			add("allowed_algs: %q would make the public key set a shared secret", a)
		case !slices.Contains(supportedAlgs, a):
			add("allowed_algs: %q is not one of %s", a, strings.Join(supportedAlgs, ", "))
		}
	}
	if c.Timeout < 0 {
		add("timeout must not be negative")
	}
	return errors.Join(errs...)
}

// Verifier verifies one platform's ID tokens. It is safe for concurrent
// use.
type Verifier struct {
	name        string
	issuer      string
	audiences   []string
	algs        []jose.SignatureAlgorithm
	userIDClaim string
	timeout     time.Duration
	client      *http.Client
	now         func() time.Time

	// fetches shares one key-set fetch among concurrent callers.
	fetches singleflight.Group

	mu sync.Mutex
	// jwksURL is the configured one, or the discovered one once known.
	jwksURL string
	// keys is the last key set fetched; nil until one was.
	keys []jose.JSONWebKey
	// fetched is when keys was fetched, tried when the last attempt
	// was made; lastErr is that attempt's failure, nil if it succeeded.
	fetched, tried time.Time
	lastErr        error
}

var _ platforms.Verifier = (*Verifier)(nil)

// New validates cfg and returns its verifier. It makes no request: the
// key set is fetched on the first Verify. cfg is not retained.
func New(cfg Config) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	algs := cfg.AllowedAlgs
	if len(algs) == 0 {
		algs = defaultAlgs
	}
	v := &Verifier{
		name:        cfg.Name,
		issuer:      cfg.Issuer,
		audiences:   slices.Clone(cfg.Audiences),
		userIDClaim: cfg.UserIDClaim,
		timeout:     cfg.Timeout,
		client:      cfg.Client,
		now:         cfg.Now,
		jwksURL:     cfg.JWKSURL,
	}
	for _, a := range algs {
		v.algs = append(v.algs, jose.SignatureAlgorithm(a))
	}
	if v.userIDClaim == "" {
		v.userIDClaim = "sub"
	}
	if v.timeout == 0 {
		v.timeout = platforms.DefaultTimeout
	}
	if v.client == nil {
		v.client = &http.Client{}
	}
	if v.now == nil {
		v.now = time.Now
	}
	return v, nil
}

// TokenTypes are the RFC 8693 §3 types of an ID token: id_token, and jwt
// for clients that call it what it is on the wire.
func (v *Verifier) TokenTypes() []string {
	return []string{platforms.TokenTypeIDToken, platforms.TokenTypeJWT}
}

// Verify checks r.Token's signature against the issuer's keys, then its
// claims, and answers the user ID it names.
//
// r.Nonce, when not empty, must equal the token's nonce claim exactly. The
// SDKs put into the token whatever nonce the app passed them: Apple's and
// Firebase's guides pass the SHA-256 hex of a raw nonce, so the game must
// send the value it passed to the SDK (the hash), not the raw nonce. No
// hashing happens here.
func (v *Verifier) Verify(ctx context.Context, r platforms.Request) (platforms.Identity, error) {
	if r.TokenType != "" && !slices.Contains(v.TokenTypes(), r.TokenType) {
		return platforms.Identity{}, platforms.Refused("the subject_token_type is not an ID token")
	}
	payload, err := v.verifySignature(ctx, r.Token)
	if err != nil {
		return platforms.Identity{}, err
	}
	userID, err := v.checkClaims(payload, r.Nonce)
	if err != nil {
		return platforms.Identity{}, err
	}
	return platforms.Identity{UserID: userID}, nil
}

// verifySignature parses token as a compact JWS (RFC 7515 §7.1) signed
// with an allowed algorithm and answers its payload once a key of the
// issuer's verifies it.
func (v *Verifier) verifySignature(ctx context.Context, token string) ([]byte, error) {
	switch {
	case token == "":
		return nil, platforms.Refused("the ID token is empty")
	case len(token) > maxTokenSize:
		return nil, platforms.Refused("the ID token is too large")
	case strings.Count(token, ".") == 4:
		// RFC 7516 §7.1: five parts is a compact JWE.
		return nil, platforms.Refused("the ID token is encrypted; only signed ID tokens are accepted")
	}
	// Compact only: the JSON serialization (RFC 7515 §7.2) could carry
	// several signatures, and no platform sends it.
	jws, err := jose.ParseSignedCompact(token, v.algs)
	if err != nil {
		if _, ok := errors.AsType[*jose.ErrUnexpectedSignatureAlgorithm](err); ok {
			return nil, platforms.Refused("the ID token's algorithm is not allowed")
		}
		return nil, platforms.Refused("the ID token is not a signed JWT")
	}
	if len(jws.Signatures) != 1 {
		return nil, platforms.Refused("the ID token must have exactly one signature")
	}
	h := jws.Signatures[0].Header
	alg := h.Algorithm

	keys, err := v.keysFor(ctx, h.KeyID, alg)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, platforms.Refused("the ID token's key is unknown")
	}
	for _, k := range keys {
		if !fits(k, alg) {
			continue
		}
		// The key from the issuer's set, never one the header embeds (jwk,
		// x5c): the token would vouch for itself.
		if payload, err := jws.Verify(k.Key); err == nil {
			return payload, nil
		}
	}
	return nil, platforms.Refused("the ID token's signature does not verify")
}
