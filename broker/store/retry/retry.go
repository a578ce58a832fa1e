// Package retry runs a store transaction again when the database was too
// busy to take it: SQLite's busy and locked, PostgreSQL's serialization
// failures and deadlocks. Both stores mark such errors with Busy and run
// their top-level transactions through Tx; what is still busy after the
// last attempt is broker.ErrUnavailable (503 and Retry-After on every
// surface), never broker.ErrConflict, which is kept for a lost revision race.
package retry

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

const (
	// Attempts bounds how often Tx runs fn.
	Attempts = 3
	// firstWait is the backoff after the first busy attempt; it doubles,
	// and each wait is jittered down to half so that transactions that
	// collided do not collide again in step.
	firstWait = 20 * time.Millisecond
)

type busyError struct{ err error }

func (e *busyError) Error() string   { return "database busy: " + e.err.Error() }
func (e *busyError) Unwrap() []error { return []error{broker.ErrUnavailable, e.err} }

// Busy marks a driver error as "the database was busy": worth another
// attempt, and unavailable if it stays so.
func Busy(err error) error { return &busyError{err} }

// IsBusy reports whether err, or an error it wraps, was marked by Busy.
func IsBusy(err error) bool {
	var b *busyError
	return errors.As(err, &b)
}

// Tx runs fn, and runs it again (at most Attempts times in all) while it
// fails busy, waiting a jittered, doubling backoff in between. fn must be a
// whole transaction: nothing it did survives a failed attempt.
func Tx(ctx context.Context, fn func() error) error {
	wait := firstWait
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || !IsBusy(err) || attempt == Attempts {
			return err
		}
		t := time.NewTimer(wait/2 + rand.N(wait/2))
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
		wait *= 2
	}
}
