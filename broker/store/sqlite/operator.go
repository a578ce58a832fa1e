package sqlite

import (
	"context"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/store/internal/sqlstore"
)

// operator is the part of the Store that answers the operator's side: the
// audit trail and the support queries.
type operator struct{ *conn }

// AppendAudit implements broker.AuditStore.
func (s operator) AppendAudit(ctx context.Context, e broker.AuditEvent) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO audit_events (`+sqlstore.AuditColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, codec.AuditArgs(e)...)
	return wrap("append audit event", err)
}

// ListAudit implements broker.AuditStore. A zero Since or BeforeAt is 0
// ms, which no event predates.
func (s operator) ListAudit(ctx context.Context, q broker.AuditQuery) ([]broker.AuditEvent, error) {
	since, before := int64(0), int64(0)
	if !q.Since.IsZero() {
		since = ms(q.Since)
	}
	if !q.BeforeAt.IsZero() {
		before = ms(q.BeforeAt)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+sqlstore.AuditColumns+` FROM audit_events
		WHERE (?1 = '' OR namespace_id = ?1) AND (?2 = '' OR user_id = ?2) AND (?3 = '' OR type = ?3)
		  AND at >= ?4 AND (?5 = 0 OR at < ?5 OR (at = ?5 AND id < ?6))
		ORDER BY at DESC, id DESC LIMIT ?7`,
		q.NamespaceID, q.UserID, q.Type, since, before, q.BeforeID, q.Limit)
	if err != nil {
		return nil, wrap("list audit events", err)
	}
	return collect(rows, "list audit events", codec.ScanAudit)
}

// PurgeAudit implements broker.AuditStore.
func (s operator) PurgeAudit(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM audit_events WHERE at < ?`, ms(before))
	if err != nil {
		return 0, wrap("purge audit events", err)
	}
	n, err := res.RowsAffected()
	return n, wrap("purge audit events", err)
}

// ListNamespaces implements broker.OperatorStore.
func (s operator) ListNamespaces(ctx context.Context, afterName string, limit int) ([]broker.Namespace, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+sqlstore.NamespaceColumns+` FROM namespaces
		WHERE name > ? ORDER BY name LIMIT ?`, afterName, limit)
	if err != nil {
		return nil, wrap("list namespaces", err)
	}
	return collect(rows, "list namespaces", codec.ScanNamespace)
}

// PageClients implements broker.OperatorStore.
func (s operator) PageClients(ctx context.Context, namespaceID, afterID string, limit int) ([]broker.Client, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+sqlstore.ClientColumns+` FROM clients
		WHERE (?1 = '' OR namespace_id = ?1) AND id > ?2 ORDER BY id LIMIT ?3`, namespaceID, afterID, limit)
	if err != nil {
		return nil, wrap("page clients", err)
	}
	return collect(rows, "page clients", codec.ScanClient)
}

// FindLinks implements broker.OperatorStore.
func (s operator) FindLinks(ctx context.Context, namespaceID string, slot int, identifier string) ([]broker.Link, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+sqlstore.LinkColumns+` FROM takeover_links
		WHERE (?1 = '' OR namespace_id = ?1) AND slot = ?2 AND identifier = ?3 ORDER BY namespace_id`,
		namespaceID, slot, identifier)
	if err != nil {
		return nil, wrap("find links", err)
	}
	return collect(rows, "find links", codec.ScanLink)
}

// FindUsersByNickname implements broker.OperatorStore. SQLite's LIKE
// ignores ASCII case, so the prefix is compared exactly as well.
func (s operator) FindUsersByNickname(ctx context.Context, namespaceID, prefix, afterID string, limit int) ([]broker.User, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+sqlstore.UserColumns+` FROM users
		WHERE (?1 = '' OR namespace_id = ?1) AND nickname LIKE ?2 ESCAPE '\'
		  AND substr(nickname, 1, length(?3)) = ?3 AND id > ?4 ORDER BY id LIMIT ?5`,
		namespaceID, sqlstore.LikePrefix(prefix), prefix, afterID, limit)
	if err != nil {
		return nil, wrap("find users by nickname", err)
	}
	return collect(rows, "find users by nickname", codec.ScanUser)
}

// ListSessions implements broker.OperatorStore: the families whose current
// token is live.
func (s operator) ListSessions(ctx context.Context, userID string, now time.Time) ([]broker.Session, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT t.hash, t.family_id, t.client_id,
		t.started_at, t.created_at, t.expires_at, t.jkt <> ''
		FROM refresh_tokens t
		WHERE t.user_id = ?1 AND t.cur IS NOT NULL AND t.ended_at IS NULL AND t.expires_at > ?2
		ORDER BY t.created_at DESC, t.family_id`, userID, ms(now))
	if err != nil {
		return nil, wrap("list sessions", err)
	}
	return collect(rows, "list sessions", codec.ScanSession)
}
