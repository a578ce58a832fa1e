package dpop_test

import (
	"fmt"
	"testing"

	"github.com/bridgekeeper/bridgekeeper/internal/replaytest"
	jose "github.com/go-jose/go-jose/v4"
)

// htu is compared ignoring what clients and proxies vary without meaning
// anything else; everything else must match.
func TestHTUMatching(t *testing.T) {
	k := newKeys(t)
	for i, tc := range []struct {
		htu, url string
		match    bool
	}{
		{"https://auth.example.com/oauth2/token", "https://auth.example.com/oauth2/token", true},
		{"https://auth.example.com/oauth2/token?x=1#frag", "https://auth.example.com/oauth2/token", true},
		{"https://auth.example.com/oauth2/token", "https://auth.example.com/oauth2/token?grant=1", true},
		{"https://AUTH.Example.COM/oauth2/token", "https://auth.example.com/oauth2/token", true},
		{"HTTPS://auth.example.com/oauth2/token", "https://auth.example.com/oauth2/token", true},
		{"https://auth.example.com:443/oauth2/token", "https://auth.example.com/oauth2/token", true},
		{"https://auth.example.com/oauth2/token", "https://auth.example.com:443/oauth2/token", true},
		{"https://auth.example.com:/oauth2/token", "https://auth.example.com/oauth2/token", true},
		{"http://auth.example.com:80/oauth2/token", "http://auth.example.com/oauth2/token", true},
		{"https://auth.example.com", "https://auth.example.com/", true},
		{"https://auth.example.com/a%7eb/%2f", "https://auth.example.com/a~b/%2F", true},
		{"https://[::1]:443/token", "https://[::1]/token", true},
		{"https://[::1]:8443/token", "https://[::1]:8443/token", true},

		{"https://auth.example.com:80/oauth2/token", "https://auth.example.com/oauth2/token", false},
		{"http://auth.example.com:443/oauth2/token", "http://auth.example.com/oauth2/token", false},
		{"https://auth.example.com:8443/oauth2/token", "https://auth.example.com/oauth2/token", false},
		{"https://auth.example.com/OAuth2/token", "https://auth.example.com/oauth2/token", false},
		{"https://auth.example.com/oauth2/token/", "https://auth.example.com/oauth2/token", false},
		{"https://auth.example.com/a%2Fb", "https://auth.example.com/a/b", false},
		{"https://user@auth.example.com/oauth2/token", "https://auth.example.com/oauth2/token", false},
		{"https://auth.example.com.evil.com/oauth2/token", "https://auth.example.com/oauth2/token", false},
	} {
		t.Run(fmt.Sprintf("%d %s", i, tc.htu), func(t *testing.T) {
			v := newVerifier(t, &replaytest.Memory{})
			c := goodClaims("jti-1")
			c["htu"] = tc.htu
			proof := proofSpec{alg: jose.ES256, key: k.ec, jwk: pub(k.ec), typ: "dpop+jwt", claims: c}.sign(t)
			_, err := v.Verify(t.Context(), proof, "POST", tc.url, "")
			if tc.match {
				if err != nil {
					t.Fatalf("htu %s for %s: %v", tc.htu, tc.url, err)
				}
				return
			}
			assertRefused(t, err, "htu does not match")
		})
	}
}
