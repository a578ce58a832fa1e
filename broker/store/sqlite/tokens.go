package sqlite

import (
	"context"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/keys"
	"github.com/bridgekeeper/bridgekeeper/broker/store/internal/sqlstore"
)

// tokens is the part of the Store that keeps refresh tokens and their families, signing keys, access-token revocations, the purge.
type tokens struct{ *conn }

// CreateRefreshToken implements broker.RefreshStore.
func (s tokens) CreateRefreshToken(ctx context.Context, t broker.RefreshToken) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO refresh_tokens (`+sqlstore.RefreshTokenColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		codec.RefreshTokenArgs(t)...)
	return wrap("create refresh token", err)
}

// CreateRefreshTokenByLink implements broker.RefreshStore.
func (s tokens) CreateRefreshTokenByLink(ctx context.Context, slot int, identifier string, t broker.RefreshToken) (broker.RefreshToken, error) {
	err := s.w.QueryRowContext(ctx, `INSERT INTO refresh_tokens (hash, cur, family_id, client_id, user_id,
		namespace_id, scope, time_offset, resource, jkt, created_at, started_at, expires_at)
		SELECT ?1, ?2, ?3, ?4, l.user_id, l.namespace_id, ?5, ?6, ?7, ?8, ?9, ?9, ?10
		FROM takeover_links l WHERE l.namespace_id = ?11 AND l.slot = ?12 AND l.identifier = ?13
		  AND NOT EXISTS (SELECT 1 FROM bans b WHERE b.user_id = l.user_id AND b.release_at > ?9)
		RETURNING user_id`,
		t.Key, t.Hash, t.FamilyID, t.ClientID, t.Scope, t.TimeOffset, t.Resource, t.JKT, ms(t.CreatedAt), ms(t.ExpiresAt),
		t.NamespaceID, slot, identifier).Scan(&t.UserID)
	if err != nil {
		return broker.RefreshToken{}, wrap("create refresh token by link", err)
	}
	t.CreatedAt, t.ExpiresAt = fromMS(ms(t.CreatedAt)), fromMS(ms(t.ExpiresAt))
	return t, nil
}

// RotateRefreshToken implements broker.RefreshStore: the family's row is
// updated in place. The conditional UPDATE is the whole concurrency story:
// all writes share one connection, so of several rotations of one token
// the first replaces it and the rest match no row. It runs in a
// transaction (a savepoint inside InTx) so that a replayed proof leaves the
// token current. The WHERE clause reads created_at before the SET moves it.
// As on PostgreSQL, a revoked family or a logout is marked on the row
// (ended_at) and a ban is looked up.
func (s tokens) RotateRefreshToken(ctx context.Context, r broker.Rotation) (broker.RefreshToken, error) {
	next := broker.RefreshToken{
		Key:       r.Key,
		Hash:      r.NewHash,
		CreatedAt: fromMS(ms(r.Now)),
		ExpiresAt: fromMS(ms(r.ExpiresAt)),
	}
	err := s.atomic(ctx, "rotate refresh token", func(q dbtx) error {
		now := ms(r.Now)
		err := q.QueryRowContext(ctx, `UPDATE refresh_tokens
			SET prev = cur, cur = ?1, spent_at = ?2, created_at = ?2, expires_at = ?3
			WHERE hash = ?4 AND cur = ?5 AND ended_at IS NULL AND expires_at > ?2 AND client_id = ?6 AND (jkt = '' OR jkt = ?7)
			  AND NOT EXISTS (SELECT 1 FROM bans b WHERE b.user_id = refresh_tokens.user_id AND b.release_at > ?2)
			RETURNING family_id, client_id, user_id, namespace_id, scope, time_offset, resource, jkt`,
			r.NewHash, now, ms(r.ExpiresAt), r.Key, r.OldHash, r.ClientID, r.JKT).
			Scan(&next.FamilyID, &next.ClientID, &next.UserID, &next.NamespaceID, &next.Scope, &next.TimeOffset,
				&next.Resource, &next.JKT)
		if err != nil || r.Proof.Key == "" {
			return wrap("rotate refresh token", err)
		}
		// As in PostgreSQL's statement, a key used before (even expired and
		// not yet purged) fails the rotation, which the savepoint undoes.
		_, err = q.ExecContext(ctx, `INSERT INTO used_once (key_hash, expires_at) VALUES (?, ?)`,
			broker.TokenHash(r.Proof.Key), ms(r.Proof.Until))
		if classify(err) == sqlstore.Duplicate {
			return broker.ErrProofReplayed
		}
		return wrap("rotate refresh token: spend proof", err)
	})
	if err != nil {
		return broker.RefreshToken{}, err
	}
	return next, nil
}

// GetRefreshToken implements broker.RefreshStore.
func (s tokens) GetRefreshToken(ctx context.Context, key, hash []byte) (broker.RefreshToken, error) {
	t, err := codec.ScanRefreshToken(s.r.QueryRowContext(ctx, `SELECT `+sqlstore.RefreshTokenColumns+`,
		EXISTS (SELECT 1 FROM revoked_families f WHERE f.family_id = t.family_id)
		FROM refresh_tokens t WHERE hash = ?`, key), hash)
	if err != nil {
		return broker.RefreshToken{}, wrap("get refresh token", err)
	}
	return t, nil
}

// RevokeFamily implements broker.RefreshStore. Revoking again keeps the first
// revocation time and the later `until`, so a repeat never shortens it.
// The family's row is marked ended with it, found as PostgreSQL's
// RevokeFamily finds it.
func (s tokens) RevokeFamily(ctx context.Context, familyID string, key []byte, now, until time.Time) error {
	return s.atomic(ctx, "revoke family", func(q dbtx) error {
		_, err := q.ExecContext(ctx, `INSERT INTO revoked_families (family_id, revoked_at, expires_at)
			VALUES (?, ?, ?)
			ON CONFLICT (family_id) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)`,
			familyID, ms(now), ms(until))
		if err == nil {
			_, err = q.ExecContext(ctx, `UPDATE refresh_tokens SET ended_at = ?2
				WHERE ended_at IS NULL AND (hash = ?3 OR (older_family AND family_id = ?1))`,
				familyID, ms(now), key)
		}
		return wrap("revoke family", err)
	})
}

// FamilyRevoked implements broker.RefreshStore.
func (s tokens) FamilyRevoked(ctx context.Context, familyID string) (bool, error) {
	var revoked bool
	err := s.r.QueryRowContext(ctx,
		`SELECT EXISTS (SELECT 1 FROM revoked_families WHERE family_id = ?)`, familyID).Scan(&revoked)
	return revoked, wrap("family revoked", err)
}

// CreateKey implements keys.Store.
func (s tokens) CreateKey(ctx context.Context, k keys.SigningKey) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO signing_keys (`+sqlstore.SigningKeyColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		codec.SigningKeyArgs(k)...)
	return wrap("create key", err)
}

// ListKeys implements keys.Store.
func (s tokens) ListKeys(ctx context.Context) ([]keys.SigningKey, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+sqlstore.SigningKeyColumns+`
		FROM signing_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, wrap("list keys", err)
	}
	return collect(rows, "list keys", codec.ScanSigningKey)
}

// RetireKey implements keys.Store.
func (s tokens) RetireKey(ctx context.Context, id string, retiredAt, publishUntil time.Time) error {
	res, err := s.w.ExecContext(ctx, `UPDATE signing_keys SET retired_at = ?, publish_until = ?
		WHERE id = ? AND retired_at IS NULL`, ms(retiredAt), ms(publishUntil), id)
	return affectedOne("retire key", res, err)
}

// RevokeAccessToken implements broker.RevocationStore; a repeat keeps the
// later expiry.
func (s tokens) RevokeAccessToken(ctx context.Context, jti string, expiresAt time.Time) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO revoked_access_tokens (jti, expires_at) VALUES (?, ?)
		ON CONFLICT (jti) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)`,
		jti, ms(expiresAt))
	return wrap("revoke access token", err)
}

// AccessTokenRevoked implements broker.RevocationStore.
func (s tokens) AccessTokenRevoked(ctx context.Context, jti string) (bool, error) {
	var revoked bool
	err := s.r.QueryRowContext(ctx,
		`SELECT EXISTS (SELECT 1 FROM revoked_access_tokens WHERE jti = ?)`, jti).Scan(&revoked)
	return revoked, wrap("access token revoked", err)
}

// UseOnce implements broker.OnceStore: an insert that takes over an
// expired row and leaves a live one alone; writes are serialised on one
// connection, so of several uses of one key exactly one inserts.
func (s tokens) UseOnce(ctx context.Context, key string, until time.Time) (bool, error) {
	res, err := s.w.ExecContext(ctx, `INSERT INTO used_once (key_hash, expires_at) VALUES (?, ?)
		ON CONFLICT (key_hash) DO UPDATE SET expires_at = excluded.expires_at
		WHERE used_once.expires_at <= ?`,
		broker.TokenHash(key), ms(until), ms(time.Now()))
	if err != nil {
		return false, wrap("use once", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, wrap("use once", err)
	}
	return n == 1, nil
}

// PurgeExpired implements broker.Store, in one transaction so that a janitor
// never leaves the tables purged to different instants.
func (s tokens) PurgeExpired(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	err := s.atomic(ctx, "purge expired", func(q dbtx) error {
		total = 0
		for _, table := range []string{
			"refresh_tokens", "revoked_families", "revoked_access_tokens", "auth_requests", "auth_codes", "bans", "used_once", "device_codes",
		} {
			column := "expires_at"
			if table == "bans" {
				column = "release_at"
			}
			res, err := q.ExecContext(ctx, `DELETE FROM `+table+` WHERE `+column+` < ?`, ms(now))
			if err != nil {
				return wrap("purge "+table, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return wrap("purge "+table, err)
			}
			total += n
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return total, nil
}
