package fault

// The failover under load that TestFailover* (two private clusters) and
// TestHAFailover (Patroni behind HAProxy, build tag ha) share: the load of
// rotating sessions and first logins, the ledger of every token and player
// a client was given, the recovery measured from the promotion, and the
// checks of issue 15 item 4. What takes the primary away and what brings
// a new one differ, and come in as callbacks.

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// failover is one failover for runFailoverLoad to drive.
type failover struct {
	// name says which failover this is, in the SUMMARY line.
	name string
	// prefix starts the custom IDs of the load's players, so that more
	// than one failover can run on one database.
	prefix string
	// fault takes the primary away (it may also start the promotion, as
	// a Patroni switchover does).
	fault func()
	// promote returns once a new primary takes writes: when its promotion
	// started (a token spent before then was spent on the old primary) and
	// when it was promoted (recovery is measured from then).
	promote func() (started, promoted time.Time)
	// promoted names promote's second time in the logs, e.g. "pg_ctl
	// promote returned".
	promoted string
	// brokers must all be alive, without a panic, at the end.
	brokers []*process
}

// failoverLedger is what the clients of one failover were given, for
// checking again after a later one.
type failoverLedger struct {
	sessions []*rotatingSession
	players  []player
}

// failoverCount is what a failover cost the clients.
type failoverCount struct {
	heldAtFault       int // refresh tokens the clients held at the fault
	survived          int // of those, the ones that rotated after the failover
	lostTokens        int // acknowledged refresh tokens that no longer rotate, at any time
	spentOnOldPrimary int // refresh tokens spent by a rotation acknowledged before the promotion
	resurrected       int // of those, the ones active again after the failover
	players           int // acknowledged first logins
	changedPlayers    int // of those, the ones that log in as another user now
}

// requireNoLoss fails the test for anything a failover to a synchronous
// standby must not lose.
func requireNoLoss(t *testing.T, what string, c failoverCount) {
	t.Helper()
	if c.lostTokens > 0 || c.resurrected > 0 || c.changedPlayers > 0 {
		t.Errorf("%s: the failover lost %d acknowledged refresh tokens, resurrected %d spent ones and changed %d players; want none",
			what, c.lostTokens, c.resurrected, c.changedPlayers)
	}
}

// rotatingSession is a game server refreshing one player's session in a
// loop. It keeps the newest refresh token it was given; on a 503 it keeps
// the one it has and presents it again (the grace window answers a retry
// whose rotation did commit with that same successor).
type rotatingSession struct {
	mu      sync.Mutex
	rt      string
	spent   []spentToken // each token whose rotation was acknowledged
	refused *reply       // the refusal that ended the session: its token was lost
}

type spentToken struct {
	rt  string
	ack time.Time // when the answer that spent it arrived
}

func (s *rotatingSession) token() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rt
}

// rotated records an acknowledged rotation of the session's token.
func (s *rotatingSession) rotated(spent string, r reply) {
	s.spent = append(s.spent, spentToken{spent, end(r)})
	s.rt = r.RefreshToken
}

// player is an acknowledged login of a new custom ID; rt is the newest
// refresh token the ledger holds for it.
type player struct {
	customID, sub, rt string
	ack               time.Time
}

// refused reports a refresh token that the broker does not know (or knows
// spent): invalid_grant. Only a lost commit makes one of the load's.
func refused(r reply) bool {
	return r.Err == nil && r.Status >= 400 && r.Status < 500 && r.Error == "invalid_grant"
}

func end(r reply) time.Time { return r.Start.Add(r.Took) }

// runFailoverLoad runs refresh and login load through a, takes the
// primary away (f.fault) and waits for a new one (f.promote), and checks
// what holds with any kind of standby: every answer is a success or a
// bounded 503 + Retry-After (never a 500), the broker serves again within
// recoverWithin of the promotion without a restart. It returns what the
// clients lost, for the caller to judge, and what they were given.
func runFailoverLoad(t *testing.T, a *api, f failover) (failoverCount, failoverLedger) {
	sessions := make([]*rotatingSession, failoverSessions)
	for i, s := range loginSessions(t, a, f.prefix+"-session", failoverSessions) {
		sessions[i] = &rotatingSession{rt: s.rt}
	}
	var (
		rec       recorder
		mu        sync.Mutex
		players   []player
		rotations atomic.Int64
		wg        sync.WaitGroup
	)
	ctx, stopLoad := context.WithCancel(context.Background())
	// Also on t.Fatal: no load goroutine may outlive the test.
	defer func() { stopLoad(); wg.Wait() }()
	for _, s := range sessions {
		wg.Go(func() {
			for ctx.Err() == nil {
				rt := s.token()
				r := a.refresh(rt)
				rec.add(r)
				s.mu.Lock()
				switch {
				case r.ok():
					s.rotated(rt, r)
					rotations.Add(1)
				case refused(r):
					s.refused = &r
				}
				stop := s.refused != nil
				s.mu.Unlock()
				if stop {
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	for w := range failoverLoginWorkers {
		wg.Go(func() {
			for n := 0; ctx.Err() == nil; n++ {
				id := fmt.Sprintf("%s-login-%d-%d", f.prefix, w, n)
				r := a.login(id)
				rec.add(r)
				if r.ok() {
					sub, err := subject(r.AccessToken)
					if err != nil {
						t.Errorf("login %s: %v", id, err)
					}
					mu.Lock()
					players = append(players, player{id, sub, r.RefreshToken, end(r)})
					mu.Unlock()
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	// A load balancer's readiness probe.
	wg.Go(func() {
		for ctx.Err() == nil {
			rec.add(a.readyz())
			time.Sleep(100 * time.Millisecond)
		}
	})

	loadStart := time.Now()
	time.Sleep(loadBeforeFault)
	for deadline := loadStart.Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		logins := len(players)
		mu.Unlock()
		if rotations.Load() >= rotationsBeforeFault && logins >= loginsBeforeFault {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d rotations and %d logins acknowledged in %s of load; want %d and %d before the fault",
				rotations.Load(), logins, time.Since(loadStart).Round(time.Millisecond), rotationsBeforeFault, loginsBeforeFault)
		}
	}
	faultAt := time.Now()
	f.fault()
	t.Logf("%s: the fault came after %s of load (took %s)", f.name, faultAt.Sub(loadStart).Round(time.Millisecond), time.Since(faultAt).Round(time.Millisecond))
	promoteStart, promoted := f.promote()
	t.Logf("%s: %s %s after the fault (the promotion started %s after it)",
		f.name, f.promoted, promoted.Sub(faultAt).Round(time.Millisecond), promoteStart.Sub(faultAt).Round(time.Millisecond))

	// Recovery: the first success of each operation that ends after the
	// promotion, polled; later than recoverWithin fails, but the poll
	// waits longer to say by how much.
	// An asynchronous standby may lose every session's newest token; the
	// sessions then have nothing to refresh with, and the check after the
	// load rotates the tokens the ledger holds instead.
	ops := func() []string {
		for _, s := range sessions {
			s.mu.Lock()
			alive := s.refused == nil
			s.mu.Unlock()
			if alive {
				return []string{opRefresh, opLogin, opReadyz}
			}
		}
		return []string{opLogin, opReadyz}
	}
	recovered := map[string]time.Duration{}
	waiting := func() bool {
		for _, op := range ops() {
			if _, ok := recovered[op]; !ok {
				return true
			}
		}
		return false
	}
	for deadline := promoted.Add(recoverWithin + 5*time.Second); waiting() && time.Now().Before(deadline); {
		for _, r := range rec.all() {
			if _, seen := recovered[r.Op]; !seen && r.ok() && end(r).After(promoted) {
				recovered[r.Op] = end(r).Sub(promoted)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	var recovery time.Duration
	if _, ok := recovered[opRefresh]; !ok && !slices.Contains(ops(), opRefresh) {
		t.Logf("  every refresh session lost its token to the failover; no refresh to wait for")
	}
	for _, op := range ops() {
		d, ok := recovered[op]
		switch {
		case !ok:
			t.Errorf("%s did not succeed again within %s of the promotion", op, recoverWithin+5*time.Second)
		case d > recoverWithin:
			t.Errorf("%s succeeded again %s after the promotion; want within %s", op, d.Round(time.Millisecond), recoverWithin)
		}
		t.Logf("  %-18s succeeded again %s after %s", op, d.Round(time.Millisecond), f.promoted)
		recovery = max(recovery, d)
	}
	recoveredAt := promoted.Add(recovery)
	time.Sleep(loadAfterRecovery)
	stopLoad()
	wg.Wait()

	// Every answer: a success or a bounded 503 + Retry-After; a refusal of
	// a lost token is counted below instead.
	var all, before, after []reply
	for _, r := range rec.all() {
		if refused(r) {
			continue
		}
		all = append(all, r)
		switch {
		case end(r).Before(faultAt):
			before = append(before, r)
		case r.Start.After(recoveredAt):
			after = append(after, r)
		}
	}
	checkBounded(t, "failover", all)
	sa := logStats(t, "whole run", all)
	logStats(t, "before the fault", before)
	logStats(t, "after recovery", after)
	reportUnexpected(t, "before the fault: not a success", before, func(r reply) bool { return !r.ok() })
	reportUnexpected(t, "after recovery: not a success", after, func(r reply) bool { return !r.ok() })
	serverErrors := reportUnexpected(t, "a 5xx other than 503", all, func(r reply) bool {
		return r.Err == nil && r.Status >= 500 && r.Status != http.StatusServiceUnavailable
	})

	c := countLosses(t, a, sessions, players, faultAt, promoteStart)
	for _, bk := range f.brokers {
		bk.checkAlive(t)
	}
	t.Logf("SUMMARY %s: %d refresh tokens held at the fault, %d still rotated after the failover; %d acknowledged tokens lost in all; %d tokens spent on the old primary, %d resurrected; %d players, %d changed; recovery %s after %s (%s after the fault); %d requests: %d 503 + Retry-After, %d other 5xx, %d ok",
		f.name, c.heldAtFault, c.survived, c.lostTokens, c.spentOnOldPrimary, c.resurrected, c.players, c.changedPlayers,
		recovery.Round(time.Millisecond), f.promoted, recoveredAt.Sub(faultAt).Round(time.Millisecond), sa.n, sa.unavailable, serverErrors, sa.ok)
	return c, failoverLedger{sessions, players}
}

// countLosses checks, with the load stopped, every refresh token and
// player the clients were given: after the failover, or again after a
// later one. Each token it rotates goes into the ledger as the load's do,
// so that a later call checks the newest.
func countLosses(t *testing.T, a *api, sessions []*rotatingSession, players []player, faultAt, promoteStart time.Time) failoverCount {
	t.Helper()
	var c failoverCount
	var mu sync.Mutex // guards c from parallel's goroutines
	count := func(f func(*failoverCount)) { mu.Lock(); f(&c); mu.Unlock() }

	// Each session's newest token rotates once more. A session hands on
	// each token it is given to the next rotation, so one whose newest
	// token rotates held only good tokens, the one it held at the fault
	// included; a session ended by a refusal lost the one it presented.
	var spent []spentToken
	for i, s := range sessions {
		c.heldAtFault++
		for _, sp := range s.spent {
			if sp.ack.Before(promoteStart) {
				spent = append(spent, sp)
			}
		}
		if s.refused != nil {
			c.lostTokens++
			var given string
			if n := len(s.spent); n > 0 {
				given = fmt.Sprintf(" (given %s after the fault began)", s.spent[n-1].ack.Sub(faultAt).Round(time.Millisecond))
			}
			t.Logf("session %d lost its token%s: %s", i, given, s.refused)
			continue
		}
		rt := s.token()
		r := a.refresh(rt)
		if !r.ok() {
			c.lostTokens++
			t.Logf("session %d: its newest token does not rotate after the failover: %s", i, r)
			continue
		}
		s.rotated(rt, r)
		c.survived++
	}

	// A token spent on the old primary stays spent: each whose rotation
	// was acknowledged before the promotion, with the answers that arrived
	// after the fault (committed in time, answered late). Checked by
	// introspection, which changes nothing: presented again, a token would
	// get its successor back inside the grace window (5m here) whether it
	// was spent or not (the successor is derived from the token), and after
	// the window revoke the session.
	c.spentOnOldPrimary = len(spent)
	parallel(len(spent), 8, func(i int) {
		r := a.introspect(spent[i].rt, "refresh_token")
		switch {
		case r.Err != nil || r.Status != http.StatusOK:
			t.Errorf("introspect a spent refresh token: %s", r)
		case r.Active:
			count(func(c *failoverCount) { c.resurrected++ })
		}
	})

	// Every player's newest refresh token rotates, and the custom ID still
	// logs in as the same user.
	c.players = len(players)
	parallel(len(players), 8, func(i int) {
		p := &players[i]
		beforeFault := p.ack.Before(faultAt)
		r := a.refresh(p.rt)
		if beforeFault {
			count(func(c *failoverCount) { c.heldAtFault++ })
		}
		switch {
		case r.ok():
			p.rt = r.RefreshToken
			if beforeFault {
				count(func(c *failoverCount) { c.survived++ })
			}
		case refused(r):
			count(func(c *failoverCount) { c.lostTokens++ })
		default:
			t.Errorf("player %s: rotating its refresh token: %s", p.customID, r)
		}
		again := a.login(p.customID)
		sub, err := subject(again.AccessToken)
		switch {
		case !again.ok() || err != nil:
			t.Errorf("player %s: logging in again: %s (%v)", p.customID, again, err)
		case sub != p.sub:
			count(func(c *failoverCount) { c.changedPlayers++ })
		}
	})
	return c
}
