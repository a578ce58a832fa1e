package main

import (
	"strings"
	"testing"

	"github.com/bridgekeeper/bridgekeeper/internal/proctest"
)

// The container image's HEALTHCHECK: healthy while serve answers /readyz
// 200 at the configured address (here through the environment, as in the
// image), unhealthy where nothing listens.
func TestHealthcheck(t *testing.T) {
	t.Parallel()
	srv := startServe(t, sqliteURL(t), []string{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY=" + proctest.NewKEK()})
	addr := strings.TrimPrefix(srv.URL, "http://")
	if r := bk(t, []string{"BRIDGEKEEPER_ADDR=" + addr}, "healthcheck"); r.code != 0 || !strings.Contains(r.stdout, "200 OK") {
		t.Errorf("healthcheck of a ready broker:\n%s", r)
	}
	if r := bk(t, nil, "healthcheck", "--addr", proctest.FreeAddr(t), "--timeout", "1s"); r.code == 0 {
		t.Errorf("healthcheck where nothing listens succeeded:\n%s", r)
	}
}

func TestDialable(t *testing.T) {
	for _, tc := range []struct{ listen, want string }{
		{":8080", "127.0.0.1:8080"},
		{"0.0.0.0:8080", "127.0.0.1:8080"},
		{"[::]:8080", "127.0.0.1:8080"},
		{"10.0.0.5:8080", "10.0.0.5:8080"},
		{"broker.internal:8080", "broker.internal:8080"},
	} {
		if got := dialable(tc.listen); got != tc.want {
			t.Errorf("dialable(%q) = %q, want %q", tc.listen, got, tc.want)
		}
	}
}
