package broker

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Refresh rotates a refresh token (RFC 6749 §6) and returns the new pair.
//
// Rotation is one atomic store operation, so of concurrent uses exactly one
// rotates. A spent token presented again inside the grace window gets the
// same successor (re-derived, never stored in clear) so that a client whose
// response was lost keeps its session; after the window it is reuse, and the
// whole family is revoked (OAuth 2.0 Security BCP §4.14.2).
//
// The successor keeps the family's scope (RFC 6749 §6: a new refresh token's
// scope is identical to the old one's); a narrower requested scope applies to
// the access token only. It keeps the family's resource too (RFC 8707
// §2.2), which the request may name but not change, and a family bound to a
// DPoP key rotates only for a proof by that key (bind.JKT).
func (b *Broker) Refresh(ctx context.Context, c Client, presented string, scope []string, bind Binding) (Token, error) {
	ref, ok := parseRefresh(presented)
	if !ok {
		return Token{}, Unauthenticated("refresh token is invalid", nil)
	}
	if len(scope) > 0 || bind.Resource != "" {
		// Checked before rotating, so that a refused request spends nothing;
		// a token's scope and resource never change, so reading them first
		// is race-free.
		if err := b.checkNarrowing(ctx, ref, scope, bind.Resource); err != nil {
			return Token{}, err
		}
	}
	now := b.now()
	successor := refreshToken(ref.key, b.secrets.Successor(presented))
	rot := Rotation{
		Key: ref.key, OldHash: ref.hash, NewHash: TokenHash(successor),
		ClientID: c.ID, JKT: bind.JKT, Now: now, ExpiresAt: now.Add(c.RefreshTTL),
		Proof: bind.Proof,
	}
	row, err := b.store.RotateRefreshToken(ctx, rot)
	if errors.Is(err, ErrNotFound) {
		// The slow path spends again in the transaction that explains the
		// refusal, so that a reuse is refused and its family revoked in
		// one commit. It spends the proof first, on its own: a replay must
		// not be re-served a successor inside the grace window, and a
		// refused key would abort PostgreSQL's transaction.
		err = b.commitRefusal(ctx, func(tx Store) error {
			spend := rot
			if spend.Proof != (Once{}) {
				if err := SpendOnce(ctx, tx, spend.Proof); err != nil {
					return err
				}
				spend.Proof = Once{}
			}
			var err error
			if row, err = tx.RotateRefreshToken(ctx, spend); errors.Is(err, ErrNotFound) {
				row, err = b.notRotated(ctx, tx, c, ref, rot.NewHash, bind.JKT, now)
			}
			return err
		})
	}
	if err != nil {
		return Token{}, err
	}
	granted := row.Scope
	if len(scope) > 0 {
		granted = strings.Join(scope, " ")
	}
	// The jti is derived from the successor so that a retry inside the grace
	// window gets an access token with the very same claims.
	return b.userToken(c, row, successor, granted, tokenID(successor), bind.JKT)
}

// SpendOnce spends a DPoP proof's replay record; ErrProofReplayed when it
// was spent before.
func SpendOnce(ctx context.Context, s OnceStore, once Once) error {
	first, err := s.UseOnce(ctx, once.Key, once.Until)
	if err != nil {
		return fmt.Errorf("spend DPoP proof: %w", err)
	}
	if !first {
		return ErrProofReplayed
	}
	return nil
}

// notRotated explains why a refresh token could not be spent, revoking its
// family on reuse, or returns the successor for a retry inside the grace window.
func (b *Broker) notRotated(ctx context.Context, tx Store, c Client, ref refreshRef, successor []byte, jkt string, now time.Time) (RefreshToken, error) {
	old, err := tx.GetRefreshToken(ctx, ref.key, ref.hash)
	switch {
	case errors.Is(err, ErrNotFound):
		return RefreshToken{}, Unauthenticated("refresh token is invalid", nil)
	case err != nil:
		return RefreshToken{}, fmt.Errorf("look up refresh token: %w", err)
	case old.ClientID != c.ID:
		return RefreshToken{}, Forbidden("refresh token was issued to another client", nil)
	// Before reuse detection: whoever lacks the key neither uses the token
	// nor, by presenting a spent one, revokes the player's session.
	case old.JKT != "" && jkt == "":
		return RefreshToken{}, ErrDPoPRequired
	case old.JKT != "" && old.JKT != jkt:
		return RefreshToken{}, Unauthenticated("refresh token is bound to another DPoP key", nil)
	}
	// Checked before the grace window and reuse: a banned user's token is
	// neither re-served nor taken for stolen.
	if err := b.checkBan(ctx, tx, old.UserID); err != nil {
		return RefreshToken{}, err
	}
	if out, err := b.loggedOut(ctx, tx, old.UserID, old.CreatedAt); err != nil || out {
		if err == nil {
			err = Unauthenticated("the session ended with a logout", nil)
		}
		return RefreshToken{}, err
	}
	switch {
	case old.FamilyRevoked:
		return RefreshToken{}, Unauthenticated("refresh token has been revoked", nil)
	case old.SpentAt.IsZero():
		// Unspent yet not spendable: it expired.
		return RefreshToken{}, Unauthenticated("refresh token expired", nil)
	case now.Sub(old.SpentAt) <= b.cfg.RefreshGrace:
		// The retry gets the successor only while it is still current: one
		// spent in turn is of no use to the client.
		next, err := tx.GetRefreshToken(ctx, ref.key, successor)
		switch {
		case err != nil || next.FamilyRevoked:
			return RefreshToken{}, Unauthenticated("refresh token has been revoked", err)
		case !next.SpentAt.IsZero():
			return RefreshToken{}, Unauthenticated("refresh token was already used, and so was its successor", nil)
		}
		return next, nil
	}
	until := now.Add(max(c.RefreshTTL, c.AccessTTL))
	if err := tx.RevokeFamily(ctx, old.FamilyID, old.Key, now, until); err != nil {
		return RefreshToken{}, fmt.Errorf("revoke family after reuse: %w", err)
	}
	if err := b.RecordAudit(ctx, tx, AuditEvent{Type: AuditRefreshReuse, NamespaceID: old.NamespaceID, UserID: old.UserID,
		Target: old.FamilyID, Detail: "refresh token reused; session revoked (client " + c.ID + ")"}); err != nil {
		return RefreshToken{}, err
	}
	return RefreshToken{}, Unauthenticated("refresh token was already used; the session has been revoked", nil)
}

// checkNarrowing refuses a requested scope wider than the token's (RFC 6749
// §6), and a resource other than the family's (RFC 8707 §2.2).
func (b *Broker) checkNarrowing(ctx context.Context, ref refreshRef, scope []string, resource string) error {
	rt, err := b.store.GetRefreshToken(ctx, ref.key, ref.hash)
	if errors.Is(err, ErrNotFound) {
		return Unauthenticated("refresh token is invalid", nil)
	}
	if err != nil {
		return fmt.Errorf("look up refresh token: %w", err)
	}
	if resource != "" && resource != rt.Resource {
		return InvalidBecause("resource", ReasonTarget, "resource differs from the one the session was granted for")
	}
	have := strings.Fields(rt.Scope)
	for _, s := range scope {
		if !slices.Contains(have, s) {
			return Invalid("scope", "requested scope exceeds the scope originally granted")
		}
	}
	return nil
}

func tokenID(token string) string {
	h := sha256.Sum256([]byte("jti " + token))
	return base64.RawURLEncoding.EncodeToString(h[:18])
}

// RecordAudit appends e to the trail in tx (the transaction of the action
// it records) and logs it. It is logged as it is appended: should the
// commit then fail, the request fails and that is logged too.
func (b *Broker) RecordAudit(ctx context.Context, tx AuditStore, e AuditEvent) error {
	e, err := Audit(ctx, tx, e, b.now())
	if err != nil {
		return fmt.Errorf("audit %s: %w", e.Type, err)
	}
	LogAudit(ctx, b.log, e)
	return nil
}

// commitRefusal runs fn in one transaction that commits when fn succeeds or
// refuses (returns an *Error: what fn did before refusing stands, such as a
// spent code or a revoked family) and rolls back when it fails. It returns
// the refusal or the failure.
func (b *Broker) commitRefusal(ctx context.Context, fn func(tx Store) error) error {
	var refusal error
	err := b.store.InTx(ctx, func(tx Store) error {
		refusal = nil // InTx may run fn again
		err := fn(tx)
		if pe := (*Error)(nil); errors.As(err, &pe) {
			refusal = err
			return nil
		}
		return err
	})
	if err != nil {
		return err
	}
	return refusal
}
