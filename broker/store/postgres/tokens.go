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
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
		codec.RefreshTokenArgs(t)...)
	return wrap("create refresh token", err)
}

// CreateRefreshTokenByLink implements broker.RefreshStore. Outside a
// transaction, concurrent calls share statements (logins).
func (s tokens) CreateRefreshTokenByLink(ctx context.Context, slot int, identifier string, t broker.RefreshToken) (broker.RefreshToken, error) {
	if s.logins != nil && s.tx == nil {
		return s.logins.create(ctx, slot, identifier, t)
	}
	return s.createByLink(ctx, slot, identifier, t)
}

func (s tokens) createByLink(ctx context.Context, slot int, identifier string, t broker.RefreshToken) (broker.RefreshToken, error) {
	err := s.q.QueryRow(ctx, `INSERT INTO refresh_tokens (hash, cur, family_id, client_id, user_id,
		namespace_id, scope, time_offset, resource, jkt, created_at, started_at, expires_at)
		SELECT $1, $2, $3, $4, l.user_id, l.namespace_id, $5, $6, $7, $8, $9, $9, $10
		FROM takeover_links l WHERE l.namespace_id = $11 AND l.slot = $12 AND l.identifier = $13
		  AND NOT EXISTS (SELECT 1 FROM bans b WHERE b.user_id = l.user_id AND b.release_at > $9)
		RETURNING user_id`,
		t.Key, t.Hash, t.FamilyID, t.ClientID, t.Scope, t.TimeOffset, t.Resource, t.JKT, t.CreatedAt, t.ExpiresAt,
		t.NamespaceID, slot, identifier).Scan(&t.UserID)
	if err != nil {
		return broker.RefreshToken{}, wrap(opLoginByLink, err)
	}
	return t, nil
}

// rotateSQL replaces a family's current token in place, one statement.
// Under READ COMMITTED, concurrent rotations of one token queue on the
// row's lock; when the first commits, the others re-check the WHERE clause
// against the new row version, find another current token and update
// nothing. No indexed column changes, so PostgreSQL updates the row on its
// page (HOT) and adds no index entry. The WHERE clause reads created_at
// before the SET moves it. A token bound to a DPoP key rotates only for a
// proof by that key ($6). A revoked family and a logged-out session are
// marked on the row (ended_at, which RevokeFamily and LogoutUser set under
// the row's lock); a ban, which lifts, is looked up.
const rotateSQL = `UPDATE refresh_tokens SET prev = cur, cur = $2, spent_at = $3, created_at = $3, expires_at = $5
	WHERE hash = $7 AND cur = $1 AND ended_at IS NULL AND expires_at > $3 AND client_id = $4 AND (jkt = '' OR jkt = $6)
	  AND NOT EXISTS (SELECT 1 FROM bans b WHERE b.user_id = refresh_tokens.user_id AND b.release_at > $3)
	RETURNING family_id, client_id, user_id, namespace_id, scope, time_offset, resource, jkt`

// rotateProofSQL is rotateSQL that also inserts a DPoP proof's replay
// record ($8, until $9): a key used before violates used_once's primary
// key, which undoes the whole statement. Unlike UseOnce, an expired record
// not yet purged still counts as used; only a client that reuses a jti,
// which RFC 9449 forbids, can tell. A rotation without a proof does not
// carry the insert, which PostgreSQL would set up even to insert nothing.
const rotateProofSQL = `WITH spent AS (` + rotateSQL + `
), once AS (
	INSERT INTO used_once (key_hash, expires_at) SELECT $8::bytea, $9::timestamptz FROM spent
)
SELECT family_id, client_id, user_id, namespace_id, scope, time_offset, resource, jkt FROM spent`

// RotateRefreshToken implements broker.RefreshStore in one round trip.
func (s tokens) RotateRefreshToken(ctx context.Context, r broker.Rotation) (broker.RefreshToken, error) {
	// Times as a read gives them back: pgx sends whole microseconds.
	t := broker.RefreshToken{Key: r.Key, Hash: r.NewHash,
		CreatedAt: r.Now.UTC().Truncate(time.Microsecond), ExpiresAt: r.ExpiresAt.UTC().Truncate(time.Microsecond)}
	sql, args := rotateSQL, []any{r.OldHash, r.NewHash, r.Now, r.ClientID, r.ExpiresAt, r.JKT, r.Key}
	if r.Proof.Key != "" {
		sql, args = rotateProofSQL, append(args, broker.TokenHash(r.Proof.Key), r.Proof.Until)
	}
	err := s.q.QueryRow(ctx, sql, args...).
		Scan(&t.FamilyID, &t.ClientID, &t.UserID, &t.NamespaceID, &t.Scope, &t.TimeOffset, &t.Resource, &t.JKT)
	if violates(err, "used_once_pkey") {
		return broker.RefreshToken{}, broker.ErrProofReplayed
	}
	if err != nil {
		return broker.RefreshToken{}, wrap("rotate refresh token", err)
	}
	return t, nil
}

// GetRefreshToken implements broker.RefreshStore.
func (s tokens) GetRefreshToken(ctx context.Context, key, hash []byte) (broker.RefreshToken, error) {
	t, err := codec.ScanRefreshToken(s.q.QueryRow(ctx, `SELECT `+sqlstore.RefreshTokenColumns+`,
		EXISTS (SELECT 1 FROM revoked_families f WHERE f.family_id = t.family_id)
		FROM refresh_tokens t WHERE hash = $1`, key), hash)
	if err != nil {
		return broker.RefreshToken{}, wrap("get refresh token", err)
	}
	return t, nil
}

// RevokeFamily implements broker.RefreshStore. Revoking again keeps the first
// revocation time and the later `until`, so a repeat never shortens it.
// The family's row is marked ended in the same statement: by its key, or
// for a family begun before migration 12 by its ID, in the index of those
// families' rows, whose predicate this statement repeats so that the
// planner may use it.
func (s tokens) RevokeFamily(ctx context.Context, familyID string, key []byte, now, until time.Time) error {
	_, err := s.q.Exec(ctx, `WITH revoked AS (
		INSERT INTO revoked_families (family_id, revoked_at, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (family_id) DO UPDATE
		SET expires_at = GREATEST(revoked_families.expires_at, EXCLUDED.expires_at)
	)
	UPDATE refresh_tokens SET ended_at = $2
	WHERE ended_at IS NULL AND (hash = $4 OR (older_family AND family_id = $1))`,
		familyID, now, until, key)
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
