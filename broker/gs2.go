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
	"unicode/utf8"
)

// GS2-Auth bounds.
const (
	MaxGS2UserIDLen = 128
	MaxTimeOffset   = 315360000 // seconds: ten years
	// TimeOffsetTokenTTL is the life of a time-offset token (GS2-Auth).
	TimeOffsetTokenTTL = time.Hour
)

// CheckGS2UserID refuses a GS2 user ID (named field in the request) that is
// missing, too long, or holds control characters, with GS2's reason words.
func CheckGS2UserID(field, userID string) error {
	switch {
	case userID == "":
		return InvalidBecause(field, "required", field+" is required")
	case utf8.RuneCountInString(userID) > MaxGS2UserIDLen:
		return InvalidBecause(field, "tooLong", fmt.Sprintf("%s must be at most %d characters", field, MaxGS2UserIDLen))
	case !ValidIdentifier(userID, MaxGS2UserIDLen):
		return Invalid(field, field+" must be UTF-8 without control characters")
	}
	return nil
}

// checkTimeOffset refuses a GS2 timeOffset outside 0..MaxTimeOffset.
func checkTimeOffset(timeOffset int) error {
	switch {
	case timeOffset < 0:
		return InvalidBecause("timeOffset", "tooSmall", "timeOffset must be at least 0")
	case timeOffset > MaxTimeOffset:
		return InvalidBecause("timeOffset", "tooLarge", fmt.Sprintf("timeOffset must be at most %d", MaxTimeOffset))
	}
	return nil
}

// checkGS2User is what every call naming a GS2 user and a time offset
// checks first.
func checkGS2User(userID string, timeOffset int) error {
	if err := CheckGS2UserID("userId", userID); err != nil {
		return err
	}
	return checkTimeOffset(timeOffset)
}

// ErrTimeOffsetToken: the time-offset token is tampered, expired, or bound
// to another user or namespace.
var ErrTimeOffsetToken = Invalid("timeOffsetToken", "the time offset token is invalid, expired, or another user's")

// GS2User names the player of a GS2 login-like call and its time offset:
// that of TimeOffsetToken when one is given (it must be issued for this
// user in the client's namespace, and wins over TimeOffset).
type GS2User struct {
	UserID          string
	TimeOffset      int
	TimeOffsetToken string
}

// offset checks u and resolves its time offset in namespaceID.
func (b *Broker) offset(namespaceID string, u GS2User) (int, error) {
	if err := checkGS2User(u.UserID, u.TimeOffset); err != nil {
		return 0, err
	}
	if u.TimeOffsetToken == "" {
		return u.TimeOffset, nil
	}
	return b.TimeOffsetFor(namespaceID, u.UserID, u.TimeOffsetToken)
}

// LoginUser is GS2-Auth's login: a trusted server (client c) names the user
// by ID. The user is created in c's namespace on first sight; an ID taken in
// another namespace is refused. The access token carries the GS2 timeOffset
// and has no refresh token, as GS2's.
func (b *Broker) LoginUser(ctx context.Context, c Client, u GS2User) (Token, error) {
	offset, err := b.offset(c.NamespaceID, u)
	if err != nil {
		return Token{}, err
	}
	return b.gs2Token(ctx, c, u.UserID, offset, nil)
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
		return ErrUserElsewhere
	}
	return nil
}

// ErrUserElsewhere refuses a user ID taken in another namespace.
var ErrUserElsewhere = &Error{Kind: KindConflict, Field: "userId", Description: "userId belongs to another namespace"}

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
	if err := checkGS2User(userID, timeOffset); err != nil {
		return "", time.Time{}, err
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
