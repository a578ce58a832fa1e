package broker

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"
)

// GS2-Account takeovers are takeover links with a password: a player sets
// one on the old device and, on a new one, trades slot + identifier +
// password for the account (doTakeOver). Links made by upstream sign-ins and
// server_custom_id have no password and can be listed and deleted, but not
// taken over.

// MaxTakeOverPasswordLen is GS2's bound on a takeover password.
const MaxTakeOverPasswordLen = 128

// checkTakeOver validates what every takeover write names.
func checkTakeOver(slot int, identifier string) error {
	switch {
	case slot < MinSlot || slot > MaxSlot:
		return Invalid("type", fmt.Sprintf("type must be %d..%d", MinSlot, MaxSlot))
	case !ValidIdentifier(identifier, MaxIdentifierLen):
		return Invalid("userIdentifier", fmt.Sprintf("userIdentifier must be 1..%d characters without control characters", MaxIdentifierLen))
	}
	return nil
}

func checkPassword(password string) error {
	if password == "" || !utf8.ValidString(password) || utf8.RuneCountInString(password) > MaxTakeOverPasswordLen {
		return Invalid("password", fmt.Sprintf("password must be 1..%d characters", MaxTakeOverPasswordLen))
	}
	return nil
}

// CreateTakeOver sets a takeover in the user's slot. A slot the user already
// uses, or an identifier taken in that slot of the namespace, is
// ErrAlreadyExists.
func (b *Broker) CreateTakeOver(ctx context.Context, namespaceID, userID string, slot int, identifier, password string) (Link, error) {
	if err := errors.Join(checkTakeOver(slot, identifier), checkPassword(password)); err != nil {
		return Link{}, err
	}
	if err := userIn(ctx, b.store, namespaceID, userID); err != nil {
		return Link{}, err
	}
	hash, err := b.hashPassword(password)
	if err != nil {
		return Link{}, err
	}
	l := Link{NamespaceID: namespaceID, Slot: slot, Identifier: identifier, UserID: userID,
		CreatedAt: b.now(), PasswordHash: hash, Revision: 1}
	if err := b.store.CreateLink(ctx, l); err != nil {
		return Link{}, fmt.Errorf("create takeover: %w", err)
	}
	return l, nil
}

// TakeOvers pages through the user's takeovers by slot: at most limit of
// them in slots above afterSlot (-1 for the first page). A user holds at
// most 1,025 links, so the store lists them all and the page is cut here.
func (b *Broker) TakeOvers(ctx context.Context, namespaceID, userID string, afterSlot, limit int) ([]Link, error) {
	if err := userIn(ctx, b.store, namespaceID, userID); err != nil {
		return nil, err
	}
	all, err := b.store.ListLinks(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("list takeovers: %w", err)
	}
	out := make([]Link, 0, min(limit, len(all)))
	for _, l := range all {
		if l.Slot > afterSlot && len(out) < limit {
			out = append(out, l)
		}
	}
	return out, nil
}

// TakeOver is the user's takeover in slot.
func (b *Broker) TakeOver(ctx context.Context, namespaceID, userID string, slot int) (Link, error) {
	if err := userIn(ctx, b.store, namespaceID, userID); err != nil {
		return Link{}, err
	}
	l, err := b.store.GetUserLink(ctx, userID, slot)
	if err != nil {
		return Link{}, fmt.Errorf("get takeover: %w", err)
	}
	return l, nil
}

// UpdateTakeOver changes the password of the user's takeover in slot, if
// oldPassword is its current one (else ErrPasswordIncorrect; a link without
// a password has no current one). Of concurrent updates one wins; the rest
// are ErrConflict.
func (b *Broker) UpdateTakeOver(ctx context.Context, namespaceID, userID string, slot int, oldPassword, password string) (Link, error) {
	if err := checkPassword(password); err != nil {
		return Link{}, err
	}
	l, err := b.TakeOver(ctx, namespaceID, userID, slot)
	if err != nil {
		return Link{}, err
	}
	if !b.passwordMatches(l.PasswordHash, oldPassword) {
		return Link{}, ErrPasswordIncorrect
	}
	hash, err := b.hashPassword(password)
	if err != nil {
		return Link{}, err
	}
	if l, err = b.store.UpdateLinkPassword(ctx, userID, slot, l.Revision, hash); err != nil {
		return Link{}, fmt.Errorf("update takeover: %w", err)
	}
	return l, nil
}

// DeleteTakeOver deletes the user's takeover in slot and returns it. The
// last way in of a user without an account is ErrLastLink.
func (b *Broker) DeleteTakeOver(ctx context.Context, namespaceID, userID string, slot int) (Link, error) {
	l, err := b.TakeOver(ctx, namespaceID, userID, slot)
	if err != nil {
		return Link{}, err
	}
	// Only the link just read: a slot emptied and refilled meanwhile keeps
	// its new link.
	if err := b.store.DeleteLink(ctx, userID, slot, l.Identifier); err != nil {
		return Link{}, fmt.Errorf("delete takeover: %w", err)
	}
	return l, nil
}

// DeleteTakeOverByIdentifier deletes the takeover (namespace, slot,
// identifier), whoever holds it, and returns it.
func (b *Broker) DeleteTakeOverByIdentifier(ctx context.Context, namespaceID string, slot int, identifier string) (Link, error) {
	l, err := b.store.GetLink(ctx, namespaceID, slot, identifier)
	if err != nil {
		return Link{}, fmt.Errorf("get takeover: %w", err)
	}
	if err := b.store.DeleteLink(ctx, l.UserID, slot, identifier); err != nil {
		return Link{}, fmt.Errorf("delete takeover: %w", err)
	}
	return l, nil
}

// DoTakeOver is GS2-Account's doTakeOver: slot + identifier + password give
// the account behind the takeover, with its password. Only a slow hash of
// that password is kept, so the account gets a new one, returned once: the
// new device takes the account over and the old device's password stops
// working. A user without an account (signed in upstream so far) gets one.
//
// An unknown identifier and a wrong password are both ErrPasswordIncorrect,
// after the same bcrypt work, so the answer does not tell which.
func (b *Broker) DoTakeOver(ctx context.Context, namespaceID string, slot int, identifier, password string) (Account, string, error) {
	if err := checkTakeOver(slot, identifier); err != nil {
		return Account{}, "", err
	}
	l, err := b.store.GetLink(ctx, namespaceID, slot, identifier)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Account{}, "", fmt.Errorf("get takeover: %w", err)
	}
	if !b.passwordMatches(l.PasswordHash, password) {
		return Account{}, "", ErrPasswordIncorrect
	}
	if err := b.checkBan(ctx, b.store, l.UserID); err != nil {
		return Account{}, "", err
	}
	newPassword, hash, err := b.newAccountPassword()
	if err != nil {
		return Account{}, "", err
	}
	var a Account
	err = b.store.InTx(ctx, func(tx Store) error {
		var err error
		a, err = tx.GetAccount(ctx, namespaceID, l.UserID)
		if errors.Is(err, ErrNotFound) {
			a = Account{UserID: l.UserID, NamespaceID: namespaceID, PasswordHash: hash, CreatedAt: b.now()}
			return tx.CreateAccount(ctx, a)
		}
		if err != nil {
			return err
		}
		a.PasswordHash = hash
		return tx.SetAccountPassword(ctx, l.UserID, hash)
	})
	if err != nil {
		return Account{}, "", fmt.Errorf("take over: %w", err)
	}
	return a, newPassword, nil
}
