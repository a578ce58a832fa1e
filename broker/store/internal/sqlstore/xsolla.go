package sqlstore

import "github.com/bridgekeeper/bridgekeeper/broker"

// AttributeColumns are the columns of user_attributes after user_id, in
// ScanAttribute's order. The backends write attributes differently
// (PostgreSQL from arrays, SQLite a row at a time), so there is no Args.
const AttributeColumns = `key, value, attr_type, permission, read_only, updated_at`

// ScanAttribute reads a row of AttributeColumns.
func (c Codec) ScanAttribute(row Row) (broker.Attribute, error) {
	var a broker.Attribute
	if err := row.Scan(&a.Key, &a.Value, &a.Type, &a.Permission, &a.ReadOnly, c.Times.Dest(&a.UpdatedAt)); err != nil {
		return broker.Attribute{}, err
	}
	return a, nil
}
