package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/go-jose/go-jose/v4"
)

// compactSigner makes compact JWS (RFC 7515 §7.1) with one key and one typ.
// The protected header never changes for a key, so it is encoded once here:
// go-jose's Signer marshals its header map and builds a JSONWebSignature for
// every token, a fifth of the time of signing an access token under load
// (BENCHMARKS.md, session 14). Tokens are byte for byte what go-jose makes
// (TestCompactSignerMatchesGoJose) and verify with it.
type compactSigner struct {
	header []byte // base64url of the protected header, and the "."
	sign   func(input []byte) ([]byte, error)
}

func newCompactSigner(alg jose.SignatureAlgorithm, kid, typ string, priv crypto.Signer) (compactSigner, error) {
	// Field order is go-jose's (its header is a map, marshalled sorted).
	h, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{string(alg), kid, typ})
	if err != nil {
		return compactSigner{}, err
	}
	s := compactSigner{header: append(base64.RawURLEncoding.AppendEncode(nil, h), '.')}
	switch key := priv.(type) {
	case *ecdsa.PrivateKey:
		if alg != jose.ES256 || key.Curve != elliptic.P256() {
			return compactSigner{}, fmt.Errorf("%s cannot sign with an ECDSA key on %s", alg, key.Curve.Params().Name)
		}
		s.sign = func(input []byte) ([]byte, error) {
			digest := sha256.Sum256(input)
			r, ss, err := ecdsa.Sign(rand.Reader, key, digest[:])
			if err != nil {
				return nil, err
			}
			// RFC 7518 §3.4: R and S as 32-byte big-endian integers.
			sig := make([]byte, 64)
			r.FillBytes(sig[:32])
			ss.FillBytes(sig[32:])
			return sig, nil
		}
	case ed25519.PrivateKey:
		if alg != jose.EdDSA {
			return compactSigner{}, fmt.Errorf("%s cannot sign with an Ed25519 key", alg)
		}
		s.sign = func(input []byte) ([]byte, error) { return ed25519.Sign(key, input), nil }
	case *rsa.PrivateKey:
		if alg != jose.RS256 {
			return compactSigner{}, fmt.Errorf("%s cannot sign with an RSA key", alg)
		}
		s.sign = func(input []byte) ([]byte, error) {
			digest := sha256.Sum256(input)
			return rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
		}
	default:
		return compactSigner{}, fmt.Errorf("%s cannot sign with a %T", alg, priv)
	}
	return s, nil
}

// Sign returns header.payload.signature for payload.
func (s compactSigner) Sign(payload []byte) (string, error) {
	enc := base64.RawURLEncoding
	// 342 characters hold an RSA-2048 signature; the others are shorter.
	buf := make([]byte, 0, len(s.header)+enc.EncodedLen(len(payload))+1+342)
	buf = append(buf, s.header...)
	buf = enc.AppendEncode(buf, payload)
	sig, err := s.sign(buf)
	if err != nil {
		return "", err
	}
	buf = append(buf, '.')
	return string(enc.AppendEncode(buf, sig)), nil
}
