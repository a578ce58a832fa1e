package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/keys"
	"github.com/bridgekeeper/bridgekeeper/broker/store/internal/sqlstore"
)

// tokens is the part of the Store that keeps refresh tokens and their families, signing keys, access-token revocations, the purge.
type tokens struct{ *conn }

// CreateRefreshToken implements broker.RefreshStore.
func (s tokens) CreateRefreshToken(ctx context.Context, t broker.RefreshToken) error {
	_, err := s.q.Exec(ctx, `INSERT INTO refresh_tokens (`+sqlstore.RefreshTokenColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		codec.RefreshTokenArgs(t)...)
	return wrap("create refresh token", err)
}

// CreateRefreshTokenByLink implements broker.RefreshStore.
func (s tokens) CreateRefreshTokenByLink(ctx context.Context, slot int, identifier string, t broker.RefreshToken) (broker.RefreshToken, error) {
	err := s.q.QueryRow(ctx, `INSERT INTO refresh_tokens (hash, family_id, client_id, user_id,
		namespace_id, scope, time_offset, created_at, expires_at, resource, jkt)
		SELECT $1, $2, $3, l.user_id, l.namespace_id, $5, $6, $7, $8, $11, $12
		FROM takeover_links l WHERE l.namespace_id = $4 AND l.slot = $9 AND l.identifier = $10
		  AND NOT EXISTS (SELECT 1 FROM bans b WHERE b.user_id = l.user_id AND b.release_at > $7)
		RETURNING user_id`,
		t.Hash, t.FamilyID, t.ClientID, t.NamespaceID, t.Scope, t.TimeOffset, t.CreatedAt, t.ExpiresAt,
		slot, identifier, t.Resource, t.JKT).Scan(&t.UserID)
	if err != nil {
		return broker.RefreshToken{}, wrap("create refresh token by link", err)
	}
	return t, nil
}

// rotateSQL spends the old token and inserts its successor in one statement.
// Under READ COMMITTED, concurrent rotations of one token queue on its row
// lock; when the first commits, the others re-check the WHERE clause against
// the new row version, find spent_at set, update nothing and so insert
// nothing. A failing insert (the new hash taken) undoes the spend with it.
// The casts type parameters that appear only in the SELECT list. A token
// bound to a DPoP key rotates only for a proof by that key ($6). The proof's
// replay record ($7, until $8) is inserted with the successor: a key used
// before violates used_once's primary key, which undoes the whole statement.
// Unlike UseOnce, an expired record not yet purged still counts as used;
// only a client that reuses a jti, which RFC 9449 forbids, can tell.
const rotateSQL = `WITH spent AS (
	UPDATE refresh_tokens SET spent_at = $3
	WHERE hash = $1 AND spent_at IS NULL AND expires_at > $3 AND client_id = $4 AND (jkt = '' OR jkt = $6)
	  AND NOT EXISTS (SELECT 1 FROM revoked_families f WHERE f.family_id = refresh_tokens.family_id)
	  AND NOT EXISTS (SELECT 1 FROM bans b WHERE b.user_id = refresh_tokens.user_id AND b.release_at > $3)
	  AND NOT EXISTS (SELECT 1 FROM user_logouts o
	                  WHERE o.user_id = refresh_tokens.user_id AND o.logged_out_at >= refresh_tokens.created_at)
	RETURNING family_id, client_id, user_id, namespace_id, scope, time_offset, resource, jkt
), once AS (
	INSERT INTO used_once (key_hash, expires_at) SELECT $7::bytea, $8::timestamptz FROM spent WHERE $7::bytea IS NOT NULL
)
INSERT INTO refresh_tokens (hash, family_id, client_id, user_id, namespace_id, scope, time_offset,
	resource, jkt, created_at, expires_at)
SELECT $2::bytea, family_id, client_id, user_id, namespace_id, scope, time_offset, resource, jkt,
	$3::timestamptz, $5::timestamptz
FROM spent
RETURNING hash, family_id, client_id, user_id, namespace_id, scope, time_offset, resource, jkt, created_at, expires_at`

// RotateRefreshToken implements broker.RefreshStore in one round trip.
func (s tokens) RotateRefreshToken(ctx context.Context, r broker.Rotation) (broker.RefreshToken, error) {
	var t broker.RefreshToken
	var once []byte // NULL without a proof to spend
	if r.Proof.Key != "" {
		once = broker.TokenHash(r.Proof.Key)
	}
	err := s.q.QueryRow(ctx, rotateSQL, r.OldHash, r.NewHash, r.Now, r.ClientID, r.ExpiresAt, r.JKT, once, r.Proof.Until).
		Scan(&t.Hash, &t.FamilyID, &t.ClientID, &t.UserID, &t.NamespaceID, &t.Scope, &t.TimeOffset,
			&t.Resource, &t.JKT, &t.CreatedAt, &t.ExpiresAt)
	if violates(err, "used_once_pkey") {
		return broker.RefreshToken{}, broker.ErrProofReplayed
	}
	if err != nil {
		return broker.RefreshToken{}, wrap("rotate refresh token", err)
	}
	t.CreatedAt, t.ExpiresAt = t.CreatedAt.UTC(), t.ExpiresAt.UTC()
	return t, nil
}

// GetRefreshToken implements broker.RefreshStore.
func (s tokens) GetRefreshToken(ctx context.Context, hash []byte) (broker.RefreshToken, error) {
	t, err := codec.ScanRefreshToken(s.q.QueryRow(ctx, `SELECT `+sqlstore.RefreshTokenColumns+`,
		EXISTS (SELECT 1 FROM revoked_families f WHERE f.family_id = t.family_id)
		FROM refresh_tokens t WHERE hash = $1`, hash))
	if err != nil {
		return broker.RefreshToken{}, wrap("get refresh token", err)
	}
	return t, nil
}

// RevokeFamily implements broker.RefreshStore. Revoking again keeps the first
// revocation time and the later `until`, so a repeat never shortens it.
func (s tokens) RevokeFamily(ctx context.Context, familyID string, now, until time.Time) error {
	_, err := s.q.Exec(ctx, `INSERT INTO revoked_families (family_id, revoked_at, expires_at)
		VALUES ($1, $2, $3)
		ON CONFLICT (family_id) DO UPDATE
		SET expires_at = GREATEST(revoked_families.expires_at, EXCLUDED.expires_at)`,
		familyID, now, until)
	return wrap("revoke family", err)
}

// FamilyRevoked implements broker.RefreshStore.
func (s tokens) FamilyRevoked(ctx context.Context, familyID string) (bool, error) {
	var revoked bool
	err := s.q.QueryRow(ctx,
		`SELECT EXISTS (SELECT 1 FROM revoked_families WHERE family_id = $1)`, familyID).Scan(&revoked)
	return revoked, wrap("family revoked", err)
}

// CreateKey implements keys.Store.
func (s tokens) CreateKey(ctx context.Context, k keys.SigningKey) error {
	_, err := s.q.Exec(ctx, `INSERT INTO signing_keys (`+sqlstore.SigningKeyColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		codec.SigningKeyArgs(k)...)
	return wrap("create key", err)
}

// ListKeys implements keys.Store.
func (s tokens) ListKeys(ctx context.Context) ([]keys.SigningKey, error) {
	rows, err := s.q.Query(ctx, `SELECT `+sqlstore.SigningKeyColumns+`
		FROM signing_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, wrap("list keys", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (keys.SigningKey, error) { return codec.ScanSigningKey(row) })
	return out, wrap("list keys", err)
}

// RetireKey implements keys.Store.
func (s tokens) RetireKey(ctx context.Context, id string, retiredAt, publishUntil time.Time) error {
	tag, err := s.q.Exec(ctx, `UPDATE signing_keys SET retired_at = $2, publish_until = $3
		WHERE id = $1 AND retired_at IS NULL`, id, retiredAt, publishUntil)
	return affectedOne("retire key", tag, err)
}

// RevokeAccessToken implements broker.RevocationStore; a repeat keeps the
// later expiry.
func (s tokens) RevokeAccessToken(ctx context.Context, jti string, expiresAt time.Time) error {
	_, err := s.q.Exec(ctx, `INSERT INTO revoked_access_tokens (jti, expires_at) VALUES ($1, $2)
		ON CONFLICT (jti) DO UPDATE
		SET expires_at = GREATEST(revoked_access_tokens.expires_at, EXCLUDED.expires_at)`,
		jti, expiresAt)
	return wrap("revoke access token", err)
}

// AccessTokenRevoked implements broker.RevocationStore.
func (s tokens) AccessTokenRevoked(ctx context.Context, jti string) (bool, error) {
	var revoked bool
	err := s.q.QueryRow(ctx,
		`SELECT EXISTS (SELECT 1 FROM revoked_access_tokens WHERE jti = $1)`, jti).Scan(&revoked)
	return revoked, wrap("access token revoked", err)
}

// UseOnce implements broker.OnceStore: an insert that takes over an
// expired row and leaves a live one alone, so of concurrent uses of one key
// exactly one inserts.
func (s tokens) UseOnce(ctx context.Context, key string, until time.Time) (bool, error) {
	tag, err := s.q.Exec(ctx, `INSERT INTO used_once (key_hash, expires_at) VALUES ($1, $2)
		ON CONFLICT (key_hash) DO UPDATE SET expires_at = EXCLUDED.expires_at
		WHERE used_once.expires_at <= now()`,
		broker.TokenHash(key), until)
	if err != nil {
		return false, wrap("use once", err)
	}
	return tag.RowsAffected() == 1, nil
}

// PurgeExpired implements broker.Store: one statement, so the tables
// are purged to the same instant without a transaction round trip.
func (s tokens) PurgeExpired(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := s.q.QueryRow(ctx, `WITH
		r AS (DELETE FROM refresh_tokens WHERE expires_at < $1 RETURNING 1),
		f AS (DELETE FROM revoked_families WHERE expires_at < $1 RETURNING 1),
		a AS (DELETE FROM revoked_access_tokens WHERE expires_at < $1 RETURNING 1),
		q AS (DELETE FROM auth_requests WHERE expires_at < $1 RETURNING 1),
		c AS (DELETE FROM auth_codes WHERE expires_at < $1 RETURNING 1),
		b AS (DELETE FROM bans WHERE release_at < $1 RETURNING 1),
		o AS (DELETE FROM used_once WHERE expires_at < $1 RETURNING 1),
		d AS (DELETE FROM device_codes WHERE expires_at < $1 RETURNING 1)
		SELECT (SELECT count(*) FROM r) + (SELECT count(*) FROM f) + (SELECT count(*) FROM a)
			+ (SELECT count(*) FROM q) + (SELECT count(*) FROM c) + (SELECT count(*) FROM b)
			+ (SELECT count(*) FROM o) + (SELECT count(*) FROM d)`,
		now).Scan(&n)
	return n, wrap("purge expired", err)
}
