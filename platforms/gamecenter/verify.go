package gamecenter

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"math"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/bridgekeeper/bridgekeeper/platforms"
)

// minRSABits is the smallest key accepted: Apple's were 2048 bits in
// 2018 and 4096 since 2021.
const minRSABits = 2048

// Verify checks r.Token, the JSON of a Game Center identity signature, and
// answers the player ID it was made for. Everything that can be checked
// without the network is checked first, so that a malformed, stale or
// misdirected token costs no fetch.
func (v *Verifier) Verify(ctx context.Context, r platforms.Request) (platforms.Identity, error) {
	if r.TokenType != "" && r.TokenType != platforms.TokenTypeGameCenter {
		return platforms.Identity{}, platforms.Refused("the subject_token_type is not a Game Center identity signature")
	}
	it, err := parseItems(r.Token)
	if err != nil {
		return platforms.Identity{}, err
	}
	if !slices.Contains(v.bundleIDs, it.bundleID) {
		return platforms.Identity{}, platforms.Refused("the Game Center bundleId is not this game's")
	}
	now := v.now()
	if err := v.checkTimestamp(it.timestamp, now); err != nil {
		return platforms.Identity{}, err
	}
	keyURL, err := v.checkKeyURL(it.publicKeyURL)
	if err != nil {
		return platforms.Identity{}, err
	}
	cert, err := v.certificate(ctx, keyURL)
	if err != nil {
		return platforms.Identity{}, err
	}
	pub, err := v.checkCertificate(cert, now)
	if err != nil {
		return platforms.Identity{}, err
	}
	digest := sha256.Sum256(signedData(it))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], it.signature); err != nil {
		return platforms.Identity{}, platforms.Refused("the Game Center signature does not verify")
	}
	return platforms.Identity{UserID: it.playerID}, nil
}

// signedData is what GameKit signs: the player ID and the bundle ID in
// UTF-8, the timestamp as a big-endian uint64, then the salt.
func signedData(it items) []byte {
	b := make([]byte, 0, len(it.playerID)+len(it.bundleID)+8+len(it.salt))
	b = append(b, it.playerID...)
	b = append(b, it.bundleID...)
	b = binary.BigEndian.AppendUint64(b, it.timestamp)
	return append(b, it.salt...)
}

// checkTimestamp bounds the replay window: Apple's signature has no
// expiry of its own, so without this a captured one would sign in forever.
func (v *Verifier) checkTimestamp(ms uint64, now time.Time) error {
	if ms > math.MaxInt64 {
		return platforms.Refused("the Game Center timestamp is in the future")
	}
	ts := time.UnixMilli(int64(ms))
	switch {
	case now.Sub(ts) > v.maxAge:
		return platforms.Refused("the Game Center signature is too old; fetch a new one")
	case ts.Sub(now) > FutureLeeway:
		return platforms.Refused("the Game Center timestamp is in the future")
	}
	return nil
}

// checkKeyURL accepts an https URL on one of the key hosts, with no user
// (which could make "https://static.gc.apple.com@evil.test/" read as
// Apple's), no port but an allowed one, no query or fragment (each would
// make a new cache key, so a new fetch, for the same file), and a path to
// a .cer file. It answers the URL to fetch, as parsed.
func (v *Verifier) checkKeyURL(raw string) (string, error) {
	refuse := platforms.Refused("the Game Center publicKeyUrl is not an https URL of a .cer on an allowed host")
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Opaque != "" || u.User != nil || u.Host == "" ||
		u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.RawFragment != "" ||
		!strings.HasSuffix(u.Path, ".cer") {
		return "", refuse
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	for _, k := range v.keyHosts {
		if k.allows(host, port) {
			return u.String(), nil
		}
	}
	return "", refuse
}

// checkCertificate verifies cert's chain to the roots at now, its subject
// and its key, and answers the key.
func (v *Verifier) checkCertificate(cert *x509.Certificate, now time.Time) (*rsa.PublicKey, error) {
	_, err := cert.Verify(x509.VerifyOptions{
		Roots:         v.roots,
		Intermediates: v.intermediates,
		CurrentTime:   now,
		// Apple's certificates (and their intermediate) are for code
		// signing; no usage fits "signs a player's identity", so any
		// usage the chain allows will do.
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return nil, platforms.Refused("the Game Center certificate has expired or is not yet valid")
	case err != nil:
		return nil, platforms.Refused("the Game Center certificate is not issued by a trusted authority")
	}
	if !slices.ContainsFunc(cert.Subject.Organization, func(o string) bool { return slices.Contains(v.orgs, o) }) {
		return nil, platforms.Refused("the Game Center certificate is not Apple's")
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok || pub.N.BitLen() < minRSABits {
		return nil, platforms.Refused("the Game Center certificate does not hold an RSA key of 2048 bits or more")
	}
	return pub, nil
}
