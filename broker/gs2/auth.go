package gs2

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// AuthStore is what Auth reads and writes.
type AuthStore interface {
	Users
	broker.BanChecker
	broker.PolicyStore
}

// Verifier verifies the core's access tokens.
type Verifier interface {
	VerifyAccess(ctx context.Context, token string) (broker.AccessClaims, error)
}

// Core is what Auth needs of the broker's core.
type Core interface {
	Minter
	Verifier
}

// Auth is GS2-Auth: a trusted server logs its players in by user ID,
// issues time-offset tokens, and federates one user as another.
type Auth struct {
	issuer
	store    AuthStore
	core     Core
	secrets  Deriver
	policies *policyCache
}

// NewAuth builds GS2-Auth; now is the clock (time.Now outside tests).
func NewAuth(store AuthStore, core Core, secrets Deriver, now func() time.Time) *Auth {
	return &Auth{
		issuer: issuer{users: store, bans: store, core: core, now: now},
		store:  store, core: core, secrets: secrets, policies: &policyCache{},
	}
}

// checkTimeOffset refuses a GS2 timeOffset outside 0..MaxTimeOffset.
func checkTimeOffset(timeOffset int) error {
	switch {
	case timeOffset < 0:
		return broker.InvalidBecause("timeOffset", "tooSmall", "timeOffset must be at least 0")
	case timeOffset > MaxTimeOffset:
		return broker.InvalidBecause("timeOffset", "tooLarge", fmt.Sprintf("timeOffset must be at most %d", MaxTimeOffset))
	}
	return nil
}

// checkUser is what every call naming a GS2 user and a time offset checks
// first.
func checkUser(userID string, timeOffset int) error {
	if err := CheckGS2UserID("userId", userID); err != nil {
		return err
	}
	return checkTimeOffset(timeOffset)
}

// ErrTimeOffsetToken: the time-offset token is tampered, expired, or bound
// to another user or namespace.
var ErrTimeOffsetToken = broker.Invalid("timeOffsetToken", "the time offset token is invalid, expired, or another user's")

// User names the player of a GS2 login-like call and its time offset: that
// of TimeOffsetToken when one is given (it must be issued for this user in
// the client's namespace, and wins over TimeOffset).
type User struct {
	UserID          string
	TimeOffset      int
	TimeOffsetToken string
}

// offset checks u and resolves its time offset in namespaceID.
func (a *Auth) offset(namespaceID string, u User) (int, error) {
	if err := checkUser(u.UserID, u.TimeOffset); err != nil {
		return 0, err
	}
	if u.TimeOffsetToken == "" {
		return u.TimeOffset, nil
	}
	return a.TimeOffsetFor(namespaceID, u.UserID, u.TimeOffsetToken)
}

// LoginUser is GS2-Auth's login: a trusted server (client c) names the user
// by ID. The user is created in c's namespace on first sight; an ID taken in
// another namespace is refused. The access token carries the GS2 timeOffset
// and has no refresh token, as GS2's.
func (a *Auth) LoginUser(ctx context.Context, c broker.Client, u User) (broker.Token, error) {
	offset, err := a.offset(c.NamespaceID, u)
	if err != nil {
		return broker.Token{}, err
	}
	return a.token(ctx, c, u.UserID, offset, nil)
}

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
func (a *Auth) IssueTimeOffsetToken(c broker.Client, userID string, timeOffset int) (string, time.Time, error) {
	if err := checkUser(userID, timeOffset); err != nil {
		return "", time.Time{}, err
	}
	exp := a.now().Add(TimeOffsetTokenTTL)
	body, err := json.Marshal(timeOffsetClaims{Namespace: c.NamespaceID, UserID: userID, TimeOffset: timeOffset, Expiry: exp.UnixMilli()})
	if err != nil {
		return "", time.Time{}, err
	}
	payload := base64.RawURLEncoding.EncodeToString(body)
	return "to_" + payload + "." + a.secrets.Derive("time offset token", payload), exp, nil
}

// TimeOffsetFor verifies a time-offset token for userID in the namespace
// and returns its offset.
func (a *Auth) TimeOffsetFor(namespaceID, userID, token string) (int, error) {
	payload, mac, ok := strings.Cut(strings.TrimPrefix(token, "to_"), ".")
	if !ok || len(token) > 2048 || !hmac.Equal([]byte(mac), []byte(a.secrets.Derive("time offset token", payload))) {
		return 0, ErrTimeOffsetToken
	}
	body, err := base64.RawURLEncoding.DecodeString(payload)
	var c timeOffsetClaims
	if err != nil || json.Unmarshal(body, &c) != nil {
		return 0, ErrTimeOffsetToken
	}
	if c.Namespace != namespaceID || c.UserID != userID || a.now().UnixMilli() >= c.Expiry {
		return 0, ErrTimeOffsetToken
	}
	return c.TimeOffset, nil
}
