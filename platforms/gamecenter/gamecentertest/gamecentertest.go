package gamecentertest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/internal/testkeys"
	"github.com/bridgekeeper/bridgekeeper/platforms/gamecenter"
	"github.com/bridgekeeper/bridgekeeper/platforms/platformtest"
)

// Key names a certificate the server serves, and the key that signs with
// it.
type Key int

const (
	// Good chains to Roots through the intermediate, names "Apple Inc.",
	// is valid from an hour before the server started to LeafLifetime
	// after, and holds an RSA-2048 key. Served as DER.
	Good Key = iota
	// PEM is the Good certificate served PEM-encoded.
	PEM
	// Expired is like Good but expired an hour before the server started.
	Expired
	// OtherCA is like Good but issued by a CA that is not in Roots.
	OtherCA
	// SelfSigned is like Good but signed by its own key.
	SelfSigned
	// NotApple chains to Roots but names another organization.
	NotApple
	// ECDSA chains to Roots and names Apple, but holds an ECDSA P-256 key.
	ECDSA
	// WeakRSA chains to Roots and names Apple, but holds an RSA-1024 key.
	WeakRSA
	// Garbage is served as a body that is no certificate; it signs with
	// the Good key.
	Garbage
	// Missing is answered 404; it signs with the Good key.
	Missing
	// Redirect is answered 302 to the Good certificate's URL; it signs
	// with the Good key.
	Redirect
	numKeys
)

// paths are where the keys are served; each ends in .cer, as Apple's do.
var paths = [numKeys]string{
	Good:       "/public-key/gc-test.cer",
	PEM:        "/public-key/gc-test-pem.cer",
	Expired:    "/public-key/gc-expired.cer",
	OtherCA:    "/public-key/gc-other-ca.cer",
	SelfSigned: "/public-key/gc-self-signed.cer",
	NotApple:   "/public-key/gc-not-apple.cer",
	ECDSA:      "/public-key/gc-ecdsa.cer",
	WeakRSA:    "/public-key/gc-weak-rsa.cer",
	Garbage:    "/public-key/gc-garbage.cer",
	Missing:    "/public-key/gc-missing.cer",
	Redirect:   "/public-key/gc-redirect.cer",
}

// LeafLifetime is how long after the server starts its certificates
// expire (all but Expired). Apple's are valid for a year; a week is enough
// to outlast the verifier's one-day cache.
const LeafLifetime = 7 * 24 * time.Hour

// Organization is the subject organization of the Apple certificates, as
// Apple's own spell it since 2021.
const Organization = "Apple Inc."

// KeyServer is a fake Game Center key server. Its methods are safe for
// concurrent use.
type KeyServer struct {
	t       testing.TB
	srv     *httptest.Server
	faults  *platformtest.Faults
	started time.Time

	root, intermediate *x509.Certificate
	bodies             [numKeys][]byte // what is served at each path; nil: 404
	signers            [numKeys]crypto.Signer
}

// NewKeyServer makes the test PKI and starts serving it on loopback; it
// stops when t ends. Certificates are valid around the time it is called.
func NewKeyServer(t testing.TB) *KeyServer {
	t.Helper()
	now := time.Now()
	s := &KeyServer{t: t, started: now}

	// The CAs use P-256 keys (fast to make) and the RSA keys are fixtures
	// (slow to make under -race). The leaves share one RSA key, since what
	// sets them apart is their certificates.
	rootKey, interKey, otherKey, ecKey := newECKey(t), newECKey(t), newECKey(t), newECKey(t)
	rsaKey, weakKey := testkeys.RSA2048(t), testkeys.RSA1024(t)
	caValidity := validity{now.Add(-24 * time.Hour), now.Add(10 * 365 * 24 * time.Hour)}
	leafValidity := validity{now.Add(-time.Hour), now.Add(LeafLifetime)}

	root := s.issue(ca("Game Center Test Root CA"), caValidity, rootKey.Public(), nil, rootKey)
	inter := s.issue(ca("Game Center Test Code Signing CA"), caValidity, interKey.Public(), root, rootKey)
	otherRoot := s.issue(ca("Another Test Root CA"), caValidity, otherKey.Public(), nil, otherKey)
	s.root, s.intermediate = root, inter

	good := s.issue(leaf(Organization), leafValidity, rsaKey.Public(), inter, interKey)
	s.serve(Good, good.Raw, rsaKey)
	s.serve(PEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: good.Raw}), rsaKey)
	s.serve(Expired, s.issue(leaf(Organization), validity{now.Add(-48 * time.Hour), now.Add(-time.Hour)}, rsaKey.Public(), inter, interKey).Raw, rsaKey)
	s.serve(OtherCA, s.issue(leaf(Organization), leafValidity, rsaKey.Public(), otherRoot, otherKey).Raw, rsaKey)
	s.serve(SelfSigned, s.issue(leaf(Organization), leafValidity, rsaKey.Public(), nil, rsaKey).Raw, rsaKey)
	s.serve(NotApple, s.issue(leaf("Not Apple Ltd"), leafValidity, rsaKey.Public(), inter, interKey).Raw, rsaKey)
	s.serve(ECDSA, s.issue(leaf(Organization), leafValidity, ecKey.Public(), inter, interKey).Raw, ecKey)
	s.serve(WeakRSA, s.issue(leaf(Organization), leafValidity, weakKey.Public(), inter, interKey).Raw, weakKey)
	s.serve(Garbage, []byte("this is not a certificate"), rsaKey)
	s.serve(Missing, nil, rsaKey)
	s.serve(Redirect, nil, rsaKey)

	s.srv, s.faults = platformtest.Serve(t, true, func(w http.ResponseWriter) {
		http.Error(w, "internal error", http.StatusInternalServerError)
	}, s.handle)
	return s
}

type validity struct{ notBefore, notAfter time.Time }

func newECKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("gamecentertest: ECDSA key: %v", err)
	}
	return k
}

func ca(cn string) *x509.Certificate {
	return &x509.Certificate{
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"Game Center Test PKI"}},
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
}

// leaf is a certificate shaped like Apple's: a code-signing certificate of
// the organization.
func leaf(org string) *x509.Certificate {
	return &x509.Certificate{
		Subject:     pkix.Name{CommonName: org, Organization: []string{org}, OrganizationalUnit: []string{"GC SRE"}},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}
}

// issue signs tmpl for pub with parent's key; a nil parent self-signs.
func (s *KeyServer) issue(tmpl *x509.Certificate, v validity, pub crypto.PublicKey, parent *x509.Certificate, parentKey crypto.Signer) *x509.Certificate {
	s.t.Helper()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		s.t.Fatalf("gamecentertest: serial: %v", err)
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore, tmpl.NotAfter = v.notBefore, v.notAfter
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		s.t.Fatalf("gamecentertest: certificate %q: %v", tmpl.Subject.CommonName, err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		s.t.Fatalf("gamecentertest: certificate %q: %v", tmpl.Subject.CommonName, err)
	}
	return c
}

func (s *KeyServer) serve(k Key, body []byte, signer crypto.Signer) {
	s.bodies[k], s.signers[k] = body, signer
}

func (s *KeyServer) handle(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == paths[Redirect] {
		http.Redirect(w, r, paths[Good], http.StatusFound)
		return
	}
	for k, p := range paths {
		if r.URL.Path == p && r.Method == http.MethodGet && s.bodies[k] != nil {
			// The media type Apple serves the keys with.
			w.Header().Set("Content-Type", "application/x-x509-ca-cert")
			w.Write(s.bodies[k])
			return
		}
	}
	http.NotFound(w, r)
}

// Roots is a new pool holding the test root CA.
func (s *KeyServer) Roots() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(s.root)
	return p
}

// Intermediates is a new pool holding the test intermediate CA, which the
// server does not send (Apple's does not either).
func (s *KeyServer) Intermediates() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(s.intermediate)
	return p
}

// Client is an HTTPS client that trusts the server's TLS certificate.
func (s *KeyServer) Client() *http.Client { return s.srv.Client() }

// PEM is the PEM of the test root CA, the test intermediate CA and the
// server's TLS certificate, for a process configured by files (roots_file,
// intermediates_file, SSL_CERT_FILE).
func (s *KeyServer) PEM() (root, intermediate, tlsCert []byte) {
	enc := func(c *x509.Certificate) []byte {
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return enc(s.root), enc(s.intermediate), enc(s.srv.Certificate())
}

// KeyHost is the server's host:port, for gamecenter.Config.KeyHosts.
func (s *KeyServer) KeyHost() string { return s.srv.Listener.Addr().String() }

// URL is where key k is served.
func (s *KeyServer) URL(k Key) string { return s.srv.URL + paths[k] }

// Started is when the server was made; its certificates are valid from an
// hour before it to LeafLifetime after.
func (s *KeyServer) Started() time.Time { return s.started }

// Config is a gamecenter.Config that trusts this server's PKI, allows its
// host and fetches with its client, for the given bundle IDs; the caller
// adds the rest.
func (s *KeyServer) Config(bundleIDs ...string) gamecenter.Config {
	return gamecenter.Config{
		BundleIDs:     bundleIDs,
		KeyHosts:      []string{s.KeyHost()},
		Roots:         s.Roots(),
		Intermediates: s.Intermediates(),
		Client:        s.Client(),
	}
}

// SetOutage switches how the server answers; platformtest.Up restores it.
func (s *KeyServer) SetOutage(o platformtest.Outage) { s.faults.Set(o) }

// Fetches is how many requests the server has received.
func (s *KeyServer) Fetches() int { return s.faults.Requests() }

// Items is what a game sends for Game Center: the output of
// fetchItemsForIdentityVerificationSignature with the player ID and bundle
// ID. Tests change its fields to tamper with it.
type Items struct {
	PublicKeyURL string `json:"publicKeyUrl"`
	Signature    string `json:"signature"` // base64
	Salt         string `json:"salt"`      // base64
	Timestamp    uint64 `json:"timestamp"` // milliseconds since the Unix epoch
	PlayerID     string `json:"playerId"`
	BundleID     string `json:"bundleId"`
}

// JSON is the subject token.
func (it Items) JSON() string {
	b, err := json.Marshal(it)
	if err != nil {
		panic(err) // strings and a number: cannot fail
	}
	return string(b)
}

// Sign is the subject token of playerID in the game bundleID at ts, signed
// with the Good key.
func (s *KeyServer) Sign(playerID, bundleID string, ts time.Time) string {
	return s.Items(Good, playerID, bundleID, ts).JSON()
}

// Items signs as GameKit does — RSASSA-PKCS1-v1_5 with SHA-256 (ECDSA for
// the ECDSA key) over playerID ‖ bundleID ‖ timestamp (big-endian uint64)
// ‖ salt — with key k, a fresh 8-byte salt and ts in milliseconds, and
// points publicKeyUrl at k.
func (s *KeyServer) Items(k Key, playerID, bundleID string, ts time.Time) Items {
	s.t.Helper()
	salt := make([]byte, 8)
	rand.Read(salt)
	it := Items{
		PublicKeyURL: s.URL(k),
		Salt:         base64.StdEncoding.EncodeToString(salt),
		Timestamp:    uint64(ts.UnixMilli()),
		PlayerID:     playerID,
		BundleID:     bundleID,
	}
	it.Signature = base64.StdEncoding.EncodeToString(s.SignData(k, SignedData(playerID, bundleID, it.Timestamp, salt)))
	return it
}

// SignData signs data (SHA-256) with key k's private key, for tests that
// build a message of their own.
func (s *KeyServer) SignData(k Key, data []byte) []byte {
	s.t.Helper()
	digest := sha256.Sum256(data)
	sig, err := s.signers[k].Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		s.t.Fatalf("gamecentertest: sign: %v", err)
	}
	return sig
}

// SignedData is the message GameKit signs.
func SignedData(playerID, bundleID string, timestamp uint64, salt []byte) []byte {
	b := append([]byte(playerID), bundleID...)
	b = binary.BigEndian.AppendUint64(b, timestamp)
	return append(b, salt...)
}
