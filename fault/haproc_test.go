//go:build ha

package fault

// The processes of the HA stack: daemons with their output in a file, the
// postmasters Patroni detaches, and a reaper for what they leave behind.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/internal/testdb"
)

// daemon is a long-running process of the stack in a process group of its
// own, so that a signal reaches what it forked too (Patroni's pg_ctl,
// pg_basebackup; not the postmaster, which leaves with setsid). Its output
// goes to a file: the postmaster inherits Patroni's, and outlives a killed
// Patroni, which would hold up cmd.Wait on a pipe.
type daemon struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// startDaemon starts name with args; asPostgres runs it as the postgres
// user when the test runs as root.
func startDaemon(t *testing.T, logPath string, asPostgres bool, env []string, name string, args ...string) *daemon {
	t.Helper()
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(name, args...)
	cmd.Env = env
	cmd.Dir = filepath.Dir(logPath)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if uid, gid, ok := postgresUser(t); ok && asPostgres {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	d := &daemon{cmd: cmd, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(d.done)
	}()
	return d
}

func (d *daemon) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// signal signals the daemon's process group.
func (d *daemon) signal(sig syscall.Signal) { syscall.Kill(-d.cmd.Process.Pid, sig) }

func (d *daemon) waitExit(within time.Duration) bool {
	select {
	case <-d.done:
		return true
	case <-time.After(within):
		return false
	}
}

// kill sends SIGKILL to the group and waits for the daemon to be gone.
func (d *daemon) kill() {
	if !d.exited() {
		d.signal(syscall.SIGKILL)
		d.waitExit(10 * time.Second)
	}
}

// postmasterPID is the pid that a node's postmaster.pid names; the file
// outlives a postmaster killed with SIGKILL.
func postmasterPID(node string) (int, error) {
	b, err := os.ReadFile(filepath.Join(node, "data", "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(string(b), "\n")
	return strconv.Atoi(strings.TrimSpace(first))
}

// procStat is the state, parent and command name of pid, from
// /proc/<pid>/stat; ok is false once it is gone.
func procStat(pid int) (state byte, ppid int, comm string, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, "", false
	}
	// pid (comm) state ppid ...; comm may hold spaces and parentheses.
	s := string(b)
	lp, rp := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if lp < 0 || rp < lp {
		return 0, 0, "", false
	}
	f := strings.Fields(s[rp+1:])
	if len(f) < 2 {
		return 0, 0, "", false
	}
	ppid, _ = strconv.Atoi(f[1])
	return f[0][0], ppid, s[lp+1 : rp], true
}

// pids lists every process.
func pids() []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) []int {
	if pid <= 0 {
		return nil
	}
	var out []int
	for _, p := range pids() {
		if _, ppid, _, ok := procStat(p); ok && ppid == pid {
			out = append(out, p)
		}
	}
	return out
}

// removeShm removes the shared memory a killed node's postmaster left.
func removeShm(t *testing.T, node string) {
	if err := testdb.RemoveShm(filepath.Join(node, "data")); err != nil {
		t.Logf("the killed node: %v", err)
	}
}

// prSetChildSubreaper is prctl's PR_SET_CHILD_SUBREAPER.
const prSetChildSubreaper = 36

// orphanNames are the processes the reaper takes: what Patroni starts and
// detaches (the postmaster and its backends), or leaves behind when it is
// killed (pg_ctl, pg_basebackup, the python3 that spawns the postmaster).
// Never a process the test started itself, which exec.Cmd waits for.
var orphanNames = map[string]bool{
	"postgres": true, "pg_ctl": true, "pg_basebackup": true, "pg_rewind": true,
	"initdb": true, "psql": true, "pg_controldata": true, "python3": true,
}

// reaper makes the test process the subreaper of everything the stack
// starts, and reaps it. Patroni detaches each postmaster (it double-forks
// it), and a killed postmaster's backends lose their parent; orphans go to
// PID 1, which here does not reap them, and would be left as zombies.
type reaper struct {
	t    *testing.T
	quit chan struct{}
	done chan struct{}
}

func startReaper(t *testing.T) *reaper {
	t.Helper()
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		t.Fatalf("prctl(PR_SET_CHILD_SUBREAPER): %v", errno)
	}
	r := &reaper{t: t, quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for {
			r.reap()
			select {
			case <-r.quit:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return r
}

// reap waits for every zombie orphan; it returns the orphans that still
// run.
func (r *reaper) reap() []int {
	me := os.Getpid()
	var running []int
	for _, pid := range pids() {
		state, ppid, comm, ok := procStat(pid)
		if !ok || ppid != me || !orphanNames[comm] {
			continue
		}
		if state == 'Z' {
			var ws syscall.WaitStatus
			syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
			continue
		}
		running = append(running, pid)
	}
	return running
}

// stop waits for the orphans to end (the stack has stopped what it
// started), kills any that do not, and reaps them.
func (r *reaper) stop() {
	close(r.quit)
	<-r.done
	defer syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 0, 0)
	deadline, killed := time.Now().Add(10*time.Second), false
	for left := r.reap(); len(left) > 0; left = r.reap() {
		switch {
		case time.Now().Before(deadline):
		case killed:
			r.t.Errorf("processes of the stack still run 10s after SIGKILL: pids %v", left)
			return
		default:
			r.t.Errorf("%d processes of the stack still ran 10s after it stopped (pids %v); killed", len(left), left)
			for _, pid := range left {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			deadline, killed = time.Now().Add(10*time.Second), true
		}
		time.Sleep(50 * time.Millisecond)
	}
}
