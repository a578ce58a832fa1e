package main

import (
	"runtime/debug"
	"testing"

	"github.com/bridgekeeper/bridgekeeper/config"
)

// TestTuneGC: serve collects at config.GCPercent unless the environment sets GOGC,
// which then stays as the runtime read it.
func TestTuneGC(t *testing.T) {
	// Not parallel: the GC percent is the process's.
	const before = 150
	for _, tc := range []struct {
		name string
		gogc string
		set  bool
		want int
	}{
		{"GOGC unset: serve's own", "", false, config.GCPercent},
		{"GOGC set: the operator's, untouched", "50", true, before},
		{"GOGC set empty: still the operator's", "", true, before},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := debug.SetGCPercent(before)
			defer debug.SetGCPercent(old)
			tuneGC(func(k string) (string, bool) {
				if k != "GOGC" {
					t.Errorf("looked up %q, want GOGC", k)
				}
				return tc.gogc, tc.set
			})
			if got := debug.SetGCPercent(before); got != tc.want {
				t.Errorf("GC percent %d, want %d", got, tc.want)
			}
		})
	}
}
