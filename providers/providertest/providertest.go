// Package providertest holds checks shared by the providers' tests.
package providertest

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/bridgekeeper/bridgekeeper/providers"
)

// CheckUpstreamErr asserts that err wraps providers.ErrUpstream, mentions
// sub, and, when rfcErr is given, carries the upstream's RFC 6749 error code.
func CheckUpstreamErr(t *testing.T, err error, sub, rfcErr string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", sub)
	}
	t.Logf("error: %v", err)
	if !errors.Is(err, providers.ErrUpstream) {
		t.Errorf("%v does not wrap providers.ErrUpstream", err)
	}
	if !strings.Contains(err.Error(), sub) {
		t.Errorf("error %q does not contain %q", err, sub)
	}
	if rfcErr != "" {
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != rfcErr {
			t.Errorf("error %v: want an *oauth2.RetrieveError with code %q", err, rfcErr)
		}
	}
}
