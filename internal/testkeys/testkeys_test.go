package testkeys

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"testing"
)

// checkDistinct fails t unless every key is valid, has bits bits and a
// modulus no other key has.
func checkDistinct(t *testing.T, bits int, keys ...*rsa.PrivateKey) {
	t.Helper()
	seen := map[string]int{}
	for i, k := range keys {
		if err := k.Validate(); err != nil {
			t.Errorf("key %d is invalid: %v", i, err)
		}
		if got := k.N.BitLen(); got != bits {
			t.Errorf("key %d has %d bits; want %d", i, got, bits)
		}
		n := k.N.String()
		if j, ok := seen[n]; ok {
			t.Errorf("keys %d and %d are the same", j, i)
		}
		seen[n] = i
	}
}

func TestFixtures(t *testing.T) {
	for _, f := range []struct {
		bits, n int
		pem     []byte
	}{{2048, 128, rsa2048PEM}, {1024, 128, rsa1024PEM}} {
		ders, err := split(f.pem)
		if err != nil {
			t.Fatalf("%d bits: %v", f.bits, err)
		}
		if len(ders) != f.n {
			t.Errorf("%d bits: %d fixtures; want %d", f.bits, len(ders), f.n)
		}
		keys := make([]*rsa.PrivateKey, len(ders))
		for i, der := range ders {
			if keys[i], err = parse(der, f.bits); err != nil {
				t.Fatalf("%d bits, fixture %d: %v", f.bits, i, err)
			}
		}
		checkDistinct(t, f.bits, keys...)
	}
}

func TestExported(t *testing.T) {
	checkDistinct(t, 2048, RSA2048(t), RSA2048(t))
	checkDistinct(t, 1024, RSA1024(t), RSA1024(t))
}

// Past the fixtures a pool generates keys, which must differ from the
// fixtures it handed out.
func TestPoolUsedUp(t *testing.T) {
	p := newPool(1024, rsa1024PEM, 2)
	var keys []*rsa.PrivateKey
	for range 4 {
		keys = append(keys, p.next(t))
	}
	checkDistinct(t, 1024, keys...)
	ders, err := split(rsa1024PEM)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		fixture := i < 2
		if got := string(x509.MarshalPKCS1PrivateKey(k)) == string(ders[i]); got != fixture {
			t.Errorf("key %d is fixture %d: %v; want %v", i, i, got, fixture)
		}
	}
}

// A damaged fixture file must stop the tests rather than hand out a wrong
// key.
func TestBadFixtures(t *testing.T) {
	ders, err := split(rsa1024PEM)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"empty":       nil,
		"no PEM":      []byte("not a key"),
		"certificate": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ders[0]}),
	} {
		if _, err := split(data); err == nil {
			t.Errorf("split(%s) succeeded", name)
		}
	}
	if _, err := parse(ders[0], 2048); err == nil {
		t.Error("a 1024-bit key was taken for a 2048-bit one")
	}
	if _, err := parse(ders[0][:len(ders[0])/2], 1024); err == nil {
		t.Error("a truncated key was parsed")
	}
}
