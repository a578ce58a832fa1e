package broker

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// GS2-Auth bounds.
const (
	MaxGS2UserIDLen = 128
	MaxTimeOffset   = 315360000 // seconds: ten years
	// TimeOffsetTokenTTL is the life of a time-offset token (GS2-Auth).
	TimeOffsetTokenTTL = time.Hour
)

// ErrTimeOffsetToken: the time-offset token is tampered, expired, or bound
// to another user or namespace.
var ErrTimeOffsetToken = errors.New("time offset token is invalid")

// LoginUser is GS2-Auth's login: a trusted server (client c) names the user
// by ID. The user is created in c's namespace on first sight; an ID taken in
// another namespace is refused. The access token carries the GS2 timeOffset
// and has no refresh token, as GS2's.
func (b *Broker) LoginUser(ctx context.Context, c Client, userID string, timeOffset int) (Token, error) {
	return b.gs2Token(ctx, c, userID, timeOffset, nil)
}

// ensureUser creates the user with that ID in the namespace unless it
// exists there; a user of that ID in another namespace is a conflict.
func (b *Broker) ensureUser(ctx context.Context, namespaceID, userID string) error {
	err := b.store.CreateUser(ctx, User{ID: userID, NamespaceID: namespaceID, CreatedAt: b.now()})
	if err == nil {
		return nil
	}
	if !errors.Is(err, ErrAlreadyExists) {
		return fmt.Errorf("create user: %w", err)
	}
	u, err := b.store.GetUser(ctx, userID)
	if err != nil {
		return fmt.Errorf("get user: %w", err)
	}
	if u.NamespaceID != namespaceID {
		return newError(ErrUserElsewhere, "userId belongs to another namespace", nil)
	}
	return nil
}

// ErrUserElsewhere is the error code of a user ID taken in another namespace.
var ErrUserElsewhere = errors.New("conflict")

// timeOffsetClaims is the content of a time-offset token.
type timeOffsetClaims struct {
	Namespace  string `json:"ns"`
	UserID     string `json:"userId"`
	TimeOffset int    `json:"timeOffset"`
	Expiry     int64  `json:"exp"` // Unix ms
}

// IssueTimeOffsetToken is GS2-Auth's issueTimeOffsetTokenByUserId: a token,
// valid for an hour and bound to one user of c's namespace, that a later
// login presents to get access tokens with that timeOffset. It is opaque
// (base64url JSON + HMAC), so it can never pass for an access token.
func (b *Broker) IssueTimeOffsetToken(c Client, userID string, timeOffset int) (string, time.Time, error) {
	if !ValidIdentifier(userID, MaxGS2UserIDLen) {
		return "", time.Time{}, InvalidRequest(fmt.Sprintf("userId must be 1..%d characters", MaxGS2UserIDLen))
	}
	if timeOffset < 0 || timeOffset > MaxTimeOffset {
		return "", time.Time{}, InvalidRequest(fmt.Sprintf("timeOffset must be 0..%d", MaxTimeOffset))
	}
	exp := b.now().Add(TimeOffsetTokenTTL)
	body, err := json.Marshal(timeOffsetClaims{Namespace: c.NamespaceID, UserID: userID, TimeOffset: timeOffset, Expiry: exp.UnixMilli()})
	if err != nil {
		return "", time.Time{}, err
	}
	payload := base64.RawURLEncoding.EncodeToString(body)
	return "to_" + payload + "." + b.secrets.Derive("time offset token", payload), exp, nil
}

// TimeOffsetFor verifies a time-offset token for userID in the namespace
// and returns its offset.
func (b *Broker) TimeOffsetFor(namespaceID, userID, token string) (int, error) {
	payload, mac, ok := strings.Cut(strings.TrimPrefix(token, "to_"), ".")
	if !ok || len(token) > 2048 || !hmac.Equal([]byte(mac), []byte(b.secrets.Derive("time offset token", payload))) {
		return 0, ErrTimeOffsetToken
	}
	body, err := base64.RawURLEncoding.DecodeString(payload)
	var c timeOffsetClaims
	if err != nil || json.Unmarshal(body, &c) != nil {
		return 0, ErrTimeOffsetToken
	}
	if c.Namespace != namespaceID || c.UserID != userID || b.now().UnixMilli() >= c.Expiry {
		return 0, ErrTimeOffsetToken
	}
	return c.TimeOffset, nil
}
