package testdb

// Streaming replication between two private clusters, for the failover
// tests: a standby made with pg_basebackup, a primary that dies as a host
// crash would kill it, and a promotion.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// NewStandby makes a hot standby of the running cluster c and starts it on
// a free port of its own: pg_basebackup -R of c (standby.signal and
// primary_conninfo), streaming through a replication slot on c. It answers
// reads; a write fails with SQLSTATE 25006 until Promote.
//
// With synchronous, c acknowledges a commit only once the standby has
// flushed it (synchronous_standby_names names the standby,
// synchronous_commit = on): what c acknowledged survives c's loss. Without,
// c acknowledges commits the standby may not have received yet.
//
// NewStandby returns once c reports the standby streaming with that
// sync_state. Databases must exist on c first, or be created on c later:
// the standby is a copy of the whole cluster. It is stopped and deleted
// when the test ends, like c.
func (c *Cluster) NewStandby(t testing.TB, synchronous bool) *Cluster {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "bridgekeeper-cluster-")
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	s := &Cluster{t: t, bin: c.bin, dir: dir}
	t.Cleanup(s.destroy)
	if err := s.chown(dir); err != nil {
		t.Fatalf("testdb: %v", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatalf("testdb: %v", err)
	}
	// The standby's application_name, which synchronous_standby_names and
	// pg_stat_replication know it by, and the name of its slot: both take
	// lower-case letters, digits and underscores.
	name := "standby_" + strings.TrimPrefix(filepath.Base(dir), "bridgekeeper-cluster-")

	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	// initdb --auth=trust already allows replication connections from
	// 127.0.0.1, and wal_level = replica and max_wal_senders = 10 are the
	// defaults: the primary needs no configuration to be copied. The slot
	// keeps the WAL the standby has not received yet however far it lags.
	data := filepath.Join(dir, "data")
	if out, err := s.asPG(ctx, filepath.Join(c.bin, "pg_basebackup"), "-h", "127.0.0.1", "-p", strconv.Itoa(c.port),
		"-U", "postgres", "-D", data, "-R", "-X", "stream", "--checkpoint=fast",
		"--create-slot", "--slot", name).CombinedOutput(); err != nil {
		t.Fatalf("testdb: pg_basebackup of the cluster on port %d: %v\n%s", c.port, err, out)
	}
	// The copy has c's postgresql.conf; the later lines win. The standby
	// must not inherit a synchronous_standby_names either: once promoted it
	// has no standby, and would wait for one on every commit.
	conf := fmt.Sprintf(`
unix_socket_directories = '%s'
cluster_name = '%s'
hot_standby = on
synchronous_standby_names = ''
`, dir, name)
	if err := appendFile(filepath.Join(data, "postgresql.conf"), conf); err != nil {
		t.Fatalf("testdb: standby postgresql.conf: %v", err)
	}
	if err := s.startOnFreePort(); err != nil {
		t.Fatalf("testdb: start the standby: %v\npostgres.log:\n%s", err, tail(s.Log(), 30))
	}

	// Set after the copy, so that the standby does not inherit it.
	want := "async"
	if synchronous {
		want = "sync"
		if err := c.exec(ctx, "ALTER SYSTEM SET synchronous_standby_names = "+quote(name),
			"ALTER SYSTEM SET synchronous_commit = on", "SELECT pg_reload_conf()"); err != nil {
			t.Fatalf("testdb: make the standby synchronous: %v", err)
		}
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		state, err := c.replicationState(ctx, name)
		if err == nil && state == want {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("testdb: the standby does not stream as %s within 30s (sync_state %q, %v)\nstandby postgres.log:\n%s",
				want, state, err, tail(s.Log(), 30))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// replicationState is the sync_state of the standby named name while it
// streams from c, "" while it does not.
func (c *Cluster) replicationState(ctx context.Context, name string) (string, error) {
	conn, err := pgx.Connect(ctx, c.URL())
	if err != nil {
		return "", err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var state string
	err = conn.QueryRow(ctx, `SELECT sync_state FROM pg_stat_replication WHERE application_name = $1 AND state = 'streaming'`,
		name).Scan(&state)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return state, err
}

// exec runs statements on c's postgres database, each on its own, outside
// a transaction (ALTER SYSTEM refuses to run in one).
func (c *Cluster) exec(ctx context.Context, statements ...string) error {
	conn, err := pgx.Connect(ctx, c.URL())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, s := range statements {
		if _, err := conn.Exec(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return nil
}

// Promote ends the standby's recovery with pg_ctl promote -w: once it
// returns the standby takes writes.
func (c *Cluster) Promote() {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	out, err := c.asPG(ctx, filepath.Join(c.bin, "pg_ctl"), "-D", filepath.Join(c.dir, "data"),
		"-w", "-t", strconv.Itoa(int(clusterTimeout/time.Second)), "promote").CombinedOutput()
	if err != nil {
		c.t.Fatalf("testdb: pg_ctl promote: %v\n%s\npostgres.log:\n%s", err, out, tail(c.Log(), 30))
	}
}

// Kill9 kills the cluster as the loss of its host would: SIGKILL to the
// postmaster and to every process it forked, so that no backend left
// behind answers on an open connection or sends WAL, and no shutdown
// checkpoint is written. It returns once they are all gone. Start runs
// crash recovery on it.
func (c *Cluster) Kill9() {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	pm, err := c.postmaster()
	if err != nil {
		c.t.Fatalf("testdb: Kill9: %v", err)
	}
	// Stopped first, so that it forks nothing between the listing of its
	// children and their end; SIGKILL ends a stopped process too.
	if err := syscall.Kill(pm, syscall.SIGSTOP); err != nil {
		c.t.Fatalf("testdb: SIGSTOP %d: %v", pm, err)
	}
	pids, err := c.pids()
	if err != nil {
		c.t.Fatalf("testdb: %v", err)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			c.t.Fatalf("testdb: SIGKILL %d: %v", pid, err)
		}
	}
	c.running, c.frozen = false, nil
	for deadline := time.Now().Add(10 * time.Second); ; {
		left := 0
		for _, pid := range pids {
			if Alive(pid) {
				left++
			}
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("testdb: %d of the cluster's %d processes still run 10s after SIGKILL", left, len(pids))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := RemoveShm(filepath.Join(c.dir, "data")); err != nil {
		c.t.Logf("testdb: the killed cluster: %v", err)
	}
}

// RemoveShm removes the System V segment that a postmaster killed with
// SIGKILL leaves behind for its data directory (PostgreSQL keeps it to
// detect its old backends; nobody else would ever remove it). A crash-
// recovery start would do without it anyway. Nothing to remove is no error.
func RemoveShm(data string) error {
	b, err := os.ReadFile(filepath.Join(data, "postmaster.pid"))
	if err != nil {
		return nil
	}
	// Line 7 is "key shmid".
	lines := strings.Split(string(b), "\n")
	if len(lines) < 7 {
		return nil
	}
	f := strings.Fields(lines[6])
	if len(f) != 2 {
		return nil
	}
	if _, err := strconv.Atoi(f[1]); err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "ipcrm", "-m", f[1]).CombinedOutput(); err != nil && !strings.Contains(string(out), "invalid id") {
		return fmt.Errorf("ipcrm -m %s: %v %s", f[1], err, out)
	}
	return nil
}

// Alive reports whether pid runs: a zombie does not (the postmaster's
// parent after pg_ctl start is PID 1, which need not reap it).
func Alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+2 >= len(b) {
		return false
	}
	state := b[i+2]
	return state != 'Z' && state != 'X'
}

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(text)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// quote is a SQL string literal.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// SetReadOnly fences the running cluster without stopping it:
// default_transaction_read_only = on, reloaded, which every open session
// takes at its next transaction. Reads go on; every write fails with
// SQLSTATE 25006 (read_only_sql_transaction), as on a standby, and a
// client with target_session_attrs=read-write no longer connects to it.
// PostgreSQL cannot demote a primary without a restart, so this is how
// an old primary that keeps running turns read-only under connections a
// client already holds (a fencing script, a disk-full guard).
func (c *Cluster) SetReadOnly() {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	if err := c.exec(ctx, "ALTER SYSTEM SET default_transaction_read_only = on", "SELECT pg_reload_conf()"); err != nil {
		c.t.Fatalf("testdb: make the cluster read-only: %v", err)
	}
}
