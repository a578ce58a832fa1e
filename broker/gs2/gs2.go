package gs2

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// GS2-Auth bounds.
const (
	MaxGS2UserIDLen = 128
	MaxTimeOffset   = 315360000 // seconds: ten years
	// TimeOffsetTokenTTL is the life of a time-offset token (GS2-Auth).
	TimeOffsetTokenTTL = time.Hour
)

// Minter is what the services need of the core to issue a token.
type Minter interface {
	AccessToken(c broker.Client, userID string, timeOffset int, extend func(*broker.AccessClaims) any) (broker.Token, error)
}

// Deriver derives keyed values from the key-encryption key
// (keys.Secrets): the HMACs of signed bodies and time-offset tokens.
type Deriver interface {
	Derive(purpose, id string) string
}

// Users is what the services read and write of the core's users.
type Users interface {
	CreateUser(ctx context.Context, u broker.User) error
	GetUser(ctx context.Context, id string) (broker.User, error)
}

// ErrUserElsewhere refuses a user ID taken in another namespace. User IDs
// are global: a token's sub is its user ID, which must name one player per
// issuer (OIDC Core §2), whatever the namespace. The answer says only that
// the ID cannot be had, nothing of the namespace or player holding it.
var ErrUserElsewhere = &broker.Error{Kind: broker.KindConflict, Field: "userId", Description: "userId is not available"}

// CheckGS2UserID refuses a GS2 user ID (named field in the request) that is
// missing, too long, or holds control characters, with GS2's reason words.
func CheckGS2UserID(field, userID string) error {
	switch {
	case userID == "":
		return broker.InvalidBecause(field, "required", field+" is required")
	case utf8.RuneCountInString(userID) > MaxGS2UserIDLen:
		return broker.InvalidBecause(field, "tooLong", fmt.Sprintf("%s must be at most %d characters", field, MaxGS2UserIDLen))
	case !broker.ValidIdentifier(userID, MaxGS2UserIDLen):
		return broker.Invalid(field, field+" must be UTF-8 without control characters")
	case strings.TrimSpace(userID) == "":
		return broker.Invalid(field, field+" must not be blank")
	case userID == "me":
		// The takeover paths read "me" as the player of the access token.
		return broker.InvalidBecause(field, "reserved", field+" \"me\" names the caller in GS2's paths")
	case strings.Contains(userID, "/") || userID == "." || userID == "..":
		// GS2's paths name the user: these would make a path that is not
		// canonical, which is refused.
		return broker.Invalid(field, field+" must not contain '/' nor be '.' or '..'")
	}
	return nil
}

// issuer mints GS2 access tokens, which login, federation and
// loginBySignature share: the user is created in the client's namespace on
// first sight and must not be banned, and the token has no refresh token,
// as GS2's.
type issuer struct {
	users Users
	bans  broker.BanChecker
	core  Minter
	now   func() time.Time
}

// token issues the token; extend, when not nil, adds claims (as in
// broker.Broker.AccessToken).
func (i issuer) token(ctx context.Context, c broker.Client, userID string, timeOffset int, extend func(*broker.AccessClaims) any) (broker.Token, error) {
	if err := i.ensureUser(ctx, c.NamespaceID, userID); err != nil {
		return broker.Token{}, err
	}
	if err := broker.CheckBan(ctx, i.bans, userID, i.now()); err != nil {
		return broker.Token{}, err
	}
	return i.core.AccessToken(c, userID, timeOffset, extend)
}

// ensureUser creates the user with that ID in the namespace unless it
// exists there; a user of that ID in another namespace is a conflict.
func (i issuer) ensureUser(ctx context.Context, namespaceID, userID string) error {
	err := i.users.CreateUser(ctx, broker.User{ID: userID, NamespaceID: namespaceID, CreatedAt: i.now()})
	if err == nil {
		return nil
	}
	if !errors.Is(err, broker.ErrAlreadyExists) {
		return fmt.Errorf("create user: %w", err)
	}
	u, err := i.users.GetUser(ctx, userID)
	if err != nil {
		return fmt.Errorf("get user: %w", err)
	}
	if u.NamespaceID != namespaceID {
		return ErrUserElsewhere
	}
	return nil
}
