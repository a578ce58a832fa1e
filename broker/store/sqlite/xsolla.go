package sqlite

import (
	"context"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/store/internal/sqlstore"
)

// xsollaRows is the part of the Store that keeps attributes and logouts.
type xsollaRows struct{ *conn }

// PutAttributes implements broker.AttributeStore: one transaction of
// upserts whose conflict WHERE keeps read_only attributes as they are.
func (s xsollaRows) PutAttributes(ctx context.Context, userID string, attrs []broker.Attribute, bound broker.AttributeBound) error {
	// SQLite runs one write transaction at a time: puts are serialized.
	return s.atomic(ctx, "put attributes", func(q dbtx) error {
		for _, a := range attrs {
			_, err := q.ExecContext(ctx, `INSERT INTO user_attributes
				(user_id, key, value, attr_type, permission, read_only, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (user_id, key) DO UPDATE SET value = excluded.value, attr_type = excluded.attr_type,
					permission = excluded.permission, read_only = excluded.read_only, updated_at = excluded.updated_at
				WHERE NOT user_attributes.read_only`,
				userID, a.Key, a.Value, a.Type, a.Permission, a.ReadOnly, ms(a.UpdatedAt))
			if err != nil {
				return wrap("put attribute", err)
			}
		}
		var count int
		var size int64
		err := q.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(length(CAST(key AS BLOB)) + length(CAST(value AS BLOB))), 0)
			FROM user_attributes WHERE user_id = ?`, userID).Scan(&count, &size)
		if err != nil {
			return wrap("put attributes: totals", err)
		}
		if bound.Exceeded(count, size) {
			return broker.ErrAttributesFull
		}
		return nil
	})
}

// ListAttributes implements broker.AttributeStore.
func (s xsollaRows) ListAttributes(ctx context.Context, userID string) ([]broker.Attribute, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+sqlstore.AttributeColumns+`
		FROM user_attributes WHERE user_id = ? ORDER BY key`, userID)
	if err != nil {
		return nil, wrap("list attributes", err)
	}
	return collect(rows, "list attributes", codec.ScanAttribute)
}

// LogoutUser implements broker.RevocationStore, marking the sessions it
// ends in the same transaction.
func (s xsollaRows) LogoutUser(ctx context.Context, userID string, at time.Time, keepJTI string) error {
	return s.atomic(ctx, "logout user", func(q dbtx) error {
		_, err := q.ExecContext(ctx, `INSERT INTO user_logouts (user_id, logged_out_at, keep_jti) VALUES (?1, ?2, ?3)
			ON CONFLICT (user_id) DO UPDATE SET logged_out_at = excluded.logged_out_at, keep_jti = excluded.keep_jti`,
			userID, ms(at), keepJTI)
		if err == nil {
			_, err = q.ExecContext(ctx, `UPDATE refresh_tokens SET ended_at = ?2
				WHERE user_id = ?1 AND created_at <= ?2 AND ended_at IS NULL`, userID, ms(at))
		}
		return wrap("logout user", err)
	})
}

// UserLogout implements broker.RevocationStore.
func (s xsollaRows) UserLogout(ctx context.Context, userID string) (time.Time, string, error) {
	var (
		at   int64
		keep string
	)
	err := s.r.QueryRowContext(ctx, `SELECT logged_out_at, keep_jti FROM user_logouts WHERE user_id = ?`, userID).Scan(&at, &keep)
	if err != nil {
		return time.Time{}, "", wrap("user logout", err)
	}
	return fromMS(at), keep, nil
}
