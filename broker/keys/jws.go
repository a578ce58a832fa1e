package keys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"

	"github.com/go-jose/go-jose/v4"
)

// Sign serializes access-token claims as a compact JWS with the active key.
func (k *Keyring) Sign(claims any) (string, error) {
	return k.sign(claims, func(a *signingKey) compactSigner { return a.signer })
}

// SignIDToken serializes OpenID Connect ID-token claims (typ JWT).
func (k *Keyring) SignIDToken(claims any) (string, error) {
	return k.sign(claims, func(a *signingKey) compactSigner { return a.idSigner })
}

func (k *Keyring) sign(claims any, signer func(*signingKey) compactSigner) (string, error) {
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
	return jws, nil
}

// compactJWS is the shape of a compact JWS: three base64url parts.
var compactJWS = regexp.MustCompile(`^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$`)

// Verify checks an access token's JWS — the canonical compact form, one
// signature, typ at+jwt, a known kid and its algorithm — and returns the
// payload; what the claims must say is the caller's to check.
func (k *Keyring) Verify(ctx context.Context, token string) ([]byte, error) {
	// Only the canonical compact form: go-jose alone would also read the
	// JSON serialization, skip white space and decode base64url leniently,
	// giving one token many spellings.
	if !compactJWS.MatchString(token) {
		return nil, errors.New("not a compact JWS")
	}
	jws, err := jose.ParseSignedCompact(token, joseAlgs)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if again, err := jws.CompactSerialize(); err != nil || again != token {
		return nil, errors.New("not the canonical encoding of its JWS")
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("want exactly one signature")
	}
	h := jws.Signatures[0].Header
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "at+jwt" {
		return nil, fmt.Errorf("typ %q is not at+jwt", typ)
	}
	pk, ok := k.lookup(ctx, h.KeyID)
	if !ok {
		return nil, fmt.Errorf("unknown kid %q", h.KeyID)
	}
	if jose.SignatureAlgorithm(h.Algorithm) != pk.alg {
		return nil, fmt.Errorf("alg %s does not match key %s", h.Algorithm, h.KeyID)
	}
	payload, err := jws.Verify(pk.key)
	if err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	return payload, nil
}
