package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/store/internal/sqlstore"
)

// operator is the part of the Store that answers the operator's side: the
// audit trail and the support queries.
type operator struct{ *conn }

// AppendAudit implements broker.AuditStore.
func (s operator) AppendAudit(ctx context.Context, e broker.AuditEvent) error {
	_, err := s.q.Exec(ctx, `INSERT INTO audit_events (`+sqlstore.AuditColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, codec.AuditArgs(e)...)
	return wrap("append audit event", err)
}

// ListAudit implements broker.AuditStore.
func (s operator) ListAudit(ctx context.Context, q broker.AuditQuery) ([]broker.AuditEvent, error) {
	var before any // NULL on the first page
	if !q.BeforeAt.IsZero() {
		before = q.BeforeAt
	}
	var since any
	if !q.Since.IsZero() {
		since = q.Since
	}
	rows, err := s.q.Query(ctx, `SELECT `+sqlstore.AuditColumns+` FROM audit_events
		WHERE ($1 = '' OR namespace_id = $1) AND ($2 = '' OR user_id = $2) AND ($3 = '' OR type = $3)
		  AND ($4::timestamptz IS NULL OR at >= $4)
		  AND ($5::timestamptz IS NULL OR (at, id) < ($5, $6))
		ORDER BY at DESC, id DESC LIMIT $7`,
		q.NamespaceID, q.UserID, q.Type, since, before, q.BeforeID, q.Limit)
	if err != nil {
		return nil, wrap("list audit events", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (broker.AuditEvent, error) { return codec.ScanAudit(row) })
	return out, wrap("list audit events", err)
}

// PurgeAudit implements broker.AuditStore.
func (s operator) PurgeAudit(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.q.Exec(ctx, `DELETE FROM audit_events WHERE at < $1`, before)
	return tag.RowsAffected(), wrap("purge audit events", err)
}

// ListNamespaces implements broker.OperatorStore.
func (s operator) ListNamespaces(ctx context.Context, afterName string, limit int) ([]broker.Namespace, error) {
	rows, err := s.q.Query(ctx, `SELECT `+sqlstore.NamespaceColumns+` FROM namespaces
		WHERE name > $1 ORDER BY name LIMIT $2`, afterName, limit)
	if err != nil {
		return nil, wrap("list namespaces", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (broker.Namespace, error) { return codec.ScanNamespace(row) })
	return out, wrap("list namespaces", err)
}

// PageClients implements broker.OperatorStore.
func (s operator) PageClients(ctx context.Context, namespaceID, afterID string, limit int) ([]broker.Client, error) {
	rows, err := s.q.Query(ctx, `SELECT `+sqlstore.ClientColumns+` FROM clients
		WHERE ($1 = '' OR namespace_id = $1) AND id > $2 ORDER BY id LIMIT $3`, namespaceID, afterID, limit)
	if err != nil {
		return nil, wrap("page clients", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (broker.Client, error) { return codec.ScanClient(row) })
	return out, wrap("page clients", err)
}

// FindLinks implements broker.OperatorStore.
func (s operator) FindLinks(ctx context.Context, namespaceID string, slot int, identifier string) ([]broker.Link, error) {
	rows, err := s.q.Query(ctx, `SELECT `+sqlstore.LinkColumns+` FROM takeover_links
		WHERE ($1 = '' OR namespace_id = $1) AND slot = $2 AND identifier = $3 ORDER BY namespace_id`,
		namespaceID, slot, identifier)
	if err != nil {
		return nil, wrap("find links", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (broker.Link, error) { return codec.ScanLink(row) })
	return out, wrap("find links", err)
}

// FindUsersByNickname implements broker.OperatorStore.
func (s operator) FindUsersByNickname(ctx context.Context, namespaceID, prefix, afterID string, limit int) ([]broker.User, error) {
	rows, err := s.q.Query(ctx, `SELECT `+sqlstore.UserColumns+` FROM users
		WHERE ($1 = '' OR namespace_id = $1) AND nickname LIKE $2 ESCAPE '\' AND id > $3 ORDER BY id LIMIT $4`,
		namespaceID, sqlstore.LikePrefix(prefix), afterID, limit)
	if err != nil {
		return nil, wrap("find users by nickname", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (broker.User, error) { return codec.ScanUser(row) })
	return out, wrap("find users by nickname", err)
}

// ListSessions implements broker.OperatorStore: the families whose current
// token is live.
func (s operator) ListSessions(ctx context.Context, userID string, now time.Time) ([]broker.Session, error) {
	rows, err := s.q.Query(ctx, `SELECT t.hash, t.family_id, t.client_id,
		t.started_at, t.created_at, t.expires_at, t.jkt <> ''
		FROM refresh_tokens t
		WHERE t.user_id = $1 AND t.cur IS NOT NULL AND t.ended_at IS NULL AND t.expires_at > $2
		ORDER BY t.created_at DESC, t.family_id`, userID, now)
	if err != nil {
		return nil, wrap("list sessions", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (broker.Session, error) { return codec.ScanSession(row) })
	return out, wrap("list sessions", err)
}
