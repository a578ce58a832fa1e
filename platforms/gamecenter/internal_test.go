package gamecenter

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"testing"
	"time"
)

// TestEmbeddedCertificates pins the embedded roots: replacing them must be
// a deliberate change, made with roots.go's comment in hand.
func TestEmbeddedCertificates(t *testing.T) {
	root := parsePEM(t, digicertTrustedRootG4)
	inter := parsePEM(t, digicertG4CodeSigningCA1)
	for _, c := range []struct {
		cert    *x509.Certificate
		subject string
		sha256  string
	}{
		{root, "CN=DigiCert Trusted Root G4,OU=www.digicert.com,O=DigiCert Inc,C=US",
			"552f7bdcf1a7af9e6ce672017f4f12abf77240c78e761ac203d1d9d20ac89988"},
		{inter, "CN=DigiCert Trusted G4 Code Signing RSA4096 SHA384 2021 CA1,O=DigiCert\\, Inc.,C=US",
			"46011ede1c147eb2bc731a539b7c047b7ee93e48b9d3c3ba710ce132bbdfac6b"},
	} {
		if got := c.cert.Subject.String(); got != c.subject {
			t.Errorf("subject %q, want %q", got, c.subject)
		}
		sum := sha256.Sum256(c.cert.Raw)
		if got := hex.EncodeToString(sum[:]); got != c.sha256 {
			t.Errorf("%s: SHA-256 %s, want %s", c.subject, got, c.sha256)
		}
	}
	if err := inter.CheckSignatureFrom(root); err != nil {
		t.Errorf("the intermediate is not signed by the root: %v", err)
	}
	if DefaultRoots().Equal(DefaultIntermediates()) {
		t.Error("the roots and the intermediates are the same pool")
	}
}

func parsePEM(t *testing.T, b []byte) *x509.Certificate {
	t.Helper()
	blk, rest := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		t.Fatal("no certificate")
	}
	if next, _ := pem.Decode(rest); next != nil {
		t.Fatal("more than one certificate")
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCertCache: bounded, the earliest expiry makes room, entries expire
// at the earlier of NotAfter and a day after the fetch.
func TestCertCache(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	cert := func(notAfter time.Duration) *x509.Certificate {
		return &x509.Certificate{NotAfter: now.Add(notAfter)}
	}
	c := newCertCache(3)
	c.put("a", cert(10*time.Hour), now)
	c.put("b", cert(48*time.Hour), now) // kept 24h, not 48
	c.put("c", cert(5*time.Hour), now)
	c.put("d", cert(20*time.Hour), now) // full: c, the earliest to expire, goes
	if n := len(c.entries); n != 3 {
		t.Errorf("%d entries, want 3", n)
	}
	for url, want := range map[string]bool{"a": true, "b": true, "c": false, "d": true} {
		if got := c.get(url, now) != nil; got != want {
			t.Errorf("get(%s) found=%v, want %v", url, got, want)
		}
	}
	if c.get("a", now.Add(10*time.Hour)) != nil {
		t.Error("a is served at its NotAfter")
	}
	if c.get("b", now.Add(24*time.Hour)) != nil {
		t.Error("b is served a day after its fetch")
	}
	if c.get("d", now.Add(19*time.Hour)) == nil {
		t.Error("d is gone before its NotAfter")
	}
	c.put("e", cert(-time.Minute), now)
	if c.get("e", now) != nil {
		t.Error("an expired certificate was kept")
	}
	for i := range 100 {
		c.put(fmt.Sprint(i), cert(time.Hour), now)
	}
	if n := len(c.entries); n > 3 {
		t.Errorf("%d entries after 100 puts, want at most 3", n)
	}
}
