package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker/keys"
)

// Rotate makes a new active key of alg and retires the current ones; they stay
// published for publishFor, the longest lifetime of a token they signed.
func Rotate(ctx context.Context, store Store, secrets *keys.Secrets, alg string, publishFor time.Duration, now time.Time) (keys.SigningKey, error) {
	var created keys.SigningKey
	// The new key is made a millisecond later so that ordering by creation
	// time is strict even on stores that keep milliseconds; the old keys
	// sign until that moment, so that some key signs at every instant.
	switchAt := now.Add(time.Millisecond)
	err := store.InTx(ctx, func(tx Store) error {
		all, err := tx.ListKeys(ctx)
		if err != nil {
			return err
		}
		for _, sk := range all {
			if sk.RetiredAt.IsZero() {
				if err := tx.RetireKey(ctx, sk.ID, switchAt, switchAt.Add(publishFor)); err != nil {
					return fmt.Errorf("retire key %s: %w", sk.ID, err)
				}
			}
		}
		created, err = keys.GenerateKey(ctx, tx, secrets, alg, switchAt)
		return err
	})
	return created, err
}

// RotateIfDue is scheduled rotation. When the key that signs now has
// signed for interval - ahead, it makes the next key of alg, published
// from now and signing from now + ahead, and retires the current key at
// that moment (published after it until its tokens expired). Replicas that
// try at once race on one compare-and-swap, the current key's retirement
// (RetireKey retires only a key not yet retired), so exactly one makes the
// key and the others report rotated false. Nothing is held between calls.
// The rotation is audited (actor "broker") in its transaction; the event
// is returned for the log.
func RotateIfDue(ctx context.Context, store Store, secrets *keys.Secrets, alg string, interval, ahead time.Duration, now time.Time) (e AuditEvent, rotated bool, err error) {
	err = store.InTx(ctx, func(tx Store) error {
		rotated = false
		all, err := tx.ListKeys(ctx)
		if err != nil {
			return err
		}
		// The current key is the newest not scheduled for retirement; when
		// it does not sign yet, it is the next key, already made.
		var current *keys.SigningKey
		for i, sk := range all {
			if sk.RetiredAt.IsZero() && (current == nil || !sk.SignsFrom().Before(current.SignsFrom())) {
				current = &all[i]
			}
		}
		if current == nil || current.SignsFrom().After(now) || now.Before(current.SignsFrom().Add(interval-ahead)) {
			return nil
		}
		publishFor, err := LongestAccessTTL(ctx, tx)
		if err != nil {
			return err
		}
		switchAt := now.Add(ahead)
		if err := tx.RetireKey(ctx, current.ID, switchAt, switchAt.Add(publishFor)); errors.Is(err, ErrNotFound) {
			return nil // another replica rotated first
		} else if err != nil {
			return fmt.Errorf("retire key %s: %w", current.ID, err)
		}
		next, err := keys.GenerateNextKey(ctx, tx, secrets, alg, now, switchAt)
		if err != nil {
			return err
		}
		e, err = Audit(ctx, tx, AuditEvent{Type: AuditKeyRotate, Actor: "broker", Target: next.ID,
			Detail: fmt.Sprintf("scheduled: %s signs from %s, replacing %s", alg, switchAt.UTC().Format(time.RFC3339), current.ID)}, now)
		rotated = err == nil
		return err
	})
	return e, rotated && err == nil, err
}

// LongestAccessTTL is how long a retired key must stay published: until
// every access token it signed has expired, and a minute.
func LongestAccessTTL(ctx context.Context, store ClientStore) (time.Duration, error) {
	clients, err := store.ListClients(ctx)
	if err != nil {
		return 0, err
	}
	longest := DefaultAccessTTL
	for _, c := range clients {
		longest = max(longest, c.AccessTTL)
	}
	return longest + time.Minute, nil
}
