//go:build ha

package fault

// Issue 15 item 5: the reference production deployment (deploy/ha) fails
// over under load and keeps item 4's promises. Build tag ha: it needs
// Debian's patroni, etcd-server and haproxy, and a minute and a half;
// `make test-ha` installs them and runs it.

import (
	"fmt"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/internal/proctest"
)

// haBrokers is how many broker replicas run behind HAProxy: the three
// haproxy.cfg names.
const haBrokers = 3

// TestHAFailover brings deploy/ha up on loopback: etcd, three PostgreSQL
// nodes under Patroni (synchronous_mode_strict), HAProxy in front of them
// and of three broker replicas whose database is HAProxy's
// postgres_primary listener. Under refresh and login load through
// HAProxy's broker listener it makes two failovers, one after the other:
// a planned switchover to the synchronous standby (patronictl), then the
// new leader's host lost (Patroni and PostgreSQL killed with SIGKILL).
// After each, as runFailoverLoad checks: every answer was a success or a
// bounded 503 + Retry-After (never a 500); refresh, login and /readyz
// succeeded again within 10 s of the promotion, without a restart of any
// broker; every refresh token a client was given still rotates, every
// token spent stays spent, every player is still the same player. After
// the second, the clients of the first are checked again.
//
// The promotion is when the new primary's Patroni first answers GET
// /primary with 200, which is what HAProxy's check asks: recovery counts
// HAProxy's checks, the brokers' reconnection and readiness, not Patroni's
// wait for the killed leader's lock to expire (ttl), which precedes it.
func TestHAFailover(t *testing.T) {
	s := newHAStack(t)
	bkAddrs := make([]string, haBrokers)
	for i := range bkAddrs {
		bkAddrs[i] = proctest.FreeAddr(t)
	}
	pgAddr, brokerAddr := s.startHAProxy(bkAddrs)
	db := s.createDatabase(pgAddr, "bridgekeeper")
	env := faultEnv()
	creds := createClient(t, env, db, "ha")
	var brokers []*process
	for _, addr := range bkAddrs {
		brokers = append(brokers, startBroker(t, addr, db, env))
	}
	a := newAPI("http://"+brokerAddr, creds)
	defer a.close()
	// HAProxy takes each ready broker in at its next check (every second);
	// the load needs one.
	s.waitFor("HAProxy to pass /readyz to a broker", func() error {
		if r := a.readyz(); !r.ok() {
			return fmt.Errorf("%s", r)
		}
		return nil
	})

	s.checkAPIAuth(t)

	// (a) A planned switchover to the synchronous standby: Patroni stops
	// the old primary once the candidate has all its WAL.
	leader, sync := s.waitHealthy(2)
	var w *primaryWatch
	allDown := s.brokersAllDown()
	c, first := runFailoverLoad(t, a, failover{
		name:   fmt.Sprintf("Patroni switchover %s -> %s", leader, sync),
		prefix: "ha-switchover",
		fault: func() {
			w = s.watchPrimary(leader)
			s.switchover(leader, sync)
		},
		promote:  func() (time.Time, time.Time) { return s.promoted(t, w, sync) },
		promoted: "the new primary answered /primary",
		brokers:  brokers,
	})
	requireNoLoss(t, "switchover", c)
	allDown = s.logAllDown(t, "switchover", allDown)

	// (b) The new leader's host lost: the synchronous standby takes over
	// once the leader's lock expires in etcd.
	leader, sync = s.waitHealthy(2)
	c, _ = runFailoverLoad(t, a, failover{
		name:   fmt.Sprintf("leader %s killed (Patroni and PostgreSQL, SIGKILL), %s promoted", leader, sync),
		prefix: "ha-kill",
		fault: func() {
			w = s.watchPrimary(leader)
			s.kill9(leader)
		},
		promote:  func() (time.Time, time.Time) { return s.promoted(t, w, sync) },
		promoted: "the new primary answered /primary",
		brokers:  brokers,
	})
	requireNoLoss(t, "killed leader", c)
	s.logAllDown(t, "killed leader", allDown)

	// The clients of the switchover, after the second failover too.
	now := time.Now()
	c = countLosses(t, a, first.sessions, first.players, now, now)
	requireNoLoss(t, "the switchover's clients after the killed leader", c)
	t.Logf("SUMMARY the switchover's clients after both failovers: %d of %d refresh tokens still rotate, %d lost; %d spent tokens, %d resurrected; %d players, %d changed",
		c.survived, c.heldAtFault, c.lostTokens, c.spentOnOldPrimary, c.resurrected, c.players, c.changedPlayers)
}

// promoted waits for w and checks that the node Patroni promoted is want,
// the synchronous standby: synchronous_mode lets Patroni promote no other.
func (s *haStack) promoted(t *testing.T, w *primaryWatch, want string) (time.Time, time.Time) {
	t.Helper()
	at, name := w.wait(t)
	if name != want {
		t.Errorf("%s was promoted; want the synchronous standby %s", name, want)
	}
	return at, at
}

// logAllDown logs how often HAProxy had no ready broker since the count
// before, and returns the count now.
func (s *haStack) logAllDown(t *testing.T, what string, before int) int {
	n := s.brokersAllDown()
	t.Logf("%s: HAProxy found no broker ready %d times (it answered 503 + Retry-After itself then)", what, n-before)
	return n
}
