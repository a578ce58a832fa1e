package sqlstore

import "github.com/bridgekeeper/bridgekeeper/broker"

// AccountColumns are the columns of accounts, in AccountArgs's and
// ScanAccount's order.
const AccountColumns = `user_id, namespace_id, password_hash, time_offset, created_at, last_authenticated_at`

// AccountArgs are the arguments of an INSERT of AccountColumns.
func (c Codec) AccountArgs(a broker.Account) []any {
	return []any{a.UserID, a.NamespaceID, a.PasswordHash, a.TimeOffset,
		c.Times.Arg(a.CreatedAt), c.nullTime(a.LastAuthenticatedAt)}
}

// ScanAccount reads a row of AccountColumns.
func (c Codec) ScanAccount(row Row) (broker.Account, error) {
	var a broker.Account
	err := row.Scan(&a.UserID, &a.NamespaceID, &a.PasswordHash, &a.TimeOffset,
		c.Times.Dest(&a.CreatedAt), c.Times.NullDest(&a.LastAuthenticatedAt))
	if err != nil {
		return broker.Account{}, err
	}
	return a, nil
}
