package gs2

import (
	"cmp"
	"crypto/rand"
	"fmt"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// DefaultPasswordCost is the bcrypt cost of account and takeover
// passwords: account passwords are random (190 bits), so the cost guards
// only against a stolen database being cheap to search; 10 keeps an
// authentication around 50 ms.
const DefaultPasswordCost = 10

// AccountPasswordLen is the length of a generated account password.
const AccountPasswordLen = 32

const passwordAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// passwords hashes and checks account and takeover passwords.
type passwords struct {
	cost int
	// dummyHash is what matches compares against when there is no
	// password, made once at the configured cost.
	dummyOnce sync.Once
	dummyHash []byte
}

func newPasswords(cost int) *passwords { return &passwords{cost: cmp.Or(cost, DefaultPasswordCost)} }

// hash is the slow hash of an account or takeover password.
func (p *passwords) hash(password string) ([]byte, error) {
	hash, err := bcrypt.GenerateFromPassword([]byte(password), p.cost)
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	return hash, nil
}

// matches checks password against a hash; a nil hash (no password set)
// matches nothing but takes as long, against a hash of the same cost.
func (p *passwords) matches(hash []byte, password string) bool {
	if hash == nil {
		p.dummyOnce.Do(func() {
			p.dummyHash, _ = bcrypt.GenerateFromPassword([]byte("no password is this"), p.cost)
		})
		bcrypt.CompareHashAndPassword(p.dummyHash, []byte(password))
		return false
	}
	return bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
}

// generate makes a random account password and its hash.
func (p *passwords) generate() (string, []byte, error) {
	pw := make([]byte, AccountPasswordLen)
	for i := range pw {
		pw[i] = passwordAlphabet[randIndex(len(passwordAlphabet))]
	}
	hash, err := p.hash(string(pw))
	return string(pw), hash, err
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
