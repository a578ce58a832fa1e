package gs2

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/bridgekeeper/bridgekeeper/broker"
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
	case slot < broker.MinSlot || slot > broker.MaxSlot:
		return broker.Invalid("type", fmt.Sprintf("type must be %d..%d", broker.MinSlot, broker.MaxSlot))
	case !broker.ValidIdentifier(identifier, broker.MaxIdentifierLen):
		return broker.Invalid("userIdentifier", fmt.Sprintf("userIdentifier must be 1..%d characters without control characters", broker.MaxIdentifierLen))
	}
	return nil
}

// checkNewIdentifier refuses, besides, what a new takeover's identifier
// cannot hold: deleteTakeOverByUserIdentifier names it in the path, where
// these would make a path that is not canonical, which is refused.
func checkNewIdentifier(identifier string) error {
	if strings.Contains(identifier, "/") || identifier == "." || identifier == ".." {
		return broker.Invalid("userIdentifier", "userIdentifier must not contain '/' nor be '.' or '..'")
	}
	return nil
}

// checkSlotFree refuses a takeover write in a slot that is the broker's.
func (s *Accounts) checkSlotFree(ctx context.Context, namespaceID string, slot int) error {
	reserved, err := s.slots.Reserved(ctx, namespaceID, slot)
	if err != nil {
		return err
	}
	if reserved {
		return broker.InvalidBecause("type", "reserved", fmt.Sprintf("type %d is the broker's: upstream sign-ins or custom IDs are linked there", slot))
	}
	return nil
}

func checkPassword(password string) error {
	if password == "" || !utf8.ValidString(password) || utf8.RuneCountInString(password) > MaxTakeOverPasswordLen {
		return broker.Invalid("password", fmt.Sprintf("password must be 1..%d characters", MaxTakeOverPasswordLen))
	}
	return nil
}

// CreateTakeOver sets a takeover in the user's slot. A slot the user already
// uses, or an identifier taken in that slot of the namespace, is
// ErrAlreadyExists.
func (s *Accounts) CreateTakeOver(ctx context.Context, namespaceID, userID string, slot int, identifier, password string) (broker.Link, error) {
	if err := errors.Join(checkTakeOver(slot, identifier), checkNewIdentifier(identifier), checkPassword(password)); err != nil {
		return broker.Link{}, err
	}
	if err := s.checkSlotFree(ctx, namespaceID, slot); err != nil {
		return broker.Link{}, err
	}
	if err := broker.UserIn(ctx, s.store, namespaceID, userID); err != nil {
		return broker.Link{}, err
	}
	hash, err := s.passwords.hash(password)
	if err != nil {
		return broker.Link{}, err
	}
	l := broker.Link{NamespaceID: namespaceID, Slot: slot, Identifier: identifier, UserID: userID,
		CreatedAt: s.now(), PasswordHash: hash, Revision: 1}
	err = s.store.InTx(ctx, func(tx broker.Store) error {
		if err := tx.CreateLink(ctx, l); err != nil {
			return err
		}
		return s.record(ctx, tx, broker.AuditLink, l)
	})
	if err != nil {
		return broker.Link{}, fmt.Errorf("create takeover: %w", err)
	}
	return l, nil
}

// record appends the audit event of a takeover made or removed, in tx.
// GS2's calls come from the player or from a trusted game server; the
// surface does not say which here, so the actor is GS2-Account.
func (s *Accounts) record(ctx context.Context, tx broker.Store, typ string, l broker.Link) error {
	return s.audit.RecordAudit(ctx, tx, broker.AuditEvent{Type: typ, Actor: "gs2-account", NamespaceID: l.NamespaceID,
		UserID: l.UserID, Target: strconv.Itoa(l.Slot) + ":" + l.Identifier, Detail: "GS2 takeover"})
}

// deleteLink deletes the user's link in slot if it is still l, with its
// audit event.
func (s *Accounts) deleteLink(ctx context.Context, l broker.Link) error {
	return s.store.InTx(ctx, func(tx broker.Store) error {
		if err := tx.DeleteLink(ctx, l.UserID, l.Slot, l.Identifier); err != nil {
			return err
		}
		return s.record(ctx, tx, broker.AuditUnlink, l)
	})
}

// TakeOvers pages through the user's takeovers by slot: at most limit of
// them in slots above afterSlot (-1 for the first page). A user holds at
// most 1,025 links, so the store lists them all and the page is cut here.
func (s *Accounts) TakeOvers(ctx context.Context, namespaceID, userID string, afterSlot, limit int) ([]broker.Link, error) {
	if err := broker.UserIn(ctx, s.store, namespaceID, userID); err != nil {
		return nil, err
	}
	all, err := s.store.ListLinks(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("list takeovers: %w", err)
	}
	out := make([]broker.Link, 0, min(limit, len(all)))
	for _, l := range all {
		if l.Slot > afterSlot && len(out) < limit {
			out = append(out, l)
		}
	}
	return out, nil
}

// TakeOver is the user's takeover in slot.
func (s *Accounts) TakeOver(ctx context.Context, namespaceID, userID string, slot int) (broker.Link, error) {
	if err := broker.UserIn(ctx, s.store, namespaceID, userID); err != nil {
		return broker.Link{}, err
	}
	l, err := s.store.GetUserLink(ctx, userID, slot)
	if err != nil {
		return broker.Link{}, fmt.Errorf("get takeover: %w", err)
	}
	return l, nil
}

// UpdateTakeOver changes the password of the user's takeover in slot, if
// oldPassword is its current one (else ErrPasswordIncorrect; a link without
// a password has no current one). Of concurrent updates one wins; the rest
// are ErrConflict.
func (s *Accounts) UpdateTakeOver(ctx context.Context, namespaceID, userID string, slot int, oldPassword, password string) (broker.Link, error) {
	if err := checkPassword(password); err != nil {
		return broker.Link{}, err
	}
	if err := s.checkSlotFree(ctx, namespaceID, slot); err != nil {
		return broker.Link{}, err
	}
	l, err := s.TakeOver(ctx, namespaceID, userID, slot)
	if err != nil {
		return broker.Link{}, err
	}
	if !s.passwords.matches(l.PasswordHash, oldPassword) {
		return broker.Link{}, ErrPasswordIncorrect
	}
	hash, err := s.passwords.hash(password)
	if err != nil {
		return broker.Link{}, err
	}
	if l, err = s.store.UpdateLinkPassword(ctx, userID, slot, l.Revision, hash); err != nil {
		return broker.Link{}, fmt.Errorf("update takeover: %w", err)
	}
	return l, nil
}

// DeleteTakeOver deletes the user's takeover in slot and returns it. The
// last way in of a user without an account is ErrLastLink.
func (s *Accounts) DeleteTakeOver(ctx context.Context, namespaceID, userID string, slot int) (broker.Link, error) {
	l, err := s.TakeOver(ctx, namespaceID, userID, slot)
	if err != nil {
		return broker.Link{}, err
	}
	// Only the link just read: a slot emptied and refilled meanwhile keeps
	// its new link.
	if err := s.deleteLink(ctx, l); err != nil {
		return broker.Link{}, fmt.Errorf("delete takeover: %w", err)
	}
	return l, nil
}

// DeleteTakeOverByIdentifier deletes the takeover (namespace, slot,
// identifier), whoever holds it, and returns it.
func (s *Accounts) DeleteTakeOverByIdentifier(ctx context.Context, namespaceID string, slot int, identifier string) (broker.Link, error) {
	l, err := s.store.GetLink(ctx, namespaceID, slot, identifier)
	if err != nil {
		return broker.Link{}, fmt.Errorf("get takeover: %w", err)
	}
	if err := s.deleteLink(ctx, l); err != nil {
		return broker.Link{}, fmt.Errorf("delete takeover: %w", err)
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
func (s *Accounts) DoTakeOver(ctx context.Context, namespaceID string, slot int, identifier, password string) (broker.Account, string, error) {
	if err := checkTakeOver(slot, identifier); err != nil {
		return broker.Account{}, "", err
	}
	l, err := s.store.GetLink(ctx, namespaceID, slot, identifier)
	if err != nil && !errors.Is(err, broker.ErrNotFound) {
		return broker.Account{}, "", fmt.Errorf("get takeover: %w", err)
	}
	if !s.passwords.matches(l.PasswordHash, password) {
		return broker.Account{}, "", ErrPasswordIncorrect
	}
	return s.takeOverAccount(ctx, namespaceID, l.UserID)
}

// takeOverAccount hands the user's account to a new device, the user's
// identity proven: unless the user is banned, the account (created when
// the user has none) gets a new password, returned once.
func (s *Accounts) takeOverAccount(ctx context.Context, namespaceID, userID string) (broker.Account, string, error) {
	if err := broker.CheckBan(ctx, s.store, userID, s.now()); err != nil {
		return broker.Account{}, "", err
	}
	newPassword, hash, err := s.passwords.generate()
	if err != nil {
		return broker.Account{}, "", err
	}
	var a broker.Account
	err = s.store.InTx(ctx, func(tx broker.Store) error {
		var err error
		a, err = tx.GetAccount(ctx, namespaceID, userID)
		if errors.Is(err, broker.ErrNotFound) {
			a = broker.Account{UserID: userID, NamespaceID: namespaceID, PasswordHash: hash, CreatedAt: s.now()}
			return tx.CreateAccount(ctx, a)
		}
		if err != nil {
			return err
		}
		a.PasswordHash = hash
		return tx.SetAccountPassword(ctx, userID, hash)
	})
	if err != nil {
		return broker.Account{}, "", fmt.Errorf("take over: %w", err)
	}
	return a, newPassword, nil
}

// ActiveBans are the user's bans that hold now.
func (s *Accounts) ActiveBans(ctx context.Context, userID string) ([]broker.Ban, error) {
	all, err := s.store.ListBans(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("list bans: %w", err)
	}
	now, active := s.now(), all[:0]
	for _, ban := range all {
		if ban.Active(now) {
			active = append(active, ban)
		}
	}
	return active, nil
}
