package clientjwt

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/go-jose/go-jose/v4"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/platforms"
)

const (
	// maxJWKS bounds a JWK Set, registered or fetched.
	maxJWKS = 1 << 20
	// minRSABits: shorter RSA keys are factorable by a determined attacker.
	minRSABits = 2048
	maxURI     = 2048
)

func knownAlg(name string) bool { return slices.Contains(DefaultAlgs(), name) }

// fits says whether key k may verify a signature by alg: its use and alg,
// when it states them, allow it, and its type and curve match alg.
func fits(k jose.JSONWebKey, alg jose.SignatureAlgorithm) bool {
	if k.Use != "" && k.Use != "sig" {
		return false
	}
	if k.Algorithm != "" && k.Algorithm != string(alg) {
		return false
	}
	switch key := k.Key.(type) {
	case *rsa.PublicKey:
		switch alg {
		case jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512:
			return key.N.BitLen() >= minRSABits
		}
	case *ecdsa.PublicKey:
		switch alg {
		case jose.ES256:
			return key.Curve == elliptic.P256()
		case jose.ES384:
			return key.Curve == elliptic.P384()
		case jose.ES512:
			return key.Curve == elliptic.P521()
		}
	case ed25519.PublicKey:
		return alg == jose.EdDSA
	}
	return false
}

// usable says why key k cannot sign client assertions, or "" when it can.
func usable(k jose.JSONWebKey) string {
	if !k.Valid() || !k.IsPublic() {
		return "is not a public key"
	}
	if k.Use != "" && k.Use != "sig" {
		return fmt.Sprintf("has use %q, not sig", k.Use)
	}
	if k.Algorithm != "" && !knownAlg(k.Algorithm) {
		return fmt.Sprintf("has alg %q, which is not allowed", k.Algorithm)
	}
	for _, a := range DefaultAlgs() {
		if fits(k, jose.SignatureAlgorithm(a)) {
			return ""
		}
	}
	if rk, ok := k.Key.(*rsa.PublicKey); ok && rk.N.BitLen() < minRSABits {
		return fmt.Sprintf("is an RSA key shorter than %d bits", minRSABits)
	}
	return "does not fit its alg or any allowed algorithm"
}

// rawKeys decodes the outer JWK Set: a JSON object with a "keys" array.
func rawKeys(doc []byte) ([]json.RawMessage, error) {
	if len(doc) > maxJWKS {
		return nil, errors.New("the JWK Set is larger than 1 MiB")
	}
	var set struct {
		Keys *[]json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(doc, &set); err != nil {
		return nil, fmt.Errorf("not a JWK Set: %w", err)
	}
	if set.Keys == nil {
		return nil, errors.New(`not a JWK Set: no "keys" array`)
	}
	return *set.Keys, nil
}

// parseKey decodes one JWK, refusing private material before go-jose sees
// it: go-jose's own JWK decoding accepts private keys.
func parseKey(raw json.RawMessage) (jose.JSONWebKey, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		return jose.JSONWebKey{}, errors.New("is not a JSON object")
	}
	// The members that carry secret material (RFC 7518 §6.2.2, §6.3.2,
	// §6.4.1; "priv" is ML-DSA's).
	for _, m := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k", "priv"} {
		if _, ok := members[m]; ok {
			return jose.JSONWebKey{}, fmt.Errorf("has the private member %q", m)
		}
	}
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON(raw); err != nil {
		return jose.JSONWebKey{}, fmt.Errorf("is not a valid JWK: %w", err)
	}
	if why := usable(k); why != "" {
		return jose.JSONWebKey{}, errors.New(why)
	}
	return k, nil
}

// parseKeySet is the lenient reading used when verifying: keys that cannot
// sign assertions (encryption keys, unknown types) are skipped, as RFC 7517
// §5 asks, since a published set often serves other purposes too.
func parseKeySet(doc []byte) ([]jose.JSONWebKey, error) {
	raws, err := rawKeys(doc)
	if err != nil {
		return nil, err
	}
	var out []jose.JSONWebKey
	for _, raw := range raws {
		if k, err := parseKey(raw); err == nil {
			out = append(out, k)
		}
	}
	return out, nil
}

func invalid(field, description string, cause error) error {
	return &broker.Error{Kind: broker.KindInvalid, Field: field, Description: description, Err: cause}
}

// ParseJWKS checks a JWKS document for registration: valid JSON JWK Set, at
// least one key, every key public and usable for signatures with an
// allowed alg (keys with "use":"enc" refused); returns the keys. It is
// stricter than what Verify accepts from a jwks_uri: what a client
// registers inline should contain nothing the broker would ignore.
func ParseJWKS(doc []byte) (jose.JSONWebKeySet, error) {
	raws, err := rawKeys(doc)
	if err != nil {
		return jose.JSONWebKeySet{}, invalid("jwks", "jwks "+err.Error(), nil)
	}
	if len(raws) == 0 {
		return jose.JSONWebKeySet{}, invalid("jwks", "jwks has no keys", nil)
	}
	var set jose.JSONWebKeySet
	for i, raw := range raws {
		k, err := parseKey(raw)
		if err != nil {
			return jose.JSONWebKeySet{}, invalid("jwks", fmt.Sprintf("jwks key %d %s", i, err.Error()), nil)
		}
		set.Keys = append(set.Keys, k)
	}
	return set, nil
}

// CheckJWKSURI checks a jwks_uri for registration: absolute https URL (http
// only on a loopback host: localhost, 127.0.0.0/8, ::1), no user or
// fragment.
func CheckJWKSURI(s string) error {
	if len(s) > maxURI {
		return invalid("jwks_uri", "jwks_uri is too long", nil)
	}
	u, err := url.Parse(s)
	if err != nil {
		return invalid("jwks_uri", "jwks_uri is not a URL", nil)
	}
	if !u.IsAbs() || u.Opaque != "" || u.Host == "" {
		return invalid("jwks_uri", "jwks_uri must be an absolute URL", nil)
	}
	if u.User != nil {
		return invalid("jwks_uri", "jwks_uri must not contain a user", nil)
	}
	if u.Fragment != "" || strings.Contains(s, "#") {
		return invalid("jwks_uri", "jwks_uri must not contain a fragment", nil)
	}
	switch u.Scheme {
	case "https":
	case "http":
		// Plain http is for a client developed on the same machine; off
		// loopback anyone on the path could substitute the keys.
		if !platforms.Loopback(u.Hostname()) {
			return invalid("jwks_uri", "jwks_uri must use https unless its host is loopback", nil)
		}
	default:
		return invalid("jwks_uri", "jwks_uri must use https", nil)
	}
	return nil
}

// checkRedirect holds a redirect to what registration would accept, so a
// jwks_uri cannot bounce the broker to plain http elsewhere.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 3 {
		return errors.New("too many redirects")
	}
	if CheckJWKSURI(req.URL.String()) != nil {
		return errors.New("redirected to a URL that is not an acceptable jwks_uri")
	}
	return nil
}
