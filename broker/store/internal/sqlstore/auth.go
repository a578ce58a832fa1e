package sqlstore

import (
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// AuthRequestColumns are the columns of auth_requests, in AuthRequestArgs's
// and ScanAuthRequest's order.
const AuthRequestColumns = `hash, client_id, namespace_id, redirect_uri, scope, state, code_challenge,
	nonce, provider, link_user_id, resource, device_code, created_at, expires_at`

// AuthRequestArgs are the arguments of an INSERT of AuthRequestColumns.
func (c Codec) AuthRequestArgs(r broker.AuthRequest) []any {
	return []any{r.Hash, r.ClientID, r.NamespaceID, r.RedirectURI, r.Scope, r.State, r.CodeChallenge,
		r.Nonce, r.Provider, r.LinkUserID, r.Resource, r.DeviceCode, c.Times.Arg(r.CreatedAt), c.Times.Arg(r.ExpiresAt)}
}

// ScanAuthRequest reads a row of AuthRequestColumns.
func (c Codec) ScanAuthRequest(row Row) (broker.AuthRequest, error) {
	var r broker.AuthRequest
	err := row.Scan(&r.Hash, &r.ClientID, &r.NamespaceID, &r.RedirectURI, &r.Scope, &r.State, &r.CodeChallenge,
		&r.Nonce, &r.Provider, &r.LinkUserID, &r.Resource, &r.DeviceCode, c.Times.Dest(&r.CreatedAt), c.Times.Dest(&r.ExpiresAt))
	if err != nil {
		return broker.AuthRequest{}, err
	}
	return r, nil
}

// AuthCodeColumns are the columns of auth_codes, in AuthCodeArgs's and
// ScanAuthCode's order.
const AuthCodeColumns = `hash, client_id, namespace_id, user_id, redirect_uri, scope, nonce,
	code_challenge, auth_time, created_at, expires_at, used_at, family_id, resource`

// AuthCodeArgs are the arguments of an INSERT of AuthCodeColumns.
func (c Codec) AuthCodeArgs(ac broker.AuthCode) []any {
	return []any{ac.Hash, ac.ClientID, ac.NamespaceID, ac.UserID, ac.RedirectURI, ac.Scope, ac.Nonce,
		ac.CodeChallenge, c.Times.Arg(ac.AuthTime), c.Times.Arg(ac.CreatedAt), c.Times.Arg(ac.ExpiresAt),
		c.nullTime(ac.UsedAt), ac.FamilyID, ac.Resource}
}

// ScanAuthCode reads a row of AuthCodeColumns.
func (c Codec) ScanAuthCode(row Row) (broker.AuthCode, error) {
	var ac broker.AuthCode
	err := row.Scan(&ac.Hash, &ac.ClientID, &ac.NamespaceID, &ac.UserID, &ac.RedirectURI, &ac.Scope, &ac.Nonce,
		&ac.CodeChallenge, c.Times.Dest(&ac.AuthTime), c.Times.Dest(&ac.CreatedAt), c.Times.Dest(&ac.ExpiresAt),
		c.Times.NullDest(&ac.UsedAt), &ac.FamilyID, &ac.Resource)
	if err != nil {
		return broker.AuthCode{}, err
	}
	return ac, nil
}

// DeviceCodeColumns are the columns of device_codes, in DeviceCodeArgs's
// and ScanDeviceCode's order.
const DeviceCodeColumns = `device_hash, user_hash, client_id, namespace_id, scope, resource, status, user_id,
	auth_time, interval_ms, last_poll_at, created_at, expires_at`

// DeviceCodeArgs are the arguments of an INSERT of DeviceCodeColumns.
func (c Codec) DeviceCodeArgs(d broker.DeviceCode) []any {
	return []any{d.DeviceHash, d.UserHash, d.ClientID, d.NamespaceID, d.Scope, d.Resource, d.Status, d.UserID,
		c.nullTime(d.AuthTime), d.Interval.Milliseconds(), c.nullTime(d.LastPollAt), c.Times.Arg(d.CreatedAt), c.Times.Arg(d.ExpiresAt)}
}

// ScanDeviceCode reads a row of DeviceCodeColumns.
func (c Codec) ScanDeviceCode(row Row) (broker.DeviceCode, error) {
	var (
		d          broker.DeviceCode
		intervalMS int64
	)
	err := row.Scan(&d.DeviceHash, &d.UserHash, &d.ClientID, &d.NamespaceID, &d.Scope, &d.Resource, &d.Status, &d.UserID,
		c.Times.NullDest(&d.AuthTime), &intervalMS, c.Times.NullDest(&d.LastPollAt), c.Times.Dest(&d.CreatedAt), c.Times.Dest(&d.ExpiresAt))
	if err != nil {
		return broker.DeviceCode{}, err
	}
	d.Interval = time.Duration(intervalMS) * time.Millisecond
	return d, nil
}
