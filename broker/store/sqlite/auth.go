package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

const authRequestColumns = `hash, client_id, namespace_id, redirect_uri, scope, state, code_challenge,
	nonce, provider, link_user_id, created_at, expires_at`

// CreateAuthRequest implements broker.AuthStore.
func (s *Store) CreateAuthRequest(ctx context.Context, r broker.AuthRequest) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO auth_requests (`+authRequestColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Hash, r.ClientID, r.NamespaceID, r.RedirectURI, r.Scope, r.State, r.CodeChallenge,
		r.Nonce, r.Provider, r.LinkUserID, ms(r.CreatedAt), ms(r.ExpiresAt))
	return wrap("create auth request", err)
}

// ConsumeAuthRequest implements broker.AuthStore in one statement on the
// writer: of several consumes of one request, the first deletes it and the
// rest match no row. An expired request is left for PurgeExpired.
func (s *Store) ConsumeAuthRequest(ctx context.Context, hash []byte, now time.Time) (broker.AuthRequest, error) {
	var (
		r                broker.AuthRequest
		created, expires int64
	)
	err := s.w.QueryRowContext(ctx, `DELETE FROM auth_requests WHERE hash = ? AND expires_at > ?
		RETURNING `+authRequestColumns, hash, ms(now)).
		Scan(&r.Hash, &r.ClientID, &r.NamespaceID, &r.RedirectURI, &r.Scope, &r.State, &r.CodeChallenge,
			&r.Nonce, &r.Provider, &r.LinkUserID, &created, &expires)
	if err != nil {
		return broker.AuthRequest{}, wrap("consume auth request", err)
	}
	r.CreatedAt, r.ExpiresAt = fromMS(created), fromMS(expires)
	return r, nil
}

const authCodeColumns = `hash, client_id, namespace_id, user_id, redirect_uri, scope, nonce,
	code_challenge, auth_time, created_at, expires_at, used_at, family_id`

// CreateCode implements broker.AuthStore.
func (s *Store) CreateCode(ctx context.Context, c broker.AuthCode) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO auth_codes (`+authCodeColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.Hash, c.ClientID, c.NamespaceID, c.UserID, c.RedirectURI, c.Scope, c.Nonce,
		c.CodeChallenge, ms(c.AuthTime), ms(c.CreatedAt), ms(c.ExpiresAt), nullMS(c.UsedAt), c.FamilyID)
	return wrap("create code", err)
}

// ConsumeCode implements broker.AuthStore. The conditional UPDATE is the
// whole concurrency story: all writes share one connection, so of several
// exchanges of one code the first marks it used and the rest match no row.
// Only then is the code read again, to tell a replay from an unknown or
// expired code; by that time the write that used it has committed.
func (s *Store) ConsumeCode(ctx context.Context, hash []byte, now time.Time, familyID string, keepUntil time.Time) (broker.AuthCode, error) {
	c, err := scanCode(s.w.QueryRowContext(ctx, `UPDATE auth_codes SET used_at = ?, family_id = ?, expires_at = ?
		WHERE hash = ? AND used_at IS NULL AND expires_at > ?
		RETURNING `+authCodeColumns, ms(now), familyID, ms(keepUntil), hash, ms(now)))
	if err == nil {
		return c, nil
	}
	if err = wrap("consume code", err); !errors.Is(err, broker.ErrNotFound) {
		return broker.AuthCode{}, err
	}
	// Unknown, expired, or used: only the last is a replay. A used code is
	// kept (expires_at) for as long as the family it started lives.
	c, err = scanCode(s.r.QueryRowContext(ctx, `SELECT `+authCodeColumns+` FROM auth_codes
		WHERE hash = ? AND used_at IS NOT NULL AND expires_at > ?`, hash, ms(now)))
	if err != nil {
		return broker.AuthCode{}, wrap("consume code", err)
	}
	return c, fmt.Errorf("sqlite: consume code: already used: %w", broker.ErrConflict)
}

func scanCode(row scanner) (broker.AuthCode, error) {
	var (
		c                          broker.AuthCode
		authTime, created, expires int64
		used                       sql.NullInt64
	)
	err := row.Scan(&c.Hash, &c.ClientID, &c.NamespaceID, &c.UserID, &c.RedirectURI, &c.Scope, &c.Nonce,
		&c.CodeChallenge, &authTime, &created, &expires, &used, &c.FamilyID)
	if err != nil {
		return broker.AuthCode{}, err
	}
	c.AuthTime, c.CreatedAt, c.ExpiresAt = fromMS(authTime), fromMS(created), fromMS(expires)
	c.UsedAt = fromNullMS(used)
	return c, nil
}
