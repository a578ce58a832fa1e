package broker

import (
	"context"
	"fmt"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker/keys"
)

// Rotate makes a new active key of alg and retires the current ones; they stay
// published for publishFor, the longest lifetime of a token they signed.
func Rotate(ctx context.Context, store Store, secrets *keys.Secrets, alg string, publishFor time.Duration, now time.Time) (keys.SigningKey, error) {
	var created keys.SigningKey
	err := store.InTx(ctx, func(tx Store) error {
		all, err := tx.ListKeys(ctx)
		if err != nil {
			return err
		}
		for _, sk := range all {
			if sk.RetiredAt.IsZero() {
				if err := tx.RetireKey(ctx, sk.ID, now, now.Add(publishFor)); err != nil {
					return fmt.Errorf("retire key %s: %w", sk.ID, err)
				}
			}
		}
		// Created a millisecond later so that ordering by creation time is
		// strict even on stores that keep milliseconds.
		created, err = keys.GenerateKey(ctx, tx, secrets, alg, now.Add(time.Millisecond))
		return err
	})
	return created, err
}
