package sqlite

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
	_, err := s.w.ExecContext(ctx, `INSERT INTO device_codes (`+sqlstore.DeviceCodeColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, codec.DeviceCodeArgs(d)...)
	return wrap("create device code", err)
}

// GetDeviceCode implements broker.DeviceStore.
func (s authRows) GetDeviceCode(ctx context.Context, deviceHash []byte) (broker.DeviceCode, error) {
	d, err := codec.ScanDeviceCode(s.r.QueryRowContext(ctx, `SELECT `+sqlstore.DeviceCodeColumns+`
		FROM device_codes WHERE device_hash = ?`, deviceHash))
	return d, wrap("get device code", err)
}

// GetDeviceCodeByUser implements broker.DeviceStore.
func (s authRows) GetDeviceCodeByUser(ctx context.Context, userHash []byte) (broker.DeviceCode, error) {
	d, err := codec.ScanDeviceCode(s.r.QueryRowContext(ctx, `SELECT `+sqlstore.DeviceCodeColumns+`
		FROM device_codes WHERE user_hash = ?`, userHash))
	return d, wrap("get device code by user code", err)
}

// PollDeviceCode implements broker.DeviceStore.
func (s authRows) PollDeviceCode(ctx context.Context, deviceHash []byte, now time.Time, interval time.Duration) error {
	res, err := s.w.ExecContext(ctx, `UPDATE device_codes SET last_poll_at = ?, interval_ms = ? WHERE device_hash = ?`,
		ms(now), interval.Milliseconds(), deviceHash)
	return affectedOne("poll device code", res, err)
}

// DecideDeviceCode implements broker.DeviceStore: the conditional UPDATE
// lets one decision through.
func (s authRows) DecideDeviceCode(ctx context.Context, userHash []byte, status, userID string, authTime, now time.Time) error {
	res, err := s.w.ExecContext(ctx, `UPDATE device_codes SET status = ?, user_id = ?, auth_time = ?
		WHERE user_hash = ? AND status = 'pending' AND expires_at > ?`, status, userID, ms(authTime), userHash, ms(now))
	return affectedOne("decide device code", res, err)
}

// IssueDeviceCode implements broker.DeviceStore: of concurrent polls of an
// approved code, the first spends it and the others update nothing.
func (s authRows) IssueDeviceCode(ctx context.Context, deviceHash []byte) error {
	res, err := s.w.ExecContext(ctx, `UPDATE device_codes SET status = 'issued' WHERE device_hash = ? AND status = 'approved'`, deviceHash)
	return affectedOne("issue device code", res, err)
}
