package sqlite

import (
	"context"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/store/internal/sqlstore"
)

// accounts is the part of the Store that keeps GS2 accounts.
type accounts struct{ *conn }

// CreateAccount implements broker.AccountStore. The foreign key on
// (user_id, namespace_id) refuses an account without its user, or in
// another namespace than its user's.
func (s accounts) CreateAccount(ctx context.Context, a broker.Account) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO accounts (`+sqlstore.AccountColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
		codec.AccountArgs(a)...)
	return wrap("create account", err)
}

// GetAccount implements broker.AccountStore.
func (s accounts) GetAccount(ctx context.Context, namespaceID, userID string) (broker.Account, error) {
	a, err := codec.ScanAccount(s.r.QueryRowContext(ctx, `SELECT `+sqlstore.AccountColumns+` FROM accounts
		WHERE namespace_id = ? AND user_id = ?`, namespaceID, userID))
	if err != nil {
		return broker.Account{}, wrap("get account", err)
	}
	return a, nil
}

// ListAccounts implements broker.AccountStore: keyset paging on the
// (namespace_id, user_id) index. A limit below one lists nothing (SQLite
// would read a negative LIMIT as none).
func (s accounts) ListAccounts(ctx context.Context, namespaceID, afterUserID string, limit int) ([]broker.Account, error) {
	if limit < 1 {
		return nil, nil
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+sqlstore.AccountColumns+` FROM accounts
		WHERE namespace_id = ? AND user_id > ? ORDER BY user_id LIMIT ?`, namespaceID, afterUserID, limit)
	if err != nil {
		return nil, wrap("list accounts", err)
	}
	return collect(rows, "list accounts", codec.ScanAccount)
}

// TouchAccount implements broker.AccountStore.
func (s accounts) TouchAccount(ctx context.Context, userID string, at time.Time) error {
	res, err := s.w.ExecContext(ctx, `UPDATE accounts SET last_authenticated_at = ? WHERE user_id = ?`, ms(at), userID)
	return affectedOne("touch account", res, err)
}

// SetAccountPassword implements broker.AccountStore.
func (s accounts) SetAccountPassword(ctx context.Context, userID string, hash []byte) error {
	res, err := s.w.ExecContext(ctx, `UPDATE accounts SET password_hash = ? WHERE user_id = ?`, hash, userID)
	return affectedOne("set account password", res, err)
}
