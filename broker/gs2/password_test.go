package gs2

import (
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// TestPasswordCost: passwords are hashed with bcrypt at cost 10 unless the
// configuration says otherwise, and a missing hash matches nothing.
func TestPasswordCost(t *testing.T) {
	for _, tc := range []struct {
		configured, want int
	}{{0, DefaultPasswordCost}, {bcrypt.MinCost, bcrypt.MinCost}, {11, 11}} {
		p := newPasswords(tc.configured)
		hash, err := p.hash("correct horse")
		if err != nil {
			t.Fatal(err)
		}
		if cost, err := bcrypt.Cost(hash); err != nil || cost != tc.want {
			t.Errorf("configured %d: cost %d (%v), want %d", tc.configured, cost, err, tc.want)
		}
		// Comparing reads the cost from the hash, so the cheapest hash
		// checks it as well as any: each check at cost 10 or 11 is seconds
		// of CPU under -race.
		if tc.want != bcrypt.MinCost {
			continue
		}
		if !p.matches(hash, "correct horse") || p.matches(hash, "wrong horse") || p.matches(nil, "") {
			t.Errorf("configured %d: matches disagrees with the hash", tc.configured)
		}
	}
	if DefaultPasswordCost < 10 {
		t.Errorf("DefaultPasswordCost %d: below 10 a stolen hash is cheap to search", DefaultPasswordCost)
	}
}
