package broker

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"
)

// GS2-Account rules.
const (
	// AccountPasswordLen is the length of a generated account password.
	AccountPasswordLen = 32
	// SignedBodyTTL is the life of an authentication's body/signature pair.
	SignedBodyTTL = time.Hour
	// DefaultPasswordCost is the bcrypt cost of account and takeover
	// passwords: account passwords are random (190 bits), so the cost
	// guards only against a stolen database being cheap to search; 10
	// keeps an authentication around 50 ms.
	DefaultPasswordCost = 10
)

// Errors of GS2-Account authentication.
var (
	ErrPasswordIncorrect = Unauthenticated("password is incorrect", nil)
	ErrSignature         = Unauthenticated("the body or signature is invalid or expired", nil)
)

const passwordAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// CreateAccount is GS2-Account's create: a new user with a random password,
// returned once (only its bcrypt hash is stored).
func (b *Broker) CreateAccount(ctx context.Context, namespaceID string) (Account, string, error) {
	password, hash, err := b.newAccountPassword()
	if err != nil {
		return Account{}, "", err
	}
	now := b.now()
	a := Account{UserID: uuid.NewString(), NamespaceID: namespaceID, PasswordHash: hash, CreatedAt: now}
	err = b.store.InTx(ctx, func(tx Store) error {
		if err := tx.CreateUser(ctx, User{ID: a.UserID, NamespaceID: namespaceID, CreatedAt: now}); err != nil {
			return err
		}
		return tx.CreateAccount(ctx, a)
	})
	if err != nil {
		return Account{}, "", fmt.Errorf("create account: %w", err)
	}
	return a, password, nil
}

// newAccountPassword makes a random account password and its hash.
func (b *Broker) newAccountPassword() (string, []byte, error) {
	pw := make([]byte, AccountPasswordLen)
	for i := range pw {
		pw[i] = passwordAlphabet[randIndex(len(passwordAlphabet))]
	}
	hash, err := b.hashPassword(string(pw))
	return string(pw), hash, err
}

// hashPassword is the slow hash of an account or takeover password.
func (b *Broker) hashPassword(password string) ([]byte, error) {
	hash, err := bcrypt.GenerateFromPassword([]byte(password), b.passwordCost())
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	return hash, nil
}

func (b *Broker) passwordCost() int { return cmp.Or(b.cfg.PasswordCost, DefaultPasswordCost) }

// passwordMatches checks password against a hash; a nil hash (no password
// set) matches nothing but takes as long, against a hash of the same cost.
func (b *Broker) passwordMatches(hash []byte, password string) bool {
	if hash == nil {
		b.dummyOnce.Do(func() {
			b.dummyHash, _ = bcrypt.GenerateFromPassword([]byte("no password is this"), b.passwordCost())
		})
		bcrypt.CompareHashAndPassword(b.dummyHash, []byte(password))
		return false
	}
	return bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
}

// randIndex is a uniform random index below n (n <= 256), by rejection.
func randIndex(n int) int {
	var b [1]byte
	for {
		rand.Read(b[:])
		if int(b[0]) < 256-256%n {
			return int(b[0]) % n
		}
	}
}

// Account returns an account of the namespace.
func (b *Broker) Account(ctx context.Context, namespaceID, userID string) (Account, error) {
	return b.store.GetAccount(ctx, namespaceID, userID)
}

// Accounts pages through the namespace's accounts by user ID.
func (b *Broker) Accounts(ctx context.Context, namespaceID, after string, limit int) ([]Account, error) {
	return b.store.ListAccounts(ctx, namespaceID, after, limit)
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
func (b *Broker) Authenticate(ctx context.Context, namespaceID, userID, password, keyID string) (Account, string, string, error) {
	a, err := b.store.GetAccount(ctx, namespaceID, userID)
	if err != nil {
		return Account{}, "", "", err
	}
	if !b.passwordMatches(a.PasswordHash, password) {
		return Account{}, "", "", ErrPasswordIncorrect
	}
	if err := b.checkBan(ctx, b.store, userID); err != nil {
		return Account{}, "", "", err
	}
	now := b.now()
	if err := b.store.TouchAccount(ctx, userID, now); err != nil {
		return Account{}, "", "", fmt.Errorf("record authentication: %w", err)
	}
	a.LastAuthenticatedAt = now
	body, err := json.Marshal(signedBody{Namespace: namespaceID, UserID: userID, KeyID: keyID,
		IssuedAt: now.UnixMilli(), Expiry: now.Add(SignedBodyTTL).UnixMilli()})
	if err != nil {
		return Account{}, "", "", err
	}
	return a, string(body), b.sign(keyID, string(body)), nil
}

func (b *Broker) sign(keyID, body string) string {
	return base64.StdEncoding.EncodeToString([]byte(b.secrets.Derive("gs2 signature "+keyID, body)))
}

// LoginBySignature is GS2-Auth's loginBySignature: the body and signature
// that authentication issued log the account's user in, with the account's
// time offset. Tampered, expired, or signed for another keyId or another
// namespace: ErrSignature.
func (b *Broker) LoginBySignature(ctx context.Context, c Client, keyID, body, signature string) (Token, error) {
	if !hmac.Equal([]byte(signature), []byte(b.sign(keyID, body))) {
		return Token{}, ErrSignature
	}
	var sb signedBody
	if err := json.Unmarshal([]byte(body), &sb); err != nil || sb.KeyID != keyID || sb.Namespace != c.NamespaceID {
		return Token{}, ErrSignature
	}
	if b.now().UnixMilli() >= sb.Expiry {
		return Token{}, ErrSignature
	}
	a, err := b.store.GetAccount(ctx, c.NamespaceID, sb.UserID)
	if err != nil {
		return Token{}, err
	}
	return b.gs2Token(ctx, c, a.UserID, a.TimeOffset, nil)
}

// Namespace finds a namespace by its ID (an Xsolla projectId).
func (b *Broker) Namespace(ctx context.Context, id string) (Namespace, error) {
	return b.store.GetNamespace(ctx, id)
}

// NamespaceByName finds a namespace by its name (GS2 paths name them).
func (b *Broker) NamespaceByName(ctx context.Context, name string) (Namespace, error) {
	return b.store.GetNamespaceByName(ctx, name)
}
