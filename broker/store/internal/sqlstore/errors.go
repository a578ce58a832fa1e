package sqlstore

import (
	"fmt"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/store/retry"
)

// Kind is what a driver error means to the broker. Each backend decides it
// from its own driver's errors and codes.
type Kind int

const (
	// Other is any other error, wrapped as it is.
	Other Kind = iota
	// NoRows is "the query matched no row": broker.ErrNotFound, without the
	// driver's error.
	NoRows
	// Duplicate is a unique or primary-key violation: broker.ErrAlreadyExists.
	Duplicate
	// Busy is a lock or serialization failure worth another attempt:
	// retry.Busy, which is broker.ErrUnavailable if it stays so. Never
	// broker.ErrConflict, which is for a lost revision race.
	Busy
	// Unavailable is a database that is down, unreachable or refusing
	// connections: broker.ErrUnavailable.
	Unavailable
)

// Errors wraps one backend's errors as "<Backend>: <op>: ...", mapping them
// onto the broker's sentinels with %w and keeping the driver's error in the
// chain for logs (but for NoRows).
type Errors struct {
	// Backend prefixes every message: "postgres", "sqlite".
	Backend string
	// Classify says what a non-nil driver error means.
	Classify func(error) Kind
}

// Wrap returns nil for nil, and err wrapped as its Kind says otherwise.
func (e Errors) Wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	switch e.Classify(err) {
	case NoRows:
		return fmt.Errorf("%s: %s: %w", e.Backend, op, broker.ErrNotFound)
	case Duplicate:
		return fmt.Errorf("%s: %s: %w: %w", e.Backend, op, broker.ErrAlreadyExists, err)
	case Busy:
		return fmt.Errorf("%s: %s: %w", e.Backend, op, retry.Busy(err))
	case Unavailable:
		return fmt.Errorf("%s: %s: %w: %w", e.Backend, op, broker.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %s: %w", e.Backend, op, err)
}

// AffectedOne is for a statement that must change a row: err wrapped, or
// broker.ErrNotFound when it changed none (affected is the row count).
func (e Errors) AffectedOne(op string, affected int64, err error) error {
	if err != nil {
		return e.Wrap(op, err)
	}
	if affected == 0 {
		return fmt.Errorf("%s: %s: %w", e.Backend, op, broker.ErrNotFound)
	}
	return nil
}
