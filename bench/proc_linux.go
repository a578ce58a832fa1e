package bench

import (
	"os/exec"
	"syscall"
)

// dieWithParent has the kernel kill a server the benchmark started if the
// benchmark itself dies (a crash, SIGKILL, an interrupted test), so that no
// broker or limit server is left holding a port and database connections.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
