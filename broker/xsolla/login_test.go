package xsolla_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/xsolla"
)

// validLogin is a request that breaks no rule: two attributes, a social
// profile and a nickname.
func validLogin() xsolla.CustomIDLogin {
	nickname := "Hero"
	return xsolla.CustomIDLogin{
		ServerCustomID: "player-42",
		Attributes: []broker.Attribute{
			{Key: "level", Value: `3`, Type: "client", Permission: "public"},
			{Key: "Gold_2", Value: `"x"`, Type: "server", Permission: "private", ReadOnly: true},
		},
		Social:   &broker.Link{Slot: 3, Identifier: "steam:7656119"},
		Nickname: &nickname,
		Payload:  "anything",
	}
}

func TestCustomIDLoginValidate(t *testing.T) {
	str := func(s string) *string { return &s }
	for _, tc := range []struct {
		name      string
		edit      func(r *xsolla.CustomIDLogin)
		wantField string // "" = valid
	}{
		{"a full valid request passes", func(r *xsolla.CustomIDLogin) {}, ""},
		{"a bare server_custom_id passes", func(r *xsolla.CustomIDLogin) {
			*r = xsolla.CustomIDLogin{ServerCustomID: "p"}
		}, ""},
		{"a server_custom_id of MaxCustomIDLen characters passes", func(r *xsolla.CustomIDLogin) {
			r.ServerCustomID = strings.Repeat("x", broker.MaxCustomIDLen)
		}, ""},
		{"a server_custom_id of MaxCustomIDLen multi-byte characters passes", func(r *xsolla.CustomIDLogin) {
			r.ServerCustomID = strings.Repeat("é", broker.MaxCustomIDLen)
		}, ""},
		{"a key of MaxAttributeKeyLen characters passes", func(r *xsolla.CustomIDLogin) {
			r.Attributes[0].Key = strings.Repeat("k", xsolla.MaxAttributeKeyLen)
		}, ""},
		{"keys differing only in case pass", func(r *xsolla.CustomIDLogin) {
			r.Attributes[1].Key = "LEVEL"
		}, ""},
		{"an empty nickname passes", func(r *xsolla.CustomIDLogin) { r.Nickname = str("") }, ""},
		{"a nickname of MaxNicknameLen characters passes", func(r *xsolla.CustomIDLogin) {
			r.Nickname = str(strings.Repeat("ü", xsolla.MaxNicknameLen))
		}, ""},

		{"should fail because server_custom_id is empty", func(r *xsolla.CustomIDLogin) {
			r.ServerCustomID = ""
		}, "server_custom_id"},
		{"should fail because server_custom_id is longer than MaxCustomIDLen", func(r *xsolla.CustomIDLogin) {
			r.ServerCustomID = strings.Repeat("x", broker.MaxCustomIDLen+1)
		}, "server_custom_id"},
		{"should fail because server_custom_id holds a NUL", func(r *xsolla.CustomIDLogin) {
			r.ServerCustomID = "player\x0042"
		}, "server_custom_id"},
		{"should fail because server_custom_id holds a newline", func(r *xsolla.CustomIDLogin) {
			r.ServerCustomID = "player\n42"
		}, "server_custom_id"},
		{"should fail because server_custom_id holds DEL", func(r *xsolla.CustomIDLogin) {
			r.ServerCustomID = "player\x7f"
		}, "server_custom_id"},
		{"should fail because server_custom_id is not UTF-8", func(r *xsolla.CustomIDLogin) {
			r.ServerCustomID = "player\xff"
		}, "server_custom_id"},
		{"should fail because an attribute key has a dash", func(r *xsolla.CustomIDLogin) {
			r.Attributes[0].Key = "max-level"
		}, "attributes[0].key"},
		{"should fail because the second attribute key has a dash", func(r *xsolla.CustomIDLogin) {
			r.Attributes[1].Key = "gold-2"
		}, "attributes[1].key"},
		{"should fail because an attribute key is empty", func(r *xsolla.CustomIDLogin) {
			r.Attributes[0].Key = ""
		}, "attributes[0].key"},
		{"should fail because an attribute key has a space", func(r *xsolla.CustomIDLogin) {
			r.Attributes[0].Key = "max level"
		}, "attributes[0].key"},
		{"should fail because an attribute key is not ASCII", func(r *xsolla.CustomIDLogin) {
			r.Attributes[0].Key = "niveau_é"
		}, "attributes[0].key"},
		{"should fail because an attribute key ends with a newline", func(r *xsolla.CustomIDLogin) {
			r.Attributes[0].Key = "level\n"
		}, "attributes[0].key"},
		{"should fail because an attribute key is longer than MaxAttributeKeyLen", func(r *xsolla.CustomIDLogin) {
			r.Attributes[0].Key = strings.Repeat("k", xsolla.MaxAttributeKeyLen+1)
		}, "attributes[0].key"},
		{"should fail because the same key is given twice", func(r *xsolla.CustomIDLogin) {
			r.Attributes[1].Key = r.Attributes[0].Key
		}, "attributes[1].key"},
		{"should fail because attr_type is empty", func(r *xsolla.CustomIDLogin) {
			r.Attributes[0].Type = ""
		}, "attributes[0].attr_type"},
		{"should fail because attr_type is not client or server", func(r *xsolla.CustomIDLogin) {
			r.Attributes[1].Type = "public"
		}, "attributes[1].attr_type"},
		{"should fail because attr_type is capitalised", func(r *xsolla.CustomIDLogin) {
			r.Attributes[0].Type = "Client"
		}, "attributes[0].attr_type"},
		{"should fail because permission is empty", func(r *xsolla.CustomIDLogin) {
			r.Attributes[0].Permission = ""
		}, "attributes[0].permission"},
		{"should fail because permission is not private or public", func(r *xsolla.CustomIDLogin) {
			r.Attributes[1].Permission = "protected"
		}, "attributes[1].permission"},
		{"should fail because permission is capitalised", func(r *xsolla.CustomIDLogin) {
			r.Attributes[1].Permission = "Private"
		}, "attributes[1].permission"},
		{"should fail because the social identifier is empty", func(r *xsolla.CustomIDLogin) {
			r.Social.Identifier = ""
		}, "social_profile.user_id"},
		{"should fail because the social identifier holds a control character", func(r *xsolla.CustomIDLogin) {
			r.Social.Identifier = "steam:\t7656119"
		}, "social_profile.user_id"},
		{"should fail because the social identifier is longer than MaxIdentifierLen", func(r *xsolla.CustomIDLogin) {
			r.Social.Identifier = strings.Repeat("s", broker.MaxIdentifierLen+1)
		}, "social_profile.user_id"},
		{"should fail because the nickname holds a control character", func(r *xsolla.CustomIDLogin) {
			r.Nickname = str("He\x1bro")
		}, "user_profile.nickname"},
		{"should fail because the nickname is longer than MaxNicknameLen", func(r *xsolla.CustomIDLogin) {
			r.Nickname = str(strings.Repeat("n", xsolla.MaxNicknameLen+1))
		}, "user_profile.nickname"},
		{"should fail because the nickname is not UTF-8", func(r *xsolla.CustomIDLogin) {
			r.Nickname = str("Hero\xc3")
		}, "user_profile.nickname"},
		{"should fail on server_custom_id first when every rule is broken", func(r *xsolla.CustomIDLogin) {
			r.ServerCustomID = ""
			r.Attributes[0].Key = "a-b"
			r.Social.Identifier = ""
			r.Nickname = str("\x00")
		}, "server_custom_id"},
		{"should fail on the first broken attribute", func(r *xsolla.CustomIDLogin) {
			r.Attributes[0].Permission = "nope"
			r.Attributes[1].Key = "a-b"
		}, "attributes[0].permission"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := validLogin()
			tc.edit(&r)
			err := r.Validate()
			if tc.wantField == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var be *broker.Error
			if !errors.As(err, &be) {
				t.Fatalf("Validate() = %v (%T), want a *broker.Error on %q", err, err, tc.wantField)
			}
			if be.Field != tc.wantField || be.Kind != broker.KindInvalid {
				t.Fatalf("Validate() = field %q kind %v (%v), want field %q kind %v",
					be.Field, be.Kind, err, tc.wantField, broker.KindInvalid)
			}
			if be.Description == "" {
				t.Fatalf("Validate() on %q has no description", be.Field)
			}
		})
	}
}

// TestBounds pins the limits the cases above are written against.
func TestBounds(t *testing.T) {
	for _, tc := range []struct {
		name      string
		got, want int
	}{
		{"broker.MaxCustomIDLen", broker.MaxCustomIDLen, 256},
		{"MaxAttributeKeyLen", xsolla.MaxAttributeKeyLen, 256},
		{"MaxNicknameLen", xsolla.MaxNicknameLen, 255},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %d, want %d", tc.name, tc.got, tc.want)
		}
	}
}
