package gs2

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/google/uuid"
)

// SignedBodyTTL is the life of an authentication's body/signature pair.
const SignedBodyTTL = time.Hour

// Config configures Accounts.
type Config struct {
	// PasswordCost is the bcrypt cost of account and takeover passwords;
	// 0: DefaultPasswordCost. (Tests lower it; production should not.)
	PasswordCost int
	// Slots are the broker's own takeover slots (broker.Slots), where no
	// takeover may be created or given a password.
	Slots ReservedSlots
}

// ReservedSlots says whether a takeover slot is the broker's.
type ReservedSlots interface {
	Reserved(ctx context.Context, namespaceID string, slot int) (bool, error)
}

// AccountsStore is what Accounts reads and writes: accounts, the takeover
// links that carry passwords, and the users and bans it answers for.
type AccountsStore interface {
	broker.AccountStore
	broker.LinkStore
	Users
	Bans
	// InTx runs fn in one transaction (broker.Store's InTx).
	InTx(ctx context.Context, fn func(broker.Store) error) error
}

// Bans is what Accounts reads of ban statuses.
type Bans interface {
	broker.BanChecker
	ListBans(ctx context.Context, userID string) ([]broker.Ban, error)
}

// Accounts is GS2-Account: accounts with generated passwords, takeovers,
// authentication and the loginBySignature it enables, and ban statuses.
type Accounts struct {
	issuer
	slots     ReservedSlots
	store     AccountsStore
	secrets   Deriver
	passwords *passwords
	audit     AccountsCore
}

// AccountsCore is the broker as Accounts uses it: it mints tokens, and
// records the takeovers made and removed in the audit trail.
type AccountsCore interface {
	Minter
	RecordAudit(ctx context.Context, tx broker.AuditStore, e broker.AuditEvent) error
}

// NewAccounts builds GS2-Account; now is the clock (time.Now outside tests).
func NewAccounts(cfg Config, store AccountsStore, core AccountsCore, secrets Deriver, now func() time.Time) *Accounts {
	return &Accounts{
		issuer: issuer{users: store, bans: store, core: core, now: now},
		slots:  cfg.Slots, store: store, secrets: secrets, passwords: newPasswords(cfg.PasswordCost),
		audit: core,
	}
}

// Errors of GS2-Account authentication.
var (
	ErrPasswordIncorrect = broker.Unauthenticated("password is incorrect", nil)
	ErrSignature         = broker.Unauthenticated("the body or signature is invalid or expired", nil)
)

// CreateAccount is GS2-Account's create: a new user with a random password,
// returned once (only its bcrypt hash is stored).
func (s *Accounts) CreateAccount(ctx context.Context, namespaceID string) (broker.Account, string, error) {
	password, hash, err := s.passwords.generate()
	if err != nil {
		return broker.Account{}, "", err
	}
	now := s.now()
	a := broker.Account{UserID: uuid.NewString(), NamespaceID: namespaceID, PasswordHash: hash, CreatedAt: now}
	err = s.store.InTx(ctx, func(tx broker.Store) error {
		if err := tx.CreateUser(ctx, broker.User{ID: a.UserID, NamespaceID: namespaceID, CreatedAt: now}); err != nil {
			return err
		}
		return tx.CreateAccount(ctx, a)
	})
	if err != nil {
		return broker.Account{}, "", fmt.Errorf("create account: %w", err)
	}
	return a, password, nil
}

// Account returns an account of the namespace.
func (s *Accounts) Account(ctx context.Context, namespaceID, userID string) (broker.Account, error) {
	return s.store.GetAccount(ctx, namespaceID, userID)
}

// Accounts pages through the namespace's accounts by user ID.
func (s *Accounts) Accounts(ctx context.Context, namespaceID, after string, limit int) ([]broker.Account, error) {
	return s.store.ListAccounts(ctx, namespaceID, after, limit)
}

// signedBody is what authentication signs for loginBySignature.
type signedBody struct {
	Namespace string `json:"namespace"`
	UserID    string `json:"userId"`
	KeyID     string `json:"keyId"`
	IssuedAt  int64  `json:"iat"` // Unix ms
	Expiry    int64  `json:"exp"` // Unix ms
}

// Authenticate is GS2-Account's authentication: the password is checked
// and a body/signature pair is issued for loginBySignature with keyID,
// valid for an hour. The signature is an HMAC under a key derived for keyID
// from the key-encryption key: another keyId verifies nothing.
func (s *Accounts) Authenticate(ctx context.Context, namespaceID, userID, password, keyID string) (broker.Account, string, string, error) {
	a, err := s.store.GetAccount(ctx, namespaceID, userID)
	if err != nil {
		return broker.Account{}, "", "", err
	}
	if !s.passwords.matches(a.PasswordHash, password) {
		return broker.Account{}, "", "", ErrPasswordIncorrect
	}
	if err := broker.CheckBan(ctx, s.store, userID, s.now()); err != nil {
		return broker.Account{}, "", "", err
	}
	now := s.now()
	if err := s.store.TouchAccount(ctx, userID, now); err != nil {
		return broker.Account{}, "", "", fmt.Errorf("record authentication: %w", err)
	}
	a.LastAuthenticatedAt = now
	body, err := json.Marshal(signedBody{Namespace: namespaceID, UserID: userID, KeyID: keyID,
		IssuedAt: now.UnixMilli(), Expiry: now.Add(SignedBodyTTL).UnixMilli()})
	if err != nil {
		return broker.Account{}, "", "", err
	}
	return a, string(body), s.sign(keyID, string(body)), nil
}

func (s *Accounts) sign(keyID, body string) string {
	return base64.StdEncoding.EncodeToString([]byte(s.secrets.Derive("gs2 signature "+keyID, body)))
}

// LoginBySignature is GS2-Auth's loginBySignature: the body and signature
// that authentication issued log the account's user in, with the account's
// time offset. Tampered, expired, or signed for another keyId or another
// namespace: ErrSignature.
func (s *Accounts) LoginBySignature(ctx context.Context, c broker.Client, keyID, body, signature string) (broker.Token, error) {
	if !hmac.Equal([]byte(signature), []byte(s.sign(keyID, body))) {
		return broker.Token{}, ErrSignature
	}
	var sb signedBody
	if err := json.Unmarshal([]byte(body), &sb); err != nil || sb.KeyID != keyID || sb.Namespace != c.NamespaceID {
		return broker.Token{}, ErrSignature
	}
	if s.now().UnixMilli() >= sb.Expiry {
		return broker.Token{}, ErrSignature
	}
	a, err := s.store.GetAccount(ctx, c.NamespaceID, sb.UserID)
	if err != nil {
		return broker.Token{}, err
	}
	return s.token(ctx, c, a.UserID, a.TimeOffset, nil)
}
