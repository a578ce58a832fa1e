//go:build ignore

// Gen writes the fixtures testkeys hands out: go run gen.go, in this
// directory. Run it again only to grow a pool; the keys need not stay the
// same, but every key in a file must differ from the others.
package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log"
	"os"
)

const header = `These %d-bit RSA keys are test fixtures of
github.com/bridgekeeper/bridgekeeper/internal/testkeys, made by gen.go.
They are public: never trust them outside tests.

`

// The gamecenter tests, which need the most, take one key of each size per
// fake key server and start about a hundred servers.
func main() {
	write("testdata/rsa2048.pem", 2048, 128)
	write("testdata/rsa1024.pem", 1024, 128)
}

func write(path string, bits, n int) {
	out := fmt.Appendf(nil, header, bits)
	for range n {
		k, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			log.Fatal(err)
		}
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})...)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		log.Fatal(err)
	}
}
