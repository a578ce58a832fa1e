package xsolla

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// Xsolla's bounds.
const (
	MaxAttributeKeyLen = 256
	MaxNicknameLen     = 255
)

// Core is what the service needs of the broker's core: the player behind
// a custom ID (found or created, as the server_custom_id grant does) and a
// signed access token.
type Core interface {
	UserForLink(ctx context.Context, namespaceID string, slot int, identifier string) (string, error)
	AccessToken(c broker.Client, userID string, timeOffset int, extend func(*broker.AccessClaims) any) (broker.Token, error)
	// RecordAudit records a social link and a with_logout sign-out in the
	// transaction that makes it.
	RecordAudit(ctx context.Context, tx broker.AuditStore, e broker.AuditEvent) error
}

// Store is what the service reads and writes beside the core.
type Store interface {
	broker.AttributeStore
	broker.BanChecker
	Profiles
	// InTx runs fn in one transaction (broker.Store's InTx): a logout and a
	// social link commit with their audit events.
	InTx(ctx context.Context, fn func(broker.Store) error) error
}

// Profiles is what the service reads and writes of a player's profile: the
// nickname and the social links.
type Profiles interface {
	GetUser(ctx context.Context, id string) (broker.User, error)
	SetNickname(ctx context.Context, userID, nickname string) error
	GetLink(ctx context.Context, namespaceID string, slot int, identifier string) (broker.Link, error)
}

// Service is the Xsolla-style server-side custom-ID login (POST
// /users/login/server_custom_id) and the attributes it keeps.
type Service struct {
	core  Core
	store Store
	bound broker.AttributeBound
	now   func() time.Time
}

// DefaultAttributeBound caps a player's attributes unless configured:
// a hundred, and 64 KiB of keys and values (one login body's worth).
var DefaultAttributeBound = broker.AttributeBound{Count: 100, Bytes: 64 << 10}

// New builds the service, whose players hold attributes within bound; now
// is the clock (time.Now outside tests).
func New(core Core, store Store, bound broker.AttributeBound, now func() time.Time) *Service {
	return &Service{core: core, store: store, bound: bound, now: now}
}

// CustomIDLogin is one custom-ID login request.
type CustomIDLogin struct {
	ServerCustomID string
	Attributes     []broker.Attribute
	// Social, when set, is linked to the player: the platform's takeover
	// slot (configured) and the player's ID there.
	Social   *broker.Link
	Nickname *string // nil keeps the stored one
	Payload  string  // returned as the payload claim
	// WithLogout ends every earlier session of the player.
	WithLogout bool
}

var attributeKey = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

// Validate reports the first rule the request breaks.
func (r CustomIDLogin) Validate() error {
	if !broker.ValidCustomID(r.ServerCustomID) {
		return broker.Invalid("server_custom_id", broker.CustomIDRule)
	}
	seen := make(map[string]bool, len(r.Attributes))
	for i, a := range r.Attributes {
		at := func(f string) string { return fmt.Sprintf("attributes[%d].%s", i, f) }
		switch {
		case !attributeKey.MatchString(a.Key) || len(a.Key) > MaxAttributeKeyLen:
			return broker.Invalid(at("key"), fmt.Sprintf("must match [A-Za-z0-9_]+ and be at most %d characters", MaxAttributeKeyLen))
		case seen[a.Key]:
			return broker.Invalid(at("key"), "is given twice")
		case a.Type != "client" && a.Type != "server":
			return broker.Invalid(at("attr_type"), `must be "client" or "server"`)
		case a.Permission != "private" && a.Permission != "public":
			return broker.Invalid(at("permission"), `must be "private" or "public"`)
		}
		seen[a.Key] = true
	}
	if r.Social != nil && !broker.ValidIdentifier(r.Social.Identifier, broker.MaxIdentifierLen) {
		return broker.Invalid("social_profile.user_id", fmt.Sprintf("must be 1..%d characters without control characters", broker.MaxIdentifierLen))
	}
	if r.Nickname != nil && *r.Nickname != "" && !broker.ValidIdentifier(*r.Nickname, MaxNicknameLen) {
		return broker.Invalid("user_profile.nickname", fmt.Sprintf("must be at most %d characters without control characters", MaxNicknameLen))
	}
	return nil
}

// ErrSocialLinked: the social identity belongs to another player, or the
// player has another identity of that platform.
var ErrSocialLinked = &broker.Error{Kind: broker.KindConflict, Field: "social_profile",
	Description: "the social profile is linked to another user, or the user to another profile of that platform"}

// customIDClaims are the access-token claims plus Xsolla's user-JWT ones.
type customIDClaims struct {
	broker.AccessClaims
	Type           string `json:"type"` // "server_custom_id"
	ServerCustomID string `json:"server_custom_id"`
	Payload        string `json:"payload,omitempty"`
	Nickname       string `json:"nickname,omitempty"`
}

// LoginCustomID signs the player in for client c: the user is found or
// created through the client's custom-ID slot (one user under concurrent
// first logins), attributes are upserted (read_only ones keep their first
// value), the social profile is linked, and an access token is returned.
func (s *Service) LoginCustomID(ctx context.Context, c broker.Client, r CustomIDLogin) (broker.Token, error) {
	if err := r.Validate(); err != nil {
		return broker.Token{}, err
	}
	userID, err := s.core.UserForLink(ctx, c.NamespaceID, c.CustomIDSlot, r.ServerCustomID)
	if err != nil {
		return broker.Token{}, err
	}
	if err := broker.CheckBan(ctx, s.store, userID, s.now()); err != nil {
		return broker.Token{}, err
	}
	if r.Social != nil {
		if err := s.linkSocial(ctx, c.NamespaceID, userID, *r.Social); err != nil {
			return broker.Token{}, err
		}
	}
	now := s.now()
	if len(r.Attributes) > 0 {
		attrs := make([]broker.Attribute, len(r.Attributes))
		for i, a := range r.Attributes {
			a.UpdatedAt = now
			attrs[i] = a
		}
		// One key order for every login, so that concurrent upserts of one
		// player's attributes take their row locks in the same order and
		// cannot deadlock.
		slices.SortFunc(attrs, func(a, b broker.Attribute) int { return strings.Compare(a.Key, b.Key) })
		if err := s.store.PutAttributes(ctx, userID, attrs, s.bound); err != nil {
			return broker.Token{}, fmt.Errorf("store attributes: %w", err)
		}
	}
	nickname, err := s.nickname(ctx, userID, r.Nickname)
	if err != nil {
		return broker.Token{}, err
	}
	var jti string
	tok, err := s.core.AccessToken(c, userID, 0, func(ac *broker.AccessClaims) any {
		jti, ac.Scope = ac.ID, ""
		return customIDClaims{AccessClaims: *ac, Type: "server_custom_id",
			ServerCustomID: r.ServerCustomID, Payload: r.Payload, Nickname: nickname}
	})
	if err != nil {
		return broker.Token{}, err
	}
	if r.WithLogout {
		err := s.store.InTx(ctx, func(tx broker.Store) error {
			if err := tx.LogoutUser(ctx, userID, now, jti); err != nil {
				return err
			}
			return s.core.RecordAudit(ctx, tx, broker.AuditEvent{Type: broker.AuditLogout, Actor: "client:" + c.ID,
				NamespaceID: c.NamespaceID, UserID: userID, Detail: "with_logout: earlier sessions ended"})
		})
		if err != nil {
			return broker.Token{}, fmt.Errorf("logout: %w", err)
		}
	}
	return tok, nil
}

// linkSocial links the social identity to the user, unless it already is.
func (s *Service) linkSocial(ctx context.Context, namespaceID, userID string, social broker.Link) error {
	social.NamespaceID, social.UserID, social.CreatedAt = namespaceID, userID, s.now()
	err := s.store.InTx(ctx, func(tx broker.Store) error {
		if err := tx.CreateLink(ctx, social); err != nil {
			return err
		}
		return s.core.RecordAudit(ctx, tx, broker.AuditEvent{Type: broker.AuditLink, Actor: "xsolla-login",
			NamespaceID: namespaceID, UserID: userID, Target: strconv.Itoa(social.Slot) + ":" + social.Identifier,
			Detail: "social_profile"})
	})
	if !errors.Is(err, broker.ErrAlreadyExists) {
		return err
	}
	l, err := s.store.GetLink(ctx, namespaceID, social.Slot, social.Identifier)
	switch {
	case errors.Is(err, broker.ErrNotFound) || (err == nil && l.UserID != userID):
		return ErrSocialLinked
	case err != nil:
		return fmt.Errorf("find social link: %w", err)
	}
	return nil
}

// nickname records a given nickname, or reads the stored one.
func (s *Service) nickname(ctx context.Context, userID string, given *string) (string, error) {
	if given != nil {
		if err := s.store.SetNickname(ctx, userID, *given); err != nil {
			return "", fmt.Errorf("store nickname: %w", err)
		}
		return *given, nil
	}
	u, err := s.store.GetUser(ctx, userID)
	if err != nil {
		return "", fmt.Errorf("get user: %w", err)
	}
	return u.Nickname, nil
}

// Attributes are the user's attributes, for a server client of the
// user's namespace; a user of another namespace is broker.ErrNotFound.
func (s *Service) Attributes(ctx context.Context, c broker.Client, userID string) ([]broker.Attribute, error) {
	if err := broker.UserIn(ctx, s.store, c.NamespaceID, userID); err != nil {
		return nil, err
	}
	attrs, err := s.store.ListAttributes(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("list attributes: %w", err)
	}
	return attrs, nil
}
