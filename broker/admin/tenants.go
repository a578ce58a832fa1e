package admin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/keys"
)

// NamespacePage is a page of namespaces, by name.
type NamespacePage struct {
	Namespaces []broker.Namespace
	Next       string
}

// Namespaces lists the namespaces the actor sees.
func (s *Tenants) Namespaces(ctx context.Context, a Actor, p Page) (NamespacePage, error) {
	limit, err := p.limit()
	if err != nil {
		return NamespacePage{}, err
	}
	if a.NamespaceID != "" {
		ns, err := s.store.GetNamespace(ctx, a.NamespaceID)
		if err != nil {
			return NamespacePage{}, err
		}
		return NamespacePage{Namespaces: []broker.Namespace{ns}}, nil
	}
	after, err := p.after()
	if err != nil {
		return NamespacePage{}, err
	}
	list, err := s.store.ListNamespaces(ctx, after, limit)
	if err != nil {
		return NamespacePage{}, err
	}
	return NamespacePage{Namespaces: list, Next: next(list, limit, func(n broker.Namespace) string { return n.Name })}, nil
}

// Namespace finds a namespace by ID or name.
func (s *Tenants) Namespace(ctx context.Context, a Actor, idOrName string) (broker.Namespace, error) {
	ns, err := s.store.GetNamespace(ctx, idOrName)
	if errors.Is(err, broker.ErrNotFound) {
		ns, err = s.store.GetNamespaceByName(ctx, idOrName)
	}
	if errors.Is(err, broker.ErrNotFound) || (err == nil && !a.sees(ns.ID)) {
		return broker.Namespace{}, notFound("namespace " + idOrName)
	}
	return ns, err
}

// CreateNamespace creates a namespace; a taken name is a conflict that
// names the namespace already there.
func (s *Tenants) CreateNamespace(ctx context.Context, a Actor, name string) (broker.Namespace, error) {
	if err := a.everywhere("creating a namespace"); err != nil {
		return broker.Namespace{}, err
	}
	var ns broker.Namespace
	err := s.audited(ctx, a, func(tx broker.Store, now time.Time) (broker.AuditEvent, error) {
		if old, err := tx.GetNamespaceByName(ctx, name); err == nil {
			return broker.AuditEvent{}, broker.Conflict(fmt.Sprintf("namespace %s already exists (id %s)", name, old.ID), broker.ErrAlreadyExists)
		}
		var err error
		if ns, err = broker.CreateNamespace(ctx, tx, name, now); err != nil {
			return broker.AuditEvent{}, invalid("name", err)
		}
		return broker.AuditEvent{Type: broker.AuditNamespaceCreate, NamespaceID: ns.ID, Target: ns.Name}, nil
	})
	return ns, err
}

// ClientPage is a page of clients, by ID.
type ClientPage struct {
	Clients []broker.Client
	Next    string
}

// Clients lists the clients of a namespace ("" for every one the actor
// sees).
func (s *Tenants) Clients(ctx context.Context, a Actor, namespaceID string, p Page) (ClientPage, error) {
	limit, err := p.limit()
	if err != nil {
		return ClientPage{}, err
	}
	after, err := p.after()
	if err != nil {
		return ClientPage{}, err
	}
	switch {
	case a.NamespaceID != "" && namespaceID == "":
		namespaceID = a.NamespaceID
	case !a.sees(namespaceID):
		return ClientPage{}, nil
	}
	list, err := s.store.PageClients(ctx, namespaceID, after, limit)
	if err != nil {
		return ClientPage{}, err
	}
	return ClientPage{Clients: list, Next: next(list, limit, func(c broker.Client) string { return c.ID })}, nil
}

// Client is one client the actor sees.
func (s *Tenants) Client(ctx context.Context, a Actor, id string) (broker.Client, error) {
	return s.client(ctx, s.store, a, id)
}

func (s *Tenants) client(ctx context.Context, st broker.ClientStore, a Actor, id string) (broker.Client, error) {
	c, err := st.GetClient(ctx, id)
	if errors.Is(err, broker.ErrNotFound) || (err == nil && !a.sees(c.NamespaceID)) {
		return broker.Client{}, notFound("client " + id)
	}
	return c, err
}

// CreateClient registers a client and returns its secret, shown once. An
// actor limited to a namespace creates clients there only.
func (s *Tenants) CreateClient(ctx context.Context, a Actor, spec broker.ClientSpec) (broker.Client, string, error) {
	var c broker.Client
	var secret string
	err := s.audited(ctx, a, func(tx broker.Store, now time.Time) (broker.AuditEvent, error) {
		if a.NamespaceID != "" {
			own, err := tx.GetNamespace(ctx, a.NamespaceID)
			if err != nil {
				return broker.AuditEvent{}, err
			}
			if spec.Namespace == "" {
				spec.Namespace = own.Name
			}
			if spec.Namespace != own.Name {
				return broker.AuditEvent{}, broker.Forbidden("an admin of namespace "+own.Name+" creates clients there only", nil)
			}
		}
		var err error
		if c, secret, err = broker.CreateClient(ctx, tx, s.secrets, spec, now); err != nil {
			return broker.AuditEvent{}, invalid("", err)
		}
		return broker.AuditEvent{Type: broker.AuditClientCreate, NamespaceID: c.NamespaceID, Target: c.ID, Detail: c.Name}, nil
	})
	return c, secret, err
}

// UpdateClient changes a client; with ch.RotateSecret, the new secret is
// returned once and the old one stops working.
func (s *Tenants) UpdateClient(ctx context.Context, a Actor, id string, ch broker.ClientChange) (broker.Client, string, error) {
	var c broker.Client
	var secret string
	err := s.audited(ctx, a, func(tx broker.Store, now time.Time) (broker.AuditEvent, error) {
		if _, err := s.client(ctx, tx, a, id); err != nil {
			return broker.AuditEvent{}, err
		}
		var err error
		if c, secret, err = broker.UpdateClient(ctx, tx, s.secrets, id, ch, now); err != nil {
			return broker.AuditEvent{}, invalid("", err)
		}
		typ := broker.AuditClientUpdate
		if ch.RotateSecret {
			typ = broker.AuditClientSecret
		}
		return broker.AuditEvent{Type: typ, NamespaceID: c.NamespaceID, Target: c.ID}, nil
	})
	return c, secret, err
}

// DeleteClient deletes a client; its tokens stop verifying within the
// broker's client cache time.
func (s *Tenants) DeleteClient(ctx context.Context, a Actor, id string) error {
	return s.audited(ctx, a, func(tx broker.Store, _ time.Time) (broker.AuditEvent, error) {
		c, err := s.client(ctx, tx, a, id)
		if err != nil {
			return broker.AuditEvent{}, err
		}
		if err := tx.DeleteClient(ctx, id); err != nil {
			return broker.AuditEvent{}, err
		}
		return broker.AuditEvent{Type: broker.AuditClientDelete, NamespaceID: c.NamespaceID, Target: c.ID, Detail: c.Name}, nil
	})
}

// invalid turns the broker's plain validation errors (client settings,
// namespace names) into refusals the caller sees; refusals and store
// errors pass as they are.
func invalid(field string, err error) error {
	if broker.Refusal(err) != nil || broker.KindOf(err) != broker.KindInternal {
		return err
	}
	return broker.Invalid(field, err.Error())
}

// KeyState is a signing key as operators see it.
type KeyState struct {
	ID, Alg      string
	State        string // next (published, not signing yet), active, retired (still published), expired
	CreatedAt    time.Time
	ActivatesAt  time.Time // zero: signs from CreatedAt
	RetiredAt    time.Time // zero while active, or when an active key is scheduled to retire
	PublishUntil time.Time // zero while active
}

// Keys lists the signing keys, oldest first.
func (s *Tenants) Keys(ctx context.Context, a Actor) ([]KeyState, error) {
	if err := a.everywhere("listing signing keys"); err != nil {
		return nil, err
	}
	all, err := s.store.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := make([]KeyState, 0, len(all))
	for _, k := range all {
		out = append(out, keyState(k, now))
	}
	return out, nil
}

func keyState(k keys.SigningKey, now time.Time) KeyState {
	st := KeyState{ID: k.ID, Alg: k.Alg, CreatedAt: k.CreatedAt, ActivatesAt: k.ActivatesAt, RetiredAt: k.RetiredAt, PublishUntil: k.PublishUntil}
	switch {
	case k.SignsFrom().After(now) && (k.RetiredAt.IsZero() || k.RetiredAt.After(now)):
		st.State = "next"
	case k.SignsAt(now):
		st.State = "active"
	case now.Before(k.PublishUntil):
		st.State = "retired"
	default:
		st.State = "expired"
	}
	return st
}

// RotateKey makes a new active key of alg; the retired ones stay
// published for publishFor, which must outlast every access token they
// signed: 0 is the longest access-token lifetime of any client, and a
// minute.
func (s *Tenants) RotateKey(ctx context.Context, a Actor, alg string, publishFor time.Duration) (KeyState, error) {
	if err := a.everywhere("rotating the signing key"); err != nil {
		return KeyState{}, err
	}
	var k keys.SigningKey
	err := s.audited(ctx, a, func(tx broker.Store, now time.Time) (broker.AuditEvent, error) {
		var err error
		if publishFor == 0 {
			if publishFor, err = broker.LongestAccessTTL(ctx, tx); err != nil {
				return broker.AuditEvent{}, err
			}
		}
		if k, err = broker.Rotate(ctx, tx, s.secrets, alg, publishFor, now); err != nil {
			return broker.AuditEvent{}, invalid("", err)
		}
		return broker.AuditEvent{Type: broker.AuditKeyRotate, Target: k.ID, Detail: k.Alg}, nil
	})
	return keyState(k, s.now()), err
}
