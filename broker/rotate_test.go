package broker_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/keys"
	"github.com/bridgekeeper/bridgekeeper/internal/teststore"
)

// Scheduled rotation: due once the current key has signed for interval -
// ahead, never while the next key waits, and a race between replicas makes
// one key.
func TestRotateIfDue(t *testing.T) {
	const interval, ahead = 10 * time.Hour, time.Hour
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	teststore.Each(t, func(t *testing.T, s broker.Store) {
		ctx := context.Background()
		secrets, first := firstKey(t, s, t0)
		publishFor, err := broker.LongestAccessTTL(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		rotate := func(at time.Time) (broker.AuditEvent, bool) {
			t.Helper()
			e, rotated, err := broker.RotateIfDue(ctx, s, secrets, "EdDSA", interval, ahead, at)
			if err != nil {
				t.Fatalf("RotateIfDue at %s: %v", at, err)
			}
			return e, rotated
		}
		for _, at := range []time.Duration{0, 8 * time.Hour, 9*time.Hour - time.Millisecond} {
			if _, rotated := rotate(t0.Add(at)); rotated {
				t.Fatalf("should not rotate because the key has signed only %s of %s - %s", at, interval, ahead)
			}
		}
		e, rotated := rotate(t0.Add(9 * time.Hour))
		if !rotated {
			t.Fatal("no rotation once due")
		}
		all, err := s.ListKeys(ctx)
		if err != nil || len(all) != 2 {
			t.Fatalf("ListKeys = %d keys, %v; want 2", len(all), err)
		}
		old, next := all[0], all[1]
		switchAt := t0.Add(10 * time.Hour)
		if old.ID != first.ID || !old.RetiredAt.Equal(switchAt) || !old.PublishUntil.Equal(switchAt.Add(publishFor)) {
			t.Errorf("the old key should retire at %s and stay published %s after; got %+v", switchAt, publishFor, old)
		}
		if next.Alg != "EdDSA" || !next.ActivatesAt.Equal(switchAt) || !next.RetiredAt.IsZero() || !next.CreatedAt.Equal(t0.Add(9*time.Hour)) {
			t.Errorf("the next key should be EdDSA, made now, signing from %s; got %+v", switchAt, next)
		}
		if e.Type != broker.AuditKeyRotate || e.Actor != "broker" || e.Target != next.ID {
			t.Errorf("audit event = %+v; want %s by broker on %s", e, broker.AuditKeyRotate, next.ID)
		}
		if trail, err := s.ListAudit(ctx, broker.AuditQuery{Type: broker.AuditKeyRotate, Limit: 10}); err != nil || len(trail) != 1 || trail[0].ID != e.ID {
			t.Errorf("audit trail = %+v, %v; want the one rotation", trail, err)
		}

		for _, at := range []time.Duration{9*time.Hour + time.Second, 10 * time.Hour, 19*time.Hour - time.Millisecond} {
			if _, rotated := rotate(t0.Add(at)); rotated {
				t.Fatalf("should not rotate at +%s because the next key was made at +9h and signs from +10h", at)
			}
		}

		// Replicas that find it due at once: one compare-and-swap wins.
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for range 8 {
			wg.Go(func() {
				_, rotated, err := broker.RotateIfDue(ctx, s, secrets, "ES256", interval, ahead, t0.Add(19*time.Hour))
				if err != nil {
					t.Errorf("concurrent RotateIfDue: %v", err)
				}
				mu.Lock()
				defer mu.Unlock()
				if rotated {
					wins++
				}
			})
		}
		wg.Wait()
		if all, err := s.ListKeys(ctx); wins != 1 || err != nil || len(all) != 3 {
			t.Errorf("8 replicas at once: %d rotated, %d keys (%v); want 1 and 3", wins, len(all), err)
		}
	})
}

// TestRotateLeavesNoGap: `key rotate` hands over from the old key to the
// new at one instant, so that some key signs at every moment; it used to
// retire the old key a millisecond before the new one began, and a token
// asked for in that millisecond failed with a 500.
func TestRotateLeavesNoGap(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	teststore.Each(t, func(t *testing.T, s broker.Store) {
		ctx := context.Background()
		secrets, first := firstKey(t, s, t0)
		now := t0.Add(time.Hour)
		next, err := broker.Rotate(ctx, s, secrets, "ES256", time.Hour, now)
		if err != nil {
			t.Fatal(err)
		}
		all, err := s.ListKeys(ctx)
		if err != nil || len(all) != 2 || all[0].ID != first.ID || all[1].ID != next.ID {
			t.Fatalf("ListKeys = %+v, %v; want the first key, then the new one", all, err)
		}
		for _, at := range []time.Time{now, now.Add(time.Millisecond / 2), next.SignsFrom()} {
			if !all[0].SignsAt(at) && !all[1].SignsAt(at) {
				t.Errorf("no key signs at %s: old key retired at %s, new key signs from %s", at, all[0].RetiredAt, all[1].SignsFrom())
			}
		}
		if all[0].SignsAt(next.SignsFrom()) {
			t.Errorf("the old key still signs once the new one does (%s)", next.SignsFrom())
		}
	})
}

// firstKey makes the store's first signing key, ES256, at t0.
func firstKey(t *testing.T, s broker.Store, t0 time.Time) (*keys.Secrets, keys.SigningKey) {
	t.Helper()
	secrets, err := keys.NewSecrets(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	first, err := keys.GenerateKey(context.Background(), s, secrets, "ES256", t0)
	if err != nil {
		t.Fatal(err)
	}
	return secrets, first
}
