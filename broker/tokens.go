package broker

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// AccessClaims are the claims of an access token: the RFC 9068 profile plus
// GS2-Auth's AccessToken fields (userId, timeOffset, federationFromUserId).
type AccessClaims struct {
	Issuer  string `json:"iss"`
	Subject string `json:"sub"`
	// Audience is the one party the token is for: the client, or the
	// resource server it asked the token for (RFC 8707). Never several.
	Audience  string       `json:"aud"`
	Expiry    *NumericDate `json:"exp"`
	NotBefore *NumericDate `json:"nbf,omitempty"`
	IssuedAt  *NumericDate `json:"iat"`
	ID        string       `json:"jti"`
	ClientID  string       `json:"client_id"`
	Scope     string       `json:"scope,omitempty"`
	Namespace string       `json:"namespace"`
	// SessionID is the refresh-token family the token descends from, so that
	// revoking the family also deactivates its access tokens.
	SessionID            string `json:"sid,omitempty"`
	UserID               string `json:"userId,omitempty"`
	TimeOffset           *int   `json:"timeOffset,omitempty"`
	FederationFromUserID string `json:"federationFromUserId,omitempty"`
	// FederationPolicy is the base64url SHA-256 of a federated token's
	// policy document (stored by the broker); see Broker.Allowed.
	FederationPolicy string `json:"federationPolicy,omitempty"`
	// Confirmation binds a DPoP token to its key (RFC 9449 §6.1).
	Confirmation *Confirmation `json:"cnf,omitempty"`
}

// Resource reports whether the token is for a resource server rather
// than for its client.
func (c AccessClaims) Resource() bool { return c.Audience != c.ClientID }

// JKT is the thumbprint of the DPoP key the token is bound to; "" when it
// is a Bearer token.
func (c AccessClaims) JKT() string {
	if c.Confirmation == nil {
		return ""
	}
	return c.Confirmation.JKT
}

// NumericDate is a JWT NumericDate (RFC 7519 §2): whole seconds since the
// epoch, a plain number to encoding/json. go-jose's jwt.NumericDate and
// jwt.Audience have MarshalJSON methods, whose output encoding/json checks
// and compacts once more; for the access token, signed on every request,
// that made encoding its claims cost five times what the same claims cost
// as plain fields (measured in the broker's CPU profile under make bench).
type NumericDate int64

// NewNumericDate is t in whole seconds.
func NewNumericDate(t time.Time) *NumericDate {
	d := NumericDate(t.Unix())
	return &d
}

// Time is the date as a time.Time; the zero time for nil.
func (d *NumericDate) Time() time.Time {
	if d == nil {
		return time.Time{}
	}
	return time.Unix(int64(*d), 0)
}

// MaxTokenLen bounds a token accepted for verification; GS2 allows 1024
// characters, RS256 tokens are somewhat longer.
const MaxTokenLen = 4096

// clockSkew is how far exp and nbf are stretched for clocks that disagree.
const clockSkew = 30 * time.Second

// Verifier checks a token's JWS (keys.Keyring) and returns its payload.
type Verifier interface {
	Verify(ctx context.Context, token string) ([]byte, error)
}

// VerifyAccessToken checks an access token's signature (keys.Keyring.Verify:
// known kid, expected algorithm, typ at+jwt), issuer and lifetime, and
// returns its claims. It does not consult revocations: Broker.Introspect
// does.
func VerifyAccessToken(ctx context.Context, v Verifier, token, issuer string, now time.Time) (AccessClaims, error) {
	var c AccessClaims
	if len(token) > MaxTokenLen {
		return c, errors.New("token too long")
	}
	payload, err := v.Verify(ctx, token)
	if err != nil {
		return c, err
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
	if c.Audience != c.ClientID && !ValidResource(c.Audience) {
		return c, errors.New("audience names neither the client nor a resource")
	}
	return c, nil
}

// ErrTokenExpired tells an expired token from an invalid one, for RFC 6750's
// error_description "The access token expired".
var ErrTokenExpired = errors.New("token expired")

// NewOpaqueToken returns prefix + 256 random bits, base64url.
func NewOpaqueToken(prefix string) string {
	b := make([]byte, 32)
	rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// TokenHash is the stored form of an opaque refresh token.
func TokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}
