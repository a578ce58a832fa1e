package sqlstore

import "github.com/bridgekeeper/bridgekeeper/broker"

// AuditColumns are the columns of audit_events, in AuditArgs's and
// ScanAudit's order.
const AuditColumns = `id, at, type, actor, address, namespace_id, user_id, target, detail`

// AuditArgs are the arguments of an INSERT of AuditColumns.
func (c Codec) AuditArgs(e broker.AuditEvent) []any {
	return []any{e.ID, c.Times.Arg(e.At), e.Type, e.Actor, e.Address, e.NamespaceID, e.UserID, e.Target, e.Detail}
}

// ScanAudit reads a row of AuditColumns.
func (c Codec) ScanAudit(row Row) (broker.AuditEvent, error) {
	var e broker.AuditEvent
	err := row.Scan(&e.ID, c.Times.Dest(&e.At), &e.Type, &e.Actor, &e.Address, &e.NamespaceID, &e.UserID, &e.Target, &e.Detail)
	return e, err
}

// ScanSession reads a row of family_id, client_id, created, last used,
// expires, bound.
func (c Codec) ScanSession(row Row) (broker.Session, error) {
	var s broker.Session
	err := row.Scan(&s.Key, &s.FamilyID, &s.ClientID, c.Times.Dest(&s.CreatedAt), c.Times.Dest(&s.LastUsedAt),
		c.Times.Dest(&s.ExpiresAt), &s.Bound)
	return s, err
}

// LikePrefix is a LIKE pattern (escape character '\') matching the
// strings that start with prefix.
func LikePrefix(prefix string) string {
	var b []byte
	for i := 0; i < len(prefix); i++ {
		switch prefix[i] {
		case '\\', '%', '_':
			b = append(b, '\\')
		}
		b = append(b, prefix[i])
	}
	return string(b) + "%"
}
