package fault

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bridgekeeper/bridgekeeper/internal/proctest"
	"github.com/bridgekeeper/bridgekeeper/internal/testdb"
)

const (
	// requestTimeout is the broker's BRIDGEKEEPER_REQUEST_TIMEOUT here.
	requestTimeout = 2 * time.Second
	// latencyBound is the longest any answer may take: the request timeout
	// plus slack for a -race build on a busy two-core machine (make test
	// runs other packages alongside). A hang is unbounded; this catches it.
	latencyBound = requestTimeout + 2*time.Second
)

// faultEnv is the broker's environment for the database-fault tests.
func faultEnv() []string {
	return []string{
		"BRIDGEKEEPER_KEY_ENCRYPTION_KEY=" + proctest.NewKEK(),
		"BRIDGEKEEPER_REQUEST_TIMEOUT=" + requestTimeout.String(),
		// A rotation answered 503 may still have committed (the database
		// went away between the commit and the answer, or a statement the
		// broker gave up on ran on once the lock was released). The client
		// keeps its old token and retries it, which only the grace window
		// answers with the committed successor; 5m covers every retry here.
		"BRIDGEKEEPER_REFRESH_GRACE=5m",
	}
}

// checkBounded fails the test for any answer that is a transport error,
// came later than latencyBound, is a 503 without Retry-After, or is neither
// a success nor a 503.
func checkBounded(t *testing.T, phase string, rs []reply) {
	t.Helper()
	reportUnexpected(t, phase+": no answer (connection error)", rs, func(r reply) bool { return r.Err != nil })
	reportUnexpected(t, fmt.Sprintf("%s: answered later than %s (request timeout %s)", phase, latencyBound, requestTimeout), rs,
		func(r reply) bool { return r.Took > latencyBound })
	reportUnexpected(t, phase+": 503 without Retry-After", rs,
		func(r reply) bool {
			return r.Err == nil && r.Status == http.StatusServiceUnavailable && r.RetryAfter == ""
		})
	reportUnexpected(t, phase+": neither a success nor 503 + Retry-After", rs,
		func(r reply) bool { return r.Err == nil && !r.ok() && !r.unavailable() })
}

// logStats logs a phase's numbers, in total and per operation.
func logStats(t *testing.T, phase string, rs []reply) stats {
	t.Helper()
	s := summarize(rs)
	t.Logf("%s: %s", phase, s)
	ops, m := byOp(rs)
	for _, op := range ops {
		t.Logf("  %-18s %s", op, summarize(m[op]))
	}
	return s
}

// playerSession is a logged-in player whose game server keeps rotating.
type playerSession struct {
	mu     sync.Mutex
	rt, at string
}

func (s *playerSession) get() (rt, at string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rt, s.at
}

func (s *playerSession) set(r reply) {
	if r.ok() && r.RefreshToken != "" {
		s.mu.Lock()
		s.rt, s.at = r.RefreshToken, r.AccessToken
		s.mu.Unlock()
	}
}

// loginSessions logs n players in.
func loginSessions(t *testing.T, a *api, prefix string, n int) []*playerSession {
	t.Helper()
	out := make([]*playerSession, n)
	for i := range out {
		r := a.login(fmt.Sprintf("%s-%d", prefix, i))
		if !r.ok() {
			t.Fatalf("login of session %d: %s", i, r)
		}
		out[i] = &playerSession{rt: r.RefreshToken, at: r.AccessToken}
	}
	return out
}

// TestPostgresOutage stops PostgreSQL under load and starts it again. While
// it is down every request is answered, within the request timeout, with a
// success (what needs no database) or 503 + Retry-After, and /readyz says
// 503; the broker does not exit or panic; once PostgreSQL is back service
// resumes without a restart of the broker, and no session was lost.
func TestPostgresOutage(t *testing.T) {
	cluster := testdb.NewCluster(t)
	db := cluster.NewDatabase(t)
	env := faultEnv()
	creds := createClient(t, env, db, "outage")
	bk := startBroker(t, proctest.FreeAddr(t), db, env)
	a := newAPI(bk.Base, creds)
	defer a.close()

	const workers = 6
	sessions := loginSessions(t, a, "outage-player", workers)

	// The phases of the test; every reply is filed under the one it started in.
	const (
		phaseBefore = iota
		phaseStopping
		phaseDown
		phaseStarting
		phaseRecovering
		phaseAfter
	)
	phaseNames := []string{"before the outage", "while PostgreSQL stops", "PostgreSQL down", "while PostgreSQL starts", "recovering", "after recovery"}
	var phase atomic.Int32
	recs := make([]recorder, len(phaseNames))
	// record files a reply under the phase it started in, except that the
	// strict phases (before, after: every answer a success) only get the
	// replies that also ended in them: a request sent just before the stop
	// may well meet the stopping database.
	record := func(r reply, start int32) reply {
		p := start
		if end := phase.Load(); end != start && (start == phaseBefore || start == phaseAfter) {
			p = end
		}
		recs[p].add(r)
		return r
	}

	ctx, stopLoad := context.WithCancel(context.Background())
	defer stopLoad()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			s := sessions[w]
			for n := 0; ctx.Err() == nil; n++ {
				p := phase.Load()
				rt, at := s.get()
				switch n % 4 {
				case 0:
					// On 503 the client keeps its token and retries it.
					s.set(record(a.refresh(rt), p))
				case 1:
					record(a.login(fmt.Sprintf("outage-login-%d-%d", w, n%7)), p)
				case 2:
					record(a.clientCredentials(), p)
				case 3:
					record(a.introspect(at, ""), p)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	// A load balancer's readiness probe.
	wg.Go(func() {
		for ctx.Err() == nil {
			p := phase.Load()
			record(a.readyz(), p)
			time.Sleep(100 * time.Millisecond)
		}
	})

	// Load before the outage: each worker's four operations a few times over.
	time.Sleep(500 * time.Millisecond)

	phase.Store(phaseStopping)
	stopAt := time.Now()
	cluster.Stop()
	t.Logf("PostgreSQL stopped (pg_ctl stop -m fast took %s)", time.Since(stopAt).Round(time.Millisecond))
	phase.Store(phaseDown)
	// /readyz must say so promptly.
	var readyzDown time.Duration
	for deadline := time.Now().Add(latencyBound); ; {
		r := a.readyz()
		if r.unavailable() {
			readyzDown = time.Since(stopAt)
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("/readyz still answers %s with PostgreSQL stopped", r)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Long enough for the client cache (250ms) to expire several times over
	// and the pool to try, and fail, to reconnect: hundreds of requests.
	time.Sleep(1500 * time.Millisecond)

	phase.Store(phaseStarting)
	startAt := time.Now()
	cluster.Start()
	down := time.Since(stopAt)
	t.Logf("PostgreSQL started again after %s down (pg_ctl start took %s)", down.Round(time.Millisecond), time.Since(startAt).Round(time.Millisecond))
	phase.Store(phaseRecovering)

	// Service resumes on its own: /readyz and every operation answer 200
	// again within recoverWithin, polled.
	const recoverWithin = 15 * time.Second
	recovered := map[string]time.Duration{}
	for deadline := time.Now().Add(recoverWithin); len(recovered) < 5 && time.Now().Before(deadline); {
		for _, r := range recs[phaseRecovering].all() {
			if _, seen := recovered[r.Op]; !seen && r.ok() {
				recovered[r.Op] = r.Start.Add(r.Took).Sub(startAt)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, op := range []string{opRefresh, opLogin, opClientCredentials, opIntrospect, opReadyz} {
		if d, ok := recovered[op]; ok {
			t.Logf("  %-18s succeeded again %s after pg_ctl start returned", op, d.Round(time.Millisecond))
		} else {
			t.Errorf("%s did not succeed again within %s of PostgreSQL's restart", op, recoverWithin)
		}
	}
	// Then everything must succeed: each worker's four operations a few
	// times over.
	phase.Store(phaseAfter)
	time.Sleep(time.Second)
	stopLoad()
	wg.Wait()

	all := map[int][]reply{}
	for p := range phaseNames {
		all[p] = recs[p].all()
		checkBounded(t, phaseNames[p], all[p])
		logStats(t, phaseNames[p], all[p])
	}
	reportUnexpected(t, "before the outage: not a success", all[phaseBefore], func(r reply) bool { return !r.ok() })
	reportUnexpected(t, "after recovery: not a success", all[phaseAfter], func(r reply) bool { return !r.ok() })
	outage := append(append(append(all[phaseStopping], all[phaseDown]...), all[phaseStarting]...), all[phaseRecovering]...)
	so := summarize(outage)
	sd := summarize(all[phaseDown])
	if sd.unavailable == 0 {
		t.Errorf("PostgreSQL down: no request was answered 503 (%s)", sd)
	}
	_, downOps := byOp(all[phaseDown])
	reportUnexpected(t, "PostgreSQL down: /readyz not 503", downOps[opReadyz], func(r reply) bool { return !r.unavailable() })
	for _, op := range []string{opRefresh, opLogin} {
		if s := summarize(downOps[op]); s.unavailable == 0 {
			t.Errorf("PostgreSQL down: %s was never answered 503 (%s)", op, s)
		}
	}
	// Every session survived: each rotates once more now.
	for i, s := range sessions {
		rt, _ := s.get()
		if r := a.refresh(rt); !r.ok() {
			t.Errorf("session %d lost in the outage: its last refresh token: %s", i, r)
		}
	}
	bk.checkAlive(t)
	t.Logf("SUMMARY PostgreSQL outage: %d requests while PostgreSQL was stopping, down or starting (%d during the %s it was down): %d answered 503 + Retry-After, %d succeeded, %d other; max latency %s during the outage, %s overall (bound %s); /readyz 503 %s after the stop; readyz 200 again %s after the start",
		so.n, sd.n, down.Round(time.Millisecond), so.unavailable, so.ok, so.other+so.transport, so.max.Round(time.Millisecond),
		maxLatency(all).Round(time.Millisecond), latencyBound, readyzDown.Round(time.Millisecond), recovered[opReadyz].Round(time.Millisecond))
}

func maxLatency(all map[int][]reply) time.Duration {
	var m time.Duration
	for _, rs := range all {
		m = max(m, summarize(rs).max)
	}
	return m
}

// lockTable takes an ACCESS EXCLUSIVE lock on table in an open transaction
// of a side connection, so that every statement on it blocks; release
// rolls the transaction back.
func lockTable(t *testing.T, database, table string) (release func()) {
	t.Helper()
	// The broker's URL may carry pgxpool settings, which a plain
	// connection would send to the server as parameters.
	u, err := url.Parse(database)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	for k := range q {
		if strings.HasPrefix(k, "pool_") {
			q.Del(k)
		}
	}
	u.RawQuery = q.Encode()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatalf("side connection: %v", err)
	}
	tx, err := conn.Begin(ctx)
	if err == nil {
		_, err = tx.Exec(ctx, "LOCK TABLE "+pgx.Identifier{table}.Sanitize()+" IN ACCESS EXCLUSIVE MODE")
	}
	if err != nil {
		conn.Close(context.Background())
		t.Fatalf("lock %s: %v", table, err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := tx.Rollback(ctx); err != nil {
				t.Errorf("release the lock on %s: %v", table, err)
			}
			conn.Close(ctx)
		})
	}
	t.Cleanup(release)
	return release
}

// spentTokens counts the refresh tokens that introspect inactive: spent by
// a rotation.
func spentTokens(t *testing.T, a *api, rts []string) int {
	t.Helper()
	n := 0
	for _, rt := range rts {
		r := a.introspect(rt, "refresh_token")
		if r.Err != nil || r.Status != http.StatusOK {
			t.Errorf("introspect a refresh token: %s", r)
			continue
		}
		if !r.Active {
			n++
		}
	}
	return n
}

// burst sends the given requests all at once and returns the replies.
func burst(calls []func() reply) []reply {
	out := make([]reply, len(calls))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, c := range calls {
		wg.Go(func() {
			<-start
			out[i] = c()
		})
	}
	close(start)
	wg.Wait()
	return out
}

// TestSlowDatabase: a database that answers too slowly, because the
// refresh_tokens table is locked or every pooled connection is busy, costs
// a request at most the request timeout, answered 503 + Retry-After; once
// the lock is released the same requests succeed.
func TestSlowDatabase(t *testing.T) {
	cluster := testdb.NewCluster(t)

	// lockedRotations locks refresh_tokens and fires a burst at the broker:
	// a rotation, a login (both write refresh_tokens) and an introspection
	// per session, plus client_credentials and /readyz. With held > 0 that
	// many logins first take connections of the pool and block on the lock.
	// wantReadyz is the status /readyz must answer meanwhile; 0 takes either.
	lockedRotations := func(t *testing.T, db string, a *api, sessions []*playerSession, held int, wantReadyz int) outcome {
		release := lockTable(t, db, "refresh_tokens")
		var calls []func() reply
		var rts []string
		for i, s := range sessions {
			rt, at := s.get()
			rts = append(rts, rt)
			calls = append(calls,
				func() reply { return a.refresh(rt) },
				func() reply { return a.login(fmt.Sprintf("slow-login-%d", i)) },
				func() reply { return a.introspect(at, "") },
			)
			if i%2 == 0 {
				calls = append(calls, a.clientCredentials, a.readyz)
			}
		}
		early := make([]reply, held)
		var wg sync.WaitGroup
		for i := range held {
			wg.Go(func() { early[i] = a.login(fmt.Sprintf("slow-holder-%d", i)) })
		}
		if held > 0 {
			time.Sleep(300 * time.Millisecond) // let them take the connections
		}
		rs := burst(calls)
		wg.Wait()
		return finishLocked(t, a, sessions, rts, append(early, rs...), release, wantReadyz)
	}

	t.Run("table lock", func(t *testing.T) {
		db := cluster.NewDatabase(t)
		env := faultEnv()
		creds := createClient(t, env, db, "lock")
		bk := startBroker(t, proctest.FreeAddr(t), db, env)
		a := newAPI(bk.Base, creds)
		defer a.close()
		sessions := loginSessions(t, a, "lock-player", 10)
		// The pool (32) has room: only what touches refresh_tokens waits,
		// and /readyz, which needs no table, stays 200.
		o := lockedRotations(t, db, a, sessions, 0, http.StatusOK)
		bk.checkAlive(t)
		t.Logf("SUMMARY table lock: %d requests while refresh_tokens was locked: %d answered 503 + Retry-After, %d succeeded; max latency %s (bound %s); after the release %s",
			o.locked.n, o.locked.unavailable, o.locked.ok, o.locked.max.Round(time.Millisecond), latencyBound, o.after)
	})

	t.Run("pool of two", func(t *testing.T) {
		db := cluster.NewDatabase(t) + "&pool_max_conns=2"
		env := faultEnv()
		creds := createClient(t, env, db, "pool")
		bk := startBroker(t, proctest.FreeAddr(t), db, env)
		a := newAPI(bk.Base, creds)
		defer a.close()
		sessions := loginSessions(t, a, "pool-player", 10)

		// Many concurrent requests on two connections queue, briefly.
		var calls []func() reply
		for i := range 48 {
			switch i % 3 {
			case 0:
				calls = append(calls, func() reply { return a.login(fmt.Sprintf("pool-burst-%d", i)) })
			case 1:
				calls = append(calls, a.clientCredentials)
			case 2:
				_, at := sessions[i%len(sessions)].get()
				calls = append(calls, func() reply { return a.introspect(at, "") })
			}
		}
		rs := burst(calls)
		checkBounded(t, "48 concurrent requests on a pool of two", rs)
		sb := logStats(t, "48 concurrent requests on a pool of two", rs)

		// With both connections stuck behind the lock, everything that needs
		// the database waits for a connection, never past the request's
		// deadline. /readyz may answer either way: it waits for a
		// connection, which a request giving up at its deadline frees.
		o := lockedRotations(t, db, a, sessions, 2, 0)
		bk.checkAlive(t)
		t.Logf("SUMMARY pool of two: a burst of %d requests: %d ok, %d 503, max latency %s; %d requests with both connections stuck behind the lock: %d answered 503 + Retry-After, %d succeeded; max latency %s (bound %s); after the release %s",
			sb.n, sb.ok, sb.unavailable, sb.max.Round(time.Millisecond),
			o.locked.n, o.locked.unavailable, o.locked.ok, o.locked.max.Round(time.Millisecond), latencyBound, o.after)
	})
}

// TestFrozenDatabase: PostgreSQL hangs (every process of the cluster
// SIGSTOPped: connections are accepted by the kernel, nothing answers).
// Every request, the client authentication included, is answered 503 +
// Retry-After within the request timeout; once the server resumes, so does
// the service.
func TestFrozenDatabase(t *testing.T) {
	cluster := testdb.NewCluster(t)
	db := cluster.NewDatabase(t)
	env := faultEnv()
	creds := createClient(t, env, db, "frozen")
	bk := startBroker(t, proctest.FreeAddr(t), db, env)
	a := newAPI(bk.Base, creds)
	defer a.close()
	sessions := loginSessions(t, a, "frozen-player", 6)

	cluster.Freeze()
	// Past the client cache's lifetime (250ms): authenticating the client
	// needs the database too.
	time.Sleep(500 * time.Millisecond)
	var calls []func() reply
	for i, s := range sessions {
		rt, at := s.get()
		calls = append(calls,
			func() reply { return a.refresh(rt) },
			func() reply { return a.login(fmt.Sprintf("frozen-login-%d", i)) },
			func() reply { return a.introspect(at, "") },
		)
		if i%2 == 0 {
			calls = append(calls, a.clientCredentials, a.readyz)
		}
	}
	rs := burst(calls)
	cluster.Thaw()
	thawed := time.Now()

	checkBounded(t, "PostgreSQL frozen", rs)
	sf := logStats(t, "PostgreSQL frozen", rs)
	_, m := byOp(rs)
	for _, op := range []string{opRefresh, opLogin, opReadyz} {
		reportUnexpected(t, "PostgreSQL frozen: "+op+" not 503 + Retry-After", m[op], func(r reply) bool { return !r.unavailable() })
	}

	// Service resumes: every session rotates again, polled.
	var resumed time.Duration
	for i, s := range sessions {
		for deadline := time.Now().Add(15 * time.Second); ; {
			rt, _ := s.get()
			r := a.refresh(rt)
			if r.ok() {
				s.set(r)
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("session %d does not rotate 15s after PostgreSQL resumed: %s", i, r)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		resumed = time.Since(thawed)
	}
	bk.checkAlive(t)
	t.Logf("SUMMARY frozen PostgreSQL: %d requests: %d answered 503 + Retry-After, %d succeeded, %d other; max latency %s (bound %s); every session rotated again %s after the thaw",
		sf.n, sf.unavailable, sf.ok, sf.other+sf.transport, sf.max.Round(time.Millisecond), latencyBound, resumed.Round(time.Millisecond))
}

// outcome is the numbers of a burst against a locked table, and of the
// rotations after the release.
type outcome struct{ locked, after stats }

// finishLocked checks the replies of a burst against a locked table,
// releases the lock, and checks that every session rotates again.
func finishLocked(t *testing.T, a *api, sessions []*playerSession, rts []string, rs []reply, release func(), wantReadyz int) (o outcome) {
	t.Helper()
	release()
	checkBounded(t, "refresh_tokens locked", rs)
	o.locked = logStats(t, "refresh_tokens locked", rs)
	_, m := byOp(rs)
	for _, op := range []string{opRefresh, opLogin} {
		reportUnexpected(t, "refresh_tokens locked: "+op+" not 503 + Retry-After", m[op], func(r reply) bool { return !r.unavailable() })
	}
	if wantReadyz != 0 {
		reportUnexpected(t, fmt.Sprintf("refresh_tokens locked: /readyz not %d", wantReadyz), m[opReadyz], func(r reply) bool { return r.Err == nil && r.Status != wantReadyz })
	}

	// A rotation answered 503 may have been left running in the database
	// and committed once the lock went: its token is spent, and only the
	// grace window gets the client its successor.
	time.Sleep(300 * time.Millisecond)
	if n := spentTokens(t, a, rts); n > 0 {
		t.Logf("%d of %d rotations answered 503 committed after the lock was released (the client retries within the grace window)", n, len(rts))
	}
	var after []reply
	for i, s := range sessions {
		rt, _ := s.get()
		r := a.refresh(rt)
		after = append(after, r)
		if !r.ok() {
			t.Errorf("session %d: after the lock was released its refresh token does not rotate: %s", i, r)
		}
		s.set(r)
	}
	checkBounded(t, "after the release", after)
	o.after = summarize(after)
	return o
}
