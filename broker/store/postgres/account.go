package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

const accountColumns = `user_id, namespace_id, password_hash, time_offset, created_at, last_authenticated_at`

// CreateAccount implements broker.AccountStore. The foreign key on
// (user_id, namespace_id) refuses an account without its user, or in
// another namespace than its user's.
func (s *Store) CreateAccount(ctx context.Context, a broker.Account) error {
	_, err := s.q.Exec(ctx, `INSERT INTO accounts (`+accountColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		a.UserID, a.NamespaceID, a.PasswordHash, a.TimeOffset, a.CreatedAt, nullTime(a.LastAuthenticatedAt))
	return wrap("create account", err)
}

func scanAccount(row pgx.Row) (broker.Account, error) {
	var (
		a    broker.Account
		last *time.Time
	)
	if err := row.Scan(&a.UserID, &a.NamespaceID, &a.PasswordHash, &a.TimeOffset, &a.CreatedAt, &last); err != nil {
		return broker.Account{}, err
	}
	a.CreatedAt, a.LastAuthenticatedAt = a.CreatedAt.UTC(), fromNullTime(last)
	return a, nil
}

// GetAccount implements broker.AccountStore.
func (s *Store) GetAccount(ctx context.Context, namespaceID, userID string) (broker.Account, error) {
	a, err := scanAccount(s.q.QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts
		WHERE namespace_id = $1 AND user_id = $2`, namespaceID, userID))
	if err != nil {
		return broker.Account{}, wrap("get account", err)
	}
	return a, nil
}

// ListAccounts implements broker.AccountStore: keyset paging on the
// (namespace_id, user_id) index. A limit below one lists nothing.
func (s *Store) ListAccounts(ctx context.Context, namespaceID, afterUserID string, limit int) ([]broker.Account, error) {
	if limit < 1 {
		return nil, nil
	}
	rows, err := s.q.Query(ctx, `SELECT `+accountColumns+` FROM accounts
		WHERE namespace_id = $1 AND user_id > $2 ORDER BY user_id LIMIT $3`, namespaceID, afterUserID, limit)
	if err != nil {
		return nil, wrap("list accounts", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (broker.Account, error) { return scanAccount(row) })
	return out, wrap("list accounts", err)
}

// TouchAccount implements broker.AccountStore.
func (s *Store) TouchAccount(ctx context.Context, userID string, at time.Time) error {
	tag, err := s.q.Exec(ctx, `UPDATE accounts SET last_authenticated_at = $2 WHERE user_id = $1`, userID, at)
	return affectedOne("touch account", tag, err)
}

// SetAccountPassword implements broker.AccountStore.
func (s *Store) SetAccountPassword(ctx context.Context, userID string, hash []byte) error {
	tag, err := s.q.Exec(ctx, `UPDATE accounts SET password_hash = $2 WHERE user_id = $1`, userID, hash)
	return affectedOne("set account password", tag, err)
}
