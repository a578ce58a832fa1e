package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// AccessClaims are the claims of an access token: the RFC 9068 profile plus
// GS2-Auth's AccessToken fields (userId, timeOffset, federationFromUserId).
type AccessClaims struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"`
	Audience  jwt.Audience     `json:"aud"`
	Expiry    *jwt.NumericDate `json:"exp"`
	NotBefore *jwt.NumericDate `json:"nbf,omitempty"`
	IssuedAt  *jwt.NumericDate `json:"iat"`
	ID        string           `json:"jti"`
	ClientID  string           `json:"client_id"`
	Scope     string           `json:"scope,omitempty"`
	Namespace string           `json:"namespace"`
	// SessionID is the refresh-token family the token descends from, so that
	// revoking the family also deactivates its access tokens.
	SessionID            string `json:"sid,omitempty"`
	UserID               string `json:"userId,omitempty"`
	TimeOffset           *int   `json:"timeOffset,omitempty"`
	FederationFromUserID string `json:"federationFromUserId,omitempty"`
	// FederationPolicy is the base64url SHA-256 of a federated token's
	// policy document (stored by the broker); see Broker.Allowed.
	FederationPolicy string `json:"federationPolicy,omitempty"`
}

// compactJWS is the shape of a compact JWS: three base64url parts.
var compactJWS = regexp.MustCompile(`^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$`)

// MaxTokenLen bounds a token accepted for verification; GS2 allows 1024
// characters, RS256 tokens are somewhat longer.
const MaxTokenLen = 4096

// clockSkew is how far exp and nbf are stretched for clocks that disagree.
const clockSkew = 30 * time.Second

// Sign serializes access-token claims as a compact JWS with the active key.
func (k *Keyring) Sign(claims any) (string, error) {
	return k.sign(claims, func(a *signingKey) jose.Signer { return a.signer })
}

// SignIDToken serializes OpenID Connect ID-token claims (typ JWT).
func (k *Keyring) SignIDToken(claims any) (string, error) {
	return k.sign(claims, func(a *signingKey) jose.Signer { return a.idSigner })
}

func (k *Keyring) sign(claims any, signer func(*signingKey) jose.Signer) (string, error) {
	a := k.Active()
	if a == nil {
		return "", errors.New("no active signing key")
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encode claims: %w", err)
	}
	jws, err := signer(a).Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return jws.CompactSerialize()
}

// VerifyAccessToken checks an access token's signature (known kid, expected
// algorithm, typ at+jwt), issuer and lifetime, and returns its claims. It does
// not consult revocations: Broker.Introspect does.
func (k *Keyring) VerifyAccessToken(ctx context.Context, token, issuer string, now time.Time) (AccessClaims, error) {
	var c AccessClaims
	if len(token) > MaxTokenLen {
		return c, errors.New("token too long")
	}
	// Only the canonical compact form: go-jose alone would also read the
	// JSON serialization, skip white space and decode base64url leniently,
	// giving one token many spellings.
	if !compactJWS.MatchString(token) {
		return c, errors.New("not a compact JWS")
	}
	jws, err := jose.ParseSignedCompact(token, joseAlgs)
	if err != nil {
		return c, fmt.Errorf("parse: %w", err)
	}
	if again, err := jws.CompactSerialize(); err != nil || again != token {
		return c, errors.New("not the canonical encoding of its JWS")
	}
	if len(jws.Signatures) != 1 {
		return c, errors.New("want exactly one signature")
	}
	h := jws.Signatures[0].Header
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "at+jwt" {
		return c, fmt.Errorf("typ %q is not at+jwt", typ)
	}
	pk, ok := k.lookup(ctx, h.KeyID)
	if !ok {
		return c, fmt.Errorf("unknown kid %q", h.KeyID)
	}
	if jose.SignatureAlgorithm(h.Algorithm) != pk.alg {
		return c, fmt.Errorf("alg %s does not match key %s", h.Algorithm, h.KeyID)
	}
	payload, err := jws.Verify(pk.key)
	if err != nil {
		return c, fmt.Errorf("signature: %w", err)
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return c, fmt.Errorf("claims: %w", err)
	}
	if c.Issuer != issuer {
		return c, fmt.Errorf("issuer %q is not %q", c.Issuer, issuer)
	}
	if c.Expiry == nil || !now.Before(c.Expiry.Time().Add(clockSkew)) {
		return c, ErrTokenExpired
	}
	if c.NotBefore != nil && now.Add(clockSkew).Before(c.NotBefore.Time()) {
		return c, errors.New("token not valid yet")
	}
	if !slices.Contains(c.Audience, c.ClientID) {
		return c, errors.New("audience does not name the client")
	}
	return c, nil
}

// ErrTokenExpired tells an expired token from an invalid one, for RFC 6750's
// error_description "The access token expired".
var ErrTokenExpired = errors.New("token expired")
