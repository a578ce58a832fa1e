package broker

import "time"

// Slot bounds of GS2-Account takeover settings.
const (
	MinSlot = 0
	MaxSlot = 1024
	// MaxIdentifierLen bounds a takeover link's userIdentifier.
	MaxIdentifierLen = 1024
	// DefaultCustomIDSlot is the takeover slot of server_custom_id identities
	// unless a client configures another.
	DefaultCustomIDSlot = 3
	// MaxCustomIDLen is Xsolla's bound on a server custom ID, which the
	// server_custom_id grant shares.
	MaxCustomIDLen = 256
)

// Namespace is a tenant: a GS2 namespace, an Xsolla project.
type Namespace struct {
	ID        string // UUID
	Name      string // unique
	CreatedAt time.Time
}

// Client is an OAuth2 client registered in one namespace.
type Client struct {
	ID           string
	NamespaceID  string
	Name         string
	SecretHash   []byte // keyed hash of the secret; nil for public clients
	Public       bool
	Grants       []string // full grant_type values
	Scopes       []string
	RedirectURIs []string
	AccessTTL    time.Duration
	RefreshTTL   time.Duration
	CustomIDSlot int // takeover slot of this client's server_custom_id identities
	// RateLimit is the requests per second the client may make to the
	// rate-limited endpoints; 0 is unlimited.
	RateLimit float64
	// NoCreateUsers makes the client's platform sign-ins (token exchange)
	// refuse an identity no player has instead of creating a player.
	NoCreateUsers bool
	// JWKS (a JWK Set document) or JWKSURI registers the public keys of a
	// client that authenticates with private_key_jwt instead of a secret.
	JWKS    string
	JWKSURI string
	// RequireDPoP refuses the client's token requests without a DPoP proof.
	RequireDPoP bool
	// Resources are the resource servers (RFC 8707 absolute URIs) the
	// client may ask access tokens for.
	Resources []string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// User is the broker's own identity of a player.
type User struct {
	ID          string // UUID v4
	NamespaceID string
	CreatedAt   time.Time
	Nickname    string // Xsolla user profile; "" when never given
}

// Link is a takeover link: (namespace, slot, identifier) is unique and points to
// one user, and a user has at most one link per slot.
type Link struct {
	NamespaceID string
	Slot        int
	Identifier  string
	UserID      string
	CreatedAt   time.Time
	// PasswordHash is the bcrypt hash of a GS2 takeover password; nil for
	// links made by upstream sign-ins and server_custom_id.
	PasswordHash []byte
	// Revision starts at 1 and grows with every password change; an update
	// names the revision it read, so of concurrent writes one wins.
	Revision int64
}

// RefreshToken is the stored form of an opaque refresh token: only its SHA-256
// hash is kept. Tokens descend from one another in a family, which the
// store keeps as one row under Key: a rotation replaces the row's current
// token in place, and each token names its row (refreshRef).
type RefreshToken struct {
	Key  []byte // the family's row; a token from before rotation in place is keyed by its Hash
	Hash []byte
	// FamilyID is Key encrypted (keys.Secrets.FamilyID, which reads it
	// back); a family begun before migration 12 has a random UUID.
	FamilyID    string
	ClientID    string
	UserID      string
	NamespaceID string
	Scope       string // space-separated, as granted to the family
	TimeOffset  int    // GS2 timeOffset, seconds
	// Resource is the resource server the family's access tokens are for
	// (their aud); "" for the client itself.
	Resource string
	// JKT is the DPoP key (RFC 7638 thumbprint) the family is bound to: a
	// refresh needs a proof by that key. "" when unbound.
	JKT       string
	CreatedAt time.Time
	ExpiresAt time.Time
	// SpentAt is zero while the token is its family's current one. A token
	// the family has moved past is spent: at its rotation for the token just
	// replaced, and at the family's start for an older one, whose rotation
	// time is no longer kept. A spent token's ExpiresAt is its family's.
	SpentAt time.Time

	// FamilyRevoked is read-only: GetRefreshToken reports whether the token's
	// family has been revoked.
	FamilyRevoked bool
}

// Rotation asks the store to replace the current token of the family kept
// under Key, OldHash, with its successor NewHash.
type Rotation struct {
	Key       []byte
	OldHash   []byte
	NewHash   []byte
	ClientID  string    // the token must have been issued to this client
	JKT       string    // the DPoP key of the request; a bound token needs its own
	Now       time.Time // when the old token is spent and the new one created
	ExpiresAt time.Time // expiry of the successor
	// Proof, when set, is spent with the rotation: a key used before
	// fails it with ErrProofReplayed and leaves the token unspent.
	Proof Once
}

// AuthRequest is an authorization request (RFC 6749 §4.1.1) waiting for the
// player to come back from the upstream provider. Only the hash of its ID is
// stored; the ID itself travels as the upstream state.
type AuthRequest struct {
	Hash          []byte
	ClientID      string
	NamespaceID   string
	RedirectURI   string
	Scope         string // space-separated, already checked against the client's
	State         string // the client's state, returned to it unchanged
	CodeChallenge string // PKCE S256 challenge from the client; "" when none
	Nonce         string // the client's OIDC nonce, echoed in the ID token
	Provider      string // the upstream chosen
	LinkUserID    string // set when a signed-in user links another provider
	Resource      string // RFC 8707 resource asked for; "" for none
	// DeviceCode is the device sign-in (RFC 8628) the request signs a
	// player in for: hex of its user code's hash; "" for none.
	DeviceCode string
	CreatedAt  time.Time
	ExpiresAt  time.Time
}

// AuthCode is an issued authorization code (RFC 6749 §4.1.2), stored hashed.
type AuthCode struct {
	Hash          []byte
	ClientID      string
	NamespaceID   string
	UserID        string
	RedirectURI   string
	Scope         string
	Nonce         string
	CodeChallenge string
	AuthTime      time.Time // when the player signed in upstream
	CreatedAt     time.Time
	ExpiresAt     time.Time
	UsedAt        time.Time // zero until exchanged
	FamilyID      string    // the refresh-token family its exchange started
	Resource      string    // the authorization request's resource
}

// DeviceCode is a device authorization (RFC 8628): a console's sign-in,
// waiting for the player to approve it in a browser. Both codes are stored
// hashed.
type DeviceCode struct {
	DeviceHash  []byte // what the device polls with
	UserHash    []byte // what the player types
	ClientID    string
	NamespaceID string
	Scope       string
	Resource    string
	Status      string // DevicePending, DeviceApproved, DeviceDenied, DeviceIssued
	UserID      string // the approving player
	AuthTime    time.Time
	Interval    time.Duration // how often the device may poll
	LastPollAt  time.Time     // zero before the first poll
	CreatedAt   time.Time
	ExpiresAt   time.Time
}

// The states of a DeviceCode.
const (
	DevicePending  = "pending"
	DeviceApproved = "approved"
	DeviceDenied   = "denied"
	DeviceIssued   = "issued" // its tokens were handed out: spent
)

// Account is a GS2-Account account: a user created anonymously with a
// random password, stored only as a slow hash (bcrypt).
type Account struct {
	UserID              string
	NamespaceID         string
	PasswordHash        []byte
	TimeOffset          int
	CreatedAt           time.Time
	LastAuthenticatedAt time.Time // zero until the first authentication
}

// Ban is a GS2-Account ban status: the user cannot authenticate, log in or
// refresh until ReleaseAt. A user has at most one ban of a name.
type Ban struct {
	UserID    string
	Name      string
	Reason    string
	ReleaseAt time.Time
	CreatedAt time.Time
}

// Active reports whether the ban still holds at now.
func (b Ban) Active(now time.Time) bool { return now.Before(b.ReleaseAt) }

// Attribute is an Xsolla-style user attribute.
// AttributeBound caps one player's attributes: how many, and the bytes of
// their keys and values together, so that logins cannot grow a player
// (and the answer that lists them) without end. Zero is no cap.
type AttributeBound struct {
	Count int
	Bytes int64
}

// ErrAttributesFull refuses attributes that would put the player over
// their AttributeBound; none of them is stored.
var ErrAttributesFull = &Error{Kind: KindInvalid, Field: "attributes", Description: "the player's attributes would exceed their allowed count or size"}

// Exceeded says whether count attributes of size bytes in all are over b.
func (b AttributeBound) Exceeded(count int, bytes int64) bool {
	return (b.Count > 0 && count > b.Count) || (b.Bytes > 0 && bytes > b.Bytes)
}

type Attribute struct {
	Key        string // [A-Za-z0-9_]+, at most 256 characters
	Value      string // JSON text
	Type       string // client | server
	Permission string // private | public
	ReadOnly   bool   // a later login cannot change it
	UpdatedAt  time.Time
}
