package postgres

import (
	"context"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/store/internal/sqlstore"
)

// Device authorizations (RFC 8628) belong to the authRows part: they are
// authorization requests of another kind.

// CreateDeviceCode implements broker.DeviceStore.
func (s authRows) CreateDeviceCode(ctx context.Context, d broker.DeviceCode) error {
	_, err := s.q.Exec(ctx, `INSERT INTO device_codes (`+sqlstore.DeviceCodeColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`, codec.DeviceCodeArgs(d)...)
	return wrap("create device code", err)
}

// GetDeviceCode implements broker.DeviceStore.
func (s authRows) GetDeviceCode(ctx context.Context, deviceHash []byte) (broker.DeviceCode, error) {
	d, err := codec.ScanDeviceCode(s.q.QueryRow(ctx, `SELECT `+sqlstore.DeviceCodeColumns+`
		FROM device_codes WHERE device_hash = $1`, deviceHash))
	return d, wrap("get device code", err)
}

// GetDeviceCodeByUser implements broker.DeviceStore.
func (s authRows) GetDeviceCodeByUser(ctx context.Context, userHash []byte) (broker.DeviceCode, error) {
	d, err := codec.ScanDeviceCode(s.q.QueryRow(ctx, `SELECT `+sqlstore.DeviceCodeColumns+`
		FROM device_codes WHERE user_hash = $1`, userHash))
	return d, wrap("get device code by user code", err)
}

// PollDeviceCode implements broker.DeviceStore.
func (s authRows) PollDeviceCode(ctx context.Context, deviceHash []byte, now time.Time, interval time.Duration) error {
	tag, err := s.q.Exec(ctx, `UPDATE device_codes SET last_poll_at = $2, interval_ms = $3 WHERE device_hash = $1`,
		deviceHash, now, interval.Milliseconds())
	return affectedOne("poll device code", tag, err)
}

// DecideDeviceCode implements broker.DeviceStore: the conditional UPDATE
// lets one decision through.
func (s authRows) DecideDeviceCode(ctx context.Context, userHash []byte, status, userID string, authTime, now time.Time) error {
	tag, err := s.q.Exec(ctx, `UPDATE device_codes SET status = $2, user_id = $3, auth_time = $4
		WHERE user_hash = $1 AND status = 'pending' AND expires_at > $5`, userHash, status, userID, authTime, now)
	return affectedOne("decide device code", tag, err)
}

// IssueDeviceCode implements broker.DeviceStore: of concurrent polls of an
// approved code, the first spends it and the others update nothing.
func (s authRows) IssueDeviceCode(ctx context.Context, deviceHash []byte) error {
	tag, err := s.q.Exec(ctx, `UPDATE device_codes SET status = 'issued' WHERE device_hash = $1 AND status = 'approved'`, deviceHash)
	return affectedOne("issue device code", tag, err)
}
