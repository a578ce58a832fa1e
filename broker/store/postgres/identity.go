package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/store/internal/sqlstore"
)

// identities is the part of the Store that keeps namespaces, clients, users and takeover links.
type identities struct{ *conn }

// CreateNamespace implements broker.NamespaceStore.
func (s identities) CreateNamespace(ctx context.Context, ns broker.Namespace) error {
	_, err := s.q.Exec(ctx, `INSERT INTO namespaces (`+sqlstore.NamespaceColumns+`) VALUES ($1, $2, $3)`,
		codec.NamespaceArgs(ns)...)
	return wrap("create namespace", err)
}

// GetNamespace implements broker.NamespaceStore.
func (s identities) GetNamespace(ctx context.Context, id string) (broker.Namespace, error) {
	return s.getNamespace(ctx, "get namespace", `SELECT `+sqlstore.NamespaceColumns+` FROM namespaces WHERE id = $1`, id)
}

// GetNamespaceByName implements broker.NamespaceStore.
func (s identities) GetNamespaceByName(ctx context.Context, name string) (broker.Namespace, error) {
	return s.getNamespace(ctx, "get namespace by name", `SELECT `+sqlstore.NamespaceColumns+` FROM namespaces WHERE name = $1`, name)
}

func (s identities) getNamespace(ctx context.Context, op, query string, arg any) (broker.Namespace, error) {
	ns, err := codec.ScanNamespace(s.q.QueryRow(ctx, query, arg))
	if err != nil {
		return broker.Namespace{}, wrap(op, err)
	}
	return ns, nil
}

// CreateClient implements broker.ClientStore.
func (s identities) CreateClient(ctx context.Context, c broker.Client) error {
	args, err := codec.ClientArgs(c)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	_, err = s.q.Exec(ctx, `INSERT INTO clients (`+sqlstore.ClientColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)`, args...)
	return wrap("create client", err)
}

// GetClient implements broker.ClientStore.
func (s identities) GetClient(ctx context.Context, id string) (broker.Client, error) {
	c, err := codec.ScanClient(s.q.QueryRow(ctx, `SELECT `+sqlstore.ClientColumns+` FROM clients WHERE id = $1`, id))
	if err != nil {
		return broker.Client{}, wrap("get client", err)
	}
	return c, nil
}

// ListClients implements broker.ClientStore.
func (s identities) ListClients(ctx context.Context) ([]broker.Client, error) {
	rows, err := s.q.Query(ctx, `SELECT `+sqlstore.ClientColumns+` FROM clients ORDER BY created_at, id`)
	if err != nil {
		return nil, wrap("list clients", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (broker.Client, error) { return codec.ScanClient(row) })
	return out, wrap("list clients", err)
}

// UpdateClient implements broker.ClientStore. It rewrites every field except
// ID, NamespaceID and CreatedAt: a client never changes tenant, and its
// creation time orders ListClients.
func (s identities) UpdateClient(ctx context.Context, c broker.Client) error {
	grants, scopes, uris, resources, err := sqlstore.ClientLists(c)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	tag, err := s.q.Exec(ctx, `UPDATE clients SET name = $2, secret_hash = $3, public = $4,
		grants = $5, scopes = $6, redirect_uris = $7, access_ttl_ms = $8, refresh_ttl_ms = $9,
		custom_id_slot = $10, rate_limit = $11, no_create_users = $12, jwks = $13, jwks_uri = $14,
		require_dpop = $15, resources = $16, updated_at = $17 WHERE id = $1`,
		c.ID, c.Name, c.SecretHash, c.Public, grants, scopes, uris,
		c.AccessTTL.Milliseconds(), c.RefreshTTL.Milliseconds(), c.CustomIDSlot, c.RateLimit, c.NoCreateUsers,
		c.JWKS, c.JWKSURI, c.RequireDPoP, resources, c.UpdatedAt)
	return affectedOne("update client", tag, err)
}

// DeleteClient implements broker.ClientStore.
func (s identities) DeleteClient(ctx context.Context, id string) error {
	tag, err := s.q.Exec(ctx, `DELETE FROM clients WHERE id = $1`, id)
	return affectedOne("delete client", tag, err)
}

// CreateUser implements broker.UserStore.
func (s identities) CreateUser(ctx context.Context, u broker.User) error {
	_, err := s.q.Exec(ctx, `INSERT INTO users (id, namespace_id, created_at) VALUES ($1, $2, $3)`,
		codec.UserArgs(u)...)
	return wrap("create user", err)
}

// GetUser implements broker.UserStore.
func (s identities) GetUser(ctx context.Context, id string) (broker.User, error) {
	u, err := codec.ScanUser(s.q.QueryRow(ctx, `SELECT `+sqlstore.UserColumns+` FROM users WHERE id = $1`, id))
	if err != nil {
		return broker.User{}, wrap("get user", err)
	}
	return u, nil
}

// SetNickname implements broker.UserStore.
func (s identities) SetNickname(ctx context.Context, userID, nickname string) error {
	tag, err := s.q.Exec(ctx, `UPDATE users SET nickname = $2 WHERE id = $1`, userID, nickname)
	return affectedOne("set nickname", tag, err)
}

// CreateLink implements broker.LinkStore; the primary key and the
// (user_id, slot) unique constraint give the two ErrAlreadyExists cases.
func (s identities) CreateLink(ctx context.Context, l broker.Link) error {
	_, err := s.q.Exec(ctx, `INSERT INTO takeover_links (`+sqlstore.LinkColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, 1)`,
		codec.LinkArgs(l)...)
	return wrap("create link", err)
}

// GetLink implements broker.LinkStore.
func (s identities) GetLink(ctx context.Context, namespaceID string, slot int, identifier string) (broker.Link, error) {
	l, err := codec.ScanLink(s.q.QueryRow(ctx, `SELECT `+sqlstore.LinkColumns+` FROM takeover_links
		WHERE namespace_id = $1 AND slot = $2 AND identifier = $3`, namespaceID, slot, identifier))
	if err != nil {
		return broker.Link{}, wrap("get link", err)
	}
	return l, nil
}

// ListLinks implements broker.LinkStore.
func (s identities) ListLinks(ctx context.Context, userID string) ([]broker.Link, error) {
	rows, err := s.q.Query(ctx, `SELECT `+sqlstore.LinkColumns+` FROM takeover_links
		WHERE user_id = $1 ORDER BY slot`, userID)
	if err != nil {
		return nil, wrap("list links", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (broker.Link, error) { return codec.ScanLink(row) })
	return out, wrap("list links", err)
}

// GetUserLink implements broker.LinkStore.
func (s identities) GetUserLink(ctx context.Context, userID string, slot int) (broker.Link, error) {
	l, err := codec.ScanLink(s.q.QueryRow(ctx, `SELECT `+sqlstore.LinkColumns+` FROM takeover_links
		WHERE user_id = $1 AND slot = $2`, userID, slot))
	if err != nil {
		return broker.Link{}, wrap("get user link", err)
	}
	return l, nil
}

// UpdateLinkPassword implements broker.LinkStore: the revision in the WHERE
// clause makes it a compare-and-swap.
func (s identities) UpdateLinkPassword(ctx context.Context, userID string, slot int, revision int64, hash []byte) (broker.Link, error) {
	l, err := codec.ScanLink(s.q.QueryRow(ctx, `UPDATE takeover_links SET password_hash = $4, revision = revision + 1
		WHERE user_id = $1 AND slot = $2 AND revision = $3 RETURNING `+sqlstore.LinkColumns, userID, slot, revision, hash))
	if err == nil || !errors.Is(err, pgx.ErrNoRows) {
		return l, wrap("update link password", err)
	}
	if _, gerr := s.GetUserLink(ctx, userID, slot); gerr == nil {
		return broker.Link{}, fmt.Errorf("postgres: update link password: revision %d is stale: %w", revision, broker.ErrConflict)
	}
	return broker.Link{}, wrap("update link password", err)
}

// deleteLinkSQL deletes the link in slot $2 unless it is the user's last way
// in (a GS2 account is one), and reports how many links the user had and whether one was in the slot.
// It must run after the user's row is locked, in a statement of its own: its
// snapshot then includes every delete that held the lock before.
const deleteLinkSQL = `WITH links AS (
	SELECT slot, identifier FROM takeover_links WHERE user_id = $1
), gone AS (
	DELETE FROM takeover_links
	WHERE user_id = $1 AND slot = $2 AND ($3 = '' OR identifier = $3)
	  AND ((SELECT count(*) FROM links) > 1 OR EXISTS (SELECT 1 FROM accounts WHERE user_id = $1))
	RETURNING 1
)
SELECT (SELECT count(*) FROM links), EXISTS (SELECT 1 FROM links WHERE slot = $2 AND ($3 = '' OR identifier = $3)),
	EXISTS (SELECT 1 FROM gone)`

// DeleteLink implements broker.LinkStore. Under READ COMMITTED, two deletes
// of a user's last two links could each count two and each delete one; so
// the user's row is locked first (FOR UPDATE), which queues deletes for one
// user, and the count is taken only once the lock is held.
func (s identities) DeleteLink(ctx context.Context, userID string, slot int, identifier string) error {
	return s.InTx(ctx, func(tx broker.Store) error {
		q := tx.(*Store).q
		var one int
		err := q.QueryRow(ctx, `SELECT 1 FROM users WHERE id = $1 FOR UPDATE`, userID).Scan(&one)
		if err != nil {
			return wrap("delete link: lock user", err)
		}
		var (
			links           int64
			inSlot, deleted bool
		)
		if err := q.QueryRow(ctx, deleteLinkSQL, userID, slot, identifier).Scan(&links, &inSlot, &deleted); err != nil {
			return wrap("delete link", err)
		}
		switch {
		case deleted:
			return nil
		case !inSlot:
			return fmt.Errorf("postgres: delete link: no link in slot %d: %w", slot, broker.ErrNotFound)
		default:
			return fmt.Errorf("postgres: delete link: slot %d holds the user's last link: %w", slot, broker.ErrLastLink)
		}
	})
}
