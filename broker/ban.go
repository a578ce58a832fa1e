package broker

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// GS2-Account BanStatus bounds.
const (
	MaxBanNameLen   = 36
	MaxBanReasonLen = 256
)

// ErrBanned is the refusal every grant and GS2 call gives a user whose ban
// has not been released; surfaces that name it test for it with errors.Is.
var ErrBanned = Forbidden("the user is banned", nil)

// BanChecker is what a ban check reads.
type BanChecker interface {
	Banned(ctx context.Context, userID string, now time.Time) (bool, error)
}

// CheckBan refuses (ErrBanned) a user banned at now. Inside a transaction s
// must be the transaction's store: a second connection from the pool while
// the transaction holds one can wait out the request.
func CheckBan(ctx context.Context, s BanChecker, userID string, now time.Time) error {
	is, err := s.Banned(ctx, userID, now)
	if err != nil {
		return fmt.Errorf("check ban: %w", err)
	}
	if is {
		return ErrBanned
	}
	return nil
}

func (b *Broker) checkBan(ctx context.Context, s BanChecker, userID string) error {
	return CheckBan(ctx, s, userID, b.now())
}

// BanUser bans a user of the namespace until releaseAt, under name (a new
// UUID when empty); a ban of the same name is replaced. The user cannot
// authenticate, log in through any grant or refresh until then; access
// tokens already issued run out on their own (at most the access TTL).
func BanUser(ctx context.Context, s Store, now time.Time, namespaceID, userID, name, reason string, releaseAt time.Time) (Ban, error) {
	if name == "" {
		name = uuid.NewString()
	}
	switch {
	case !ValidIdentifier(name, MaxBanNameLen):
		return Ban{}, Invalid("name", fmt.Sprintf("the ban name must be 1..%d characters", MaxBanNameLen))
	case !utf8.ValidString(reason) || utf8.RuneCountInString(reason) > MaxBanReasonLen:
		return Ban{}, Invalid("reason", fmt.Sprintf("the ban reason must be at most %d characters", MaxBanReasonLen))
	case !releaseAt.After(now):
		return Ban{}, Invalid("release_at", "the release time must be in the future")
	}
	if err := UserIn(ctx, s, namespaceID, userID); err != nil {
		return Ban{}, err
	}
	ban := Ban{UserID: userID, Name: name, Reason: reason, ReleaseAt: releaseAt, CreatedAt: now}
	if err := s.PutBan(ctx, ban); err != nil {
		return Ban{}, fmt.Errorf("ban: %w", err)
	}
	return ban, nil
}

// UnbanUser lifts the user's ban of that name, or all of them when name is
// "", and reports how many were lifted.
func UnbanUser(ctx context.Context, s Store, namespaceID, userID, name string) (int64, error) {
	if err := UserIn(ctx, s, namespaceID, userID); err != nil {
		return 0, err
	}
	n, err := s.DeleteBans(ctx, userID, name)
	if err != nil {
		return 0, fmt.Errorf("unban: %w", err)
	}
	return n, nil
}

// UserGetter reads users.
type UserGetter interface {
	GetUser(ctx context.Context, id string) (User, error)
}

// UserIn is ErrNotFound unless the user exists in the namespace.
func UserIn(ctx context.Context, s UserGetter, namespaceID, userID string) error {
	u, err := s.GetUser(ctx, userID)
	if err == nil && u.NamespaceID != namespaceID {
		err = ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("user %q: %w", userID, err)
	}
	return nil
}
