package idtoken

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"math"
	"regexp"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/bridgekeeper/bridgekeeper/platforms"
)

// integer is the JSON text of an integer: a numeric user ID is taken as
// written (JSON allows no leading zeros, so the text is canonical).
var integer = regexp.MustCompile(`^-?[0-9]+$`)

// checkClaims checks a verified payload's claims (OpenID Connect Core
// §3.1.3.7 steps 2, 3, 9, 10, 11) and answers the user ID.
func (v *Verifier) checkClaims(payload []byte, nonce string) (string, error) {
	var c map[string]json.RawMessage
	d := json.NewDecoder(bytes.NewReader(payload))
	d.UseNumber()
	if err := d.Decode(&c); err != nil || c == nil {
		return "", platforms.Refused("the ID token's claims are not a JSON object")
	}

	if iss, ok := str(c["iss"]); !ok || iss != v.issuer {
		return "", platforms.Refused("the ID token's issuer is not " + v.issuer)
	}
	// Never skipped: any game's token from the same platform would do.
	if !slices.ContainsFunc(audience(c["aud"]), func(a string) bool { return slices.Contains(v.audiences, a) }) {
		return "", platforms.Refused("the ID token's audience is not this game")
	}

	now := v.now()
	exp, ok, valid := numericDate(c["exp"])
	switch {
	case !ok:
		return "", platforms.Refused("the ID token has no expiry")
	case !valid:
		return "", platforms.Refused("the ID token's exp is not a time")
	case !now.Before(exp.Add(Leeway)):
		return "", platforms.Refused("the ID token is expired")
	}
	for _, name := range []string{"nbf", "iat"} {
		t, ok, valid := numericDate(c[name])
		switch {
		case ok && !valid:
			return "", platforms.Refused("the ID token's " + name + " is not a time")
		case ok && t.After(now.Add(Leeway)):
			return "", platforms.Refused("the ID token is not valid yet")
		}
	}

	if nonce != "" {
		got, _ := str(c["nonce"])
		if subtle.ConstantTimeCompare([]byte(got), []byte(nonce)) != 1 {
			return "", platforms.Refused("the nonce does not match")
		}
	}

	userID, ok := userID(c[v.userIDClaim])
	switch {
	case !ok:
		return "", platforms.Refused("the ID token's " + v.userIDClaim + " claim is missing or not a string")
	case userID == "":
		return "", platforms.Refused("the ID token's " + v.userIDClaim + " claim is empty")
	case utf8.RuneCountInString(userID) > maxUserID:
		return "", platforms.Refused("the ID token's " + v.userIDClaim + " claim is too long")
	}
	return userID, nil
}

// str is raw as a JSON string.
func str(raw json.RawMessage) (string, bool) {
	var s string
	if raw == nil || json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// audience is aud as a list: a string or an array of strings (RFC 7519
// §4.1.3); anything else is no audience.
func audience(raw json.RawMessage) []string {
	if s, ok := str(raw); ok {
		return []string{s}
	}
	var list []string
	if raw == nil || json.Unmarshal(raw, &list) != nil {
		return nil
	}
	return list
}

// numericDate reads a NumericDate (RFC 7519 §2): ok when the claim is
// present, valid when it is a finite number of seconds.
func numericDate(raw json.RawMessage) (t time.Time, ok, valid bool) {
	if raw == nil {
		return time.Time{}, false, false
	}
	var n json.Number
	// json.Number would also take a quoted number; a NumericDate is not one.
	if raw = bytes.TrimSpace(raw); len(raw) == 0 || raw[0] == '"' || json.Unmarshal(raw, &n) != nil {
		return time.Time{}, true, false
	}
	f, err := n.Float64()
	// Bounded so that the conversion below cannot overflow.
	if err != nil || math.IsNaN(f) || math.Abs(f) > 1e12 {
		return time.Time{}, true, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, true
}

// userID reads the user ID claim: a string, or an integer as its decimal
// text (some issuers send numeric IDs).
func userID(raw json.RawMessage) (string, bool) {
	if s, ok := str(raw); ok {
		return s, true
	}
	var n json.Number
	if raw == nil || json.Unmarshal(raw, &n) != nil || !integer.MatchString(n.String()) {
		return "", false
	}
	return n.String(), true
}
