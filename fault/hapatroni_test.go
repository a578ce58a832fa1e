//go:build ha

package fault

// Patroni's side of the HA stack: its view of the cluster, the wait for a
// healthy one, a switchover, a lost host, and the watch for a new primary.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/internal/testdb"
)

// haMember is a member as Patroni's GET /cluster lists it.
type haMember struct {
	Name  string `json:"name"`
	Role  string `json:"role"` // leader, sync_standby, replica
	State string `json:"state"`
	Lag   any    `json:"lag"` // MB behind the leader, or "unknown"
}

// members is the cluster as a live node's Patroni sees it.
func (s *haStack) members() ([]haMember, error) {
	var err error
	for _, n := range s.nodes {
		if n.killed {
			continue
		}
		var body string
		if body, err = httpGet("http://" + n.apiAddr + "/cluster"); err != nil {
			continue
		}
		var c struct{ Members []haMember }
		if err = json.Unmarshal([]byte(body), &c); err == nil {
			return c.Members, nil
		}
	}
	return nil, err
}

// waitHealthy waits for a running leader and replicas streaming from it
// with no lag, one of them the synchronous standby, and returns the
// leader's and that standby's names.
func (s *haStack) waitHealthy(replicas int) (leader, sync string) {
	s.t.Helper()
	s.waitFor(fmt.Sprintf("a leader and %d replicas, one synchronous", replicas), func() error {
		ms, err := s.members()
		if err != nil {
			return err
		}
		leader, sync = "", ""
		n := 0
		for _, m := range ms {
			switch {
			case m.State != "running":
			case m.Role == "leader":
				leader = m.Name
			case m.Lag == float64(0) && (m.Role == "replica" || m.Role == "sync_standby"):
				n++
				if m.Role == "sync_standby" {
					sync = m.Name
				}
			}
		}
		if leader == "" || sync == "" || n != replicas {
			return fmt.Errorf("members %+v", ms)
		}
		return nil
	})
	return leader, sync
}

// primaryWatch records the first node other than the old leader whose
// Patroni answers GET /primary with 200, as HAProxy's check asks it.
type primaryWatch struct {
	done chan struct{}
	at   time.Time
	name string
}

// watchPrimary starts polling, every 20 ms, before the fault is made, so
// that a promotion that completes during it is seen when it happens.
func (s *haStack) watchPrimary(old string) *primaryWatch {
	w := &primaryWatch{done: make(chan struct{})}
	var others []*patroniNode
	for _, n := range s.nodes {
		if n.name != old && !n.killed {
			others = append(others, n)
		}
	}
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil}}
	go func() {
		defer close(w.done)
		for deadline := time.Now().Add(haWithin); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			for _, n := range others {
				res, err := hc.Get("http://" + n.apiAddr + "/primary")
				if err != nil {
					continue
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode == http.StatusOK {
					w.at, w.name = time.Now(), n.name
					return
				}
			}
		}
	}()
	return w
}

// wait returns when the new primary answered, and its name.
func (w *primaryWatch) wait(t *testing.T) (time.Time, string) {
	t.Helper()
	<-w.done
	if w.name == "" {
		t.Fatalf("no other node answered /primary with 200 within %s", haWithin)
	}
	return w.at, w.name
}

// switchover asks Patroni, as an operator would, to hand the leader's
// role to candidate; patronictl returns once it has.
func (s *haStack) switchover(leader, candidate string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), haWithin)
	defer cancel()
	cmd := exec.CommandContext(ctx, "patronictl", "-c", s.conf, "switchover", "--leader", leader, "--candidate", candidate, "--force")
	cmd.Env = cleanEnviron("PATRONI_", "PATRONI_ETCD3_HOSTS="+s.etcdAddr, "PATRONI_RESTAPI_PASSWORD="+s.apiPW)
	cmd.Dir = s.dir
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Successfully switched over") {
		s.t.Fatalf("patronictl switchover --leader %s --candidate %s: %v\n%s", leader, candidate, err, out)
	}
}

// kill9 kills a node as the loss of its host would: SIGKILL to Patroni
// (and anything it forked) and to the postmaster and every process the
// postmaster forked, so that nothing releases the leader lock, answers on
// an open connection or sends WAL. The node stays dead.
func (s *haStack) kill9(name string) {
	s.t.Helper()
	i := slices.IndexFunc(s.nodes, func(n *patroniNode) bool { return n.name == name })
	n := s.nodes[i]
	n.killed = true
	pm, _ := postmasterPID(n.dir)
	// Stopped first, so that it forks nothing between the listing of its
	// children and their end; SIGKILL ends a stopped process too.
	if pm > 0 {
		syscall.Kill(pm, syscall.SIGSTOP)
	}
	n.d.kill()
	pids := append([]int{pm}, childrenOf(pm)...)
	for _, pid := range pids {
		if pid > 0 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	s.waitFor("the killed node's processes to be gone", func() error {
		for _, pid := range pids {
			if pid > 0 && testdb.Alive(pid) {
				return fmt.Errorf("pid %d still runs", pid)
			}
		}
		return nil
	})
	removeShm(s.t, n.dir)
}

// checkAPIAuth checks that Patroni refuses a switchover from a caller
// without the REST API's password (patroni.yml's restapi.authentication):
// anyone who reaches port 8008 could move the primary otherwise. The
// request names no member, so an API that took it would still change
// nothing.
func (s *haStack) checkAPIAuth(t *testing.T) {
	t.Helper()
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}}
	defer hc.CloseIdleConnections()
	res, err := hc.Post("http://"+s.nodes[0].apiAddr+"/switchover", "application/json", strings.NewReader(`{"leader":"nobody"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST /switchover without the REST API's password: %d %s; want 401", res.StatusCode, body)
	}
}
