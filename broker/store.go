package broker

import (
	"context"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker/keys"
)

// NamespaceStore keeps tenants.
type NamespaceStore interface {
	CreateNamespace(ctx context.Context, ns Namespace) error // ErrAlreadyExists on a taken ID or name
	GetNamespace(ctx context.Context, id string) (Namespace, error)
	GetNamespaceByName(ctx context.Context, name string) (Namespace, error)
}

// ClientStore keeps OAuth2 clients.
type ClientStore interface {
	CreateClient(ctx context.Context, c Client) error // ErrAlreadyExists on a taken ID
	GetClient(ctx context.Context, id string) (Client, error)
	ListClients(ctx context.Context) ([]Client, error) // ordered by CreatedAt, then ID
	UpdateClient(ctx context.Context, c Client) error  // ErrNotFound if absent
	DeleteClient(ctx context.Context, id string) error // ErrNotFound if absent
}

// UserStore keeps users.
type UserStore interface {
	CreateUser(ctx context.Context, u User) error // ErrAlreadyExists on a taken ID
	GetUser(ctx context.Context, id string) (User, error)
	// SetNickname records the user's nickname; ErrNotFound if no user.
	SetNickname(ctx context.Context, userID, nickname string) error
}

// LinkStore keeps users' takeover links: (namespace, slot, identifier) ->
// user, at most one per slot and user.
type LinkStore interface {
	// CreateLink fails with ErrAlreadyExists when (namespace, slot, identifier)
	// is taken or the user already has a link in that slot.
	CreateLink(ctx context.Context, l Link) error
	GetLink(ctx context.Context, namespaceID string, slot int, identifier string) (Link, error)
	ListLinks(ctx context.Context, userID string) ([]Link, error) // ordered by slot
	// GetUserLink is the user's link in slot; ErrNotFound when none.
	GetUserLink(ctx context.Context, userID string, slot int) (Link, error)
	// UpdateLinkPassword sets the password hash of the user's link in slot
	// and increments its revision, only if the revision is still revision:
	// ErrConflict when another write came first, ErrNotFound when no link.
	UpdateLinkPassword(ctx context.Context, userID string, slot int, revision int64, hash []byte) (Link, error)
	// DeleteLink removes the user's link in slot — only if it links
	// identifier, unless identifier is "" — but never the user's last way
	// in: the last link of a user without a GS2 account is ErrLastLink,
	// decided atomically against concurrent deletes. ErrNotFound when the
	// user has no such link.
	DeleteLink(ctx context.Context, userID string, slot int, identifier string) error
}

// BanStore keeps GS2-Account ban statuses.
type BanStore interface {
	// PutBan creates or replaces the user's ban of that name.
	PutBan(ctx context.Context, b Ban) error
	// DeleteBans lifts the user's ban of that name, or every ban of the
	// user when name is "", and reports how many went.
	DeleteBans(ctx context.Context, userID, name string) (int64, error)
	ListBans(ctx context.Context, userID string) ([]Ban, error) // ordered by release, then name
	// Banned reports whether any ban of the user holds at now.
	Banned(ctx context.Context, userID string, now time.Time) (bool, error)
}

// AttributeStore keeps users' Xsolla-style attributes.
type AttributeStore interface {
	// PutAttributes creates or replaces the user's attributes by key,
	// atomically, except that an existing read_only attribute is kept as
	// it is; ErrAttributesFull, storing none, when the user's attributes
	// would then be over bound. One user's puts are serialized, so that
	// concurrent ones cannot pass the bound together.
	PutAttributes(ctx context.Context, userID string, attrs []Attribute, bound AttributeBound) error
	ListAttributes(ctx context.Context, userID string) ([]Attribute, error) // ordered by key
}

// PolicyStore keeps GS2 federation policy documents by the SHA-256 of
// their bytes.
type PolicyStore interface {
	PutPolicy(ctx context.Context, hash []byte, document string, now time.Time) error // idempotent
	GetPolicy(ctx context.Context, hash []byte) (string, error)
}

// RefreshStore keeps refresh tokens and their families.
type RefreshStore interface {
	CreateRefreshToken(ctx context.Context, t RefreshToken) error
	// CreateRefreshTokenByLink inserts t for the user behind the takeover link
	// (t.NamespaceID, slot, identifier), in one statement: t.UserID is taken
	// from the link, and the stored token is returned. ErrNotFound when no
	// such link exists or its user is banned at t.CreatedAt. This is a returning player's login in one round trip.
	CreateRefreshTokenByLink(ctx context.Context, slot int, identifier string, t RefreshToken) (RefreshToken, error)
	// RotateRefreshToken atomically replaces the family r.Key's current
	// token r.OldHash — only if it is current, unexpired at r.Now, issued to
	// r.ClientID, its family is not revoked, its user is not banned at r.Now
	// and has not logged out since it was created — with its successor
	// (same family, user, namespace, scope and time offset), in place. It
	// returns the successor, or ErrNotFound when no token could be spent; of
	// concurrent calls for one token exactly one succeeds.
	RotateRefreshToken(ctx context.Context, r Rotation) (RefreshToken, error)
	// GetRefreshToken finds token hash in the family kept under key: its
	// current token, the one that token replaced, or an older one (see
	// RefreshToken.SpentAt). ErrNotFound when no family is kept under key.
	GetRefreshToken(ctx context.Context, key, hash []byte) (RefreshToken, error)
	// RevokeFamily revokes every token of the family; the record is kept until
	// `until`, after which nothing it covers can still be valid. Idempotent.
	// key is the family's row key as keys.Secrets.FamilyKey reads it from
	// the ID: the store finds a family begun since migration 12 by it, an
	// older one by its ID.
	RevokeFamily(ctx context.Context, familyID string, key []byte, now, until time.Time) error
	FamilyRevoked(ctx context.Context, familyID string) (bool, error)
}

// AuthStore keeps pending authorization requests and authorization codes;
// both are single-use.
type AuthStore interface {
	CreateAuthRequest(ctx context.Context, r AuthRequest) error
	// ConsumeAuthRequest returns the request and deletes it, atomically: a
	// state comes back from the upstream once. ErrNotFound when it is
	// unknown, already consumed, or expired at now.
	ConsumeAuthRequest(ctx context.Context, hash []byte, now time.Time) (AuthRequest, error)
	CreateCode(ctx context.Context, c AuthCode) error
	// ConsumeCode marks the code used at now and records the token family
	// its exchange starts, atomically, and returns it. The used code is kept
	// until keepUntil (its ExpiresAt becomes keepUntil), the end of that
	// family's life: a replay until then, however late, comes back with
	// ErrConflict and its FamilyID, so that the broker can revoke what the
	// first exchange issued. An unknown or expired code is ErrNotFound.
	ConsumeCode(ctx context.Context, hash []byte, now time.Time, familyID string, keepUntil time.Time) (AuthCode, error)
}

// AccountStore keeps GS2-Account accounts; an account's user row is
// created with it (CreateUser in the same transaction).
type AccountStore interface {
	CreateAccount(ctx context.Context, a Account) error // ErrAlreadyExists on a taken user ID
	// GetAccount is ErrNotFound unless the account exists in the namespace.
	GetAccount(ctx context.Context, namespaceID, userID string) (Account, error)
	// ListAccounts pages through a namespace's accounts ordered by user ID,
	// starting after afterUserID ("" for the first page), at most limit.
	ListAccounts(ctx context.Context, namespaceID, afterUserID string, limit int) ([]Account, error)
	// TouchAccount records a successful authentication; ErrNotFound if absent.
	TouchAccount(ctx context.Context, userID string, at time.Time) error
	// SetAccountPassword replaces the password hash; ErrNotFound if absent.
	SetAccountPassword(ctx context.Context, userID string, hash []byte) error
}

// RevocationStore keeps revoked access tokens (RFC 7009) until they expire.
type RevocationStore interface {
	RevokeAccessToken(ctx context.Context, jti string, expiresAt time.Time) error // idempotent
	AccessTokenRevoked(ctx context.Context, jti string) (bool, error)
	// LogoutUser ends every earlier session of the user: refresh tokens
	// created at or before at no longer rotate, and access tokens issued at
	// or before at (whole seconds, as JWT iat) but keepJTI are inactive. A
	// later logout replaces an earlier one, and an ended session stays
	// ended. The sessions ended are those stored when the logout is: a login
	// that the store takes after it begins a session that lives, whatever
	// its time, as a login just after the logout would.
	LogoutUser(ctx context.Context, userID string, at time.Time, keepJTI string) error
	// UserLogout is the user's last logout; ErrNotFound when none.
	UserLogout(ctx context.Context, userID string) (at time.Time, keepJTI string, err error)
}

// DeviceStore keeps device authorizations (RFC 8628).
type DeviceStore interface {
	// CreateDeviceCode stores a new one; ErrAlreadyExists when a code's
	// hash is taken.
	CreateDeviceCode(ctx context.Context, d DeviceCode) error
	GetDeviceCode(ctx context.Context, deviceHash []byte) (DeviceCode, error)
	GetDeviceCodeByUser(ctx context.Context, userHash []byte) (DeviceCode, error)
	// PollDeviceCode records a poll at now and the interval from then on.
	PollDeviceCode(ctx context.Context, deviceHash []byte, now time.Time, interval time.Duration) error
	// DecideDeviceCode approves (status DeviceApproved, with the player)
	// or denies a pending, unexpired code; ErrNotFound when it is not.
	DecideDeviceCode(ctx context.Context, userHash []byte, status, userID string, authTime, now time.Time) error
	// IssueDeviceCode spends an approved code (DeviceIssued); ErrNotFound
	// when it is not approved, so of concurrent polls one gets tokens.
	IssueDeviceCode(ctx context.Context, deviceHash []byte) error
}

// OnceStore remembers one-time values — a DPoP proof's jti under its key,
// a client assertion's jti — in the database, so that a replay is refused
// whichever broker replica it reaches.
type OnceStore interface {
	// UseOnce records key until then; first is false when key is recorded
	// already and has not expired.
	UseOnce(ctx context.Context, key string, until time.Time) (first bool, err error)
}

// Store is everything the broker persists. Implementations live in
// broker/store/* and pass broker/store/storetest.
type Store interface {
	NamespaceStore
	ClientStore
	UserStore
	LinkStore
	AuthStore
	AccountStore
	BanStore
	AttributeStore
	PolicyStore
	RefreshStore
	keys.Store
	RevocationStore
	OnceStore
	DeviceStore
	AuditStore
	OperatorStore

	// InTx runs fn in one transaction; fn's Store sees and writes only inside
	// it. An error from fn rolls the transaction back and is returned as is.
	InTx(ctx context.Context, fn func(Store) error) error
	// PurgeExpired deletes refresh tokens, family revocations, access-token
	// revocations, authorization requests, authorization codes, bans,
	// one-time values and device codes that expired before now, and reports how many rows went. (A used code is
	// kept until it expires, so that a replay is recognised as one.)
	PurgeExpired(ctx context.Context, now time.Time) (int64, error)
	Ping(ctx context.Context) error
	Close() error
}

// Session is a player's live session as support staff see it: a
// refresh-token family with an unspent, unexpired token.
type Session struct {
	// Key is the family's row key, which revoking it needs; never shown.
	Key        []byte
	FamilyID   string
	ClientID   string
	CreatedAt  time.Time // the family's first token
	LastUsedAt time.Time // its newest token: the last login or refresh
	ExpiresAt  time.Time // the newest token's expiry
	// Bound reports a DPoP-bound family.
	Bound bool
}

// OperatorStore answers the operator's questions (the admin API, the
// support console, the CLI). Listings page by the sort key of the last
// row of the page before ("" for the first page), at most limit rows.
type OperatorStore interface {
	ListNamespaces(ctx context.Context, afterName string, limit int) ([]Namespace, error) // by name
	// PageClients lists the clients of a namespace ("" for all) by ID.
	PageClients(ctx context.Context, namespaceID, afterID string, limit int) ([]Client, error)
	// FindLinks finds the links of (slot, identifier) in a namespace, or
	// in every namespace when namespaceID is "".
	FindLinks(ctx context.Context, namespaceID string, slot int, identifier string) ([]Link, error)
	// FindUsersByNickname lists users whose nickname starts with prefix
	// (case-sensitive), by ID; namespaceID "" is every namespace.
	FindUsersByNickname(ctx context.Context, namespaceID, prefix, afterID string, limit int) ([]User, error)
	// ListSessions is the user's live sessions at now, newest first; a
	// session ended by a logout or a revocation is not live.
	ListSessions(ctx context.Context, userID string, now time.Time) ([]Session, error)
}
