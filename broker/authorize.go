package broker

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"
)

// Lifetimes of the authorization-code flow.
const (
	// AuthRequestTTL bounds the time a player may spend at the upstream.
	AuthRequestTTL = 10 * time.Minute
	// CodeTTL is the authorization code's life (RFC 6749 §4.1.2 recommends
	// at most ten minutes; game clients exchange at once).
	CodeTTL = 60 * time.Second
)

// ErrLinkConflict: the upstream identity is already linked to another user.
// It is never silently re-pointed.
var ErrLinkConflict = Conflict("this identity is already linked to another player", nil)

// Authorizations is the authorization-code flow through upstream
// providers (RFC 6749 §4.1, RFC 7636), and linking a signed-in player to
// another upstream identity the same way: requests waiting at the
// upstream, their completion, held links awaiting the player's
// confirmation, and the code's redemption. It works on the core's store,
// keys and users; takeover links themselves are the core's (Broker.Link).
type Authorizations struct{ b *Broker }

// NewAuthorizations returns the authorization-code flow's service over the
// core b.
func NewAuthorizations(b *Broker) *Authorizations { return &Authorizations{b} }

// AuthorizeRequest is an authorization request (RFC 6749 §4.1.1, RFC 7636
// §4.3) after its client and redirect_uri were found valid.
type AuthorizeRequest struct {
	ResponseType        string
	Scope               string
	State               string
	CodeChallenge       string
	CodeChallengeMethod string
	Nonce               string
	// Resource is the RFC 8707 resource the access tokens are for; "" for
	// the client itself.
	Resource string
}

// Client returns a registered client, or an error when there is none.
func (b *Broker) Client(ctx context.Context, id string) (Client, error) {
	if !ValidIdentifier(id, maxClientIDLen) {
		return Client{}, ErrNotFound
	}
	return b.clients.get(ctx, id)
}

// CheckRedirect enforces exact matching of a registered redirect URI
// (OAuth 2.0 Security BCP §4.1.1). A mismatch is never redirected to.
func CheckRedirect(c Client, redirectURI string) error {
	if redirectURI == "" || !slices.Contains(c.RedirectURIs, redirectURI) {
		return errors.New("redirect_uri is not registered for this client")
	}
	return nil
}

// ValidateAuthorize applies the rules whose violations are answered on the
// client's redirect_uri (RFC 6749 §4.1.2.1), and returns the granted scope.
func ValidateAuthorize(c Client, r AuthorizeRequest) ([]string, error) {
	if r.ResponseType != "code" {
		return nil, InvalidBecause("response_type", "unsupported", "response_type must be code")
	}
	if !slices.Contains(c.Grants, GrantAuthorizationCode) {
		return nil, Forbidden("the client is not allowed the authorization_code grant", nil)
	}
	switch {
	case r.CodeChallenge == "" && c.Public:
		return nil, Invalid("code_challenge", "PKCE is required: code_challenge with code_challenge_method=S256")
	case r.CodeChallenge == "" && r.CodeChallengeMethod != "":
		return nil, Invalid("code_challenge", "code_challenge_method without code_challenge")
	case r.CodeChallenge != "" && r.CodeChallengeMethod != "S256":
		// RFC 7636 §4.2 allows plain; OAuth 2.0 Security BCP §2.1.1 does not.
		return nil, Invalid("code_challenge_method", "code_challenge_method must be S256")
	case r.CodeChallenge != "" && !validChallenge(r.CodeChallenge):
		return nil, Invalid("code_challenge", "code_challenge must be 43 base64url characters (S256)")
	}
	if len(r.State) > 1024 || len(r.Nonce) > 1024 {
		return nil, Invalid("state", "state and nonce must be at most 1024 characters")
	}
	if err := CheckResource(c, r.Resource); err != nil {
		return nil, err
	}
	scope, err := ParseScope(r.Scope)
	if err != nil {
		return nil, err
	}
	for _, s := range scope {
		if !slices.Contains(c.Scopes, s) {
			return nil, Invalid("scope", "the requested scope is not allowed for this client")
		}
	}
	if scope == nil {
		scope = c.Scopes
	}
	return scope, nil
}

func validChallenge(s string) bool {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil && len(b) == sha256.Size
}

// StartAuthorization records a request waiting for the upstream and returns
// its ID, which travels as the upstream state; the upstream nonce and PKCE
// verifier are derived from it (UpstreamSecrets).
func (s *Authorizations) StartAuthorization(ctx context.Context, c Client, redirectURI string, scope []string, r AuthorizeRequest, provider, linkUserID string) (string, error) {
	id := NewOpaqueToken("")
	now := s.b.now()
	err := s.b.store.CreateAuthRequest(ctx, AuthRequest{
		Hash: TokenHash(id), ClientID: c.ID, NamespaceID: c.NamespaceID, RedirectURI: redirectURI,
		Scope: strings.Join(scope, " "), State: r.State, CodeChallenge: r.CodeChallenge, Nonce: r.Nonce,
		Provider: provider, LinkUserID: linkUserID, Resource: r.Resource, CreatedAt: now, ExpiresAt: now.Add(AuthRequestTTL),
	})
	if err != nil {
		return "", fmt.Errorf("store authorization request: %w", err)
	}
	return id, nil
}

// StartLink starts linking the provider whose takeover slot is slot to the
// signed-in user, for client c: redirectURI, when given, must be
// registered for c, and a user has one link per slot, so a taken slot is a
// conflict now, not after a trip to the upstream. It returns the request ID
// (see StartAuthorization).
func (s *Authorizations) StartLink(ctx context.Context, c Client, userID string, slot int, provider, redirectURI, state string) (string, error) {
	if redirectURI != "" && CheckRedirect(c, redirectURI) != nil {
		return "", Invalid("redirect_uri", "redirect_uri is not registered for this client")
	}
	ls, err := s.b.store.ListLinks(ctx, userID)
	if err != nil {
		return "", fmt.Errorf("list links: %w", err)
	}
	if slices.ContainsFunc(ls, func(l Link) bool { return l.Slot == slot }) {
		return "", Conflict("the player already has a link for this provider; remove it first", nil)
	}
	return s.StartAuthorization(ctx, c, redirectURI, nil, AuthorizeRequest{State: state}, provider, userID)
}

// UpstreamSecrets derives the nonce and PKCE verifier sent to the upstream
// for the request id.
func (s *Authorizations) UpstreamSecrets(id string) (nonce, verifier string) {
	return s.b.secrets.Derive("upstream nonce", id), s.b.secrets.Derive("upstream pkce", id)
}

// ResumeAuthorization consumes the request the upstream state names: a
// forged, replayed or stale state finds nothing.
func (s *Authorizations) ResumeAuthorization(ctx context.Context, id string) (AuthRequest, error) {
	if id == "" || len(id) > 128 {
		return AuthRequest{}, ErrNotFound
	}
	return s.b.store.ConsumeAuthRequest(ctx, TokenHash(id), s.b.now())
}

// ReissueAuthorization consumes a request and records the same request under
// a new ID, returned with it: a URL that carried the old ID is spent.
func (s *Authorizations) ReissueAuthorization(ctx context.Context, id string) (string, AuthRequest, error) {
	req, err := s.ResumeAuthorization(ctx, id)
	if err != nil {
		return "", AuthRequest{}, err
	}
	next := NewOpaqueToken("")
	req.Hash = TokenHash(next)
	if err := s.b.store.CreateAuthRequest(ctx, req); err != nil {
		return "", AuthRequest{}, fmt.Errorf("store authorization request: %w", err)
	}
	return next, req, nil
}

// CompleteLogin finds or creates the user behind (slot, subject) in the
// request's namespace and issues a single-use authorization code.
func (s *Authorizations) CompleteLogin(ctx context.Context, req AuthRequest, slot int, subject string, authTime time.Time) (string, error) {
	if !ValidIdentifier(subject, MaxIdentifierLen) {
		return "", fmt.Errorf("upstream subject is not a usable identifier")
	}
	userID, err := s.b.UserForLink(ctx, req.NamespaceID, slot, subject)
	if err != nil {
		return "", err
	}
	code := NewOpaqueToken("ac_")
	now := s.b.now()
	err = s.b.store.CreateCode(ctx, AuthCode{
		Hash: TokenHash(code), ClientID: req.ClientID, NamespaceID: req.NamespaceID, UserID: userID,
		RedirectURI: req.RedirectURI, Scope: req.Scope, Nonce: req.Nonce, CodeChallenge: req.CodeChallenge,
		AuthTime: authTime, CreatedAt: now, ExpiresAt: now.Add(CodeTTL), Resource: req.Resource,
	})
	if err != nil {
		return "", fmt.Errorf("store authorization code: %w", err)
	}
	return code, nil
}

// CompleteLink links (slot, subject) to the request's signed-in user (see
// Link).
func (s *Authorizations) CompleteLink(ctx context.Context, req AuthRequest, slot int, subject string) error {
	if !ValidIdentifier(subject, MaxIdentifierLen) {
		return fmt.Errorf("upstream subject is not a usable identifier")
	}
	return s.b.Link(ctx, req.NamespaceID, req.LinkUserID, slot, subject)
}

// PendingLinkTTL bounds the time a player may take to confirm a browser
// link after the upstream sign-in.
const PendingLinkTTL = 10 * time.Minute

// A browser link waits for the player's confirmation: whoever opens a link
// URL signs in upstream, so without it a player could send their own link
// URL to someone else and capture the identity that person signs in with.
// The held link is an auth request row, so that the store's atomic
// ConsumeAuthRequest and its expiry make it single-use and short-lived: it
// is the link request (namespace, user, provider, redirect_uri, state) with
// the upstream subject in Nonce (a link request has no client nonce, see
// StartLink), stored under the hash of its ID in a domain of its own, so
// that no held link is resumed as an authorization (ResumeAuthorization)
// nor an authorization taken as a held link.
const heldLink = "held link"

// heldHash is the stored hash of held request id of a domain.
func heldHash(domain, id string) []byte { return TokenHash(domain + "\x00" + id) }

// hold stores req, with value in its Nonce, under a new ID in domain for
// ttl, and returns the ID.
func (b *Broker) hold(ctx context.Context, req AuthRequest, domain, value string, ttl time.Duration) (string, error) {
	id := NewOpaqueToken("")
	now := b.now()
	req.Hash, req.Nonce, req.CreatedAt, req.ExpiresAt = heldHash(domain, id), value, now, now.Add(ttl)
	if err := b.store.CreateAuthRequest(ctx, req); err != nil {
		return "", fmt.Errorf("store held request: %w", err)
	}
	return id, nil
}

// take consumes held request id of domain: once, before it expires, else
// ErrNotFound. It returns the request and the value held with it.
func (b *Broker) take(ctx context.Context, domain, id string) (AuthRequest, string, error) {
	if id == "" || len(id) > 128 {
		return AuthRequest{}, "", ErrNotFound
	}
	req, err := b.store.ConsumeAuthRequest(ctx, heldHash(domain, id), b.now())
	if err != nil {
		return AuthRequest{}, "", err
	}
	value := req.Nonce
	req.Nonce = ""
	return req, value, nil
}

// HoldLink holds the link of subject, the identity signed in upstream for
// the link request req, until the player confirms it (TakeLink); it
// returns the held link's ID and the user it would link to.
func (s *Authorizations) HoldLink(ctx context.Context, req AuthRequest, subject string) (string, User, error) {
	if req.LinkUserID == "" {
		return "", User{}, errors.New("hold link: not a link request")
	}
	if !ValidIdentifier(subject, MaxIdentifierLen) {
		return "", User{}, fmt.Errorf("upstream subject is not a usable identifier")
	}
	u, err := s.b.store.GetUser(ctx, req.LinkUserID)
	if err != nil {
		return "", User{}, fmt.Errorf("find the linking user: %w", err)
	}
	id, err := s.b.hold(ctx, req, heldLink, subject, PendingLinkTTL)
	return id, u, err
}

// TakeLink consumes the held link id and returns its link request and
// upstream subject: once, before it expires; else ErrNotFound.
func (s *Authorizations) TakeLink(ctx context.Context, id string) (AuthRequest, string, error) {
	return s.b.take(ctx, heldLink, id)
}

// LinkConfirmToken is the anti-CSRF token of the confirmation of held link
// id, a MAC of the ID: the confirmation page carries it in its form, the
// browser the ID in a cookie, and a confirmation needs both
// (ConfirmsLink).
func (s *Authorizations) LinkConfirmToken(id string) string { return s.b.confirmToken(heldLink, id) }

// confirmToken is the anti-CSRF token of held request id of domain.
func (b *Broker) confirmToken(domain, id string) string {
	return b.secrets.Derive(domain+" confirmation", id)
}

// confirms reports, in constant time, whether token is confirmToken(domain, id).
func (b *Broker) confirms(domain, id, token string) bool {
	return id != "" && subtle.ConstantTimeCompare([]byte(b.confirmToken(domain, id)), []byte(token)) == 1
}

// ConfirmsLink reports, in constant time, whether token is held link id's
// LinkConfirmToken.
func (s *Authorizations) ConfirmsLink(id, token string) bool {
	return s.b.confirms(heldLink, id, token)
}

// ErrSlotTaken: the player already has a link in the slot.
var ErrSlotTaken = Conflict("the player already has a link in this slot", nil)

// Link links (namespace, slot, identifier) to the user. An identity already
// linked to that user is fine; linked to another user it is
// ErrLinkConflict, never re-pointed; a second link in a slot the user
// already uses is ErrSlotTaken.
func (b *Broker) Link(ctx context.Context, namespaceID, userID string, slot int, identifier string) error {
	err := b.store.InTx(ctx, func(tx Store) error {
		if err := tx.CreateLink(ctx, Link{NamespaceID: namespaceID, Slot: slot, Identifier: identifier, UserID: userID, CreatedAt: b.now()}); err != nil {
			return err
		}
		return b.RecordAudit(ctx, tx, AuditEvent{Type: AuditLink, Actor: "player:" + userID, NamespaceID: namespaceID, UserID: userID,
			Target: strconv.Itoa(slot) + ":" + identifier})
	})
	if !errors.Is(err, ErrAlreadyExists) {
		return err
	}
	l, err := b.store.GetLink(ctx, namespaceID, slot, identifier)
	switch {
	case errors.Is(err, ErrNotFound):
		return ErrSlotTaken
	case err != nil:
		return fmt.Errorf("find link: %w", err)
	case l.UserID != userID:
		return ErrLinkConflict
	}
	return nil
}

// ExchangeCode redeems an authorization code (RFC 6749 §4.1.3, RFC 7636
// §4.6). A code is redeemed once; a replay revokes what the first
// redemption issued (RFC 6749 §4.1.2).
func (s *Authorizations) ExchangeCode(ctx context.Context, c Client, code, redirectURI, verifier string, bind Binding) (Token, error) {
	if code == "" || len(code) > 128 {
		return Token{}, Unauthenticated("authorization code is invalid", nil)
	}
	rt, row := s.b.newFamily(c, "", bind)
	now := row.CreatedAt
	// The used code is kept, and a replay recognised, for as long as the
	// tokens of its first exchange can live.
	familyEnd := now.Add(max(c.RefreshTTL, c.AccessTTL))
	var ac AuthCode
	// One transaction spends the code and stores its tokens; a refusal
	// commits the spend (a failed exchange burns the code), a failure
	// undoes it.
	err := s.b.commitRefusal(ctx, func(tx Store) error {
		var err error
		ac, err = tx.ConsumeCode(ctx, TokenHash(code), now, row.FamilyID, familyEnd)
		switch {
		case errors.Is(err, ErrNotFound):
			return Unauthenticated("authorization code is invalid or expired", nil)
		case errors.Is(err, ErrConflict):
			if err := tx.RevokeFamily(ctx, ac.FamilyID, s.b.secrets.FamilyKey(ac.FamilyID), now, familyEnd); err != nil {
				return fmt.Errorf("revoke after code replay: %w", err)
			}
			if err := s.b.RecordAudit(ctx, tx, AuditEvent{Type: AuditCodeReplay, NamespaceID: ac.NamespaceID, UserID: ac.UserID,
				Target: ac.FamilyID, Detail: "authorization code replayed; its tokens revoked (client " + c.ID + ")"}); err != nil {
				return err
			}
			return Unauthenticated("authorization code was already used; the tokens issued with it are revoked", nil)
		case err != nil:
			return fmt.Errorf("redeem code: %w", err)
		}
		switch {
		case ac.ClientID != c.ID:
			return Forbidden("authorization code was issued to another client", nil)
		case ac.RedirectURI != redirectURI:
			return Invalid("redirect_uri", "redirect_uri differs from the authorization request's")
		case ac.CodeChallenge != "" && !pkceMatches(ac.CodeChallenge, verifier):
			return Unauthenticated("code_verifier does not match the code_challenge", nil)
		case ac.CodeChallenge == "" && verifier != "":
			return Invalid("code_verifier", "code_verifier given but no code_challenge was")
		case bind.Resource != "" && bind.Resource != ac.Resource:
			// RFC 8707 §2.2: the token request may name the resource the
			// authorization request asked for, no other.
			return InvalidBecause("resource", ReasonTarget, "resource differs from the authorization request's")
		}
		if err := s.b.checkBan(ctx, tx, ac.UserID); err != nil {
			return err
		}
		row.UserID, row.Scope, row.Resource = ac.UserID, ac.Scope, ac.Resource
		if err := tx.CreateRefreshToken(ctx, row); err != nil {
			return fmt.Errorf("store refresh token: %w", err)
		}
		return nil
	})
	if err != nil {
		return Token{}, err
	}
	tok, err := s.b.userToken(c, row, rt, ac.Scope, uuid.NewString(), bind.JKT)
	if err != nil {
		return Token{}, err
	}
	if slices.Contains(strings.Fields(ac.Scope), "openid") {
		if tok.IDToken, err = s.b.idToken(c, row, ac); err != nil {
			return Token{}, err
		}
	}
	return tok, nil
}

// pkceMatches is RFC 7636 §4.6 for S256, in constant time.
func pkceMatches(challenge, verifier string) bool {
	if len(verifier) < 43 || len(verifier) > 128 {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	got := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) == 1
}

// IDClaims are the claims of the broker's ID token (OIDC Core §2).
type IDClaims struct {
	Issuer   string           `json:"iss"`
	Subject  string           `json:"sub"`
	Audience jwt.Audience     `json:"aud"`
	Expiry   *jwt.NumericDate `json:"exp"`
	IssuedAt *jwt.NumericDate `json:"iat"`
	AuthTime *jwt.NumericDate `json:"auth_time"`
	Nonce    string           `json:"nonce,omitempty"`
	AZP      string           `json:"azp"`
	UserID   string           `json:"userId"`
}

func (b *Broker) idToken(c Client, row RefreshToken, ac AuthCode) (string, error) {
	tok, err := b.keys.SignIDToken(IDClaims{
		Issuer: b.cfg.Issuer, Subject: row.UserID, Audience: jwt.Audience{c.ID},
		IssuedAt: jwt.NewNumericDate(row.CreatedAt), Expiry: jwt.NewNumericDate(row.CreatedAt.Add(c.AccessTTL)),
		AuthTime: jwt.NewNumericDate(ac.AuthTime), Nonce: ac.Nonce, AZP: c.ID, UserID: row.UserID,
	})
	if err != nil {
		return "", fmt.Errorf("sign ID token: %w", err)
	}
	return tok, nil
}

// Links lists the user's takeover links.
func (b *Broker) Links(ctx context.Context, userID string) ([]Link, error) {
	return b.store.ListLinks(ctx, userID)
}

// Unlink removes the user's link in slot, never the last one (ErrLastLink).
func (b *Broker) Unlink(ctx context.Context, userID string, slot int) error {
	if slot < MinSlot || slot > MaxSlot {
		return Invalid("slot", fmt.Sprintf("slot must be %d..%d", MinSlot, MaxSlot))
	}
	err := b.store.InTx(ctx, func(tx Store) error {
		l, err := tx.GetUserLink(ctx, userID, slot)
		if err != nil {
			return err
		}
		if err := tx.DeleteLink(ctx, userID, slot, l.Identifier); err != nil {
			return err
		}
		return b.RecordAudit(ctx, tx, AuditEvent{Type: AuditUnlink, Actor: "player:" + userID, NamespaceID: l.NamespaceID,
			UserID: userID, Target: strconv.Itoa(slot) + ":" + l.Identifier})
	})
	if errors.Is(err, ErrNotFound) {
		return NotFound("no such link", err)
	}
	return err
}
