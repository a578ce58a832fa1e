package gamecenter_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/platforms/gamecenter/gamecentertest"
)

// TestVerifyRefusesMalformedTokens: a token that is not exactly the
// documented shape is refused before any fetch.
func TestVerifyRefusesMalformedTokens(t *testing.T) {
	const shape = "not a JSON object of publicKeyUrl"
	literal := func(s string) func(*testing.T, *fixture) string {
		return func(*testing.T, *fixture) string { return s }
	}
	rewrite := func(edit func(m map[string]any)) func(*testing.T, *fixture) string {
		return func(t *testing.T, f *fixture) string { return f.rewritten(t, edit) }
	}
	edit := func(edit func(it *gamecentertest.Items)) func(*testing.T, *fixture) string {
		return func(_ *testing.T, f *fixture) string { return f.edited(edit) }
	}
	cases := []verifyCase{
		{name: "should fail because the token is empty", token: literal(""), wantDesc: shape},
		{name: "should fail because the token is not JSON", token: literal("{publicKeyUrl: x"), wantDesc: shape},
		{name: "should fail because the token is a JSON array", token: literal("[]"), wantDesc: shape},
		{name: "should fail because the token is a JSON string", token: literal(`"T:_1"`), wantDesc: shape},
		{
			name: "should fail because JSON follows the object",
			token: func(_ *testing.T, f *fixture) string {
				return f.items(gamecentertest.Good).JSON() + `{}`
			},
			wantDesc: shape,
		},
		{
			name: "should fail because the token is longer than 16 KiB",
			token: func(_ *testing.T, f *fixture) string {
				return f.items(gamecentertest.Good).JSON() + strings.Repeat(" ", 16<<10)
			},
			wantDesc: "too long",
		},
		{
			name: "should fail because playerId is given twice (which one was signed?)",
			token: func(_ *testing.T, f *fixture) string {
				return strings.Replace(f.items(gamecentertest.Good).JSON(), "{", `{"playerId":"`+otherPlayer+`",`, 1)
			},
			wantDesc: shape,
		},
		{
			name: "should fail because signature is given twice",
			token: func(_ *testing.T, f *fixture) string {
				return strings.Replace(f.items(gamecentertest.Good).JSON(), "{", `{"signature":"AAAA",`, 1)
			},
			wantDesc: shape,
		},
		{
			name:     "should fail because of a member the format does not have",
			token:    rewrite(func(m map[string]any) { m["displayName"] = "Bob" }),
			wantDesc: shape,
		},
		{
			name:     "should fail because a name is spelled in another case",
			token:    rewrite(func(m map[string]any) { m["PlayerId"] = m["playerId"]; delete(m, "playerId") }),
			wantDesc: shape,
		},
		{
			name:     "should fail because both playerId and teamPlayerId are given",
			token:    rewrite(func(m map[string]any) { m["teamPlayerId"] = otherPlayer }),
			wantDesc: "both playerId and teamPlayerId",
		},
		{
			name:     "should fail because there is no playerId",
			token:    rewrite(func(m map[string]any) { delete(m, "playerId") }),
			wantDesc: "no playerId",
		},
		{
			name:     "should fail because playerId is a number",
			token:    rewrite(func(m map[string]any) { m["playerId"] = 12345 }),
			wantDesc: shape,
		},
		{
			name:     "should fail because playerId holds a space",
			token:    edit(func(it *gamecentertest.Items) { it.PlayerID = "T:_ 1" }),
			wantDesc: "not a player ID",
		},
		{
			name:     "should fail because playerId holds a control character",
			token:    edit(func(it *gamecentertest.Items) { it.PlayerID = "T:_1\x00" }),
			wantDesc: "not a player ID",
		},
		{
			name:     "should fail because playerId is longer than any Game Center ID",
			token:    edit(func(it *gamecentertest.Items) { it.PlayerID = "T:_" + strings.Repeat("a", 200) }),
			wantDesc: "not a player ID",
		},
		{
			name:     "should fail because there is no bundleId",
			token:    rewrite(func(m map[string]any) { delete(m, "bundleId") }),
			wantDesc: "no bundleId",
		},
		{
			name:     "should fail because there is no publicKeyUrl",
			token:    rewrite(func(m map[string]any) { delete(m, "publicKeyUrl") }),
			wantDesc: "no publicKeyUrl",
		},
		{
			name:     "should fail because the signature is not base64",
			token:    edit(func(it *gamecentertest.Items) { it.Signature = "not*base64!" }),
			wantDesc: "signature is not base64",
		},
		{
			name:     "should fail because the signature is URL-safe base64",
			token:    edit(func(it *gamecentertest.Items) { it.Signature = "-_" + it.Signature[2:] }),
			wantDesc: "signature is not base64",
		},
		{
			name:     "should fail because the signature has a line break",
			token:    edit(func(it *gamecentertest.Items) { it.Signature = it.Signature[:8] + "\n" + it.Signature[8:] }),
			wantDesc: "signature is not base64",
		},
		{
			name:     "should fail because the signature is empty",
			token:    edit(func(it *gamecentertest.Items) { it.Signature = "" }),
			wantDesc: "signature is not base64",
		},
		{
			name:     "should fail because the signature is longer than any RSA signature",
			token:    edit(func(it *gamecentertest.Items) { it.Signature = strings.Repeat("AAAA", 400) }),
			wantDesc: "signature is not base64",
		},
		{
			name:     "should fail because the salt is not base64",
			token:    edit(func(it *gamecentertest.Items) { it.Salt = "%%%" }),
			wantDesc: "salt is not base64",
		},
		{
			name:     "should fail because the salt is missing",
			token:    rewrite(func(m map[string]any) { delete(m, "salt") }),
			wantDesc: "salt is not base64",
		},
		{
			name:     "should fail because the timestamp is missing",
			token:    rewrite(func(m map[string]any) { delete(m, "timestamp") }),
			wantDesc: "timestamp is not a count of milliseconds",
		},
		{
			name:     "should fail because the timestamp is a fraction",
			token:    rewrite(func(m map[string]any) { m["timestamp"] = 1700000000000.5 }),
			wantDesc: "timestamp is not a count of milliseconds",
		},
		{
			name:     "should fail because the timestamp is in exponent notation",
			token:    rewrite(func(m map[string]any) { m["timestamp"] = json.Number("17e11") }),
			wantDesc: "timestamp is not a count of milliseconds",
		},
		{
			name:     "should fail because the timestamp is negative",
			token:    rewrite(func(m map[string]any) { m["timestamp"] = -1 }),
			wantDesc: "timestamp is not a count of milliseconds",
		},
		{
			name:     "should fail because the timestamp is a string that is no number",
			token:    rewrite(func(m map[string]any) { m["timestamp"] = "1700000000000ms" }),
			wantDesc: "timestamp is not a count of milliseconds",
		},
		{
			name:     "should fail because the timestamp is null",
			token:    rewrite(func(m map[string]any) { m["timestamp"] = nil }),
			wantDesc: "timestamp is not a count of milliseconds",
		},
	}
	for i := range cases {
		cases[i].wantKind, cases[i].wantFetches = broker.KindInvalid, 0
	}
	runVerifyCases(t, cases)
}
