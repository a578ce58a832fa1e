package postgres

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
	_, err := s.q.Exec(ctx, `INSERT INTO auth_requests (`+sqlstore.AuthRequestColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		codec.AuthRequestArgs(r)...)
	return wrap("create auth request", err)
}

// ConsumeAuthRequest implements broker.AuthStore in one statement: of
// concurrent DELETEs of one row, the first takes its lock and the others,
// re-checking after it commits, find the row gone and return nothing. An
// expired request is left for PurgeExpired.
func (s authRows) ConsumeAuthRequest(ctx context.Context, hash []byte, now time.Time) (broker.AuthRequest, error) {
	r, err := codec.ScanAuthRequest(s.q.QueryRow(ctx, `DELETE FROM auth_requests WHERE hash = $1 AND expires_at > $2
		RETURNING `+sqlstore.AuthRequestColumns, hash, now))
	if err != nil {
		return broker.AuthRequest{}, wrap("consume auth request", err)
	}
	return r, nil
}

// CreateCode implements broker.AuthStore.
func (s authRows) CreateCode(ctx context.Context, c broker.AuthCode) error {
	_, err := s.q.Exec(ctx, `INSERT INTO auth_codes (`+sqlstore.AuthCodeColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		codec.AuthCodeArgs(c)...)
	return wrap("create code", err)
}

// ConsumeCode implements broker.AuthStore. The conditional UPDATE is the
// whole concurrency story, as in RotateRefreshToken: concurrent exchanges of
// one code queue on its row lock, and those after the first re-check the
// WHERE clause against the used row and update nothing. Only then is the
// code read again, in a second statement: its snapshot is taken after the
// winner committed, whereas a read in the UPDATE's own statement could see
// the row as it was before the winner and lose the FamilyID a replay needs.
// The happy path stays one round trip.
func (s authRows) ConsumeCode(ctx context.Context, hash []byte, now time.Time, familyID string, keepUntil time.Time) (broker.AuthCode, error) {
	c, err := codec.ScanAuthCode(s.q.QueryRow(ctx, `UPDATE auth_codes SET used_at = $2, family_id = $3, expires_at = $4
		WHERE hash = $1 AND used_at IS NULL AND expires_at > $2
		RETURNING `+sqlstore.AuthCodeColumns, hash, now, familyID, keepUntil))
	if err == nil {
		return c, nil
	}
	if err = wrap("consume code", err); !errors.Is(err, broker.ErrNotFound) {
		return broker.AuthCode{}, err
	}
	// Unknown, expired, or used: only the last is a replay. A used code is
	// kept (expires_at) for as long as the family it started lives.
	c, err = codec.ScanAuthCode(s.q.QueryRow(ctx, `SELECT `+sqlstore.AuthCodeColumns+` FROM auth_codes
		WHERE hash = $1 AND used_at IS NOT NULL AND expires_at > $2`, hash, now))
	if err != nil {
		return broker.AuthCode{}, wrap("consume code", err)
	}
	return c, fmt.Errorf("postgres: consume code: already used: %w", broker.ErrConflict)
}
