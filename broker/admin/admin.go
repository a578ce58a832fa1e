package admin

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/keys"
)

// AdminNamespace is the reserved namespace whose admin clients see every
// namespace; an admin client of any other namespace sees its own only.
const AdminNamespace = "admin"

// Scope is the scope an access token needs for the admin API.
const Scope = "bridgekeeper:admin"

// Actor is who acts, from where, and how far they see.
type Actor struct {
	// ID names the actor in the audit trail: "client:<id>",
	// "console:<provider>:<subject>", "cli".
	ID      string
	Address string
	// NamespaceID limits the actor to one namespace; "" sees them all.
	NamespaceID string
}

// sees reports whether the actor may see what lives in namespaceID.
func (a Actor) sees(namespaceID string) bool {
	return a.NamespaceID == "" || a.NamespaceID == namespaceID
}

// notFound is how anything outside the actor's namespace is reported.
func notFound(what string) error {
	return broker.NotFound(what+" not found", broker.ErrNotFound)
}

// everywhere refuses an action on the broker as a whole (namespaces, keys)
// to an actor limited to one namespace.
func (a Actor) everywhere(what string) error {
	if a.NamespaceID != "" {
		return broker.Forbidden(what+" needs an admin of the "+AdminNamespace+" namespace", nil)
	}
	return nil
}

// Page asks for one page of a listing: Token is the previous page's Next
// ("" for the first page), Limit 1..MaxLimit (0: DefaultLimit).
type Page struct {
	Token string
	Limit int
}

// Listing limits.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// limit checks the page size.
func (p Page) limit() (int, error) {
	switch {
	case p.Limit == 0:
		return DefaultLimit, nil
	case p.Limit < 1 || p.Limit > MaxLimit:
		return 0, broker.Invalid("limit", fmt.Sprintf("limit must be 1..%d", MaxLimit))
	}
	return p.Limit, nil
}

// cursor is what a page token carries: the sort key of the last row of
// the page before. It is opaque to callers, base64url.
func cursor(key string) string { return base64.RawURLEncoding.EncodeToString([]byte(key)) }

func (p Page) after() (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(p.Token)
	if err != nil {
		return "", broker.Invalid("page_token", "page_token is not one this server gave")
	}
	return string(b), nil
}

// next is the token of the page after rows, "" when rows was the last.
func next[T any](rows []T, limit int, key func(T) string) string {
	if len(rows) < limit {
		return ""
	}
	return cursor(key(rows[len(rows)-1]))
}

// Service is the operator's side: Tenants for namespaces, clients, keys
// and the audit trail; Players for support's work on players.
type Service struct {
	Tenants *Tenants
	Players *Players
}

// Tenants administers namespaces, clients and signing keys, and reads the
// audit trail.
type Tenants struct{ core }

// Players is support's work on players: finding them, their links,
// sessions, bans and attributes.
type Players struct{ core }

// core is what every operation needs.
type core struct {
	store   broker.Store
	secrets *keys.Secrets
	now     func() time.Time
	log     *slog.Logger
}

// New builds the operator's service over the broker's store.
func New(store broker.Store, secrets *keys.Secrets, now func() time.Time, log *slog.Logger) *Service {
	c := core{store: store, secrets: secrets, now: now, log: log}
	return &Service{Tenants: &Tenants{c}, Players: &Players{c}}
}

// audited runs act in one transaction with the audit event it returns, and
// logs the event once both have committed.
func (s core) audited(ctx context.Context, a Actor, act func(tx broker.Store, now time.Time) (broker.AuditEvent, error)) error {
	now := s.now()
	var e broker.AuditEvent
	err := s.store.InTx(ctx, func(tx broker.Store) error {
		ev, err := act(tx, now)
		if err != nil {
			return err
		}
		ev.Actor, ev.Address = a.ID, a.Address
		e, err = broker.Audit(ctx, tx, ev, now)
		return err
	})
	if err != nil {
		return err
	}
	broker.LogAudit(ctx, s.log, e)
	return nil
}

// AuthFailed records a refused admin authentication (no action to commit
// with: the event is the whole of it).
func (s *Tenants) AuthFailed(ctx context.Context, address, detail string) error {
	e, err := broker.Audit(ctx, s.store, broker.AuditEvent{Type: broker.AuditAdminAuthFailed, Actor: "unknown",
		Address: address, Detail: detail}, s.now())
	if err == nil {
		broker.LogAudit(ctx, s.log, e)
	}
	return err
}

// AuditPage is a page of the audit trail.
type AuditPage struct {
	Events []broker.AuditEvent
	Next   string
}

// AuditFilter selects events; zero fields select all.
type AuditFilter struct {
	UserID, Type string
	Since        time.Time
}

// Audit lists the trail newest first, within the actor's namespace.
func (s *Tenants) Audit(ctx context.Context, a Actor, f AuditFilter, p Page) (AuditPage, error) {
	limit, err := p.limit()
	if err != nil {
		return AuditPage{}, err
	}
	if f.Type != "" && !slices.Contains(broker.AuditTypes, f.Type) {
		return AuditPage{}, broker.Invalid("type", "type must be one of "+strings.Join(broker.AuditTypes, ", "))
	}
	q := broker.AuditQuery{NamespaceID: a.NamespaceID, UserID: f.UserID, Type: f.Type, Since: f.Since, Limit: limit}
	if p.Token != "" {
		after, err := p.after()
		if err != nil {
			return AuditPage{}, err
		}
		nanos, id, ok := strings.Cut(after, "/")
		n, perr := strconv.ParseInt(nanos, 10, 64)
		if !ok || perr != nil {
			return AuditPage{}, broker.Invalid("page_token", "page_token is not one this server gave")
		}
		q.BeforeAt, q.BeforeID = time.Unix(0, n).UTC(), id
	}
	events, err := s.store.ListAudit(ctx, q)
	if err != nil {
		return AuditPage{}, err
	}
	return AuditPage{Events: events, Next: next(events, limit, func(e broker.AuditEvent) string {
		return strconv.FormatInt(e.At.UnixNano(), 10) + "/" + e.ID
	})}, nil
}
