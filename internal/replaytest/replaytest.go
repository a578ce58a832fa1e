// Package replaytest is the one-time-value store of dpop and clientjwt
// (their Replay) in memory, for their tests: the broker's used_once table
// without the database.
package replaytest

import (
	"context"
	"maps"
	"sync"
	"time"
)

// Memory records keys until the test ends; it is safe for concurrent use.
type Memory struct {
	// Err, when set, is every UseOnce's answer: the database is down.
	Err error

	mu    sync.Mutex
	seen  map[string]time.Time
	until time.Time
}

// UseOnce records key; first is false when it was recorded before.
func (m *Memory) UseOnce(_ context.Context, key string, until time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Err != nil {
		return false, m.Err
	}
	if m.seen == nil {
		m.seen = map[string]time.Time{}
	}
	m.until = until
	if _, ok := m.seen[key]; ok {
		return false, nil
	}
	m.seen[key] = until
	return true, nil
}

// Seen is a copy of the recorded keys and their until.
func (m *Memory) Seen() map[string]time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.seen)
}

// LastUntil is the until of the last UseOnce.
func (m *Memory) LastUntil() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.until
}
