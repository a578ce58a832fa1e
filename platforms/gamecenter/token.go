package gamecenter

import (
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/bridgekeeper/bridgekeeper/platforms"
)

// Bounds on the subject token and its parts. Real ones are far smaller: a
// token is about 1 KB, a signature 256 or 512 bytes (RSA-2048, RSA-4096),
// a salt 4 to 8 bytes, a player ID about 40 characters.
const (
	maxToken     = 16 << 10
	maxSignature = 1024 // RSA-8192
	maxSalt      = 256
	maxPlayerID  = 128
)

// items is what the game sends: the output of
// fetchItemsForIdentityVerificationSignature, the player ID and the
// bundle ID.
type items struct {
	publicKeyURL string
	signature    []byte
	salt         []byte
	timestamp    uint64 // milliseconds since the Unix epoch, as GameKit gives it
	playerID     string
	bundleID     string
}

// wireItems is the JSON, decoded strictly: names match exactly (no case
// folding), a name given twice or a name not listed here is an error.
// teamPlayerId is accepted for playerId, since that is what GameKit calls
// it; giving both is refused rather than guessing which was signed.
type wireItems struct {
	PublicKeyURL string         `json:"publicKeyUrl"`
	Signature    string         `json:"signature"`
	Salt         string         `json:"salt"`
	Timestamp    jsontext.Value `json:"timestamp"`
	PlayerID     *string        `json:"playerId"`
	TeamPlayerID *string        `json:"teamPlayerId"`
	BundleID     string         `json:"bundleId"`
}

// parseItems reads the subject token. Its refusals name the field at fault
// but never quote it.
func parseItems(token string) (items, error) {
	if len(token) > maxToken {
		return items{}, platforms.Refused("the Game Center token is too long")
	}
	var w wireItems
	// json (v2) refuses duplicate names and invalid UTF-8 by default.
	if err := json.Unmarshal([]byte(token), &w, json.RejectUnknownMembers(true)); err != nil {
		return items{}, platforms.Refused("the Game Center token is not a JSON object of publicKeyUrl, signature, salt, timestamp, playerId and bundleId")
	}
	var it items
	switch {
	case w.PlayerID != nil && w.TeamPlayerID != nil:
		return items{}, platforms.Refused("the Game Center token has both playerId and teamPlayerId")
	case w.PlayerID != nil:
		it.playerID = *w.PlayerID
	case w.TeamPlayerID != nil:
		it.playerID = *w.TeamPlayerID
	}
	if it.playerID == "" {
		return items{}, platforms.Refused("the Game Center token has no playerId")
	}
	if len(it.playerID) > maxPlayerID || strings.ContainsFunc(it.playerID, notVisible) {
		return items{}, platforms.Refused("the Game Center playerId is not a player ID")
	}
	if w.BundleID == "" {
		return items{}, platforms.Refused("the Game Center token has no bundleId")
	}
	it.bundleID = w.BundleID
	if w.PublicKeyURL == "" {
		return items{}, platforms.Refused("the Game Center token has no publicKeyUrl")
	}
	it.publicKeyURL = w.PublicKeyURL
	var ok bool
	if it.signature, ok = decodeBase64(w.Signature, maxSignature); !ok {
		return items{}, platforms.Refused("the Game Center signature is not base64 of a signature")
	}
	if it.salt, ok = decodeBase64(w.Salt, maxSalt); !ok {
		return items{}, platforms.Refused("the Game Center salt is not base64 of a salt")
	}
	if it.timestamp, ok = parseTimestamp(w.Timestamp); !ok {
		return items{}, platforms.Refused("the Game Center timestamp is not a count of milliseconds")
	}
	return it, nil
}

// decodeBase64 decodes standard base64 (RFC 4648 §4), padded as
// NSData.base64EncodedString pads it or unpadded, into 1 to max bytes.
func decodeBase64(s string, max int) ([]byte, bool) {
	if s == "" || len(s) > base64.StdEncoding.EncodedLen(max) {
		return nil, false
	}
	enc := base64.StdEncoding.Strict()
	if !strings.HasSuffix(s, "=") {
		enc = base64.RawStdEncoding.Strict()
	}
	b, err := enc.DecodeString(s)
	// Strict still skips \r and \n; a credential has no business holding
	// them.
	if err != nil || len(b) == 0 || len(b) > max || strings.ContainsAny(s, "\r\n") {
		return nil, false
	}
	return b, true
}

// parseTimestamp reads the timestamp as a JSON number or a string of one,
// in plain decimal digits: no sign, fraction or exponent (a float would
// lose the milliseconds the signature covers).
func parseTimestamp(v jsontext.Value) (uint64, bool) {
	var digits string
	switch v.Kind() {
	case '0':
		digits = string(v)
	case '"':
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return 0, false
		}
		digits = s
	default:
		return 0, false
	}
	// Base 10 takes no sign, fraction, exponent or underscore.
	n, err := strconv.ParseUint(digits, 10, 64)
	return n, err == nil
}
