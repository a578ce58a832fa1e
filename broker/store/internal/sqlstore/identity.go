package sqlstore

import (
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// NamespaceColumns are the columns of namespaces, in NamespaceArgs's and
// ScanNamespace's order.
const NamespaceColumns = `id, name, created_at`

// NamespaceArgs are the arguments of an INSERT of NamespaceColumns.
func (c Codec) NamespaceArgs(ns broker.Namespace) []any {
	return []any{ns.ID, ns.Name, c.Times.Arg(ns.CreatedAt)}
}

// ScanNamespace reads a row of NamespaceColumns.
func (c Codec) ScanNamespace(row Row) (broker.Namespace, error) {
	var ns broker.Namespace
	if err := row.Scan(&ns.ID, &ns.Name, c.Times.Dest(&ns.CreatedAt)); err != nil {
		return broker.Namespace{}, err
	}
	return ns, nil
}

// ClientColumns are the columns of clients, in ClientArgs's and ScanClient's
// order. TTLs are kept in milliseconds, lists as JoinList writes them.
const ClientColumns = `id, namespace_id, name, secret_hash, public, grants, scopes, redirect_uris,
	access_ttl_ms, refresh_ttl_ms, custom_id_slot, rate_limit, no_create_users, jwks, jwks_uri, require_dpop,
	resources, created_at, updated_at`

// ClientArgs are the arguments of an INSERT of ClientColumns; the error is
// ClientLists's.
func (c Codec) ClientArgs(cl broker.Client) ([]any, error) {
	grants, scopes, uris, resources, err := ClientLists(cl)
	if err != nil {
		return nil, err
	}
	return []any{cl.ID, cl.NamespaceID, cl.Name, NullBytes(cl.SecretHash), cl.Public, grants, scopes, uris,
		cl.AccessTTL.Milliseconds(), cl.RefreshTTL.Milliseconds(), cl.CustomIDSlot, cl.RateLimit, cl.NoCreateUsers,
		cl.JWKS, cl.JWKSURI, cl.RequireDPoP, resources, c.Times.Arg(cl.CreatedAt), c.Times.Arg(cl.UpdatedAt)}, nil
}

// ScanClient reads a row of ClientColumns.
func (c Codec) ScanClient(row Row) (broker.Client, error) {
	var (
		cl                              broker.Client
		grants, scopes, uris, resources string
		accessMS, refreshMS             int64
	)
	err := row.Scan(&cl.ID, &cl.NamespaceID, &cl.Name, &cl.SecretHash, &cl.Public, &grants, &scopes, &uris,
		&accessMS, &refreshMS, &cl.CustomIDSlot, &cl.RateLimit, &cl.NoCreateUsers, &cl.JWKS, &cl.JWKSURI, &cl.RequireDPoP,
		&resources, c.Times.Dest(&cl.CreatedAt), c.Times.Dest(&cl.UpdatedAt))
	if err != nil {
		return broker.Client{}, err
	}
	cl.Grants, cl.Scopes, cl.RedirectURIs = SplitList(grants), SplitList(scopes), SplitList(uris)
	cl.Resources = SplitList(resources)
	cl.AccessTTL = time.Duration(accessMS) * time.Millisecond
	cl.RefreshTTL = time.Duration(refreshMS) * time.Millisecond
	return cl, nil
}

// UserColumns are the columns of users, in ScanUser's order; a new user has
// no nickname, so its INSERT names the first three.
const UserColumns = `id, namespace_id, created_at, nickname`

// UserArgs are the arguments of an INSERT of the first three UserColumns.
func (c Codec) UserArgs(u broker.User) []any {
	return []any{u.ID, u.NamespaceID, c.Times.Arg(u.CreatedAt)}
}

// ScanUser reads a row of UserColumns; a NULL nickname is "".
func (c Codec) ScanUser(row Row) (broker.User, error) {
	var (
		u        broker.User
		nickname *string
	)
	if err := row.Scan(&u.ID, &u.NamespaceID, c.Times.Dest(&u.CreatedAt), &nickname); err != nil {
		return broker.User{}, err
	}
	if nickname != nil {
		u.Nickname = *nickname
	}
	return u, nil
}

// LinkColumns are the columns of takeover_links, in ScanLink's order.
const LinkColumns = `namespace_id, slot, identifier, user_id, created_at, password_hash, revision`

// LinkArgs are the arguments of an INSERT of LinkColumns but the last: a new
// link's revision is 1, which the statement sets.
func (c Codec) LinkArgs(l broker.Link) []any {
	return []any{l.NamespaceID, l.Slot, l.Identifier, l.UserID, c.Times.Arg(l.CreatedAt), NullBytes(l.PasswordHash)}
}

// ScanLink reads a row of LinkColumns.
func (c Codec) ScanLink(row Row) (broker.Link, error) {
	var l broker.Link
	err := row.Scan(&l.NamespaceID, &l.Slot, &l.Identifier, &l.UserID, c.Times.Dest(&l.CreatedAt), &l.PasswordHash, &l.Revision)
	if err != nil {
		return broker.Link{}, err
	}
	return l, nil
}
