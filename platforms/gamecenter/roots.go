package gamecenter

import (
	"crypto/x509"
	_ "embed"
)

// Apple publishes no root for Game Center: its certificates are ordinary
// code-signing certificates bought from a public CA, and the chain is
// whatever that CA uses that year. What we embed was checked offline, on
// the material at hand, and must be checked again against the chain of the
// certificate Apple serves now (openssl x509 -inform DER -in gc-prod-N.cer
// -noout -issuer -ext authorityInfoAccess) whenever Apple rotates it:
//
//   - gc-prod-6 (July 2021) and its successors are issued to "Apple Inc.,
//     OU=GC SRE" by DigiCert Trusted G4 Code Signing RSA4096 SHA384 2021
//     CA1, which DigiCert Trusted Root G4 signed. We embed that root (as
//     Mozilla's root store carries it) and that intermediate (Apple serves
//     the leaf alone, and Go does not follow the AIA URL to fetch it). Both
//     signatures were verified with openssl: the intermediate's against the
//     root, and a real 2021 Game Center certificate's against the
//     intermediate (testdata/apple-gc-2021-digicert.pem, and
//     TestAppleChain).
//   - Before that, gc-prod-4 and earlier were issued by Symantec Class 3
//     SHA256 Code Signing CA under VeriSign Class 3 Public Primary
//     Certification Authority - G5. Apple no longer serves them and
//     browsers distrust that hierarchy, so it is not embedded.
//
// We have not seen the certificate Apple serves today (no network here).
// If Apple moved to another CA, every Game Center sign-in is refused with
// "the Game Center certificate is not issued by a trusted authority"; set
// Config.Roots and Config.Intermediates to the new chain until this file
// is updated. The root is a public CA that sells code-signing certificates
// to anyone, which is why Verify also checks the URL's host and the
// subject's organization.

//go:embed digicert-trusted-root-g4.pem
var digicertTrustedRootG4 []byte

//go:embed digicert-trusted-g4-code-signing-rsa4096-sha384-2021-ca1.pem
var digicertG4CodeSigningCA1 []byte

// DefaultRoots is a new pool of the roots Game Center certificates are
// checked against when Config.Roots is nil: DigiCert Trusted Root G4.
func DefaultRoots() *x509.CertPool { return pool(digicertTrustedRootG4) }

// DefaultIntermediates is a new pool of the intermediates offered for the
// chain when Config.Intermediates is nil: DigiCert Trusted G4 Code Signing
// RSA4096 SHA384 2021 CA1. Intermediates are not trusted by themselves:
// they only help a chain reach one of the roots.
func DefaultIntermediates() *x509.CertPool { return pool(digicertG4CodeSigningCA1) }

func pool(pemCerts []byte) *x509.CertPool {
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pemCerts) {
		// The files are compiled in and TestEmbeddedCertificates pins them.
		panic("gamecenter: an embedded certificate does not parse")
	}
	return p
}
