package gamecenter_test

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/platforms/gamecenter"
	"github.com/bridgekeeper/bridgekeeper/platforms/gamecenter/gamecentertest"
)

// These tests use Apple's own certificates and signature, so that the
// format is checked against Apple and not only against our fake (which
// signs what the verifier expects, right or wrong).

// serveCert serves the certificate of a testdata PEM file, DER-encoded as
// Apple serves it, over HTTPS on loopback.
func serveCert(t *testing.T, file string) (*x509.Certificate, *httptest.Server) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM block", file)
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/x-x509-ca-cert")
		w.Write(blk.Bytes)
	}))
	t.Cleanup(srv.Close)
	return cert, srv
}

// TestAppleSignature verifies a real Game Center signature: made in 2019
// for player G:1965586982 of cloud.xtralife.gamecenterauth with the key of
// gc-prod-4.cer, as published in parse-server's tests. That certificate's
// Symantec chain is no longer trusted, so the test trusts the certificate
// itself; what it checks is the signed message and the signature scheme.
func TestAppleSignature(t *testing.T) {
	cert, srv := serveCert(t, "testdata/apple-gc-2018-symantec.pem")
	const ts = 1565257031287
	token := `{"publicKeyUrl":"` + srv.URL + `/public-key/gc-prod-4.cer",` +
		`"timestamp":1565257031287,` +
		`"signature":"uqLBTr9Uex8zCpc1UQ1MIDMitb+HUat2Mah4Kw6AVLSGe0gGNJXlih2i5X+0ZwVY0S9zY2NHWi2gFjmhjt/4kxWGMkupqXX5H/qhE2m7hzox6lZJpH98ZEUbouWRfZX2ZhUlCkAX09oRNi7fI7mWL1/o88MaI/y6k6tLr14JTzmlxgdyhw+QRLxRPA6NuvUlRSJpyJ4aGtNH5/wHdKQWL8nUnFYiYmaY8R7IjzNxPfy8UJTUWmeZvMSgND4u8EjADPsz7ZtZyWAPi8kYcAb6M8k0jwLD3vrYCB8XXyO2RQb/FY2TM4zJuI7PzLlvvgOJXbbfVtHx7Evnm5NYoyzgzw==",` +
		`"salt":"DzqqrQ==","playerId":"G:1965586982","bundleId":"cloud.xtralife.gamecenterauth"}`
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	cfg := gamecenter.Config{
		BundleIDs:     []string{"cloud.xtralife.gamecenterauth"},
		KeyHosts:      []string{srv.Listener.Addr().String()},
		Roots:         roots,
		Intermediates: x509.NewCertPool(),
		Client:        srv.Client(),
		Now:           func() time.Time { return time.UnixMilli(ts + 2000) },
	}
	id, err := verify(t, cfg, token)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if id.UserID != "G:1965586982" {
		t.Errorf("UserID = %q, want G:1965586982", id.UserID)
	}
}

// TestAppleChain: a real Game Center certificate of 2021 chains to the
// embedded roots through the embedded intermediate, is Apple's and holds an
// RSA key — so with a made-up signature the refusal is the signature's.
func TestAppleChain(t *testing.T) {
	_, srv := serveCert(t, "testdata/apple-gc-2021-digicert.pem")
	sig := make([]byte, 512) // RSA-4096
	rand.Read(sig)
	at := time.Date(2021, 12, 1, 12, 0, 0, 0, time.UTC)
	token := gamecentertest.Items{
		PublicKeyURL: srv.URL + "/public-key/gc-prod-6.cer",
		Signature:    base64.StdEncoding.EncodeToString(sig),
		Salt:         base64.StdEncoding.EncodeToString([]byte{1, 2, 3, 4}),
		Timestamp:    uint64(at.UnixMilli()),
		PlayerID:     player,
		BundleID:     bundle,
	}.JSON()
	config := func(now time.Time) gamecenter.Config {
		return gamecenter.Config{
			BundleIDs: []string{bundle},
			KeyHosts:  []string{srv.Listener.Addr().String()},
			Client:    srv.Client(),
			Now:       func() time.Time { return now },
		}
	}
	t.Run("the default roots accept Apple's chain", func(t *testing.T) {
		id, err := verify(t, config(at), token)
		wantRefusal(t, id, err, broker.KindInvalid, "signature does not verify", token)
	})
	t.Run("should fail because without the embedded intermediate there is no chain", func(t *testing.T) {
		cfg := config(at)
		cfg.Intermediates = x509.NewCertPool()
		id, err := verify(t, cfg, token)
		wantRefusal(t, id, err, broker.KindInvalid, "not issued by a trusted authority", token)
	})
	t.Run("should fail because other roots do not accept Apple's chain", func(t *testing.T) {
		cfg := config(at)
		cfg.Roots = x509.NewCertPool()
		id, err := verify(t, cfg, token)
		wantRefusal(t, id, err, broker.KindInvalid, "not issued by a trusted authority", token)
	})
	t.Run("should fail because the certificate expired in July 2022", func(t *testing.T) {
		later := time.Date(2022, 8, 1, 0, 0, 0, 0, time.UTC)
		fresh := gamecentertest.Items{PublicKeyURL: srv.URL + "/public-key/gc-prod-6.cer",
			Signature: base64.StdEncoding.EncodeToString(sig), Salt: "AQIDBA==",
			Timestamp: uint64(later.UnixMilli()), PlayerID: player, BundleID: bundle}.JSON()
		id, err := verify(t, config(later), fresh)
		wantRefusal(t, id, err, broker.KindInvalid, "certificate has expired", fresh)
	})
}
