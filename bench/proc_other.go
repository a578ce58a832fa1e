//go:build !linux

package bench

import "os/exec"

// dieWithParent is a no-op where the kernel offers no parent-death signal;
// the benchmark still stops its servers on every normal exit path.
func dieWithParent(*exec.Cmd) {}
