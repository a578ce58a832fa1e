package sqlstore

import "github.com/bridgekeeper/bridgekeeper/broker"

// BanColumns are the columns of bans, in BanArgs's and ScanBan's order.
const BanColumns = `user_id, name, reason, release_at, created_at`

// BanArgs are the arguments of an INSERT of BanColumns.
func (c Codec) BanArgs(b broker.Ban) []any {
	return []any{b.UserID, b.Name, b.Reason, c.Times.Arg(b.ReleaseAt), c.Times.Arg(b.CreatedAt)}
}

// ScanBan reads a row of BanColumns.
func (c Codec) ScanBan(row Row) (broker.Ban, error) {
	var b broker.Ban
	if err := row.Scan(&b.UserID, &b.Name, &b.Reason, c.Times.Dest(&b.ReleaseAt), c.Times.Dest(&b.CreatedAt)); err != nil {
		return broker.Ban{}, err
	}
	return b, nil
}
