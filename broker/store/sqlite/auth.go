package sqlite

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/store/internal/sqlstore"
)

// authRows is the part of the Store that keeps authorization requests and codes.
type authRows struct{ *conn }

// CreateAuthRequest implements broker.AuthStore.
func (s authRows) CreateAuthRequest(ctx context.Context, r broker.AuthRequest) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO auth_requests (`+sqlstore.AuthRequestColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		codec.AuthRequestArgs(r)...)
	return wrap("create auth request", err)
}

// ConsumeAuthRequest implements broker.AuthStore in one statement on the
// writer: of several consumes of one request, the first deletes it and the
// rest match no row. An expired request is left for PurgeExpired.
func (s authRows) ConsumeAuthRequest(ctx context.Context, hash []byte, now time.Time) (broker.AuthRequest, error) {
	r, err := codec.ScanAuthRequest(s.w.QueryRowContext(ctx, `DELETE FROM auth_requests WHERE hash = ? AND expires_at > ?
		RETURNING `+sqlstore.AuthRequestColumns, hash, ms(now)))
	if err != nil {
		return broker.AuthRequest{}, wrap("consume auth request", err)
	}
	return r, nil
}

// CreateCode implements broker.AuthStore.
func (s authRows) CreateCode(ctx context.Context, c broker.AuthCode) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO auth_codes (`+sqlstore.AuthCodeColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		codec.AuthCodeArgs(c)...)
	return wrap("create code", err)
}

// ConsumeCode implements broker.AuthStore. The conditional UPDATE is the
// whole concurrency story: all writes share one connection, so of several
// exchanges of one code the first marks it used and the rest match no row.
// Only then is the code read again, to tell a replay from an unknown or
// expired code; by that time the write that used it has committed.
func (s authRows) ConsumeCode(ctx context.Context, hash []byte, now time.Time, familyID string, keepUntil time.Time) (broker.AuthCode, error) {
	c, err := codec.ScanAuthCode(s.w.QueryRowContext(ctx, `UPDATE auth_codes SET used_at = ?, family_id = ?, expires_at = ?
		WHERE hash = ? AND used_at IS NULL AND expires_at > ?
		RETURNING `+sqlstore.AuthCodeColumns, ms(now), familyID, ms(keepUntil), hash, ms(now)))
	if err == nil {
		return c, nil
	}
	if err = wrap("consume code", err); !errors.Is(err, broker.ErrNotFound) {
		return broker.AuthCode{}, err
	}
	// Unknown, expired, or used: only the last is a replay. A used code is
	// kept (expires_at) for as long as the family it started lives.
	c, err = codec.ScanAuthCode(s.r.QueryRowContext(ctx, `SELECT `+sqlstore.AuthCodeColumns+` FROM auth_codes
		WHERE hash = ? AND used_at IS NOT NULL AND expires_at > ?`, hash, ms(now)))
	if err != nil {
		return broker.AuthCode{}, wrap("consume code", err)
	}
	return c, fmt.Errorf("sqlite: consume code: already used: %w", broker.ErrConflict)
}
