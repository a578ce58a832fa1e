package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/store/internal/sqlstore"
)

// gs2Rows is the part of the Store that keeps bans and federation policies.
type gs2Rows struct{ *conn }

// PutBan implements broker.BanStore.
func (s gs2Rows) PutBan(ctx context.Context, b broker.Ban) error {
	_, err := s.q.Exec(ctx, `INSERT INTO bans (`+sqlstore.BanColumns+`)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (user_id, name) DO UPDATE SET reason = EXCLUDED.reason,
			release_at = EXCLUDED.release_at, created_at = EXCLUDED.created_at`,
		codec.BanArgs(b)...)
	return wrap("put ban", err)
}

// DeleteBans implements broker.BanStore.
func (s gs2Rows) DeleteBans(ctx context.Context, userID, name string) (int64, error) {
	tag, err := s.q.Exec(ctx, `DELETE FROM bans WHERE user_id = $1 AND ($2 = '' OR name = $2)`, userID, name)
	if err != nil {
		return 0, wrap("delete bans", err)
	}
	return tag.RowsAffected(), nil
}

// ListBans implements broker.BanStore.
func (s gs2Rows) ListBans(ctx context.Context, userID string) ([]broker.Ban, error) {
	rows, err := s.q.Query(ctx, `SELECT `+sqlstore.BanColumns+` FROM bans
		WHERE user_id = $1 ORDER BY release_at, name`, userID)
	if err != nil {
		return nil, wrap("list bans", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (broker.Ban, error) { return codec.ScanBan(row) })
	return out, wrap("list bans", err)
}

// Banned implements broker.BanStore.
func (s gs2Rows) Banned(ctx context.Context, userID string, now time.Time) (bool, error) {
	var banned bool
	err := s.q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM bans WHERE user_id = $1 AND release_at > $2)`,
		userID, now).Scan(&banned)
	return banned, wrap("banned", err)
}

// PutPolicy implements broker.PolicyStore.
func (s gs2Rows) PutPolicy(ctx context.Context, hash []byte, document string, now time.Time) error {
	_, err := s.q.Exec(ctx, `INSERT INTO policies (hash, document, created_at) VALUES ($1, $2, $3)
		ON CONFLICT (hash) DO NOTHING`, hash, document, now)
	return wrap("put policy", err)
}

// GetPolicy implements broker.PolicyStore.
func (s gs2Rows) GetPolicy(ctx context.Context, hash []byte) (string, error) {
	var doc string
	err := s.q.QueryRow(ctx, `SELECT document FROM policies WHERE hash = $1`, hash).Scan(&doc)
	return doc, wrap("get policy", err)
}
