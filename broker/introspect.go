package broker

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Introspection is the RFC 7662 §2.2 answer; Active false says nothing else.
type Introspection struct {
	Active     bool
	TokenUse   string // "access_token" | "refresh_token"
	Scope      string
	ClientID   string
	Subject    string
	Audience   []string
	Issuer     string
	JTI        string
	IssuedAt   time.Time
	ExpiresAt  time.Time
	Namespace  string
	UserID     string
	TimeOffset *int
	// FederationFromUserID and FederationPolicy are set for GS2 federated
	// tokens; PolicyAllows evaluates the policy.
	FederationFromUserID string
	FederationPolicy     string
	// JKT is the DPoP key a bound access token is bound to (cnf.jkt).
	JKT string
}

// Introspect tells the client whether a token is active (RFC 7662). A client
// only learns about tokens of its own namespace; anything else is inactive.
// The hint orders the lookups but does not restrict them (RFC 7662 §2.1).
func (b *Broker) Introspect(ctx context.Context, c Client, token, hint string) (Introspection, error) {
	lookups := []func(context.Context, Client, string) (Introspection, error){b.introspectAccess, b.introspectRefresh}
	if hint == "refresh_token" {
		lookups[0], lookups[1] = lookups[1], lookups[0]
	}
	for _, look := range lookups {
		in, err := look(ctx, c, token)
		if err != nil || in.Active {
			return in, err
		}
	}
	return Introspection{}, nil
}

// VerifyAccess checks an access token presented as a Bearer token to one
// of the broker's own protected calls: signature, issuer, lifetime, and
// revocation; a token for another resource server (RFC 8707) or bound to
// a DPoP key is refused. It returns ErrTokenExpired for an expired token so
// that callers can say so (RFC 6750 §3.1).
func (b *Broker) VerifyAccess(ctx context.Context, token string) (AccessClaims, error) {
	return b.verifyAccess(ctx, token, "")
}

// VerifyAccessDPoP is VerifyAccess for a token presented with a verified
// DPoP proof by the key jkt (RFC 9449 §7): the token must be bound to it.
func (b *Broker) VerifyAccessDPoP(ctx context.Context, token, jkt string) (AccessClaims, error) {
	return b.verifyAccess(ctx, token, jkt)
}

func (b *Broker) verifyAccess(ctx context.Context, token, jkt string) (AccessClaims, error) {
	claims, err := VerifyAccessToken(ctx, b.keys, token, b.cfg.Issuer, b.now())
	if err != nil {
		return claims, err
	}
	switch bound := claims.JKT(); {
	case claims.Resource():
		return claims, errors.New("the access token is for another resource")
	case bound != "" && jkt == "":
		return claims, ErrBoundToken
	case bound != jkt:
		return claims, errors.New("the access token is not bound to the proof's key")
	}
	revoked, err := b.accessRevoked(ctx, claims)
	if err != nil {
		return claims, err
	}
	if revoked {
		return claims, errors.New("token revoked")
	}
	return claims, nil
}

func (b *Broker) accessRevoked(ctx context.Context, claims AccessClaims) (bool, error) {
	revoked, err := b.store.AccessTokenRevoked(ctx, claims.ID)
	if err != nil || revoked {
		return revoked, err
	}
	if claims.SessionID != "" {
		if revoked, err = b.store.FamilyRevoked(ctx, claims.SessionID); err != nil || revoked {
			return revoked, err
		}
	}
	if claims.UserID == "" || claims.IssuedAt == nil {
		return false, nil
	}
	// A logout ends what was issued up to its second (iat has no finer
	// grain), but the token the logout itself issued.
	at, keep, err := b.store.UserLogout(ctx, claims.UserID)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return claims.ID != keep && claims.IssuedAt.Time().Unix() <= at.Unix(), nil
}

// loggedOut reports whether the user logged out at or after created: a
// refresh token created then is ended. It reads through s (see checkBan).
func (b *Broker) loggedOut(ctx context.Context, s Store, userID string, created time.Time) (bool, error) {
	at, _, err := s.UserLogout(ctx, userID)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("user logout: %w", err)
	}
	return !created.After(at), nil
}

func (b *Broker) introspectAccess(ctx context.Context, c Client, token string) (Introspection, error) {
	claims, err := VerifyAccessToken(ctx, b.keys, token, b.cfg.Issuer, b.now())
	if err != nil || claims.Namespace != c.NamespaceID {
		return Introspection{}, nil
	}
	revoked, err := b.accessRevoked(ctx, claims)
	if err != nil {
		return Introspection{}, fmt.Errorf("introspect: %w", err)
	}
	if revoked {
		return Introspection{}, nil
	}
	return Introspection{
		Active: true, TokenUse: "access_token", Scope: claims.Scope, ClientID: claims.ClientID,
		Subject: claims.Subject, Audience: []string{claims.Audience}, Issuer: claims.Issuer, JTI: claims.ID,
		IssuedAt: claims.IssuedAt.Time(), ExpiresAt: claims.Expiry.Time(), Namespace: claims.Namespace,
		UserID: claims.UserID, TimeOffset: claims.TimeOffset, FederationFromUserID: claims.FederationFromUserID,
		FederationPolicy: claims.FederationPolicy, JKT: claims.JKT(),
	}, nil
}

func (b *Broker) introspectRefresh(ctx context.Context, c Client, token string) (Introspection, error) {
	rt, err := FindRefreshToken(ctx, b.store, token)
	if errors.Is(err, ErrNotFound) {
		return Introspection{}, nil
	}
	if err != nil {
		return Introspection{}, fmt.Errorf("introspect: %w", err)
	}
	if rt.NamespaceID != c.NamespaceID || rt.FamilyRevoked || !rt.SpentAt.IsZero() || !b.now().Before(rt.ExpiresAt) {
		return Introspection{}, nil
	}
	if out, err := b.loggedOut(ctx, b.store, rt.UserID, rt.CreatedAt); err != nil || out {
		return Introspection{}, err
	}
	offset := rt.TimeOffset
	return Introspection{
		Active: true, TokenUse: "refresh_token", Scope: rt.Scope, ClientID: rt.ClientID,
		Subject: rt.UserID, Issuer: b.cfg.Issuer, IssuedAt: rt.CreatedAt, ExpiresAt: rt.ExpiresAt,
		Namespace: rt.NamespaceID, UserID: rt.UserID, TimeOffset: &offset,
	}, nil
}

// Revoke revokes a token issued to the client (RFC 7009 §2.1): a refresh
// token takes its whole family (and so the family's access tokens) with it;
// an access token is remembered as revoked until it expires. A token that is
// unknown, invalid or another client's is ignored: the answer is the same.
// The hint orders the lookups but does not restrict them.
func (b *Broker) Revoke(ctx context.Context, c Client, token, hint string) error {
	lookups := []func(context.Context, Client, string) (bool, error){b.revokeRefresh, b.revokeAccess}
	if hint == "access_token" {
		lookups[0], lookups[1] = lookups[1], lookups[0]
	}
	for _, revoke := range lookups {
		if done, err := revoke(ctx, c, token); done || err != nil {
			return err
		}
	}
	return nil
}

func (b *Broker) revokeRefresh(ctx context.Context, c Client, token string) (bool, error) {
	rt, err := FindRefreshToken(ctx, b.store, token)
	if errors.Is(err, ErrNotFound) || (err == nil && rt.ClientID != c.ID) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("revoke: %w", err)
	}
	now := b.now()
	if err := b.store.RevokeFamily(ctx, rt.FamilyID, rt.Key, now, now.Add(max(c.RefreshTTL, c.AccessTTL))); err != nil {
		return false, fmt.Errorf("revoke family: %w", err)
	}
	return true, nil
}

func (b *Broker) revokeAccess(ctx context.Context, c Client, token string) (bool, error) {
	claims, err := VerifyAccessToken(ctx, b.keys, token, b.cfg.Issuer, b.now())
	if err != nil || claims.ClientID != c.ID {
		return false, nil
	}
	if err := b.store.RevokeAccessToken(ctx, claims.ID, claims.Expiry.Time()); err != nil {
		return false, fmt.Errorf("revoke access token: %w", err)
	}
	return true, nil
}
