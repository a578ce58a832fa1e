package sqlstore

import (
	"bytes"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/keys"
)

// RefreshTokenColumns are the columns of a family's row in refresh_tokens,
// in RefreshTokenArgs's and ScanRefreshToken's order. hash is the row's
// key (broker.RefreshToken.Key), cur the hash of its current token and prev
// that of the token cur replaced at spent_at.
const RefreshTokenColumns = `hash, cur, prev, family_id, client_id, user_id, namespace_id, scope,
	time_offset, resource, jkt, created_at, started_at, expires_at, spent_at`

// RefreshTokenArgs are the arguments of an INSERT of RefreshTokenColumns:
// the row of a new family whose current token is t.
func (c Codec) RefreshTokenArgs(t broker.RefreshToken) []any {
	return []any{t.Key, t.Hash, nil /* prev */, t.FamilyID, t.ClientID, t.UserID, t.NamespaceID, t.Scope,
		t.TimeOffset, t.Resource, t.JKT, c.Times.Arg(t.CreatedAt), c.Times.Arg(t.CreatedAt),
		c.Times.Arg(t.ExpiresAt), c.nullTime(t.SpentAt)}
}

// ScanRefreshToken reads a row of RefreshTokenColumns followed by one
// boolean column (whether the family is revoked) as the view of the token
// hash (broker.RefreshStore.GetRefreshToken): the current token, the one it
// replaced, spent at spent_at, or an older one, spent at the family's start.
// A token before cur was created at the family's start as far as anyone can
// tell: a family rotates past no logout, so the logout check needs no more.
func (c Codec) ScanRefreshToken(row Row, hash []byte) (broker.RefreshToken, error) {
	var t broker.RefreshToken
	var cur, prev []byte
	var started, spent time.Time
	err := row.Scan(&t.Key, &cur, &prev, &t.FamilyID, &t.ClientID, &t.UserID, &t.NamespaceID, &t.Scope,
		&t.TimeOffset, &t.Resource, &t.JKT, c.Times.Dest(&t.CreatedAt), c.Times.Dest(&started),
		c.Times.Dest(&t.ExpiresAt), c.Times.NullDest(&spent), &t.FamilyRevoked)
	if err != nil {
		return broker.RefreshToken{}, err
	}
	t.Hash = hash
	switch {
	case bytes.Equal(hash, cur):
	case bytes.Equal(hash, prev):
		t.CreatedAt, t.SpentAt = started, spent
	default:
		t.CreatedAt, t.SpentAt = started, started
	}
	return t, nil
}

// SigningKeyColumns are the columns of signing_keys, in SigningKeyArgs's and
// ScanSigningKey's order.
const SigningKeyColumns = `id, alg, sealed, created_at, retired_at, publish_until, activates_at`

// SigningKeyArgs are the arguments of an INSERT of SigningKeyColumns.
func (c Codec) SigningKeyArgs(k keys.SigningKey) []any {
	return []any{k.ID, k.Alg, k.Sealed, c.Times.Arg(k.CreatedAt), c.nullTime(k.RetiredAt), c.nullTime(k.PublishUntil), c.nullTime(k.ActivatesAt)}
}

// ScanSigningKey reads a row of SigningKeyColumns.
func (c Codec) ScanSigningKey(row Row) (keys.SigningKey, error) {
	var k keys.SigningKey
	err := row.Scan(&k.ID, &k.Alg, &k.Sealed,
		c.Times.Dest(&k.CreatedAt), c.Times.NullDest(&k.RetiredAt), c.Times.NullDest(&k.PublishUntil), c.Times.NullDest(&k.ActivatesAt))
	if err != nil {
		return keys.SigningKey{}, err
	}
	return k, nil
}
