package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/store/internal/sqlstore"
)

// xsollaRows is the part of the Store that keeps attributes and logouts.
type xsollaRows struct{ *conn }

// PutAttributes implements broker.AttributeStore in one statement: the
// WHERE of the conflict update keeps read_only attributes as they are.
func (s xsollaRows) PutAttributes(ctx context.Context, userID string, attrs []broker.Attribute, bound broker.AttributeBound) error {
	if len(attrs) == 0 {
		return nil
	}
	return s.InTx(ctx, func(tx broker.Store) error { return tx.(*Store).putAttributes(ctx, userID, attrs, bound) })
}

// putAttributes is PutAttributes in a transaction: the user's row lock
// serializes their puts, and the totals after the upsert decide.
func (s xsollaRows) putAttributes(ctx context.Context, userID string, attrs []broker.Attribute, bound broker.AttributeBound) error {
	if _, err := s.q.Exec(ctx, `SELECT 1 FROM users WHERE id = $1 FOR UPDATE`, userID); err != nil {
		return wrap("put attributes: lock user", err)
	}
	keys := make([]string, len(attrs))
	values := make([]string, len(attrs))
	types := make([]string, len(attrs))
	perms := make([]string, len(attrs))
	readOnly := make([]bool, len(attrs))
	updated := make([]time.Time, len(attrs))
	for i, a := range attrs {
		keys[i], values[i], types[i], perms[i], readOnly[i], updated[i] = a.Key, a.Value, a.Type, a.Permission, a.ReadOnly, a.UpdatedAt
	}
	_, err := s.q.Exec(ctx, `INSERT INTO user_attributes
		(user_id, key, value, attr_type, permission, read_only, updated_at)
		SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::bool[], $7::timestamptz[])
		ON CONFLICT (user_id, key) DO UPDATE SET value = EXCLUDED.value, attr_type = EXCLUDED.attr_type,
			permission = EXCLUDED.permission, read_only = EXCLUDED.read_only, updated_at = EXCLUDED.updated_at
		WHERE NOT user_attributes.read_only`,
		userID, keys, values, types, perms, readOnly, updated)
	if err != nil {
		return wrap("put attributes", err)
	}
	var count int
	var size int64
	err = s.q.QueryRow(ctx, `SELECT count(*), coalesce(sum(octet_length(key) + octet_length(value)), 0)
		FROM user_attributes WHERE user_id = $1`, userID).Scan(&count, &size)
	if err != nil {
		return wrap("put attributes: totals", err)
	}
	if bound.Exceeded(count, size) {
		return broker.ErrAttributesFull
	}
	return nil
}

// ListAttributes implements broker.AttributeStore.
func (s xsollaRows) ListAttributes(ctx context.Context, userID string) ([]broker.Attribute, error) {
	rows, err := s.q.Query(ctx, `SELECT `+sqlstore.AttributeColumns+`
		FROM user_attributes WHERE user_id = $1 ORDER BY key COLLATE "C"`, userID)
	if err != nil {
		return nil, wrap("list attributes", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (broker.Attribute, error) { return codec.ScanAttribute(row) })
	return out, wrap("list attributes", err)
}

// LogoutUser implements broker.RevocationStore, marking the sessions it
// ends in the same statement (see rotateSQL).
func (s xsollaRows) LogoutUser(ctx context.Context, userID string, at time.Time, keepJTI string) error {
	_, err := s.q.Exec(ctx, `WITH logout AS (
		INSERT INTO user_logouts (user_id, logged_out_at, keep_jti) VALUES ($1, $2, $3)
		ON CONFLICT (user_id) DO UPDATE SET logged_out_at = EXCLUDED.logged_out_at, keep_jti = EXCLUDED.keep_jti
	)
	UPDATE refresh_tokens SET ended_at = $2 WHERE user_id = $1 AND created_at <= $2 AND ended_at IS NULL`,
		userID, at, keepJTI)
	return wrap("logout user", err)
}

// UserLogout implements broker.RevocationStore.
func (s xsollaRows) UserLogout(ctx context.Context, userID string) (time.Time, string, error) {
	var (
		at   time.Time
		keep string
	)
	err := s.q.QueryRow(ctx, `SELECT logged_out_at, keep_jti FROM user_logouts WHERE user_id = $1`, userID).Scan(&at, &keep)
	if err != nil {
		return time.Time{}, "", wrap("user logout", err)
	}
	return at.UTC(), keep, nil
}
