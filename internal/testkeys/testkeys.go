// Package testkeys hands out RSA private keys for tests from committed
// fixtures, because generating them is what the tests spent their CPU on:
// under -race one rsa.GenerateKey of 2048 bits costs 0.3–1 s of CPU, and
// the fake issuers and key servers made one or two per test.
//
// The keys are in the repository, so they are public: they are for tests
// only. Import this package from _test.go files and test-helper packages
// (the *test ones), never from a package that serves.
//
// Every call returns a key no earlier call in the process returned, since
// tests rely on two keys differing ("a token signed by another key is
// refused"). Once a pool is used up, keys are generated as before: slower,
// still distinct. testdata/ was written by gen.go.
package testkeys

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	_ "embed"
	"encoding/pem"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

var (
	//go:embed testdata/rsa2048.pem
	rsa2048PEM []byte
	//go:embed testdata/rsa1024.pem
	rsa1024PEM []byte

	pool2048 = newPool(2048, rsa2048PEM, -1)
	pool1024 = newPool(1024, rsa1024PEM, -1)
)

// RSA2048 returns a 2048-bit key that no other call in this process
// returned.
func RSA2048(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	return pool2048.next(t)
}

// RSA1024 returns a 1024-bit key that no other call in this process
// returned: too short for a verifier to accept, which is what tests want
// it for.
func RSA1024(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	return pool1024.next(t)
}

// pool hands out the keys of one fixture file, then generated ones.
type pool struct {
	bits  int
	pem   []byte
	limit int // use at most this many fixtures; negative: all

	once  sync.Once
	ders  [][]byte // PKCS #1, one per key; parsed when handed out
	err   error
	taken atomic.Int64
}

func newPool(bits int, pemData []byte, limit int) *pool {
	return &pool{bits: bits, pem: pemData, limit: limit}
}

func (p *pool) next(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	p.once.Do(func() { p.ders, p.err = split(p.pem) })
	if p.err != nil {
		t.Fatalf("testkeys: %d-bit fixtures: %v", p.bits, p.err)
	}
	n := len(p.ders)
	if p.limit >= 0 && p.limit < n {
		n = p.limit
	}
	// Each index is taken once, so no two callers share a key, and a
	// caller may do what it likes with its own.
	if i := int(p.taken.Add(1) - 1); i < n {
		k, err := parse(p.ders[i], p.bits)
		if err != nil {
			t.Fatalf("testkeys: %d-bit fixture %d: %v", p.bits, i, err)
		}
		return k
	}
	t.Logf("testkeys: the %d %d-bit fixtures are used up; generating a key (slow under -race: add fixtures with gen.go)", n, p.bits)
	k, err := rsa.GenerateKey(rand.Reader, p.bits)
	if err != nil {
		t.Fatalf("testkeys: %v", err)
	}
	return k
}

// split returns the DER of each PEM block in data; text around them (the
// file's header) is skipped.
func split(data []byte) ([][]byte, error) {
	var ders [][]byte
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "RSA PRIVATE KEY" {
			return nil, fmt.Errorf("block %d is a %q", len(ders), b.Type)
		}
		ders = append(ders, b.Bytes)
	}
	if len(ders) == 0 {
		return nil, fmt.Errorf("no PEM block")
	}
	return ders, nil
}

func parse(der []byte, bits int) (*rsa.PrivateKey, error) {
	k, err := x509.ParsePKCS1PrivateKey(der)
	if err != nil {
		return nil, err
	}
	if got := k.N.BitLen(); got != bits {
		return nil, fmt.Errorf("key has %d bits", got)
	}
	return k, nil
}
