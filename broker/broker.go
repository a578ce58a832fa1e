package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/bridgekeeper/bridgekeeper/broker/keys"
	"github.com/google/uuid"
)

// Defaults of a client's token lifetimes: GS2's one-hour access token and
// Mobage Connect's 90-day refresh token.
const (
	DefaultAccessTTL  = time.Hour
	DefaultRefreshTTL = 90 * 24 * time.Hour
	DefaultGrace      = 5 * time.Second
)

// Config is what the broker needs to know about its deployment.
type Config struct {
	Issuer string
	// RefreshGrace is how long a spent refresh token may be presented again
	// (a client retrying a lost response) and get the same successor back.
	RefreshGrace time.Duration
}

// Broker applies the rules: it authenticates clients, finds or creates users,
// issues and rotates tokens, and revokes them.
type Broker struct {
	cfg     Config
	store   Store
	secrets *keys.Secrets
	keys    *keys.Keyring
	clients *clientCache
	now     func() time.Time
	log     *slog.Logger
}

// New wires a broker; now is the clock (time.Now outside tests).
func New(cfg Config, store Store, secrets *keys.Secrets, keys *keys.Keyring, now func() time.Time, log *slog.Logger) *Broker {
	if cfg.RefreshGrace <= 0 {
		cfg.RefreshGrace = DefaultGrace
	}
	return &Broker{
		cfg: cfg, store: store, secrets: secrets, keys: keys, now: now, log: log,
		clients: newClientCache(store, now, clientCacheTTL),
	}
}

// Issuer is the broker's issuer URL.
func (b *Broker) Issuer() string { return b.cfg.Issuer }

// Keys is the broker's keyring.
func (b *Broker) Keys() *keys.Keyring { return b.keys }

// Ping reports whether the store answers.
func (b *Broker) Ping(ctx context.Context) error { return b.store.Ping(ctx) }

// Token is what a grant returns: RFC 6749 §5.1 plus GS2's userId and expire.
type Token struct {
	AccessToken  string
	ExpiresIn    int64 // seconds
	RefreshToken string
	Scope        string
	IDToken      string
	UserID       string
	Expire       time.Time // GS2 expire, sent as Unix milliseconds
	// IssuedTokenType is RFC 8693's issued_token_type, set by token
	// exchange only.
	IssuedTokenType string
	// TokenType is TokenTypeDPoP for a DPoP-bound access token, "" for
	// Bearer.
	TokenType string
}

// errClientAuth is the one answer to an unknown client and to a wrong
// secret: which of the two it was is for the log, not the caller.
var errClientAuth = Unauthenticated("client authentication failed", nil)

// AuthenticateClient checks a client's credentials. A public client presents
// no secret; a confidential one must present the right one. An unknown ID
// is refused as a wrong secret is, after the same work: the secret is
// hashed and compared against a hash that matches nothing.
func (b *Broker) AuthenticateClient(ctx context.Context, id, secret string) (Client, error) {
	c, err := Client{}, ErrNotFound
	if ValidIdentifier(id, maxClientIDLen) {
		c, err = b.clients.get(ctx, id)
	}
	switch {
	case errors.Is(err, ErrNotFound):
		b.secrets.CheckClientSecret(secret, nil)
		return Client{}, errClientAuth
	case err != nil:
		return Client{}, fmt.Errorf("authenticate client: %w", err)
	case c.Public && secret != "":
		return Client{}, Unauthenticated("public client must not present a secret", nil)
	case c.Public:
		return c, nil
	case !b.secrets.CheckClientSecret(secret, c.SecretHash) || secret == "":
		return Client{}, errClientAuth
	}
	return c, nil
}

// maxClientIDLen bounds a presented client_id; ours are 36-character UUIDs.
const maxClientIDLen = 128

// ValidIdentifier reports whether s is usable as an identifier: non-empty
// UTF-8 of at most maxRunes characters, without control characters (which
// PostgreSQL's text cannot always hold and no game ID needs).
func ValidIdentifier(s string, maxRunes int) bool {
	if s == "" || !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxRunes {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// ValidCustomID reports whether s may be a server custom ID: an
// identifier (ValidIdentifier) that is not blank and holds no Unicode
// format characters (zero-width spaces, direction overrides, byte-order
// marks), which make IDs that look alike in every log and console but name
// different players.
func ValidCustomID(s string) bool {
	return ValidIdentifier(s, MaxCustomIDLen) && strings.TrimSpace(s) != "" &&
		!strings.ContainsFunc(s, func(r rune) bool { return unicode.Is(unicode.Cf, r) })
}

// CustomIDRule says what ValidCustomID asks, for refusals.
var CustomIDRule = fmt.Sprintf("must be 1..%d characters of UTF-8, not blank, without control or format characters", MaxCustomIDLen)

// IssueClientToken issues a client_credentials access token: the client is
// the subject, and there is no refresh token (RFC 6749 §4.4.3).
func (b *Broker) IssueClientToken(ctx context.Context, c Client, scope []string, bind Binding) (Token, error) {
	now, granted := b.now(), strings.Join(scope, " ")
	at, err := b.keys.Sign(AccessClaims{
		Issuer: b.cfg.Issuer, Subject: c.ID, Audience: bind.audience(c),
		IssuedAt: NewNumericDate(now), Expiry: NewNumericDate(now.Add(c.AccessTTL)),
		ID: uuid.NewString(), ClientID: c.ID, Scope: granted, Namespace: c.NamespaceID,
		Confirmation: bind.confirmation(),
	})
	if err != nil {
		return Token{}, fmt.Errorf("client_credentials: %w", err)
	}
	return Token{AccessToken: at, ExpiresIn: int64(c.AccessTTL / time.Second), Scope: granted, TokenType: bind.tokenType()}, nil
}

// AccessToken signs an access token for userID issued to c now, without a
// refresh token: the GS2 logins and the Xsolla login mint theirs here,
// after their own checks. The claims carry c's scope and the GS2 time
// offset; extend, when not nil, may change them and returns what is signed
// (the claims, or a struct that embeds them).
func (b *Broker) AccessToken(c Client, userID string, timeOffset int, extend func(*AccessClaims) any) (Token, error) {
	now := b.now()
	exp := now.Add(c.AccessTTL)
	claims := AccessClaims{
		Issuer: b.cfg.Issuer, Subject: userID, Audience: c.ID,
		IssuedAt: NewNumericDate(now), Expiry: NewNumericDate(exp),
		ID: uuid.NewString(), ClientID: c.ID, Scope: strings.Join(c.Scopes, " "), Namespace: c.NamespaceID,
		UserID: userID, TimeOffset: &timeOffset,
	}
	var signed any = claims
	if extend != nil {
		signed = extend(&claims)
	}
	at, err := b.keys.Sign(signed)
	if err != nil {
		return Token{}, fmt.Errorf("sign access token: %w", err)
	}
	return Token{AccessToken: at, ExpiresIn: int64(c.AccessTTL / time.Second), UserID: userID, Expire: exp}, nil
}

// LoginByLink signs in the user behind the takeover link (client's namespace,
// slot, identifier), creating user and link on first sight, and issues an
// access token and the first refresh token of a new family. The subject is
// always the broker's user ID, never the identifier.
func (b *Broker) LoginByLink(ctx context.Context, c Client, slot int, identifier string, scope []string, bind Binding) (Token, error) {
	tok, _, err := b.loginByLink(ctx, c, slot, identifier, scope, bind, true)
	return tok, err
}

// ErrNoPlayer refuses a sign-in of an identity no player has, for a client
// that may not create players.
var ErrNoPlayer = &Error{Kind: KindNotFound, Field: "subject_token", Description: "no player has this identity"}

// loginByLink is LoginByLink; with create false an identity no player has
// is ErrNoPlayer. It also returns the stored refresh token.
func (b *Broker) loginByLink(ctx context.Context, c Client, slot int, identifier string, scope []string, bind Binding, create bool) (Token, RefreshToken, error) {
	rt, row := b.newFamily(c, strings.Join(scope, " "), bind)
	// A returning player: the token is created for the linked user in one
	// statement. Only a first login takes the slower path that creates.
	// The statement also refuses a banned user, who so takes the slow path
	// too and is refused there.
	stored, err := b.store.CreateRefreshTokenByLink(ctx, slot, identifier, row)
	if errors.Is(err, ErrNotFound) {
		if row.UserID, err = b.userForLink(ctx, c.NamespaceID, slot, identifier, create); err != nil {
			return Token{}, RefreshToken{}, err
		}
		if err := b.checkBan(ctx, b.store, row.UserID); err != nil {
			return Token{}, RefreshToken{}, err
		}
		stored, err = row, b.store.CreateRefreshToken(ctx, row)
	}
	if err != nil {
		return Token{}, RefreshToken{}, fmt.Errorf("store refresh token: %w", err)
	}
	tok, err := b.userToken(c, stored, rt, stored.Scope, uuid.NewString(), bind.JKT)
	return tok, stored, err
}

// userForLink is UserForLink, or with create false the linked user only.
func (b *Broker) userForLink(ctx context.Context, namespaceID string, slot int, identifier string, create bool) (string, error) {
	if create {
		return b.UserForLink(ctx, namespaceID, slot, identifier)
	}
	l, err := b.store.GetLink(ctx, namespaceID, slot, identifier)
	switch {
	case errors.Is(err, ErrNotFound):
		return "", ErrNoPlayer
	case err != nil:
		return "", fmt.Errorf("find link: %w", err)
	}
	return l.UserID, nil
}

// UserForLink finds the user linked as (namespace, slot, identifier) or
// creates the user and the link in one transaction. Of concurrent first
// logins one transaction wins; the losers read the winner's link, so one
// identity ends as one user.
func (b *Broker) UserForLink(ctx context.Context, namespaceID string, slot int, identifier string) (string, error) {
	l, err := b.store.GetLink(ctx, namespaceID, slot, identifier)
	if err == nil {
		return l.UserID, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return "", fmt.Errorf("find link: %w", err)
	}
	now := b.now()
	u := User{ID: uuid.NewString(), NamespaceID: namespaceID, CreatedAt: now}
	err = b.store.InTx(ctx, func(tx Store) error {
		if err := tx.CreateUser(ctx, u); err != nil {
			return err
		}
		return tx.CreateLink(ctx, Link{NamespaceID: namespaceID, Slot: slot, Identifier: identifier, UserID: u.ID, CreatedAt: now})
	})
	if errors.Is(err, ErrAlreadyExists) {
		l, err = b.store.GetLink(ctx, namespaceID, slot, identifier)
		if err != nil {
			return "", fmt.Errorf("find link after losing a race: %w", err)
		}
		return l.UserID, nil
	}
	if err != nil {
		return "", fmt.Errorf("create user and link: %w", err)
	}
	return u.ID, nil
}

// newFamily makes the first refresh token of a new family (the user is
// filled in by the caller). It is stored before any token is returned, so a
// client never holds a token the store lost. A public client's family is
// bound to the request's DPoP key (RFC 9449 §5): its tokens live on a
// player's device, where a stolen one must be useless; a confidential
// client's are bound to its authentication already.
func (b *Broker) newFamily(c Client, scope string, bind Binding) (string, RefreshToken) {
	now := b.now()
	rt, key := newFamilyToken(now)
	row := RefreshToken{
		Key: key, Hash: TokenHash(rt), FamilyID: b.secrets.FamilyID(key), ClientID: c.ID,
		NamespaceID: c.NamespaceID, Scope: scope, Resource: bind.Resource,
		CreatedAt: now, ExpiresAt: now.Add(c.RefreshTTL),
	}
	if c.Public {
		row.JKT = bind.JKT
	}
	return rt, row
}

// userToken signs the access token that accompanies refresh token row, for
// the family's resource, bound to the request's DPoP key jkt when not "".
func (b *Broker) userToken(c Client, row RefreshToken, rt, scope, jti, jkt string) (Token, error) {
	exp := row.CreatedAt.Add(c.AccessTTL)
	offset := row.TimeOffset
	bind := Binding{Resource: row.Resource, JKT: jkt}
	at, err := b.keys.Sign(AccessClaims{
		Issuer: b.cfg.Issuer, Subject: row.UserID, Audience: bind.audience(c),
		IssuedAt: NewNumericDate(row.CreatedAt), Expiry: NewNumericDate(exp),
		ID: jti, ClientID: c.ID, Scope: scope, Namespace: row.NamespaceID,
		SessionID: row.FamilyID, UserID: row.UserID, TimeOffset: &offset,
		Confirmation: bind.confirmation(),
	})
	if err != nil {
		return Token{}, fmt.Errorf("sign access token: %w", err)
	}
	return Token{
		AccessToken: at, ExpiresIn: int64(c.AccessTTL / time.Second), RefreshToken: rt,
		Scope: scope, UserID: row.UserID, Expire: exp, TokenType: bind.tokenType(),
	}, nil
}
