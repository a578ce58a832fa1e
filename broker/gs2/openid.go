package gs2

import (
	"context"
	"fmt"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// GS2-Account's OpenID Connect takeovers: the identity is proven by an ID
// token, which the caller (the web surface) has had the slot's platform
// verify; what arrives here is the platform's user ID, the link's
// identifier. Such a takeover is a link without a password, in the
// platform's slot: the link token exchange signs the same player in with.

// Linker links an identity to a user: the core's rule (broker.Broker.Link),
// under which an identity of another user is broker.ErrLinkConflict and a
// slot the user already uses broker.ErrSlotTaken.
type Linker interface {
	Link(ctx context.Context, namespaceID, userID string, slot int, identifier string) error
}

// CreateTakeOverOpenIDConnect is createTakeOverOpenIdConnect: it links the
// verified identity (slot, identifier) to the user through link and
// answers the link. Unlike CreateTakeOver it writes in the broker's own
// slots: the platform's slot is one of them, and the identity is proven,
// so it pre-claims nothing. Linking the identity the user already holds
// there again is not an error.
func (s *Accounts) CreateTakeOverOpenIDConnect(ctx context.Context, link Linker, namespaceID, userID string, slot int, identifier string) (broker.Link, error) {
	if err := checkTakeOver(slot, identifier); err != nil {
		return broker.Link{}, err
	}
	if err := broker.UserIn(ctx, s.store, namespaceID, userID); err != nil {
		return broker.Link{}, err
	}
	if err := link.Link(ctx, namespaceID, userID, slot, identifier); err != nil {
		return broker.Link{}, err
	}
	l, err := s.store.GetUserLink(ctx, userID, slot)
	if err != nil {
		return broker.Link{}, fmt.Errorf("get takeover: %w", err)
	}
	return l, nil
}

// DoTakeOverOpenIDConnect is doTakeOverOpenIdConnect: the account of the
// user linked to the verified identity (slot, identifier), with a new
// password as DoTakeOver gives (a user without an account gets one). No
// user holds the identity: broker.ErrNotFound — the caller proved the
// identity, so saying so tells them nothing of anyone else's.
func (s *Accounts) DoTakeOverOpenIDConnect(ctx context.Context, namespaceID string, slot int, identifier string) (broker.Account, string, error) {
	if err := checkTakeOver(slot, identifier); err != nil {
		return broker.Account{}, "", err
	}
	l, err := s.store.GetLink(ctx, namespaceID, slot, identifier)
	if err != nil {
		return broker.Account{}, "", fmt.Errorf("get takeover: %w", err)
	}
	return s.takeOverAccount(ctx, namespaceID, l.UserID)
}
