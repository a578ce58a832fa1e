package broker

import (
	"context"
	"log/slog"
	"time"

	"github.com/google/uuid"
)

// AuditEvent is one entry of the audit trail: a security event, written in
// the transaction of the action it records, so that neither commits
// without the other.
type AuditEvent struct {
	ID   string
	At   time.Time
	Type string // one of the Audit* types
	// Actor is who acted: "client:<id>" (an admin client or a game
	// server), "console:<provider>:<subject>" (support staff), "cli",
	// "player:<user id>", or "broker" for what the broker decided itself.
	Actor string
	// Address is the caller's address; "" for the CLI and the broker.
	Address     string
	NamespaceID string
	// UserID is the player the event is about; "" when none.
	UserID string
	// Target is what was acted on, when not the player alone: a client ID,
	// a refresh-token family, a link as "slot:identifier", a key ID.
	Target string
	// Detail says more, for people: a ban's name and reason, a refusal.
	// Never a secret.
	Detail string
}

// The audit event types.
const (
	AuditNamespaceCreate = "admin.namespace.create"
	AuditClientCreate    = "admin.client.create"
	AuditClientUpdate    = "admin.client.update"
	AuditClientDelete    = "admin.client.delete"
	AuditClientSecret    = "admin.client.rotate_secret"
	AuditKeyRotate       = "admin.key.rotate"
	AuditSessionRevoke   = "admin.session.revoke"
	AuditSessionsRevoke  = "admin.sessions.revoke"
	AuditAdminAuthFailed = "admin.auth.failed"
	AuditRefreshReuse    = "refresh.reuse"
	AuditCodeReplay      = "code.replay"
	AuditBan             = "user.ban"
	AuditUnban           = "user.unban"
	AuditLink            = "user.link"
	AuditUnlink          = "user.unlink"
	AuditLogout          = "user.logout"
)

// DefaultAuditRetention is how long the janitor keeps audit events unless
// audit_retention says otherwise.
const DefaultAuditRetention = 90 * 24 * time.Hour

// AuditTypes lists every event type, for validating a filter.
var AuditTypes = []string{
	AuditNamespaceCreate, AuditClientCreate, AuditClientUpdate, AuditClientDelete, AuditClientSecret,
	AuditKeyRotate, AuditSessionRevoke, AuditSessionsRevoke, AuditAdminAuthFailed, AuditRefreshReuse,
	AuditCodeReplay, AuditBan, AuditUnban, AuditLink, AuditUnlink, AuditLogout,
}

// AuditQuery selects audit events, newest first.
type AuditQuery struct {
	NamespaceID string // "" for every namespace
	UserID      string
	Type        string
	Since       time.Time // zero for the beginning
	// Before continues a listing: events older than (At, ID) of the last
	// event of the page before. Zero for the first page.
	BeforeAt time.Time
	BeforeID string
	Limit    int
}

// AuditStore keeps the audit trail.
type AuditStore interface {
	AppendAudit(ctx context.Context, e AuditEvent) error
	ListAudit(ctx context.Context, q AuditQuery) ([]AuditEvent, error)
	// PurgeAudit deletes the events older than before and reports how many.
	PurgeAudit(ctx context.Context, before time.Time) (int64, error)
}

// Audit appends e to the trail in s (a transaction's Store, so that the
// event commits with its action), filling in its ID and time.
func Audit(ctx context.Context, s AuditStore, e AuditEvent, now time.Time) (AuditEvent, error) {
	if e.ID == "" {
		e.ID = uuid.NewString()
	}
	if e.At.IsZero() {
		e.At = now
	}
	if e.Actor == "" {
		e.Actor = "broker"
	}
	return e, s.AppendAudit(ctx, e)
}

// LogAudit writes e as a structured log line, once its transaction has
// committed: the log then never shows what did not happen.
func LogAudit(ctx context.Context, log *slog.Logger, e AuditEvent) {
	log.LogAttrs(ctx, slog.LevelInfo, "audit",
		slog.String("event", e.Type), slog.String("id", e.ID), slog.String("actor", e.Actor),
		slog.String("address", e.Address), slog.String("namespace_id", e.NamespaceID),
		slog.String("user_id", e.UserID), slog.String("target", e.Target), slog.String("detail", e.Detail))
}
