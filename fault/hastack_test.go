//go:build ha

package fault

// The reference deployment of deploy/ha on loopback, for TestHAFailover:
// etcd, three PostgreSQL nodes under Patroni and HAProxy, from Debian's
// packages, each started from its file in deploy/ha with only what one
// machine needs changed (addresses, directories, passwords and Patroni's
// timing), so that the files an operator copies are the ones tested.

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bridgekeeper/bridgekeeper/internal/proctest"
	"github.com/bridgekeeper/bridgekeeper/internal/testdb"
)

// haWithin bounds each wait on the stack: a bootstrap, a member catching
// up, a new leader.
const haWithin = 90 * time.Second

// haLoopback is what deploy/ha/patroni.yml needs changed on one machine,
// beside what the environment sets per node. Patroni reads a directory of
// YAML files in order, each over the ones before.
//
// The timing is production's shrunk so that a killed leader is replaced in
// seconds rather than half a minute: its lock expires after ttl (10 s, not
// 30), a member acts every loop_wait (1 s, not 10), and gives up on etcd
// or PostgreSQL after retry_timeout (4 s, not 10); ttl >= loop_wait +
// 2*retry_timeout still holds. The three nodes share one socket directory
// (each socket is named by its port) instead of Debian's
// /var/run/postgresql, which the host's own clusters use.
const haLoopback = `bootstrap:
  dcs:
    ttl: 10
    loop_wait: 1
    retry_timeout: 4
postgresql:
  parameters:
    unix_socket_directories: %s
`

// haStack is one run of the deployment. Everything it starts is stopped,
// and its directory removed, when the test ends.
type haStack struct {
	t        *testing.T
	dir      string // /tmp/bridgekeeper-ha-*, owned by the postgres user
	conf     string // Patroni's configuration directory (also patronictl's)
	etcdAddr string // etcd's client address, PATRONI_ETCD3_HOSTS
	superPW  string // PostgreSQL's superuser's
	apiPW    string // Patroni's REST API's, for patronictl
	etcd     *daemon
	nodes    []*patroniNode
	haproxy  *daemon
	reaper   *reaper
}

// patroniNode is one PostgreSQL host: Patroni and the postmaster it runs.
type patroniNode struct {
	name    string
	dir     string // data/ and pgpass; owned by postgres
	apiAddr string // Patroni's REST API, which HAProxy asks
	pgAddr  string
	d       *daemon
	killed  bool
}

// haBinaries are what the stack runs; scripts/test-ha.sh installs them.
var haBinaries = []string{"etcd", "patroni", "patronictl", "haproxy"}

// newHAStack starts etcd and three Patroni nodes and waits for a leader
// with two streaming replicas, one of them synchronous. HAProxy comes
// later (startHAProxy), once the brokers' addresses are known.
func newHAStack(t *testing.T) *haStack {
	t.Helper()
	for _, b := range haBinaries {
		if _, err := exec.LookPath(b); err != nil {
			if os.Getenv("CI") != "" || os.Getenv("BRIDGEKEEPER_TEST_HA") != "" {
				t.Fatalf("%s is not installed: %v (make test-ha installs it)", b, err)
			}
			t.Skipf("%s is not installed (make test-ha installs it)", b)
		}
	}
	pgBin, err := testdb.PostgresBin()
	if err != nil {
		t.Fatal(err)
	}
	// /tmp rather than t.TempDir(): the postgres user must reach it.
	dir, err := os.MkdirTemp("/tmp", "bridgekeeper-ha-")
	if err != nil {
		t.Fatal(err)
	}
	s := &haStack{t: t, dir: dir, conf: filepath.Join(dir, "patroni"), reaper: startReaper(t)}
	t.Cleanup(s.stop)

	// Patroni's nodes and their sockets live under dir, as postgres.
	s.mkdirPG(dir)
	s.mkdirPG(s.conf)
	sockets := filepath.Join(dir, "sockets")
	s.mkdirPG(sockets)
	ref, err := os.ReadFile("../deploy/ha/patroni.yml")
	if err != nil {
		t.Fatal(err)
	}
	s.writePG(filepath.Join(s.conf, "00-bridgekeeper.yml"), string(ref))
	s.writePG(filepath.Join(s.conf, "50-loopback.yml"), fmt.Sprintf(haLoopback, sockets))

	s.startEtcd()
	s.superPW, s.apiPW = randomPassword(t), randomPassword(t)
	secrets := []string{
		"PATRONI_RESTAPI_PASSWORD=" + s.apiPW,
		"PATRONI_SUPERUSER_PASSWORD=" + s.superPW,
		"PATRONI_REPLICATION_PASSWORD=" + randomPassword(t),
		"PATRONI_REWIND_PASSWORD=" + randomPassword(t),
	}
	// All three at once: one wins the initialisation in etcd and runs
	// initdb, the others wait for it and copy it with pg_basebackup.
	for i := 1; i <= 3; i++ {
		n := &patroniNode{
			name:    fmt.Sprintf("pg%d", i),
			dir:     filepath.Join(dir, fmt.Sprintf("pg%d", i)),
			apiAddr: proctest.FreeAddr(t),
			pgAddr:  proctest.FreeAddr(t),
		}
		s.mkdirPG(n.dir)
		env := append([]string{
			"PATRONI_NAME=" + n.name,
			"PATRONI_RESTAPI_LISTEN=" + n.apiAddr,
			"PATRONI_RESTAPI_CONNECT_ADDRESS=" + n.apiAddr,
			"PATRONI_POSTGRESQL_LISTEN=" + n.pgAddr,
			"PATRONI_POSTGRESQL_CONNECT_ADDRESS=" + n.pgAddr,
			"PATRONI_POSTGRESQL_DATA_DIR=" + filepath.Join(n.dir, "data"),
			"PATRONI_POSTGRESQL_PGPASS=" + filepath.Join(n.dir, "pgpass"),
			"PATRONI_POSTGRESQL_BIN_DIR=" + pgBin,
			"PATRONI_ETCD3_HOSTS=" + s.etcdAddr,
			"HOME=" + n.dir,
		}, secrets...)
		n.d = startDaemon(t, filepath.Join(dir, n.name+".log"), true, cleanEnviron("PATRONI_", env...), "patroni", s.conf)
		s.nodes = append(s.nodes, n)
	}
	s.waitHealthy(2)
	return s
}

// startEtcd starts the one etcd member from deploy/ha/etcd.env with
// loopback addresses. Production runs three, on three hosts, so that
// etcd keeps a quorum when one is lost; the failovers here lose a
// PostgreSQL host, never etcd's.
func (s *haStack) startEtcd() {
	ref, err := readEnvFile("../deploy/ha/etcd.env")
	if err != nil {
		s.t.Fatal(err)
	}
	client, peer := proctest.FreeAddr(s.t), proctest.FreeAddr(s.t)
	s.etcdAddr = client
	for k, v := range map[string]string{
		"ETCD_NAME":                        "etcd1",
		"ETCD_DATA_DIR":                    filepath.Join(s.dir, "etcd"),
		"ETCD_LISTEN_CLIENT_URLS":          "http://" + client,
		"ETCD_ADVERTISE_CLIENT_URLS":       "http://" + client,
		"ETCD_LISTEN_PEER_URLS":            "http://" + peer,
		"ETCD_INITIAL_ADVERTISE_PEER_URLS": "http://" + peer,
		"ETCD_INITIAL_CLUSTER":             "etcd1=http://" + peer,
	} {
		ref[k] = v
	}
	var env []string
	for k, v := range ref {
		env = append(env, k+"="+v)
	}
	s.etcd = startDaemon(s.t, filepath.Join(s.dir, "etcd.log"), false, cleanEnviron("ETCD_", env...), "etcd")
	s.waitFor("etcd to answer", func() error {
		body, err := httpGet("http://" + client + "/health")
		if err == nil && !strings.Contains(body, `"health":"true"`) {
			err = fmt.Errorf("/health: %s", body)
		}
		return err
	})
}

// startHAProxy starts HAProxy from deploy/ha/haproxy.cfg in front of the
// nodes and of the brokers at bks, and returns its postgres_primary and
// broker addresses.
func (s *haStack) startHAProxy(bks []string) (pgAddr, brokerAddr string) {
	pgAddr, brokerAddr = proctest.FreeAddr(s.t), proctest.FreeAddr(s.t)
	env := []string{"PG_BIND=" + pgAddr, "BROKER_BIND=" + brokerAddr}
	for i, n := range s.nodes {
		_, apiPort, _ := strings.Cut(n.apiAddr, ":")
		env = append(env, fmt.Sprintf("PG%d=%s", i+1, n.pgAddr), fmt.Sprintf("PG%d_API_PORT=%s", i+1, apiPort))
	}
	for i, bk := range bks {
		env = append(env, fmt.Sprintf("BK%d=%s", i+1, bk))
	}
	cfg, err := filepath.Abs("../deploy/ha/haproxy.cfg")
	if err != nil {
		s.t.Fatal(err)
	}
	// -db: in the foreground, logging to stderr.
	s.haproxy = startDaemon(s.t, filepath.Join(s.dir, "haproxy.log"), false, proctest.Environ(env...), "haproxy", "-db", "-f", cfg)
	return pgAddr, brokerAddr
}

// createDatabase creates a database through HAProxy, as the superuser,
// and returns its URL there. HAProxy counts every node up until its first
// check, so this first waits until it passes connections to the primary
// alone: as many in a row as there are nodes reach it (HAProxy takes
// turns among the nodes it counts up).
func (s *haStack) createDatabase(pgAddr, name string) string {
	admin := fmt.Sprintf("postgres://postgres:%s@%s/postgres?sslmode=disable", s.superPW, pgAddr)
	query := func(sql string, args ...any) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			return err
		}
		defer conn.Close(context.WithoutCancel(ctx))
		if len(args) == 0 {
			_, err = conn.Exec(ctx, sql)
			return err
		}
		return conn.QueryRow(ctx, sql).Scan(args...)
	}
	s.waitFor("HAProxy to pass connections to the primary alone", func() error {
		for range s.nodes {
			var standby bool
			if err := query("SELECT pg_is_in_recovery()", &standby); err != nil {
				return err
			}
			if standby {
				return fmt.Errorf("a connection reached a standby")
			}
		}
		return nil
	})
	if err := query("CREATE DATABASE " + pgx.Identifier{name}.Sanitize()); err != nil {
		s.t.Fatalf("create database %s through HAProxy: %v", name, err)
	}
	return fmt.Sprintf("postgres://postgres:%s@%s/%s?sslmode=disable", s.superPW, pgAddr, name)
}

// brokersAllDown counts HAProxy's alerts that no broker was ready, when
// it answers by itself (haproxy.cfg's http-error); it prints them on
// stderr, into haproxy.log.
func (s *haStack) brokersAllDown() int {
	b, _ := os.ReadFile(filepath.Join(s.dir, "haproxy.log"))
	return strings.Count(string(b), "proxy 'broker' has no server available")
}

// stop ends everything the stack started, whatever state the test left it
// in, and removes its directory.
func (s *haStack) stop() {
	if s.haproxy != nil {
		s.haproxy.kill()
	}
	// SIGTERM: Patroni stops PostgreSQL (fast) and releases the leader
	// lock; what does not end within the wait is killed.
	for _, n := range s.nodes {
		if !n.d.exited() {
			n.d.signal(syscall.SIGTERM)
		}
	}
	for _, n := range s.nodes {
		if !n.d.waitExit(45 * time.Second) {
			s.t.Errorf("Patroni %s still runs 45s after SIGTERM; killed", n.name)
			n.d.kill()
		}
		// A postmaster Patroni did not stop (it was killed, or did not
		// wait): the host going away.
		if pm, _ := postmasterPID(n.dir); pm > 0 && testdb.Alive(pm) {
			syscall.Kill(pm, syscall.SIGSTOP)
			for _, pid := range append([]int{pm}, childrenOf(pm)...) {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			removeShm(s.t, n.dir)
		}
	}
	if s.etcd != nil {
		s.etcd.kill()
	}
	s.reaper.stop()
	if s.t.Failed() {
		for _, name := range []string{"pg1.log", "pg2.log", "pg3.log", "haproxy.log", "etcd.log"} {
			b, _ := os.ReadFile(filepath.Join(s.dir, name))
			s.t.Logf("%s (tail):\n%s", name, tail(string(b), 100))
		}
	}
	os.RemoveAll(s.dir)
}

// waitFor polls f until it returns nil; after haWithin the test fails with
// f's last error.
func (s *haStack) waitFor(what string, f func() error) {
	s.t.Helper()
	deadline := time.Now().Add(haWithin)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("waited %s for %s: %v", haWithin, what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// mkdirPG makes a directory the postgres user owns, as Patroni runs as
// it: PostgreSQL refuses to run as root.
func (s *haStack) mkdirPG(dir string) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		s.t.Fatal(err)
	}
	if uid, gid, ok := postgresUser(s.t); ok {
		if err := os.Chown(dir, uid, gid); err != nil {
			s.t.Fatal(err)
		}
	}
}

func (s *haStack) writePG(path, content string) {
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		s.t.Fatal(err)
	}
	if uid, gid, ok := postgresUser(s.t); ok {
		if err := os.Chown(path, uid, gid); err != nil {
			s.t.Fatal(err)
		}
	}
}

// postgresUser is the postgres user's uid and gid when running as root,
// whom Patroni runs as; ok is false otherwise (it runs as the caller).
func postgresUser(t *testing.T) (uid, gid int, ok bool) {
	t.Helper()
	if os.Geteuid() != 0 {
		return 0, 0, false
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Fatalf("running as root and there is no postgres user to run Patroni as: %v", err)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid, true
}

// readEnvFile reads KEY=value lines, as systemd's EnvironmentFile does
// (no quoting or expansion: the reference files need none).
func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s: %q is not KEY=value", path, line)
		}
		env[k] = v
	}
	return env, sc.Err()
}

// cleanEnviron is the process environment without any variable that
// starts with prefix (a developer's settings must not leak into the
// stack), plus extra.
func cleanEnviron(prefix string, extra ...string) []string {
	var env []string
	for _, kv := range proctest.Environ() {
		if !strings.HasPrefix(kv, prefix) {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

func randomPassword(t *testing.T) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func httpGet(url string) (string, error) {
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil}}
	defer hc.CloseIdleConnections()
	res, err := hc.Get(url)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err == nil && res.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %d %s", url, res.StatusCode, b)
	}
	return string(b), err
}
