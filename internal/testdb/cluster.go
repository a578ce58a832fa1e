package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/internal/loopback"
	"github.com/jackc/pgx/v5"
)

// Cluster is a private, throwaway PostgreSQL cluster for one test: a test
// that stops, starts or locks up the database must not do so to the shared
// cluster of scripts/testdb.sh, which the other tests use concurrently.
//
// Like the shared one it listens on 127.0.0.1 only, on a free port, with
// trust authentication, and keeps fsync on; its unix socket lives in its own
// directory. As root the cluster runs as the postgres user (PostgreSQL
// refuses to run as root). It is stopped and deleted when the test ends.
type Cluster struct {
	t    testing.TB
	bin  string // the PostgreSQL bin directory
	dir  string // owned by the cluster's user: data/, the socket, postgres.log
	port int

	mu      sync.Mutex
	running bool
	frozen  []int // the processes Freeze stopped
}

// clusterTimeout bounds one pg_ctl start or stop.
const clusterTimeout = 90 * time.Second

// NewCluster initialises and starts a private cluster. Without PostgreSQL
// binaries the test is skipped, or fails under CI, as Postgres does.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	bin, err := PostgresBin()
	if err == nil && os.Geteuid() == 0 {
		if _, uerr := user.Lookup("postgres"); uerr != nil {
			err = fmt.Errorf("running as root and there is no postgres user to run the cluster as: %w", uerr)
		}
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("testdb: %v; under CI the PostgreSQL tests must run (make test installs PostgreSQL)", err)
		}
		t.Skipf("testdb: %v; make test installs PostgreSQL", err)
	}

	// /tmp rather than t.TempDir(): the postgres user must be able to reach
	// it, and the parents of t.TempDir() are private to the caller.
	dir, err := os.MkdirTemp("/tmp", "bridgekeeper-cluster-")
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	c := &Cluster{t: t, bin: bin, dir: dir}
	t.Cleanup(c.destroy)
	if err := c.chown(dir); err != nil {
		t.Fatalf("testdb: %v", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatalf("testdb: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	data := filepath.Join(dir, "data")
	if err := c.initdb(ctx, data); err != nil {
		t.Fatalf("testdb: %v", err)
	}
	conf := fmt.Sprintf(`
listen_addresses = '127.0.0.1'
unix_socket_directories = '%s'
max_connections = 200
fsync = on
synchronous_commit = on
full_page_writes = on
`, dir)
	if err := appendFile(filepath.Join(data, "postgresql.conf"), conf); err != nil {
		t.Fatalf("testdb: postgresql.conf: %v", err)
	}

	if err := c.startOnFreePort(); err != nil {
		t.Fatalf("testdb: %v\npostgres.log:\n%s", err, tail(c.Log(), 30))
	}
	return c
}

// initdb makes data a new cluster's directory: a copy of one initdb made
// once for this PostgreSQL and user and keeps in /tmp, for every test
// process after it (initdb costs about 1.2 s of CPU, a copy 0.15 s, and the
// fault tests make a dozen clusters). Processes that find none at once
// each make one and the first to rename it into place wins.
func (c *Cluster) initdb(ctx context.Context, data string) error {
	pristine := filepath.Join("/tmp", fmt.Sprintf("bridgekeeper-initdb-%d-%s", os.Geteuid(), strings.ReplaceAll(strings.Trim(c.bin, "/"), "/", "_")))
	if _, err := os.Stat(filepath.Join(pristine, "data", "PG_VERSION")); err != nil {
		build, err := os.MkdirTemp("/tmp", "bridgekeeper-initdb-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(build) // after a lost race, or a failure
		if err := c.chown(build); err != nil {
			return err
		}
		if out, err := c.asPG(ctx, filepath.Join(c.bin, "initdb"), "-D", filepath.Join(build, "data"), "-U", "postgres",
			"--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync").CombinedOutput(); err != nil {
			return fmt.Errorf("initdb in %s: %v\n%s", build, err, out)
		}
		if err := os.Rename(build, pristine); err != nil && !errors.Is(err, os.ErrExist) && !errors.Is(err, syscall.ENOTEMPTY) {
			return err
		}
	}
	if out, err := c.asPG(ctx, "cp", "-a", filepath.Join(pristine, "data"), data).CombinedOutput(); err != nil {
		return fmt.Errorf("copy the initdb'd cluster %s: %v\n%s", pristine, err, out)
	}
	return nil
}

// startOnFreePort picks a free port and starts the cluster on it. Another
// process may take the port between the check and the bind, so a failed
// bind is retried on a fresh one, as scripts/testdb.sh does.
func (c *Cluster) startOnFreePort() error {
	for attempt := 1; ; attempt++ {
		var err error
		if c.port, err = loopback.FreePort(); err != nil {
			return err
		}
		err = c.start()
		if err == nil {
			return nil
		}
		if attempt >= 5 || !strings.Contains(c.Log(), "could not bind") && !strings.Contains(c.Log(), "could not create any TCP") {
			return err
		}
	}
}

// PostgresBin returns the newest /usr/lib/postgresql/<major>/bin that holds
// initdb, as scripts/testdb.sh picks it.
func PostgresBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	type cand struct {
		dir   string
		major int
	}
	var cands []cand
	majorRE := regexp.MustCompile(`^/usr/lib/postgresql/([0-9]+)(\.[^/]*)?/bin$`)
	for _, d := range dirs {
		m := majorRE.FindStringSubmatch(d)
		if m == nil {
			continue
		}
		if fi, err := os.Stat(filepath.Join(d, "initdb")); err != nil || fi.Mode()&0o111 == 0 {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		cands = append(cands, cand{d, n})
	}
	if len(cands) == 0 {
		return "", errors.New("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb)")
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].major > cands[j].major })
	return cands[0].dir, nil
}

// URL is the superuser URL of the cluster's postgres database. It stays the
// same across Stop and Start.
func (c *Cluster) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// Port is the TCP port the cluster listens on.
func (c *Cluster) Port() int { return c.port }

// NewDatabase creates a fresh database on the cluster and returns its URL.
// It goes with the cluster when the test ends.
func (c *Cluster) NewDatabase(t testing.TB) string {
	t.Helper()
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("testdb: %v", err)
	}
	name := "bkfault_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.URL())
	if err != nil {
		t.Fatalf("testdb: connect to the private cluster: %v", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("testdb: create database %s: %v", name, err)
	}
	u, _ := url.Parse(c.URL())
	u.Path = "/" + name
	return u.String()
}

// Stop stops the cluster with pg_ctl stop -m fast: open sessions are
// disconnected and their transactions rolled back.
func (c *Cluster) Stop() {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.stop(); err != nil {
		c.t.Fatalf("testdb: %v\npostgres.log:\n%s", err, tail(c.Log(), 30))
	}
}

// Start starts the stopped cluster again, on the same port, and waits until
// it accepts connections.
func (c *Cluster) Start() {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running {
		return
	}
	if err := c.start(); err != nil {
		c.t.Fatalf("testdb: %v\npostgres.log:\n%s", err, tail(c.Log(), 30))
	}
}

// Freeze stops every process of the running cluster with SIGSTOP: the
// kernel still accepts TCP connections, but nothing answers, like a hung
// database host. Queries in flight hang, and so do new connections. Thaw
// resumes it; so does the cleanup.
func (c *Cluster) Freeze() {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.running || c.frozen != nil {
		c.t.Fatalf("testdb: Freeze of a cluster that is not running, or already frozen")
	}
	pids, err := c.pids()
	if err != nil {
		c.t.Fatalf("testdb: %v", err)
	}
	// The postmaster first, so that it forks no new backend meanwhile.
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil && !errors.Is(err, syscall.ESRCH) {
			c.thaw(pids)
			c.t.Fatalf("testdb: SIGSTOP %d: %v", pid, err)
		}
	}
	c.frozen = pids
}

// Thaw resumes a frozen cluster with SIGCONT.
func (c *Cluster) Thaw() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.thaw(c.frozen)
	c.frozen = nil
}

func (c *Cluster) thaw(pids []int) {
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGCONT)
	}
}

// postmaster is the pid that postmaster.pid names; the file outlives a
// postmaster killed with SIGKILL.
func (c *Cluster) postmaster() (int, error) {
	b, err := os.ReadFile(filepath.Join(c.dir, "data", "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pm, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return 0, fmt.Errorf("postmaster.pid: %q", first)
	}
	return pm, nil
}

// pids lists the postmaster, from postmaster.pid, and then its children.
func (c *Cluster) pids() ([]int, error) {
	pm, err := c.postmaster()
	if err != nil {
		return nil, err
	}
	pids := []int{pm}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, st := range stats {
		b, err := os.ReadFile(st)
		if err != nil {
			continue // exited meanwhile
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 {
			continue
		}
		if ppid, _ := strconv.Atoi(f[1]); ppid == pm {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(st)))
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// Log returns the server's log so far.
func (c *Cluster) Log() string {
	b, _ := os.ReadFile(filepath.Join(c.dir, "postgres.log"))
	return string(b)
}

// start runs pg_ctl start and waits; the caller holds mu or owns c alone.
func (c *Cluster) start() error {
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	out, err := c.asPG(ctx, filepath.Join(c.bin, "pg_ctl"), "-D", filepath.Join(c.dir, "data"),
		"-l", filepath.Join(c.dir, "postgres.log"), "-o", fmt.Sprintf("-p %d", c.port),
		"-w", "-t", strconv.Itoa(int(clusterTimeout/time.Second)), "start").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl start on port %d: %v\n%s", c.port, err, out)
	}
	c.running = true
	// pg_ctl -w waits for the server; pg_isready confirms TCP answers.
	for deadline := time.Now().Add(30 * time.Second); ; {
		if exec.CommandContext(ctx, filepath.Join(c.bin, "pg_isready"), "-q", "-h", "127.0.0.1",
			"-p", strconv.Itoa(c.port), "-U", "postgres", "-d", "postgres").Run() == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres on port %d is not accepting connections", c.port)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop runs pg_ctl stop -m fast; the caller holds mu.
func (c *Cluster) stop() error {
	if !c.running {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	out, err := c.asPG(ctx, filepath.Join(c.bin, "pg_ctl"), "-D", filepath.Join(c.dir, "data"),
		"-m", "fast", "-w", "-t", strconv.Itoa(int(clusterTimeout/time.Second)), "stop").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %v\n%s", err, out)
	}
	c.running = false
	return nil
}

// destroy stops the cluster if it runs and deletes its directory.
func (c *Cluster) destroy() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.thaw(c.frozen)
	c.frozen = nil
	// Also a server left behind by a failed start; not one that Kill9
	// killed, whose postmaster.pid stays behind.
	if pm, err := c.postmaster(); err == nil && Alive(pm) {
		c.running = true
	}
	if err := c.stop(); err != nil {
		c.t.Errorf("testdb: %v", err)
	}
	if c.t.Failed() {
		c.t.Logf("testdb: private cluster log (tail):\n%s", tail(c.Log(), 40))
	}
	if strings.HasPrefix(filepath.Base(c.dir), "bridgekeeper-cluster-") {
		os.RemoveAll(c.dir)
	}
}

// asPG runs a command as the cluster's owner: as root, the postgres user;
// anyone else runs it as themselves. From / because the postgres user may
// not be able to enter the caller's working directory.
func (c *Cluster) asPG(ctx context.Context, name string, args ...string) *exec.Cmd {
	var cmd *exec.Cmd
	if os.Geteuid() == 0 {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, name, args...)
	}
	cmd.Dir = "/"
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// chown hands dir to the postgres user when running as root.
func (c *Cluster) chown(dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return os.Chown(dir, uid, gid)
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
