package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

const authRequestColumns = `hash, client_id, namespace_id, redirect_uri, scope, state, code_challenge,
	nonce, provider, link_user_id, created_at, expires_at`

// CreateAuthRequest implements broker.AuthStore.
func (s *Store) CreateAuthRequest(ctx context.Context, r broker.AuthRequest) error {
	_, err := s.q.Exec(ctx, `INSERT INTO auth_requests (`+authRequestColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		r.Hash, r.ClientID, r.NamespaceID, r.RedirectURI, r.Scope, r.State, r.CodeChallenge,
		r.Nonce, r.Provider, r.LinkUserID, r.CreatedAt, r.ExpiresAt)
	return wrap("create auth request", err)
}

// ConsumeAuthRequest implements broker.AuthStore in one statement: of
// concurrent DELETEs of one row, the first takes its lock and the others,
// re-checking after it commits, find the row gone and return nothing. An
// expired request is left for PurgeExpired.
func (s *Store) ConsumeAuthRequest(ctx context.Context, hash []byte, now time.Time) (broker.AuthRequest, error) {
	var r broker.AuthRequest
	err := s.q.QueryRow(ctx, `DELETE FROM auth_requests WHERE hash = $1 AND expires_at > $2
		RETURNING `+authRequestColumns, hash, now).
		Scan(&r.Hash, &r.ClientID, &r.NamespaceID, &r.RedirectURI, &r.Scope, &r.State, &r.CodeChallenge,
			&r.Nonce, &r.Provider, &r.LinkUserID, &r.CreatedAt, &r.ExpiresAt)
	if err != nil {
		return broker.AuthRequest{}, wrap("consume auth request", err)
	}
	r.CreatedAt, r.ExpiresAt = r.CreatedAt.UTC(), r.ExpiresAt.UTC()
	return r, nil
}

const authCodeColumns = `hash, client_id, namespace_id, user_id, redirect_uri, scope, nonce,
	code_challenge, auth_time, created_at, expires_at, used_at, family_id`

// CreateCode implements broker.AuthStore.
func (s *Store) CreateCode(ctx context.Context, c broker.AuthCode) error {
	_, err := s.q.Exec(ctx, `INSERT INTO auth_codes (`+authCodeColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		c.Hash, c.ClientID, c.NamespaceID, c.UserID, c.RedirectURI, c.Scope, c.Nonce,
		c.CodeChallenge, c.AuthTime, c.CreatedAt, c.ExpiresAt, nullTime(c.UsedAt), c.FamilyID)
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
func (s *Store) ConsumeCode(ctx context.Context, hash []byte, now time.Time, familyID string, keepUntil time.Time) (broker.AuthCode, error) {
	c, err := scanCode(s.q.QueryRow(ctx, `UPDATE auth_codes SET used_at = $2, family_id = $3, expires_at = $4
		WHERE hash = $1 AND used_at IS NULL AND expires_at > $2
		RETURNING `+authCodeColumns, hash, now, familyID, keepUntil))
	if err == nil {
		return c, nil
	}
	if err = wrap("consume code", err); !errors.Is(err, broker.ErrNotFound) {
		return broker.AuthCode{}, err
	}
	// Unknown, expired, or used: only the last is a replay. A used code is
	// kept (expires_at) for as long as the family it started lives.
	c, err = scanCode(s.q.QueryRow(ctx, `SELECT `+authCodeColumns+` FROM auth_codes
		WHERE hash = $1 AND used_at IS NOT NULL AND expires_at > $2`, hash, now))
	if err != nil {
		return broker.AuthCode{}, wrap("consume code", err)
	}
	return c, fmt.Errorf("postgres: consume code: already used: %w", broker.ErrConflict)
}

func scanCode(row pgx.Row) (broker.AuthCode, error) {
	var (
		c    broker.AuthCode
		used *time.Time
	)
	err := row.Scan(&c.Hash, &c.ClientID, &c.NamespaceID, &c.UserID, &c.RedirectURI, &c.Scope, &c.Nonce,
		&c.CodeChallenge, &c.AuthTime, &c.CreatedAt, &c.ExpiresAt, &used, &c.FamilyID)
	if err != nil {
		return broker.AuthCode{}, err
	}
	c.AuthTime, c.CreatedAt, c.ExpiresAt = c.AuthTime.UTC(), c.CreatedAt.UTC(), c.ExpiresAt.UTC()
	c.UsedAt = fromNullTime(used)
	return c, nil
}
