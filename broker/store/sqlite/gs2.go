package sqlite

import (
	"context"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/store/internal/sqlstore"
)

// gs2Rows is the part of the Store that keeps bans and federation policies.
type gs2Rows struct{ *conn }

// PutBan implements broker.BanStore.
func (s gs2Rows) PutBan(ctx context.Context, b broker.Ban) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO bans (`+sqlstore.BanColumns+`)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (user_id, name) DO UPDATE SET reason = excluded.reason,
			release_at = excluded.release_at, created_at = excluded.created_at`,
		codec.BanArgs(b)...)
	return wrap("put ban", err)
}

// DeleteBans implements broker.BanStore.
func (s gs2Rows) DeleteBans(ctx context.Context, userID, name string) (int64, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM bans WHERE user_id = ? AND (? = '' OR name = ?)`, userID, name, name)
	if err != nil {
		return 0, wrap("delete bans", err)
	}
	n, err := res.RowsAffected()
	return n, wrap("delete bans", err)
}

// ListBans implements broker.BanStore.
func (s gs2Rows) ListBans(ctx context.Context, userID string) ([]broker.Ban, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+sqlstore.BanColumns+` FROM bans
		WHERE user_id = ? ORDER BY release_at, name`, userID)
	if err != nil {
		return nil, wrap("list bans", err)
	}
	return collect(rows, "list bans", codec.ScanBan)
}

// Banned implements broker.BanStore.
func (s gs2Rows) Banned(ctx context.Context, userID string, now time.Time) (bool, error) {
	var banned bool
	err := s.r.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM bans WHERE user_id = ? AND release_at > ?)`,
		userID, ms(now)).Scan(&banned)
	return banned, wrap("banned", err)
}

// PutPolicy implements broker.PolicyStore.
func (s gs2Rows) PutPolicy(ctx context.Context, hash []byte, document string, now time.Time) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO policies (hash, document, created_at) VALUES (?, ?, ?)
		ON CONFLICT (hash) DO NOTHING`, hash, document, ms(now))
	return wrap("put policy", err)
}

// GetPolicy implements broker.PolicyStore.
func (s gs2Rows) GetPolicy(ctx context.Context, hash []byte) (string, error) {
	var doc string
	err := s.r.QueryRowContext(ctx, `SELECT document FROM policies WHERE hash = ?`, hash).Scan(&doc)
	return doc, wrap("get policy", err)
}
