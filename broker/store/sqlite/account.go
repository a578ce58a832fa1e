package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

const accountColumns = `user_id, namespace_id, password_hash, time_offset, created_at, last_authenticated_at`

// CreateAccount implements broker.AccountStore. The foreign key on
// (user_id, namespace_id) refuses an account without its user, or in
// another namespace than its user's.
func (s *Store) CreateAccount(ctx context.Context, a broker.Account) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO accounts (`+accountColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
		a.UserID, a.NamespaceID, a.PasswordHash, a.TimeOffset, ms(a.CreatedAt), nullMS(a.LastAuthenticatedAt))
	return wrap("create account", err)
}

func scanAccount(row scanner) (broker.Account, error) {
	var (
		a       broker.Account
		created int64
		last    sql.NullInt64
	)
	if err := row.Scan(&a.UserID, &a.NamespaceID, &a.PasswordHash, &a.TimeOffset, &created, &last); err != nil {
		return broker.Account{}, err
	}
	a.CreatedAt, a.LastAuthenticatedAt = fromMS(created), fromNullMS(last)
	return a, nil
}

// GetAccount implements broker.AccountStore.
func (s *Store) GetAccount(ctx context.Context, namespaceID, userID string) (broker.Account, error) {
	a, err := scanAccount(s.r.QueryRowContext(ctx, `SELECT `+accountColumns+` FROM accounts
		WHERE namespace_id = ? AND user_id = ?`, namespaceID, userID))
	if err != nil {
		return broker.Account{}, wrap("get account", err)
	}
	return a, nil
}

// ListAccounts implements broker.AccountStore: keyset paging on the
// (namespace_id, user_id) index. A limit below one lists nothing (SQLite
// would read a negative LIMIT as none).
func (s *Store) ListAccounts(ctx context.Context, namespaceID, afterUserID string, limit int) ([]broker.Account, error) {
	if limit < 1 {
		return nil, nil
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+accountColumns+` FROM accounts
		WHERE namespace_id = ? AND user_id > ? ORDER BY user_id LIMIT ?`, namespaceID, afterUserID, limit)
	if err != nil {
		return nil, wrap("list accounts", err)
	}
	return collect(rows, "list accounts", scanAccount)
}

// TouchAccount implements broker.AccountStore.
func (s *Store) TouchAccount(ctx context.Context, userID string, at time.Time) error {
	res, err := s.w.ExecContext(ctx, `UPDATE accounts SET last_authenticated_at = ? WHERE user_id = ?`, ms(at), userID)
	return affectedOne("touch account", res, err)
}

// SetAccountPassword implements broker.AccountStore.
func (s *Store) SetAccountPassword(ctx context.Context, userID string, hash []byte) error {
	res, err := s.w.ExecContext(ctx, `UPDATE accounts SET password_hash = ? WHERE user_id = ?`, hash, userID)
	return affectedOne("set account password", res, err)
}
