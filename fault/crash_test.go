package fault

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/internal/proctest"
	"github.com/bridgekeeper/bridgekeeper/internal/testdb"
)

// The load of TestKill9MidLoad.
const (
	crashRotators  = 12 // sessions that rotate their refresh token in a loop
	crashLoginers  = 4  // workers that log players in by server_custom_id
	crashCCWorkers = 2  // workers that ask for client_credentials tokens
	// The kill comes once this many requests have completed, every rotator
	// holds a session and at least crashMinLoad has passed, with requests in
	// flight.
	crashKillAfter = 200
	crashMinLoad   = 750 * time.Millisecond
	crashMaxLoad   = 30 * time.Second
)

// session is a player's refresh-token family as its game server holds it:
// the last token pair it received.
type session struct {
	name    string
	rt      string // the last refresh token received
	rotated int    // rotations received
}

// crashLedger is every token a client received before the kill.
type crashLedger struct {
	mu       sync.Mutex
	sessions []*session // rotators' sessions: their last refresh token
	logins   []string   // refresh tokens of login answers (one family each)
	access   []string   // every access token received
	counts   map[string]int
	bad      []reply // answers other than 200 before the kill
	lostConn []reply // transport errors before the kill
}

func (l *crashLedger) received(r reply) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.access = append(l.access, r.AccessToken)
	l.counts[r.Op]++
}

// TestKill9MidLoad: kill -9 of the broker mid-load loses no token that a
// client received. The broker answers only after the token is committed, so
// after a restart every last refresh token rotates once more and every
// access token introspects active (they live an hour, the default).
func TestKill9MidLoad(t *testing.T) {
	cluster := testdb.NewCluster(t)
	db := cluster.NewDatabase(t)
	env := []string{
		"BRIDGEKEEPER_KEY_ENCRYPTION_KEY=" + proctest.NewKEK(),
		// A rotation in flight at the kill may have committed without its
		// answer reaching the client, whose last refresh token is then spent
		// already: only the grace window, which re-derives the same
		// successor, keeps that session alive. 5m is far longer than the
		// kill, the restart (a -race build running its migrations check) and
		// the checks take, so every such retry falls inside it; the default
		// (5s) could expire during a slow restart and turn the retry into
		// "reuse", revoking the family.
		"BRIDGEKEEPER_REFRESH_GRACE=5m",
	}
	creds := createClient(t, env, db, "crash")
	addr := proctest.FreeAddr(t)
	bk := startBroker(t, addr, db, env)
	a := newAPI(bk.Base, creds)
	defer a.close()

	ledger := &crashLedger{counts: map[string]int{}}
	var (
		killed    atomic.Bool  // set just before SIGKILL
		inFlight  atomic.Int64 // requests sent and not yet answered
		completed atomic.Int64 // 200s read in full
	)
	ctx, stopLoad := context.WithCancel(context.Background())
	defer stopLoad()

	// call runs one request of the load; it reports whether the worker may
	// go on. A 200 counts as received only once its body is read in full.
	call := func(do func() reply) (reply, bool) {
		inFlight.Add(1)
		r := do()
		inFlight.Add(-1)
		switch {
		case r.Err != nil:
			if !killed.Load() {
				ledger.mu.Lock()
				ledger.lostConn = append(ledger.lostConn, r)
				ledger.mu.Unlock()
			}
			return r, false
		case !r.ok():
			ledger.mu.Lock()
			ledger.bad = append(ledger.bad, r)
			ledger.mu.Unlock()
			return r, false
		}
		completed.Add(1)
		ledger.received(r)
		return r, ctx.Err() == nil
	}

	var wg sync.WaitGroup
	for i := range crashRotators {
		wg.Go(func() {
			s := &session{name: fmt.Sprintf("crash-rotator-%d", i)}
			r, more := call(func() reply { return a.login(s.name) })
			if r.RefreshToken == "" {
				return
			}
			s.rt = r.RefreshToken
			ledger.mu.Lock()
			ledger.sessions = append(ledger.sessions, s)
			ledger.mu.Unlock()
			for more {
				rt := s.rt
				r, more = call(func() reply { return a.refresh(rt) })
				if r.RefreshToken != "" {
					ledger.mu.Lock()
					s.rt, s.rotated = r.RefreshToken, s.rotated+1
					ledger.mu.Unlock()
				}
			}
		})
	}
	for w := range crashLoginers {
		wg.Go(func() {
			for n, more := 0, true; more; n++ {
				// Half first logins (a new user), half a returning player.
				id := fmt.Sprintf("crash-login-%d-%d", w, n)
				if n%2 == 1 {
					id = fmt.Sprintf("crash-player-%d", w)
				}
				var r reply
				r, more = call(func() reply { return a.login(id) })
				if r.RefreshToken != "" {
					ledger.mu.Lock()
					ledger.logins = append(ledger.logins, r.RefreshToken)
					ledger.mu.Unlock()
				}
			}
		})
	}
	for range crashCCWorkers {
		wg.Go(func() {
			for more := true; more; {
				_, more = call(a.clientCredentials)
			}
		})
	}

	// Kill once the load is well under way, at a moment when requests are
	// in flight (with 18 busy workers there nearly always are).
	loadStart := time.Now()
	for {
		elapsed := time.Since(loadStart)
		if elapsed > crashMaxLoad {
			stopLoad()
			wg.Wait()
			t.Fatalf("only %d requests completed in %s; the load never got going (%d bad answers, %d connection errors)",
				completed.Load(), crashMaxLoad, len(ledger.bad), len(ledger.lostConn))
		}
		// Every rotator must hold a session first, so that the kill comes
		// mid-rotation for all of them however slowly a loaded machine
		// answers the first logins.
		ledger.mu.Lock()
		allLoggedIn := len(ledger.sessions) == crashRotators
		ledger.mu.Unlock()
		if allLoggedIn && completed.Load() >= crashKillAfter && elapsed >= crashMinLoad && inFlight.Load() > 0 {
			break
		}
		if bk.exited() {
			t.Fatalf("serve exited during the load: %v", bk.waitErr)
		}
		time.Sleep(time.Millisecond)
	}
	killed.Store(true)
	flying := inFlight.Load()
	bk.kill9(t)
	killedAt := time.Now()
	stopLoad()
	wg.Wait()
	load := killedAt.Sub(loadStart)

	ledger.mu.Lock()
	before := completed.Load()
	t.Logf("kill -9 after %s of load: %d requests completed before the kill (%d rotations, %d server_custom_id logins, %d client_credentials), %d in flight at the kill",
		load.Round(time.Millisecond), before, ledger.counts[opRefresh], ledger.counts[opLogin], ledger.counts[opClientCredentials], flying)
	reportUnexpected(t, "answers other than 200 before the kill", ledger.bad, func(reply) bool { return true })
	reportUnexpected(t, "connection errors before the kill", ledger.lostConn, func(reply) bool { return true })
	sessions, logins, access := ledger.sessions, ledger.logins, ledger.access
	ledger.mu.Unlock()
	if len(sessions) != crashRotators {
		t.Fatalf("only %d of %d rotator sessions logged in before the kill", len(sessions), crashRotators)
	}

	// Restart on the same address: the issuer, and so the tokens' iss,
	// stays the same.
	bk2 := startBroker(t, addr, db, env)
	restart := time.Since(killedAt)
	t.Logf("restarted and ready %s after the kill", restart.Round(time.Millisecond))
	a2 := newAPI(bk2.Base, creds)
	defer a2.close()

	var (
		mu            sync.Mutex
		lost          []string
		graceRecovery int // last refresh tokens spent by a rotation whose answer the kill ate
		checkedRT     int
		checkedAT     int
	)
	loseIf := func(bad bool, format string, args ...any) bool {
		if bad {
			mu.Lock()
			lost = append(lost, fmt.Sprintf(format, args...))
			mu.Unlock()
		}
		return bad
	}
	const width = 8

	// Each rotator's last refresh token rotates once more, and so does the
	// successor it gets: the family survived whole. A last token that
	// introspects inactive was spent by the rotation in flight at the kill;
	// presenting it again must get that rotation's successor (grace window).
	parallel(len(sessions), width, func(i int) {
		s := sessions[i]
		in := a2.introspect(s.rt, "refresh_token")
		if loseIf(in.Err != nil || in.Status != http.StatusOK, "%s: introspect its last refresh token: %s", s.name, in) {
			return
		}
		r := a2.refresh(s.rt)
		mu.Lock()
		checkedRT++
		if !in.Active && r.ok() {
			graceRecovery++
		}
		mu.Unlock()
		if loseIf(!r.ok(), "%s (after %d rotations): its last refresh token (active before: %v) no longer rotates: %s", s.name, s.rotated, in.Active, r) {
			return
		}
		next := a2.refresh(r.RefreshToken)
		loseIf(!next.ok(), "%s: the successor of its last refresh token does not rotate: %s", s.name, next)
		at := a2.introspect(next.AccessToken, "")
		loseIf(!at.ok(), "%s: the access token of the rotation after the restart is not active: %s", s.name, at)
	})
	// Every login's refresh token (a family of its own) rotates once.
	parallel(len(logins), width, func(i int) {
		r := a2.refresh(logins[i])
		mu.Lock()
		checkedRT++
		mu.Unlock()
		loseIf(!r.ok(), "refresh token of login answer %d: %s", i, r)
	})
	// Every access token received before the kill is still active.
	parallel(len(access), width, func(i int) {
		r := a2.introspect(access[i], "")
		mu.Lock()
		checkedAT++
		mu.Unlock()
		loseIf(!r.ok(), "access token %d: %s", i, r)
	})

	bk2.checkAlive(t)
	t.Logf("checked after the restart: %d refresh tokens (%d last tokens of rotating sessions, %d of login answers; %d last tokens had been spent by the rotation in flight at the kill and were recovered through the grace window) and %d access tokens",
		checkedRT, len(sessions), len(logins), graceRecovery, checkedAT)
	if len(lost) > 0 {
		t.Errorf("%d tokens received before the kill no longer work, e.g.:\n  %s", len(lost), joinFirst(lost, 10))
	}
	t.Logf("SUMMARY kill -9: %d requests completed before the kill (%d in flight), %d tokens checked (%d refresh, %d access), %d tokens lost; grace recoveries %d; load %s, restart %s",
		before, flying, checkedRT+checkedAT, checkedRT, checkedAT, len(lost), graceRecovery, load.Round(time.Millisecond), restart.Round(time.Millisecond))
}

func joinFirst(s []string, n int) string {
	out := ""
	for i, x := range s[:min(n, len(s))] {
		if i > 0 {
			out += "\n  "
		}
		out += x
	}
	return out
}
