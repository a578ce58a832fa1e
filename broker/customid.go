package broker

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"
)

// The Xsolla-style server-side custom-ID login (POST
// /users/login/server_custom_id): a trusted game server vouches for its own
// player ID. The player is the one the server_custom_id grant signs in
// (the same takeover slot of the same client), so both surfaces share users.

// Xsolla's bounds.
const (
	MaxCustomIDLen     = 256
	MaxAttributeKeyLen = 256
	MaxNicknameLen     = 255
)

// CustomIDLogin is one custom-ID login request.
type CustomIDLogin struct {
	ServerCustomID string
	Attributes     []Attribute
	// Social, when set, is linked to the player: the platform's takeover
	// slot (configured) and the player's ID there.
	Social   *Link
	Nickname *string // nil keeps the stored one
	Payload  string  // returned as the payload claim
	// WithLogout ends every earlier session of the player.
	WithLogout bool
}

var attributeKey = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

// Validate reports the first rule the request breaks.
func (r CustomIDLogin) Validate() error {
	if !ValidIdentifier(r.ServerCustomID, MaxCustomIDLen) {
		return Invalid("server_custom_id", fmt.Sprintf("must be 1..%d characters without control characters", MaxCustomIDLen))
	}
	seen := make(map[string]bool, len(r.Attributes))
	for i, a := range r.Attributes {
		at := func(f string) string { return fmt.Sprintf("attributes[%d].%s", i, f) }
		switch {
		case !attributeKey.MatchString(a.Key) || len(a.Key) > MaxAttributeKeyLen:
			return Invalid(at("key"), fmt.Sprintf("must match [A-Za-z0-9_]+ and be at most %d characters", MaxAttributeKeyLen))
		case seen[a.Key]:
			return Invalid(at("key"), "is given twice")
		case a.Type != "client" && a.Type != "server":
			return Invalid(at("attr_type"), `must be "client" or "server"`)
		case a.Permission != "private" && a.Permission != "public":
			return Invalid(at("permission"), `must be "private" or "public"`)
		}
		seen[a.Key] = true
	}
	if r.Social != nil && !ValidIdentifier(r.Social.Identifier, MaxIdentifierLen) {
		return Invalid("social_profile.user_id", fmt.Sprintf("must be 1..%d characters without control characters", MaxIdentifierLen))
	}
	if r.Nickname != nil && *r.Nickname != "" && !ValidIdentifier(*r.Nickname, MaxNicknameLen) {
		return Invalid("user_profile.nickname", fmt.Sprintf("must be at most %d characters without control characters", MaxNicknameLen))
	}
	return nil
}

// ErrSocialLinked: the social identity belongs to another player, or the
// player has another identity of that platform.
var ErrSocialLinked = &Error{Kind: KindConflict, Field: "social_profile",
	Description: "the social profile is linked to another user, or the user to another profile of that platform"}

// customIDClaims are the access-token claims plus Xsolla's user-JWT ones.
type customIDClaims struct {
	AccessClaims
	Type           string `json:"type"` // "server_custom_id"
	ServerCustomID string `json:"server_custom_id"`
	Payload        string `json:"payload,omitempty"`
	Nickname       string `json:"nickname,omitempty"`
}

// LoginCustomID signs the player in for client c: the user is found or
// created through the client's custom-ID slot (one user under concurrent
// first logins), attributes are upserted (read_only ones keep their first
// value), the social profile is linked, and an access token is returned.
func (b *Broker) LoginCustomID(ctx context.Context, c Client, r CustomIDLogin) (Token, error) {
	if err := r.Validate(); err != nil {
		return Token{}, err
	}
	userID, err := b.UserForLink(ctx, c.NamespaceID, c.CustomIDSlot, r.ServerCustomID)
	if err != nil {
		return Token{}, err
	}
	if err := b.checkBan(ctx, b.store, userID); err != nil {
		return Token{}, err
	}
	if r.Social != nil {
		if err := b.linkSocial(ctx, c.NamespaceID, userID, *r.Social); err != nil {
			return Token{}, err
		}
	}
	now := b.now()
	if len(r.Attributes) > 0 {
		attrs := make([]Attribute, len(r.Attributes))
		for i, a := range r.Attributes {
			a.UpdatedAt = now
			attrs[i] = a
		}
		// One key order for every login, so that concurrent upserts of one
		// player's attributes take their row locks in the same order and
		// cannot deadlock.
		slices.SortFunc(attrs, func(a, b Attribute) int { return strings.Compare(a.Key, b.Key) })
		if err := b.store.PutAttributes(ctx, userID, attrs); err != nil {
			return Token{}, fmt.Errorf("store attributes: %w", err)
		}
	}
	nickname, err := b.nickname(ctx, userID, r.Nickname)
	if err != nil {
		return Token{}, err
	}
	jti := uuid.NewString()
	if r.WithLogout {
		if err := b.store.LogoutUser(ctx, userID, now, jti); err != nil {
			return Token{}, fmt.Errorf("logout: %w", err)
		}
	}
	exp := now.Add(c.AccessTTL)
	offset := 0
	at, err := b.keys.Sign(customIDClaims{
		AccessClaims: AccessClaims{
			Issuer: b.cfg.Issuer, Subject: userID, Audience: jwt.Audience{c.ID},
			IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(exp),
			ID: jti, ClientID: c.ID, Namespace: c.NamespaceID, UserID: userID, TimeOffset: &offset,
		},
		Type: "server_custom_id", ServerCustomID: r.ServerCustomID, Payload: r.Payload, Nickname: nickname,
	})
	if err != nil {
		return Token{}, fmt.Errorf("sign custom-ID token: %w", err)
	}
	return Token{AccessToken: at, ExpiresIn: int64(c.AccessTTL / time.Second), UserID: userID, Expire: exp}, nil
}

// linkSocial links the social identity to the user, unless it already is.
func (b *Broker) linkSocial(ctx context.Context, namespaceID, userID string, social Link) error {
	social.NamespaceID, social.UserID, social.CreatedAt = namespaceID, userID, b.now()
	err := b.store.CreateLink(ctx, social)
	if !errors.Is(err, ErrAlreadyExists) {
		return err
	}
	l, err := b.store.GetLink(ctx, namespaceID, social.Slot, social.Identifier)
	switch {
	case errors.Is(err, ErrNotFound) || (err == nil && l.UserID != userID):
		return ErrSocialLinked
	case err != nil:
		return fmt.Errorf("find social link: %w", err)
	}
	return nil
}

// nickname records a given nickname, or reads the stored one.
func (b *Broker) nickname(ctx context.Context, userID string, given *string) (string, error) {
	if given != nil {
		if err := b.store.SetNickname(ctx, userID, *given); err != nil {
			return "", fmt.Errorf("store nickname: %w", err)
		}
		return *given, nil
	}
	u, err := b.store.GetUser(ctx, userID)
	if err != nil {
		return "", fmt.Errorf("get user: %w", err)
	}
	return u.Nickname, nil
}

// Attributes are the user's attributes, for a server client of the
// user's namespace; a user of another namespace is ErrNotFound.
func (b *Broker) Attributes(ctx context.Context, c Client, userID string) ([]Attribute, error) {
	if err := userIn(ctx, b.store, c.NamespaceID, userID); err != nil {
		return nil, err
	}
	attrs, err := b.store.ListAttributes(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("list attributes: %w", err)
	}
	return attrs, nil
}
