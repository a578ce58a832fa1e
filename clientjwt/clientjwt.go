package clientjwt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/sync/singleflight"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// AssertionType is the client_assertion_type of private_key_jwt.
const AssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

const (
	// maxAssertion bounds what is parsed at all; real assertions are well
	// under 2 KB, and the limit keeps hostile input from costing much.
	maxAssertion = 8 << 10
	maxJTI       = 256

	defaultMaxLifetime = 5 * time.Minute
	defaultLeeway      = 30 * time.Second
	defaultTimeout     = 5 * time.Second
)

// Replay records a key once; first is false when it was seen before
// (implemented by the database, shared across broker replicas).
type Replay interface {
	UseOnce(ctx context.Context, key string, until time.Time) (first bool, err error)
}

// Keys are a client's registered keys: exactly one of JWKS (the JSON of a
// JWK Set, public keys only) and JWKSURI.
type Keys struct {
	JWKS    []byte
	JWKSURI string
}

// Config configures a Verifier. Audiences and Replay are required.
type Config struct {
	// Audiences are the accepted aud values: the issuer and the token
	// endpoint URL (and the other endpoint URLs); aud must contain one.
	Audiences []string
	// Algs are the accepted signature algorithms; default DefaultAlgs().
	// New refuses none, HMAC and anything it does not know.
	Algs []string
	// MaxLifetime bounds how far ahead of now exp may be; default 5 minutes.
	MaxLifetime time.Duration
	// Leeway is the clock skew allowed for exp, nbf and iat; default 30s.
	Leeway time.Duration
	Now    func() time.Time
	Replay Replay
	// Client fetches jwks_uri documents; default a client that times out
	// after Timeout and re-checks every redirect with CheckJWKSURI.
	Client *http.Client
	// Timeout bounds each jwks_uri fetch; default 5s.
	Timeout time.Duration
}

// DefaultAlgs are the asymmetric JWS algorithms accepted when Config.Algs
// is empty. It returns a new slice each time so no caller can change the
// defaults of another.
func DefaultAlgs() []string {
	return []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
}

// Verifier authenticates clients by private_key_jwt assertions. It is safe
// for concurrent use; its jwks_uri cache lives as long as it does.
type Verifier struct {
	audiences   []string
	algs        []jose.SignatureAlgorithm
	maxLifetime time.Duration
	leeway      time.Duration
	now         func() time.Time
	replay      Replay
	client      *http.Client
	timeout     time.Duration

	fetches singleflight.Group
	mu      sync.Mutex
	cache   map[string]*cached
}

// New checks cfg and fills in its defaults.
func New(cfg Config) (*Verifier, error) {
	if cfg.Replay == nil {
		return nil, errors.New("clientjwt: Config.Replay is required")
	}
	if len(cfg.Audiences) == 0 {
		return nil, errors.New("clientjwt: Config.Audiences is required")
	}
	for _, a := range cfg.Audiences {
		if a == "" {
			return nil, errors.New("clientjwt: an empty audience would accept assertions with no aud")
		}
	}
	if cfg.MaxLifetime < 0 || cfg.Leeway < 0 || cfg.Timeout < 0 {
		return nil, errors.New("clientjwt: MaxLifetime, Leeway and Timeout must not be negative")
	}
	names := cfg.Algs
	if len(names) == 0 {
		names = DefaultAlgs()
	}
	v := &Verifier{
		audiences:   slices.Clone(cfg.Audiences),
		maxLifetime: cmpOr(cfg.MaxLifetime, defaultMaxLifetime),
		leeway:      cmpOr(cfg.Leeway, defaultLeeway),
		now:         cfg.Now,
		replay:      cfg.Replay,
		client:      cfg.Client,
		timeout:     cmpOr(cfg.Timeout, defaultTimeout),
		cache:       make(map[string]*cached),
	}
	for _, n := range names {
		if !knownAlg(n) {
			return nil, fmt.Errorf("clientjwt: algorithm %q is not an asymmetric JWS algorithm this package accepts", n)
		}
		if !slices.Contains(v.algs, jose.SignatureAlgorithm(n)) {
			v.algs = append(v.algs, jose.SignatureAlgorithm(n))
		}
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.client == nil {
		v.client = &http.Client{Timeout: v.timeout, CheckRedirect: checkRedirect}
	}
	return v, nil
}

func cmpOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Algs are the accepted algorithms, for discovery's
// token_endpoint_auth_signing_alg_values_supported.
func (v *Verifier) Algs() []string {
	out := make([]string, len(v.algs))
	for i, a := range v.algs {
		out[i] = string(a)
	}
	return out
}

func refuse(reason string, cause error) error { return broker.Unauthenticated(reason, cause) }

// ClientID reads the unverified iss/sub of an assertion, so that the caller
// can find the client when the request has no client_id (RFC 7521 §4.2
// lets client_id be omitted). It checks only that the assertion parses and
// iss == sub; it is NOT authentication.
func ClientID(assertion string) (string, error) {
	_, claims, err := parse(assertion, defaultSignatureAlgs())
	if err != nil {
		return "", err
	}
	if claims.Issuer == "" {
		return "", refuse("the client assertion has no iss", nil)
	}
	if claims.Subject != claims.Issuer {
		return "", refuse("the client assertion sub is not its iss", nil)
	}
	return claims.Issuer, nil
}

func defaultSignatureAlgs() []jose.SignatureAlgorithm {
	var out []jose.SignatureAlgorithm
	for _, n := range DefaultAlgs() {
		out = append(out, jose.SignatureAlgorithm(n))
	}
	return out
}

// parse does the structural checks: size, compact JWS, one signature, an
// allowed alg, and claims that decode. Nothing here is verified.
func parse(assertion string, algs []jose.SignatureAlgorithm) (*jose.JSONWebSignature, *jwt.Claims, error) {
	if assertion == "" {
		return nil, nil, refuse("the client assertion is missing", nil)
	}
	if len(assertion) > maxAssertion {
		return nil, nil, refuse("the client assertion is too large", nil)
	}
	// Compact only: the JSON serializations allow several signatures and
	// unprotected headers, which an assertion has no use for.
	jws, err := jose.ParseSignedCompact(assertion, algs)
	if err != nil {
		var alg *jose.ErrUnexpectedSignatureAlgorithm
		if errors.As(err, &alg) {
			return nil, nil, refuse("the client assertion is signed with an algorithm that is not allowed", err)
		}
		return nil, nil, refuse("the client assertion is not a compact JWS", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, nil, refuse("the client assertion must have exactly one signature", nil)
	}
	var claims jwt.Claims
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &claims); err != nil {
		return nil, nil, refuse("the client assertion claims are not a valid JWT claims set", err)
	}
	return jws, &claims, nil
}

// Verify authenticates client clientID with its keys by the assertion.
// A refusal is a *broker.Error of KindUnauthenticated whose description
// says which check failed; a jwks_uri that cannot be fetched is
// KindUnavailable; a Replay failure is returned wrapped.
func (v *Verifier) Verify(ctx context.Context, clientID string, keys Keys, assertion string) error {
	if clientID == "" {
		// An empty ID would match an assertion without iss and sub.
		return refuse("the client is not identified", nil)
	}
	jws, claims, err := v.parseAndCheck(clientID, assertion)
	if err != nil {
		return err
	}
	// The claims are checked before any key is looked for, so that an
	// assertion that could never pass does not make the broker fetch a
	// jwks_uri; the signature is still checked before the jti is spent.
	if err := v.checkSignature(ctx, keys, jws); err != nil {
		return err
	}
	until := claims.Expiry.Time().Add(v.leeway)
	first, err := v.replay.UseOnce(ctx, "private_key_jwt:"+clientID+":"+claims.ID, until)
	if err != nil {
		return fmt.Errorf("clientjwt: replay: %w", err)
	}
	if !first {
		return refuse("the client assertion was used before", nil)
	}
	return nil
}

func (v *Verifier) parseAndCheck(clientID, assertion string) (*jose.JSONWebSignature, *jwt.Claims, error) {
	jws, c, err := parse(assertion, v.algs)
	if err != nil {
		return nil, nil, err
	}
	if c.Issuer != clientID {
		return nil, nil, refuse("the client assertion iss is not the client ID", nil)
	}
	if c.Subject != clientID {
		return nil, nil, refuse("the client assertion sub is not the client ID", nil)
	}
	if !slices.ContainsFunc(v.audiences, c.Audience.Contains) {
		return nil, nil, refuse("the client assertion aud does not name this server", nil)
	}
	now := v.now()
	if c.Expiry == nil {
		return nil, nil, refuse("the client assertion has no exp", nil)
	}
	exp := c.Expiry.Time()
	if now.After(exp.Add(v.leeway)) {
		return nil, nil, refuse("the client assertion has expired", nil)
	}
	// A long-lived assertion is a bearer credential that outlives its
	// purpose, and would make the replay store keep its jti as long.
	if exp.After(now.Add(v.maxLifetime + v.leeway)) {
		return nil, nil, refuse("the client assertion exp is too far in the future", nil)
	}
	if c.NotBefore != nil && c.NotBefore.Time().After(now.Add(v.leeway)) {
		return nil, nil, refuse("the client assertion is not valid yet (nbf)", nil)
	}
	if c.IssuedAt != nil && c.IssuedAt.Time().After(now.Add(v.leeway)) {
		return nil, nil, refuse("the client assertion iat is in the future", nil)
	}
	if c.ID == "" {
		return nil, nil, refuse("the client assertion has no jti", nil)
	}
	if utf8.RuneCountInString(c.ID) > maxJTI {
		return nil, nil, refuse("the client assertion jti is too long", nil)
	}
	return jws, c, nil
}

// checkSignature finds the key and verifies the signature. For a jwks_uri,
// a miss with the cached set (unknown kid, or no key that verifies) refetches
// once, at most once a minute per URI, to pick up rotated keys.
func (v *Verifier) checkSignature(ctx context.Context, keys Keys, jws *jose.JSONWebSignature) error {
	switch {
	case len(keys.JWKS) > 0 && keys.JWKSURI == "":
		set, err := parseKeySet(keys.JWKS)
		if err != nil {
			return refuse("the client's registered JWK Set is unusable", err)
		}
		return verifyWith(set, jws).err()
	case keys.JWKSURI != "" && len(keys.JWKS) == 0:
		if err := CheckJWKSURI(keys.JWKSURI); err != nil {
			return refuse("the client's registered jwks_uri is not acceptable", err)
		}
		set, fetched, err := v.remoteKeys(ctx, keys.JWKSURI, false)
		if err != nil {
			return err
		}
		r := verifyWith(set, jws)
		if r == verified || !r.missing() || fetched {
			return r.err()
		}
		// The set may still be what was just tried (the refetch was held
		// back); verifying again costs one signature check.
		if set, _, err = v.remoteKeys(ctx, keys.JWKSURI, true); err != nil {
			return err
		}
		return verifyWith(set, jws).err()
	default:
		return refuse("the client has no keys registered for private_key_jwt", nil)
	}
}

type outcome int

const (
	verified outcome = iota
	unknownKID
	noFittingKey
	badSignature
	badSignatureNoKID
)

// missing says whether a newer key set could change the outcome: the kid is
// not known, or no key was named and none of those tried verifies.
func (o outcome) missing() bool {
	return o == unknownKID || o == noFittingKey || o == badSignatureNoKID
}

func (o outcome) err() error {
	switch o {
	case verified:
		return nil
	case unknownKID:
		return refuse("the client assertion kid matches no registered key", nil)
	case noFittingKey:
		return refuse("no registered key fits the client assertion alg", nil)
	default:
		return refuse("the client assertion signature does not verify", nil)
	}
}

// verifyWith picks the keys by kid when the header names one, else tries
// every key that fits the alg. Keys are always passed to go-jose as Go
// public keys, never as bytes, so no key can be taken for an HMAC secret.
func verifyWith(set []jose.JSONWebKey, jws *jose.JSONWebSignature) outcome {
	h := jws.Signatures[0].Header
	alg := jose.SignatureAlgorithm(h.Algorithm)
	named, tried := false, false
	for _, k := range set {
		if h.KeyID != "" {
			if k.KeyID != h.KeyID {
				continue
			}
			named = true
		}
		if !fits(k, alg) {
			continue
		}
		tried = true
		if _, err := jws.Verify(k.Key); err == nil {
			return verified
		}
	}
	switch {
	case h.KeyID != "" && !named:
		return unknownKID
	case !tried:
		return noFittingKey
	case h.KeyID == "":
		return badSignatureNoKID
	}
	return badSignature
}
