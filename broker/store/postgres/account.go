package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/store/internal/sqlstore"
)

// accounts is the part of the Store that keeps GS2 accounts.
type accounts struct{ *conn }

// CreateAccount implements broker.AccountStore. The foreign key on
// (user_id, namespace_id) refuses an account without its user, or in
// another namespace than its user's.
func (s accounts) CreateAccount(ctx context.Context, a broker.Account) error {
	_, err := s.q.Exec(ctx, `INSERT INTO accounts (`+sqlstore.AccountColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		codec.AccountArgs(a)...)
	return wrap("create account", err)
}

// GetAccount implements broker.AccountStore.
func (s accounts) GetAccount(ctx context.Context, namespaceID, userID string) (broker.Account, error) {
	a, err := codec.ScanAccount(s.q.QueryRow(ctx, `SELECT `+sqlstore.AccountColumns+` FROM accounts
		WHERE namespace_id = $1 AND user_id = $2`, namespaceID, userID))
	if err != nil {
		return broker.Account{}, wrap("get account", err)
	}
	return a, nil
}

// ListAccounts implements broker.AccountStore: keyset paging on the
// (namespace_id, user_id) index. A limit below one lists nothing.
func (s accounts) ListAccounts(ctx context.Context, namespaceID, afterUserID string, limit int) ([]broker.Account, error) {
	if limit < 1 {
		return nil, nil
	}
	rows, err := s.q.Query(ctx, `SELECT `+sqlstore.AccountColumns+` FROM accounts
		WHERE namespace_id = $1 AND user_id > $2 ORDER BY user_id LIMIT $3`, namespaceID, afterUserID, limit)
	if err != nil {
		return nil, wrap("list accounts", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (broker.Account, error) { return codec.ScanAccount(row) })
	return out, wrap("list accounts", err)
}

// TouchAccount implements broker.AccountStore.
func (s accounts) TouchAccount(ctx context.Context, userID string, at time.Time) error {
	tag, err := s.q.Exec(ctx, `UPDATE accounts SET last_authenticated_at = $2 WHERE user_id = $1`, userID, at)
	return affectedOne("touch account", tag, err)
}

// SetAccountPassword implements broker.AccountStore.
func (s accounts) SetAccountPassword(ctx context.Context, userID string, hash []byte) error {
	tag, err := s.q.Exec(ctx, `UPDATE accounts SET password_hash = $2 WHERE user_id = $1`, userID, hash)
	return affectedOne("set account password", tag, err)
}
