package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestProductionBinaryHasNoBenchmark: the bridgekeeper binary must not link
// package bench, whose limit servers accept a constant test secret.
func TestProductionBinaryHasNoBenchmark(t *testing.T) {
	const pkg = "github.com/bridgekeeper/bridgekeeper/bench"
	for _, c := range []struct {
		cmd  string
		want bool
	}{
		{"github.com/bridgekeeper/bridgekeeper/cmd/bridgekeeper", false},
		// The check can fail: this command does link it.
		{"github.com/bridgekeeper/bridgekeeper/cmd/bridgekeeper-bench", true},
	} {
		out, err := exec.Command("go", "list", "-deps", c.cmd).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", c.cmd, err)
		}
		got := false
		for _, dep := range strings.Fields(string(out)) {
			got = got || dep == pkg
		}
		if got != c.want {
			t.Errorf("%s links %s: %v, want %v", c.cmd, pkg, got, c.want)
		}
	}
}
