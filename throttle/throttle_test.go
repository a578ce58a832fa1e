package throttle

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newClock() *clock { return &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)} }

func TestAllow(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		perSecond float64
		burst     int
		allowed   int // of 10 calls at one instant
		wait      time.Duration
	}{
		{"unlimited", 0, 0, 10, 0},
		{"burst of 3", 1, 3, 3, time.Second},
		{"half a request per second", 0.5, 1, 1, 2 * time.Second},
		{"burst below 1 is 1", 2, 0, 1, 500 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			k := New(10, clk.now)
			n, lastWait := 0, time.Duration(0)
			for range 10 {
				if ok, wait := k.Allow(ctx, "a", tc.perSecond, tc.burst); ok {
					n++
				} else {
					lastWait = wait
				}
			}
			if n != tc.allowed || lastWait != tc.wait {
				t.Fatalf("allowed %d (wait %v), want %d (wait %v)", n, lastWait, tc.allowed, tc.wait)
			}
			if tc.perSecond > 0 {
				clk.add(tc.wait)
				if ok, _ := k.Allow(ctx, "a", tc.perSecond, tc.burst); !ok {
					t.Fatal("no token after the announced wait")
				}
				if ok, _ := k.Allow(ctx, "b", tc.perSecond, tc.burst); !ok {
					t.Fatal("another key shares the bucket")
				}
			}
		})
	}
}

func TestWaitAndTake(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	k := New(10, clk.now)
	if d := k.Wait(ctx, "x", 0.1, 2); d != 0 {
		t.Fatalf("unknown key waits %v", d)
	}
	k.Take(ctx, "x", 0.1, 2)
	if d := k.Wait(ctx, "x", 0.1, 2); d != 0 {
		t.Fatalf("one failure of a burst of 2 waits %v", d)
	}
	k.Take(ctx, "x", 0.1, 2)
	if d := k.Wait(ctx, "x", 0.1, 2); d != 10*time.Second {
		t.Fatalf("after two failures wait %v, want 10s", d)
	}
	k.Take(ctx, "x", 0.1, 2) // an empty bucket stays empty, not negative
	clk.add(10 * time.Second)
	if d := k.Wait(ctx, "x", 0.1, 2); d != 0 {
		t.Fatalf("after the wait still %v", d)
	}
}

func TestRateChange(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	k := New(10, clk.now)
	k.Allow(ctx, "c", 1, 1)
	if ok, _ := k.Allow(ctx, "c", 1, 1); ok {
		t.Fatal("second request at 1/s allowed")
	}
	// At 1/s the bucket would hold 0.11 tokens 110 ms later; at 100/s,
	// from when the rate changed, a whole one.
	clk.add(100 * time.Millisecond)
	k.Wait(ctx, "c", 100, 1) // re-rates the bucket
	clk.add(10 * time.Millisecond)
	if ok, _ := k.Allow(ctx, "c", 100, 1); !ok {
		t.Fatal("raising the rate to 100/s did not take effect")
	}
}

func TestBounded(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	k := New(100, clk.now)
	for i := range 10_000 {
		k.Allow(ctx, fmt.Sprint(i), 1, 1)
		clk.add(time.Millisecond)
	}
	if n := len(k.buckets); n > 100 {
		t.Fatalf("%d buckets kept, bound 100", n)
	}
	// The most recent key survived eviction and is still throttled.
	if ok, _ := k.Allow(ctx, "9999", 1, 1); ok {
		t.Fatal("the most recent key was forgotten")
	}
}

func TestRetryAfter(t *testing.T) {
	for d, want := range map[time.Duration]int{0: 1, time.Millisecond: 1, time.Second: 1, 1001 * time.Millisecond: 2, 90 * time.Second: 90} {
		if got := RetryAfter(d); got != want {
			t.Errorf("RetryAfter(%v) = %d, want %d", d, got, want)
		}
	}
}
