package broker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// The device authorization grant (RFC 8628): a console asks for a device
// code and a short user code, the player types the user code on a phone,
// signs in there and approves; the console polls the token endpoint with
// its device code until the tokens come.

const (
	// DeviceCodeTTL is how long a device code and its user code live.
	DeviceCodeTTL = 10 * time.Minute
	// DeviceInterval is how often a device may poll at first; each poll
	// that comes sooner adds DeviceSlowDown (RFC 8628 §3.5).
	DeviceInterval = 5 * time.Second
	DeviceSlowDown = 5 * time.Second
	// userCodeAlphabet is RFC 8628 §6.1's: consonants only, so that no
	// word is spelt and none is mistaken for a digit.
	userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"
	userCodeLen      = 8
	heldDevice       = "held device"
)

// Devices is the device authorization grant's service: starting a
// console's sign-in, the player's approval on a phone, and the console's
// polls. It works on the core's store, keys and clients.
type Devices struct{ b *Broker }

// NewDevices returns the device grant's service over the core b.
func NewDevices(b *Broker) *Devices { return &Devices{b} }

// DeviceAuthorization is RFC 8628 §3.2's answer, but the URIs, which the
// web layer knows.
type DeviceAuthorization struct {
	DeviceCode string
	UserCode   string // XXXX-XXXX
	ExpiresIn  time.Duration
	Interval   time.Duration
}

// The polling answers of RFC 8628 §3.5: refusals whose Reason is the
// error code.
var (
	ErrAuthorizationPending = &Error{Kind: KindInvalid, Field: "device_code", Reason: "authorization_pending", Description: "the player has not approved the sign-in yet"}
	ErrSlowDown             = &Error{Kind: KindInvalid, Field: "device_code", Reason: "slow_down", Description: "polling too fast; the interval grew by 5 seconds"}
	ErrDeviceDenied         = &Error{Kind: KindInvalid, Field: "device_code", Reason: "access_denied", Description: "the player denied the sign-in"}
	ErrDeviceExpired        = &Error{Kind: KindInvalid, Field: "device_code", Reason: "expired_token", Description: "the device code expired; start again"}
)

// DeviceReasons are the Reasons of the polling answers, each its RFC 8628
// error code.
var DeviceReasons = []string{"authorization_pending", "slow_down", "access_denied", "expired_token"}

// StartDevice issues a device code and a user code for client c, asking
// for scope and, when not "", resource (already checked).
func (s *Devices) StartDevice(ctx context.Context, c Client, scope []string, resource string) (DeviceAuthorization, error) {
	now := s.b.now()
	for range 3 {
		device, user := NewOpaqueToken("dc_"), newUserCode()
		err := s.b.store.CreateDeviceCode(ctx, DeviceCode{
			DeviceHash: TokenHash(device), UserHash: userCodeHash(user), ClientID: c.ID, NamespaceID: c.NamespaceID,
			Scope: strings.Join(scope, " "), Resource: resource, Status: DevicePending, Interval: DeviceInterval,
			CreatedAt: now, ExpiresAt: now.Add(DeviceCodeTTL),
		})
		if errors.Is(err, ErrAlreadyExists) {
			continue // a user code in use: 20^8 makes this rare, and three in a row rarer still
		}
		if err != nil {
			return DeviceAuthorization{}, fmt.Errorf("store device code: %w", err)
		}
		return DeviceAuthorization{DeviceCode: device, UserCode: FormatUserCode(user), ExpiresIn: DeviceCodeTTL, Interval: DeviceInterval}, nil
	}
	return DeviceAuthorization{}, errors.New("store device code: no free user code")
}

func newUserCode() string {
	b := make([]byte, userCodeLen)
	for i := range b {
		// rand.Text's alphabet is not ours; a byte below 240 (12 x 20) is
		// drawn uniformly.
		var x [1]byte
		for {
			rand.Read(x[:])
			if x[0] < 240 {
				break
			}
		}
		b[i] = userCodeAlphabet[int(x[0])%len(userCodeAlphabet)]
	}
	return string(b)
}

// NormalizeUserCode is what the player typed as a user code: case, dashes
// and spaces forgiven; ok false when it cannot be one.
func NormalizeUserCode(s string) (string, bool) {
	s = strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(s))
	if len(s) != userCodeLen || strings.Trim(s, userCodeAlphabet) != "" {
		return "", false
	}
	return s, true
}

// FormatUserCode shows a user code as XXXX-XXXX.
func FormatUserCode(code string) string { return code[:4] + "-" + code[4:] }

func userCodeHash(code string) []byte { return TokenHash("user code\x00" + code) }

// DeviceForUserCode finds the pending sign-in of what the player typed and
// its client. An unknown, malformed, decided or expired code is one answer,
// ErrNotFound, so that a guess learns nothing.
func (s *Devices) DeviceForUserCode(ctx context.Context, typed string) (DeviceCode, Client, error) {
	code, ok := NormalizeUserCode(typed)
	if !ok {
		return DeviceCode{}, Client{}, ErrNotFound
	}
	d, err := s.b.store.GetDeviceCodeByUser(ctx, userCodeHash(code))
	if err != nil {
		return DeviceCode{}, Client{}, err
	}
	if d.Status != DevicePending || !s.b.now().Before(d.ExpiresAt) {
		return DeviceCode{}, Client{}, ErrNotFound
	}
	c, err := s.b.clients.get(ctx, d.ClientID)
	if err != nil {
		return DeviceCode{}, Client{}, err
	}
	return d, c, nil
}

// StartDeviceLogin records the browser sign-in at provider of the player
// approving device sign-in d, and returns its ID (see StartAuthorization).
func (s *Devices) StartDeviceLogin(ctx context.Context, c Client, d DeviceCode, provider string) (string, error) {
	id := NewOpaqueToken("")
	now := s.b.now()
	err := s.b.store.CreateAuthRequest(ctx, AuthRequest{
		Hash: TokenHash(id), ClientID: c.ID, NamespaceID: c.NamespaceID, Scope: d.Scope, Resource: d.Resource,
		Provider: provider, DeviceCode: hex.EncodeToString(d.UserHash), CreatedAt: now, ExpiresAt: now.Add(AuthRequestTTL),
	})
	if err != nil {
		return "", fmt.Errorf("store authorization request: %w", err)
	}
	return id, nil
}

// HoldDevice holds the player signed in upstream as (slot, subject) for
// the device sign-in of req until they approve or deny it (TakeDevice),
// and returns the held request's ID and the player, created on first
// sight as every sign-in does.
func (s *Devices) HoldDevice(ctx context.Context, req AuthRequest, slot int, subject string) (string, User, error) {
	if req.DeviceCode == "" || !ValidIdentifier(subject, MaxIdentifierLen) {
		return "", User{}, errors.New("hold device sign-in: not a device request, or an unusable subject")
	}
	userID, err := s.b.UserForLink(ctx, req.NamespaceID, slot, subject)
	if err != nil {
		return "", User{}, err
	}
	u, err := s.b.store.GetUser(ctx, userID)
	if err != nil {
		return "", User{}, fmt.Errorf("find the player: %w", err)
	}
	id, err := s.b.hold(ctx, req, heldDevice, userID, PendingLinkTTL)
	return id, u, err
}

// DeviceConfirmToken is the anti-CSRF token of held device sign-in id.
func (s *Devices) DeviceConfirmToken(id string) string { return s.b.confirmToken(heldDevice, id) }

// ConfirmsDevice reports whether token is id's DeviceConfirmToken.
func (s *Devices) ConfirmsDevice(id, token string) bool { return s.b.confirms(heldDevice, id, token) }

// DecideDevice takes held device sign-in id and approves or denies it for
// its player: once, before the device code expires, else ErrNotFound.
func (s *Devices) DecideDevice(ctx context.Context, id string, approve bool) (AuthRequest, error) {
	req, userID, err := s.b.take(ctx, heldDevice, id)
	if err != nil {
		return AuthRequest{}, err
	}
	userHash, err := hex.DecodeString(req.DeviceCode)
	if err != nil {
		return AuthRequest{}, ErrNotFound
	}
	status := DeviceApproved
	if !approve {
		status, userID = DeviceDenied, ""
	}
	now := s.b.now()
	return req, s.b.store.DecideDeviceCode(ctx, userHash, status, userID, now, now)
}

// PollDevice is the device_code grant: c's device polls with deviceCode.
// Too soon after the last poll is ErrSlowDown (and the interval grows);
// then the code's state answers: pending, denied, expired, or approved,
// which issues the tokens (once: a later poll finds the code spent).
func (s *Devices) PollDevice(ctx context.Context, c Client, deviceCode string, bind Binding) (Token, error) {
	invalid := Unauthenticated("device_code is invalid", nil)
	if deviceCode == "" || len(deviceCode) > 128 {
		return Token{}, invalid
	}
	hash := TokenHash(deviceCode)
	d, err := s.b.store.GetDeviceCode(ctx, hash)
	switch {
	case errors.Is(err, ErrNotFound):
		return Token{}, invalid
	case err != nil:
		return Token{}, fmt.Errorf("get device code: %w", err)
	case d.ClientID != c.ID:
		return Token{}, invalid
	case d.Status == DeviceIssued:
		return Token{}, Unauthenticated("device_code was already used", nil)
	}
	now := s.b.now()
	if !now.Before(d.ExpiresAt) {
		return Token{}, ErrDeviceExpired
	}
	if bind.Resource != "" && bind.Resource != d.Resource {
		return Token{}, InvalidBecause("resource", ReasonTarget, "resource differs from the device authorization's")
	}
	interval := d.Interval
	slow := !d.LastPollAt.IsZero() && now.Sub(d.LastPollAt) < d.Interval
	if slow {
		interval += DeviceSlowDown
	}
	if err := s.b.store.PollDeviceCode(ctx, hash, now, interval); err != nil {
		return Token{}, fmt.Errorf("record poll: %w", err)
	}
	switch {
	case slow:
		return Token{}, ErrSlowDown
	case d.Status == DevicePending:
		return Token{}, ErrAuthorizationPending
	case d.Status == DeviceDenied:
		return Token{}, ErrDeviceDenied
	}
	return s.issueDevice(ctx, c, d, bind)
}

// issueDevice spends approved code d and issues its session's tokens in
// one transaction: of concurrent polls one gets them.
func (s *Devices) issueDevice(ctx context.Context, c Client, d DeviceCode, bind Binding) (Token, error) {
	rt, row := s.b.newFamily(c, d.Scope, Binding{Resource: d.Resource, JKT: bind.JKT})
	row.UserID = d.UserID
	err := s.b.commitRefusal(ctx, func(tx Store) error {
		if err := tx.IssueDeviceCode(ctx, d.DeviceHash); errors.Is(err, ErrNotFound) {
			return Unauthenticated("device_code was already used", nil)
		} else if err != nil {
			return fmt.Errorf("spend device code: %w", err)
		}
		if err := s.b.checkBan(ctx, tx, d.UserID); err != nil {
			return err
		}
		return tx.CreateRefreshToken(ctx, row)
	})
	if err != nil {
		return Token{}, err
	}
	tok, err := s.b.userToken(c, row, rt, d.Scope, uuid.NewString(), bind.JKT)
	if err == nil && slices.Contains(strings.Fields(d.Scope), "openid") {
		tok.IDToken, err = s.b.idToken(c, row, AuthCode{AuthTime: d.AuthTime})
	}
	return tok, err
}
