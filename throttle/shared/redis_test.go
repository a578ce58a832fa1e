package shared

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/internal/testredis"
)

// newRedis is a Store on a redis-server of the test's own.
func newRedis(t *testing.T) (*Redis, *testredis.Server) {
	t.Helper()
	srv := testredis.Start(t)
	r, err := NewRedis(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, srv
}

// The Redis buckets, call by call, as throttle.Keyed's in one process:
// Redis's clock runs on, so waits are checked within bounds, not exactly.
func TestRedisBuckets(t *testing.T) {
	r, _ := newRedis(t)
	ctx := t.Context()
	allow := func(key string, rate float64, burst int) (bool, time.Duration) {
		t.Helper()
		ok, wait, err := r.Allow(ctx, key, rate, burst)
		if err != nil {
			t.Fatalf("Allow(%s): %v", key, err)
		}
		return ok, wait
	}
	wait := func(key string, rate float64, burst int) time.Duration {
		t.Helper()
		d, err := r.Wait(ctx, key, rate, burst)
		if err != nil {
			t.Fatalf("Wait(%s): %v", key, err)
		}
		return d
	}
	for _, tc := range []struct {
		name      string
		perSecond float64
		burst     int
		allowed   int           // of 10 calls at once
		wait      time.Duration // announced for the first refused, at most
	}{
		{"should refuse the 4th because a burst of 3 is spent", 1, 3, 3, time.Second},
		{"should refuse the 2nd because half a request per second refills in 2s", 0.5, 1, 1, 2 * time.Second},
		{"should refuse the 2nd because a burst below 1 is 1", 2, 0, 1, 500 * time.Millisecond},
		{"should admit all because a budget of 60 a minute holds 10", 1, 60, 10, 0},
		{"should refuse the 3rd because 2.5 per second holds 2", 2.5, 2, 2, 400 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "test:" + t.Name()
			n, first := 0, time.Duration(-1)
			for range 10 {
				if ok, w := allow(key, tc.perSecond, tc.burst); ok {
					n++
				} else if first < 0 {
					first = w
				}
			}
			if n != tc.allowed {
				t.Fatalf("allowed %d of 10, want %d", n, tc.allowed)
			}
			if n == 10 {
				return
			}
			// Only the time the calls took has passed since the bucket
			// emptied: the wait is nearly a whole token's.
			if first <= 0 || first > tc.wait || first < tc.wait-200*time.Millisecond {
				t.Fatalf("first refusal says wait %v, want about %v", first, tc.wait)
			}
			if d := wait(key, tc.perSecond, tc.burst); d <= 0 || d > tc.wait {
				t.Fatalf("Wait = %v on an empty bucket, want up to %v", d, tc.wait)
			}
			if ok, _ := allow(key+":other", tc.perSecond, tc.burst); !ok {
				t.Fatal("another key shares the bucket")
			}
		})
	}

	t.Run("should admit again once the announced wait is over", func(t *testing.T) {
		allow("again", 20, 1)
		ok, w := allow("again", 20, 1)
		if ok || w <= 0 || w > 50*time.Millisecond {
			t.Fatalf("second call at 20/s: %v, wait %v; want refused, up to 50ms", ok, w)
		}
		time.Sleep(w)
		if ok, w := allow("again", 20, 1); !ok {
			t.Fatalf("refused after the announced wait, wait %v more", w)
		}
	})

	t.Run("should not take a token because Wait only looks", func(t *testing.T) {
		if d := wait("look", 0.1, 2); d != 0 {
			t.Fatalf("unknown key waits %v", d)
		}
		for range 5 {
			wait("look", 0.1, 2)
		}
		allow("look", 0.1, 2)
		if d := wait("look", 0.1, 2); d != 0 {
			t.Fatalf("one of a burst of 2 taken: wait %v, want 0", d)
		}
		allow("look", 0.1, 2)
		if d := wait("look", 0.1, 2); d < 9*time.Second || d > 10*time.Second {
			t.Fatalf("both taken: wait %v, want about 10s (1/0.1 per second)", d)
		}
		// An empty bucket stays empty: a refused take borrows nothing.
		if ok, _ := allow("look", 0.1, 2); ok {
			t.Fatal("a third take of a burst of 2 at once succeeded")
		}
		if d := wait("look", 0.1, 2); d > 10*time.Second {
			t.Fatalf("a refused take deepened the debt: wait %v", d)
		}
	})

	t.Run("should share a bucket between clients of one store", func(t *testing.T) {
		other, err := NewRedis("redis://" + r.client.Options().Addr + "/0")
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		allow("both", 1, 2)
		if ok, _, err := other.Allow(ctx, "both", 1, 2); !ok || err != nil {
			t.Fatalf("second of a burst of 2 on another client: %v, %v", ok, err)
		}
		if ok, _ := allow("both", 1, 2); ok {
			t.Fatal("a third of a burst of 2 across two clients was allowed")
		}
	})
}

// Beat counts the replicas whose last beat is within the TTL, and Leave
// takes one off at once.
func TestRedisRoll(t *testing.T) {
	r, _ := newRedis(t)
	ctx := t.Context()
	beat := func(id string, ttl time.Duration) int {
		t.Helper()
		n, err := r.Beat(ctx, id, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for i := range 3 {
		if n := beat(fmt.Sprint("r", i), time.Minute); n != i+1 {
			t.Fatalf("beat %d counts %d replicas", i, n)
		}
	}
	if n := beat("r0", time.Minute); n != 3 {
		t.Fatalf("a second beat of r0 counts %d, want 3", n)
	}
	if err := r.Leave(ctx, "r1"); err != nil {
		t.Fatal(err)
	}
	if n := beat("r0", time.Minute); n != 2 {
		t.Fatalf("after r1 left: %d, want 2", n)
	}
	time.Sleep(300 * time.Millisecond)
	if n := beat("r0", 200*time.Millisecond); n != 1 {
		t.Fatalf("r2 silent for longer than the TTL still counted: %d, want 1", n)
	}
}

func TestNewRedisRefusals(t *testing.T) {
	for _, tc := range []struct{ name, url string }{
		{"should fail because the URL does not parse", "redis://bk:s3cret%zz@limits:6379"},
		{"should fail because the database is not a number", "redis://bk:s3cret@limits:6379/x"},
		{"should fail because the Redis client knows no such option", "redis://bk:s3cret@limits:6379/0?colour=blue"},
		{"should fail because a bare host:port is no URL", "limits:6379"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewRedis(tc.url)
			if err == nil {
				t.Fatalf("NewRedis(%q) succeeded", tc.url)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("NewRedis error %q holds the password", err)
			}
		})
	}
}
