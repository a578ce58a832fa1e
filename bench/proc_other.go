//go:build !linux

package bench

import (
	"errors"
	"os/exec"
)

// dieWithParent is a no-op where the kernel offers no parent-death signal;
// the benchmark still stops its servers on every normal exit path.
func dieWithParent(*exec.Cmd) {}

// clockTicks is only a divisor here: cpuTicks knows no times.
const clockTicks = 100

// cpuTicks knows no CPU times outside Linux: the report says n/a.
func cpuTicks([]int) map[int]int64 { return nil }

func parentPID(int) (int, error) { return 0, errors.New("no /proc") }
