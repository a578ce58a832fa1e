package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/store/internal/sqlstore"
)

// identities is the part of the Store that keeps namespaces, clients, users and takeover links.
type identities struct{ *conn }

// CreateNamespace implements broker.NamespaceStore.
func (s identities) CreateNamespace(ctx context.Context, ns broker.Namespace) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO namespaces (`+sqlstore.NamespaceColumns+`) VALUES (?, ?, ?)`,
		codec.NamespaceArgs(ns)...)
	return wrap("create namespace", err)
}

// GetNamespace implements broker.NamespaceStore.
func (s identities) GetNamespace(ctx context.Context, id string) (broker.Namespace, error) {
	return s.getNamespace(ctx, "get namespace", `id = ?`, id)
}

// GetNamespaceByName implements broker.NamespaceStore.
func (s identities) GetNamespaceByName(ctx context.Context, name string) (broker.Namespace, error) {
	return s.getNamespace(ctx, "get namespace by name", `name = ?`, name)
}

func (s identities) getNamespace(ctx context.Context, op, where string, arg any) (broker.Namespace, error) {
	ns, err := codec.ScanNamespace(s.r.QueryRowContext(ctx, `SELECT `+sqlstore.NamespaceColumns+` FROM namespaces WHERE `+where, arg))
	if err != nil {
		return broker.Namespace{}, wrap(op, err)
	}
	return ns, nil
}

// CreateClient implements broker.ClientStore.
func (s identities) CreateClient(ctx context.Context, c broker.Client) error {
	args, err := codec.ClientArgs(c)
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO clients (`+sqlstore.ClientColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...)
	return wrap("create client", err)
}

// GetClient implements broker.ClientStore.
func (s identities) GetClient(ctx context.Context, id string) (broker.Client, error) {
	c, err := codec.ScanClient(s.r.QueryRowContext(ctx, `SELECT `+sqlstore.ClientColumns+` FROM clients WHERE id = ?`, id))
	if err != nil {
		return broker.Client{}, wrap("get client", err)
	}
	return c, nil
}

// ListClients implements broker.ClientStore.
func (s identities) ListClients(ctx context.Context) ([]broker.Client, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+sqlstore.ClientColumns+` FROM clients ORDER BY created_at, id`)
	if err != nil {
		return nil, wrap("list clients", err)
	}
	return collect(rows, "list clients", codec.ScanClient)
}

// UpdateClient implements broker.ClientStore. It rewrites every field except
// ID, NamespaceID and CreatedAt: a client never changes tenant, and its
// creation time orders ListClients.
func (s identities) UpdateClient(ctx context.Context, c broker.Client) error {
	grants, scopes, uris, resources, err := sqlstore.ClientLists(c)
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	res, err := s.w.ExecContext(ctx, `UPDATE clients SET name = ?, secret_hash = ?, public = ?,
		grants = ?, scopes = ?, redirect_uris = ?, access_ttl_ms = ?, refresh_ttl_ms = ?,
		custom_id_slot = ?, rate_limit = ?, no_create_users = ?, jwks = ?, jwks_uri = ?, require_dpop = ?,
		resources = ?, updated_at = ? WHERE id = ?`,
		c.Name, sqlstore.NullBytes(c.SecretHash), c.Public, grants, scopes, uris,
		c.AccessTTL.Milliseconds(), c.RefreshTTL.Milliseconds(), c.CustomIDSlot, c.RateLimit, c.NoCreateUsers,
		c.JWKS, c.JWKSURI, c.RequireDPoP, resources, ms(c.UpdatedAt), c.ID)
	return affectedOne("update client", res, err)
}

// DeleteClient implements broker.ClientStore.
func (s identities) DeleteClient(ctx context.Context, id string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM clients WHERE id = ?`, id)
	return affectedOne("delete client", res, err)
}

// CreateUser implements broker.UserStore.
func (s identities) CreateUser(ctx context.Context, u broker.User) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO users (id, namespace_id, created_at) VALUES (?, ?, ?)`,
		codec.UserArgs(u)...)
	return wrap("create user", err)
}

// GetUser implements broker.UserStore.
func (s identities) GetUser(ctx context.Context, id string) (broker.User, error) {
	u, err := codec.ScanUser(s.r.QueryRowContext(ctx, `SELECT `+sqlstore.UserColumns+` FROM users WHERE id = ?`, id))
	if err != nil {
		return broker.User{}, wrap("get user", err)
	}
	return u, nil
}

// SetNickname implements broker.UserStore.
func (s identities) SetNickname(ctx context.Context, userID, nickname string) error {
	res, err := s.w.ExecContext(ctx, `UPDATE users SET nickname = ? WHERE id = ?`, nickname, userID)
	return affectedOne("set nickname", res, err)
}

// CreateLink implements broker.LinkStore; the primary key and the
// (user_id, slot) unique constraint give the two ErrAlreadyExists cases.
func (s identities) CreateLink(ctx context.Context, l broker.Link) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO takeover_links (`+sqlstore.LinkColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, 1)`,
		codec.LinkArgs(l)...)
	return wrap("create link", err)
}

// GetLink implements broker.LinkStore.
func (s identities) GetLink(ctx context.Context, namespaceID string, slot int, identifier string) (broker.Link, error) {
	l, err := codec.ScanLink(s.r.QueryRowContext(ctx, `SELECT `+sqlstore.LinkColumns+` FROM takeover_links
		WHERE namespace_id = ? AND slot = ? AND identifier = ?`, namespaceID, slot, identifier))
	if err != nil {
		return broker.Link{}, wrap("get link", err)
	}
	return l, nil
}

// ListLinks implements broker.LinkStore.
func (s identities) ListLinks(ctx context.Context, userID string) ([]broker.Link, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+sqlstore.LinkColumns+` FROM takeover_links
		WHERE user_id = ? ORDER BY slot`, userID)
	if err != nil {
		return nil, wrap("list links", err)
	}
	return collect(rows, "list links", codec.ScanLink)
}

// GetUserLink implements broker.LinkStore.
func (s identities) GetUserLink(ctx context.Context, userID string, slot int) (broker.Link, error) {
	l, err := codec.ScanLink(s.r.QueryRowContext(ctx, `SELECT `+sqlstore.LinkColumns+` FROM takeover_links
		WHERE user_id = ? AND slot = ?`, userID, slot))
	if err != nil {
		return broker.Link{}, wrap("get user link", err)
	}
	return l, nil
}

// UpdateLinkPassword implements broker.LinkStore: the revision in the WHERE
// clause makes it a compare-and-swap.
func (s identities) UpdateLinkPassword(ctx context.Context, userID string, slot int, revision int64, hash []byte) (broker.Link, error) {
	var l broker.Link
	err := s.atomic(ctx, "update link password", func(q dbtx) error {
		var err error
		l, err = codec.ScanLink(q.QueryRowContext(ctx, `UPDATE takeover_links SET password_hash = ?, revision = revision + 1
			WHERE user_id = ? AND slot = ? AND revision = ? RETURNING `+sqlstore.LinkColumns, hash, userID, slot, revision))
		if !errors.Is(err, sql.ErrNoRows) {
			return wrap("update link password", err)
		}
		var one int
		if q.QueryRowContext(ctx, `SELECT 1 FROM takeover_links WHERE user_id = ? AND slot = ?`, userID, slot).Scan(&one) == nil {
			return fmt.Errorf("sqlite: update link password: revision %d is stale: %w", revision, broker.ErrConflict)
		}
		return wrap("update link password", err)
	})
	return l, err
}

// collect scans every row and closes rows.
func collect[T any](rows *sql.Rows, op string, scan func(sqlstore.Row) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, wrap(op, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err)
	}
	return out, nil
}

// DeleteLink implements broker.LinkStore; a GS2 account counts as a way in
// as a link does. The count and the delete run in
// one IMMEDIATE transaction (a savepoint inside InTx) on the single writer,
// so no other delete can come between them.
func (s identities) DeleteLink(ctx context.Context, userID string, slot int, identifier string) error {
	return s.atomic(ctx, "delete link", func(q dbtx) error {
		var links, inSlot int64
		err := q.QueryRowContext(ctx, `SELECT count(*) + EXISTS (SELECT 1 FROM accounts WHERE user_id = ?),
			count(*) FILTER (WHERE slot = ? AND (? = '' OR identifier = ?)) FROM takeover_links WHERE user_id = ?`,
			userID, slot, identifier, identifier, userID).Scan(&links, &inSlot)
		switch {
		case err != nil:
			return wrap("delete link: count", err)
		case inSlot == 0:
			return fmt.Errorf("sqlite: delete link: no link in slot %d: %w", slot, broker.ErrNotFound)
		case links <= 1:
			return fmt.Errorf("sqlite: delete link: slot %d holds the user's last link: %w", slot, broker.ErrLastLink)
		}
		res, err := q.ExecContext(ctx, `DELETE FROM takeover_links WHERE user_id = ? AND slot = ?`, userID, slot)
		return affectedOne("delete link", res, err)
	})
}
