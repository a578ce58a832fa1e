package shared

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/bridgekeeper/bridgekeeper/internal/proctest"
	"github.com/bridgekeeper/bridgekeeper/throttle"
)

// count is how many lines of a Limiter's log hold s.
func count(log *proctest.SyncBuffer, s string) int { return strings.Count(log.String(), s) }

const (
	downLine = "rate-limit store out of reach"
	upLine   = "rate-limit store reachable again"
)

// newLimiter is a replica's Limiter on store, logging into a buffer.
func newLimiter(store Store, beat time.Duration) (*Limiter, *proctest.SyncBuffer) {
	log := &proctest.SyncBuffer{}
	return New(Config{
		Store: store, Local: throttle.New(1000, time.Now),
		Log: slog.New(slog.NewTextHandler(log, nil)), Beat: beat,
	}), log
}

// admitted is how many of n calls to key, spread over the limiters in
// turn, were allowed at 20 per second with a burst of 20.
func admitted(ctx context.Context, ls []*Limiter, key string, n int) int {
	ok := 0
	for i := range n {
		if allowed, _ := ls[i%len(ls)].Allow(ctx, key, 20, 20); allowed {
			ok++
		}
	}
	return ok
}

// eventually polls cond every 10 ms for up to d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Three replicas on one Redis share each bucket; with Redis stopped each
// falls back to a third of it, logs that once and sets the gauge, and no
// call fails; with Redis back they share again.
func TestLimiterFallsBackAndRecovers(t *testing.T) {
	store, srv := newRedis(t)
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	const beat = 100 * time.Millisecond
	var replicas []*Limiter
	var logs []*proctest.SyncBuffer
	for range 3 {
		l, log := newLimiter(store, beat)
		wg.Go(func() { l.Run(ctx) })
		replicas, logs = append(replicas, l), append(logs, log)
	}
	for i, l := range replicas {
		eventually(t, 2*time.Second, "each replica counts 3 (bridgekeeper_rate_limit_store_replicas)",
			func() bool { return testutil.ToFloat64(l.counted) == 3 })
		if !l.up() {
			t.Fatalf("replica %d does not use the store", i)
		}
	}

	// 60 calls at once: the shared burst of 20, and at 20/s perhaps one
	// more token for the milliseconds the calls take.
	if n := admitted(ctx, replicas, "client:shared", 60); n < 20 || n > 21 {
		t.Fatalf("shared: %d of 60 calls over 3 replicas admitted, want the burst of 20", n)
	}

	srv.Stop()
	// Each replica's share is 20/3 per second, a burst of ceil(20/3) = 7.
	start := time.Now()
	n := admitted(ctx, replicas, "client:outage", 60)
	if took := time.Since(start); took > time.Second {
		t.Errorf("60 calls with Redis down took %s", took)
	}
	if n < 21 || n > 22 {
		t.Fatalf("fallback: %d of 60 calls over 3 replicas admitted, want 3 × 7 = 21", n)
	}
	admitted(ctx, replicas, "client:more", 30)
	for i, l := range replicas {
		if c := count(logs[i], downLine); c != 1 {
			t.Errorf("replica %d logged %q %d times, want once:\n%s", i, downLine, c, logs[i])
		}
		if !strings.Contains(logs[i].String(), "replicas=3") {
			t.Errorf("replica %d's log does not say its share:\n%s", i, logs[i])
		}
		if g := testutil.ToFloat64(l.fallback); g != 1 {
			t.Errorf("replica %d: bridgekeeper_rate_limit_store_fallback = %v, want 1", i, g)
		}
		if d := testutil.ToFloat64(l.decisions); d < 30 {
			t.Errorf("replica %d: %v fallback decisions counted, want at least 30", i, d)
		}
	}

	srv.Restart()
	for i, l := range replicas {
		eventually(t, 3*time.Second, "the replica uses Redis again", l.up)
		if g := testutil.ToFloat64(l.fallback); g != 0 {
			t.Errorf("replica %d: bridgekeeper_rate_limit_store_fallback = %v after recovery, want 0", i, g)
		}
		if c := count(logs[i], upLine); c != 1 {
			t.Errorf("replica %d logged %q %d times, want once:\n%s", i, upLine, c, logs[i])
		}
	}
	if n := admitted(ctx, replicas, "client:back", 60); n < 20 || n > 21 {
		t.Fatalf("after recovery: %d of 60 calls over 3 replicas admitted, want the shared burst of 20", n)
	}
	for i := range replicas {
		if c := count(logs[i], downLine); c != 1 {
			t.Errorf("replica %d logged %q %d times in all, want once", i, downLine, c)
		}
	}
}

// A Redis that accepts connections and never answers costs the request
// that meets it the timeout, and the following requests nothing.
func TestLimiterBoundsAStoreThatHangs(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns sync.WaitGroup
	defer conns.Wait()
	defer ln.Close()
	conns.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Go(func() {
				defer c.Close()
				buf := make([]byte, 4096)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
				}
			})
		}
	})
	store, err := NewRedis("redis://" + ln.Addr().String() + "/0")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	l, log := newLimiter(store, time.Hour) // no heartbeat: only requests meet the store
	ctx := t.Context()

	start := time.Now()
	if ok, _ := l.Allow(ctx, "client:c", 20, 20); !ok {
		t.Fatal("the first call was refused")
	}
	// The timeout, and slack for a race-detector build on a busy machine.
	if took := time.Since(start); took > DefaultTimeout+400*time.Millisecond {
		t.Fatalf("the first call took %s, want about the %s timeout", took, DefaultTimeout)
	}
	start = time.Now()
	for range 100 {
		l.Allow(ctx, "client:c", 20, 20)
		l.Wait(ctx, "fail:addr:x", 1, 60)
	}
	if took := time.Since(start); took > 200*time.Millisecond {
		t.Fatalf("200 calls in fallback took %s: they went on waiting for the store", took)
	}
	if c := count(log, downLine); c != 1 {
		t.Fatalf("logged %q %d times, want once:\n%s", downLine, c, log)
	}
}

// fakeStore is a Store whose calls fail with err (nil: succeed, admitting
// all), and which counts the calls.
type fakeStore struct {
	mu       sync.Mutex
	err      error
	replicas int
	calls    int
}

func (f *fakeStore) result() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.err
}

func (f *fakeStore) Allow(ctx context.Context, _ string, _ float64, _ int) (bool, time.Duration, error) {
	if err := f.result(); err != nil {
		return false, 0, err
	}
	return true, 0, ctx.Err()
}

func (f *fakeStore) Wait(ctx context.Context, _ string, _ float64, _ int) (time.Duration, error) {
	return 0, errors.Join(f.result(), ctx.Err())
}

func (f *fakeStore) Beat(context.Context, string, time.Duration) (int, error) {
	return f.replicas, f.result()
}

func (f *fakeStore) Leave(context.Context, string) error { return nil }

func TestLimiterShare(t *testing.T) {
	errDown := errors.New("connection refused")
	for _, tc := range []struct {
		name      string
		replicas  int // the roll's count at the last beat
		ended     bool
		perSecond float64
		burst     int
		admitted  int // of 20 calls at once
		down      bool
		calls     int // the store's, besides the beat
	}{
		{name: "should pass every call because a rate of 0 is no limit, and ask no store", perSecond: 0, burst: 20, admitted: 20},
		{name: "should admit a quarter of the burst because 4 replicas were counted", replicas: 4, perSecond: 20, burst: 20, admitted: 5, down: true, calls: 1},
		{name: "should admit the whole burst because no replica was counted (1 at least)", replicas: 0, perSecond: 20, burst: 20, admitted: 20, down: true, calls: 1},
		{name: "should admit one because a share of a burst rounds up", replicas: 3, perSecond: 1, burst: 1, admitted: 1, down: true, calls: 1},
		{name: "should not fall back because the request ended, not the store", replicas: 2, ended: true, perSecond: 20, burst: 20, admitted: 10, calls: 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := &fakeStore{replicas: tc.replicas}
			l, log := newLimiter(store, time.Hour)
			l.heartbeat(t.Context())
			ctx, cancel := context.WithCancel(t.Context())
			if tc.ended {
				cancel()
			}
			defer cancel()
			store.mu.Lock()
			store.err, store.calls = errDown, 0
			if tc.ended {
				store.err = context.Canceled
			}
			store.mu.Unlock()
			n := 0
			for range 20 {
				if ok, _ := l.Allow(ctx, "k", tc.perSecond, tc.burst); ok {
					n++
				}
			}
			if n != tc.admitted {
				t.Errorf("admitted %d of 20, want %d", n, tc.admitted)
			}
			if l.up() == tc.down {
				t.Errorf("store in use: %v, want %v", l.up(), !tc.down)
			}
			if store.calls != tc.calls {
				t.Errorf("the store was called %d times, want %d", store.calls, tc.calls)
			}
			if want := map[bool]int{true: 1, false: 0}[tc.down]; count(log, downLine) != want {
				t.Errorf("logged %q %d times, want %d:\n%s", downLine, count(log, downLine), want, log)
			}
		})
	}
}
