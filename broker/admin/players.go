package admin

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// Player is one player as support staff see them.
func (s *Players) Player(ctx context.Context, a Actor, userID string) (broker.User, error) {
	return s.player(ctx, s.store, a, userID)
}

func (s *Players) player(ctx context.Context, st broker.UserGetter, a Actor, userID string) (broker.User, error) {
	u, err := st.GetUser(ctx, userID)
	if errors.Is(err, broker.ErrNotFound) || (err == nil && !a.sees(u.NamespaceID)) {
		return broker.User{}, notFound("player " + userID)
	}
	return u, err
}

// FindByLink finds the players behind a linked identity: (slot,
// identifier) such as a Steam ID, in every namespace the actor sees.
func (s *Players) FindByLink(ctx context.Context, a Actor, slot int, identifier string) ([]broker.User, error) {
	if slot < broker.MinSlot || slot > broker.MaxSlot {
		return nil, broker.Invalid("slot", "slot must be 0..1024")
	}
	if identifier == "" {
		return nil, broker.Invalid("identifier", "identifier is required")
	}
	links, err := s.store.FindLinks(ctx, a.NamespaceID, slot, identifier)
	if err != nil {
		return nil, err
	}
	users := make([]broker.User, 0, len(links))
	for _, l := range links {
		u, err := s.store.GetUser(ctx, l.UserID)
		if err != nil {
			return nil, err
		}
		users = append(users, u)
	}
	return users, nil
}

// UserPage is a page of players, by ID.
type UserPage struct {
	Users []broker.User
	Next  string
}

// FindByNickname finds players whose nickname starts with prefix.
func (s *Players) FindByNickname(ctx context.Context, a Actor, prefix string, p Page) (UserPage, error) {
	if prefix == "" {
		return UserPage{}, broker.Invalid("nickname", "nickname is required")
	}
	limit, err := p.limit()
	if err != nil {
		return UserPage{}, err
	}
	after, err := p.after()
	if err != nil {
		return UserPage{}, err
	}
	users, err := s.store.FindUsersByNickname(ctx, a.NamespaceID, prefix, after, limit)
	if err != nil {
		return UserPage{}, err
	}
	return UserPage{Users: users, Next: next(users, limit, func(u broker.User) string { return u.ID })}, nil
}

// Links lists the player's linked identities, by slot.
func (s *Players) Links(ctx context.Context, a Actor, userID string) ([]broker.Link, error) {
	if _, err := s.Player(ctx, a, userID); err != nil {
		return nil, err
	}
	return s.store.ListLinks(ctx, userID)
}

// Unlink removes the player's link in slot; never their last way in.
func (s *Players) Unlink(ctx context.Context, a Actor, userID string, slot int) error {
	return s.audited(ctx, a, func(tx broker.Store, _ time.Time) (broker.AuditEvent, error) {
		u, err := s.player(ctx, tx, a, userID)
		if err != nil {
			return broker.AuditEvent{}, err
		}
		l, err := tx.GetUserLink(ctx, userID, slot)
		if errors.Is(err, broker.ErrNotFound) {
			return broker.AuditEvent{}, notFound("link in slot " + strconv.Itoa(slot))
		}
		if err != nil {
			return broker.AuditEvent{}, err
		}
		if err := tx.DeleteLink(ctx, userID, slot, l.Identifier); err != nil {
			return broker.AuditEvent{}, err
		}
		return broker.AuditEvent{Type: broker.AuditUnlink, NamespaceID: u.NamespaceID, UserID: userID,
			Target: strconv.Itoa(slot) + ":" + l.Identifier}, nil
	})
}

// Sessions lists the player's live sessions, newest first.
func (s *Players) Sessions(ctx context.Context, a Actor, userID string) ([]broker.Session, error) {
	if _, err := s.Player(ctx, a, userID); err != nil {
		return nil, err
	}
	return s.store.ListSessions(ctx, userID, s.now())
}

// RevokeSession ends one session: its refresh tokens stop rotating at
// once; its access tokens run out within their lifetime.
func (s *Players) RevokeSession(ctx context.Context, a Actor, userID, familyID string) error {
	return s.audited(ctx, a, func(tx broker.Store, now time.Time) (broker.AuditEvent, error) {
		u, err := s.player(ctx, tx, a, userID)
		if err != nil {
			return broker.AuditEvent{}, err
		}
		sessions, err := tx.ListSessions(ctx, userID, now)
		if err != nil {
			return broker.AuditEvent{}, err
		}
		for _, ss := range sessions {
			if ss.FamilyID == familyID {
				if err := tx.RevokeFamily(ctx, familyID, ss.Key, now, ss.ExpiresAt); err != nil {
					return broker.AuditEvent{}, err
				}
				return broker.AuditEvent{Type: broker.AuditSessionRevoke, NamespaceID: u.NamespaceID, UserID: userID,
					Target: familyID, Detail: "client " + ss.ClientID}, nil
			}
		}
		return broker.AuditEvent{}, notFound("session " + familyID)
	})
}

// RevokeSessions ends every session of the player, and every access token
// issued to them so far (a logout of everything).
func (s *Players) RevokeSessions(ctx context.Context, a Actor, userID string) error {
	return s.audited(ctx, a, func(tx broker.Store, now time.Time) (broker.AuditEvent, error) {
		u, err := s.player(ctx, tx, a, userID)
		if err != nil {
			return broker.AuditEvent{}, err
		}
		if err := tx.LogoutUser(ctx, userID, now, ""); err != nil {
			return broker.AuditEvent{}, err
		}
		return broker.AuditEvent{Type: broker.AuditSessionsRevoke, NamespaceID: u.NamespaceID, UserID: userID}, nil
	})
}

// Bans lists the player's bans.
func (s *Players) Bans(ctx context.Context, a Actor, userID string) ([]broker.Ban, error) {
	if _, err := s.Player(ctx, a, userID); err != nil {
		return nil, err
	}
	return s.store.ListBans(ctx, userID)
}

// Ban bans the player until releaseAt under name (a new one when empty).
func (s *Players) Ban(ctx context.Context, a Actor, userID, name, reason string, releaseAt time.Time) (broker.Ban, error) {
	var b broker.Ban
	err := s.audited(ctx, a, func(tx broker.Store, now time.Time) (broker.AuditEvent, error) {
		u, err := s.player(ctx, tx, a, userID)
		if err != nil {
			return broker.AuditEvent{}, err
		}
		if b, err = broker.BanUser(ctx, tx, now, u.NamespaceID, userID, name, reason, releaseAt); err != nil {
			return broker.AuditEvent{}, err
		}
		return broker.AuditEvent{Type: broker.AuditBan, NamespaceID: u.NamespaceID, UserID: userID, Target: b.Name,
			Detail: "until " + b.ReleaseAt.UTC().Format(time.RFC3339) + ": " + b.Reason}, nil
	})
	return b, err
}

// Unban lifts the player's ban of that name, or all of them when name is
// "", and reports how many went; none is not found.
func (s *Players) Unban(ctx context.Context, a Actor, userID, name string) (int64, error) {
	var n int64
	err := s.audited(ctx, a, func(tx broker.Store, _ time.Time) (broker.AuditEvent, error) {
		u, err := s.player(ctx, tx, a, userID)
		if err != nil {
			return broker.AuditEvent{}, err
		}
		if n, err = broker.UnbanUser(ctx, tx, u.NamespaceID, userID, name); err != nil {
			return broker.AuditEvent{}, err
		}
		if n == 0 {
			return broker.AuditEvent{}, notFound("ban")
		}
		return broker.AuditEvent{Type: broker.AuditUnban, NamespaceID: u.NamespaceID, UserID: userID, Target: name,
			Detail: strconv.FormatInt(n, 10) + " lifted"}, nil
	})
	return n, err
}

// Attributes lists the player's Xsolla-style attributes, by key.
func (s *Players) Attributes(ctx context.Context, a Actor, userID string) ([]broker.Attribute, error) {
	if _, err := s.Player(ctx, a, userID); err != nil {
		return nil, err
	}
	return s.store.ListAttributes(ctx, userID)
}
