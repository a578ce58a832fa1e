package sqlstore

import (
	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/keys"
)

// RefreshTokenColumns are the columns of refresh_tokens, in
// RefreshTokenArgs's and ScanRefreshToken's order.
const RefreshTokenColumns = `hash, family_id, client_id, user_id, namespace_id, scope, time_offset,
	resource, jkt, created_at, expires_at, spent_at`

// RefreshTokenArgs are the arguments of an INSERT of RefreshTokenColumns.
func (c Codec) RefreshTokenArgs(t broker.RefreshToken) []any {
	return []any{t.Hash, t.FamilyID, t.ClientID, t.UserID, t.NamespaceID, t.Scope, t.TimeOffset,
		t.Resource, t.JKT, c.Times.Arg(t.CreatedAt), c.Times.Arg(t.ExpiresAt), c.nullTime(t.SpentAt)}
}

// ScanRefreshToken reads a row of RefreshTokenColumns followed by one
// boolean column: whether the token's family is revoked.
func (c Codec) ScanRefreshToken(row Row) (broker.RefreshToken, error) {
	var t broker.RefreshToken
	err := row.Scan(&t.Hash, &t.FamilyID, &t.ClientID, &t.UserID, &t.NamespaceID, &t.Scope, &t.TimeOffset,
		&t.Resource, &t.JKT, c.Times.Dest(&t.CreatedAt), c.Times.Dest(&t.ExpiresAt), c.Times.NullDest(&t.SpentAt), &t.FamilyRevoked)
	if err != nil {
		return broker.RefreshToken{}, err
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
