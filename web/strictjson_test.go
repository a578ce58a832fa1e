package web_test

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// Strict JSON on the JSON surfaces (security issue 11, item 7): a body that
// decoders could read two ways (a name given twice, in any letter case, at
// any depth; invalid UTF-8; a lone surrogate) is refused with a 400 before
// anything is read from it, so that two bodies never name one player.

// TestStrictJSONXsolla: POST /users/login/server_custom_id.
func TestStrictJSONXsolla(t *testing.T) {
	t.Parallel()
	xsollaEachStore(t, func(t *testing.T, f *fixture) {
		srv := f.xsServer(t, gameServer("game"))
		ns := xsProject(t, f, "game")
		const attr = `{"key":"k","value":%s,"attr_type":"client","permission":"public"}`
		for _, tc := range []struct {
			why    string
			body   string
			status int
			code   string
			ids    []string // the custom IDs the body could be read as: none may become a player
		}{
			{"the name is given twice in different letter case",
				`{"server_custom_id":"case-a","SERVER_CUSTOM_ID":"case-b"}`, 400, "invalid_json", []string{"case-a", "case-b"}},
			{"the upper-case name comes first",
				`{"Server_Custom_Id":"case-c","server_custom_id":"case-d"}`, 400, "invalid_json", []string{"case-c", "case-d"}},
			{"the name is given twice",
				`{"server_custom_id":"dup-a","server_custom_id":"dup-b"}`, 400, "invalid_json", []string{"dup-a", "dup-b"}},
			{"the name is only in another letter case (so server_custom_id is missing)",
				`{"SERVER_CUSTOM_ID":"case-e"}`, 422, "invalid_field", []string{"case-e"}},
			{`the ID is a lone high surrogate \ud800`,
				`{"server_custom_id":"\ud800"}`, 400, "invalid_json", []string{"\ufffd"}},
			{`the ID is a lone low surrogate \udfff`,
				`{"server_custom_id":"\udfff"}`, 400, "invalid_json", []string{"\ufffd"}},
			{`a high surrogate is followed by no low one \ud800\u0041`,
				`{"server_custom_id":"\ud800\u0041"}`, 400, "invalid_json", []string{"\ufffdA"}},
			{`two high surrogates \ud800\ud800`,
				`{"server_custom_id":"x\ud800\ud800"}`, 400, "invalid_json", []string{"x\ufffd\ufffd"}},
			{`the surrogates are in the wrong order \ude00\ud83d`,
				`{"server_custom_id":"y\ude00\ud83d"}`, 400, "invalid_json", []string{"y\ufffd\ufffd"}},
			{"the ID has an invalid UTF-8 byte",
				"{\"server_custom_id\":\"bad\xffutf8\"}", 400, "invalid_json", []string{"bad\ufffdutf8"}},
			{"the ID has a UTF-8-encoded surrogate",
				"{\"server_custom_id\":\"cesu\xed\xa0\x80\"}", 400, "invalid_json", []string{"cesu\ufffd\ufffd\ufffd"}},
			{"an ignored name has a lone surrogate",
				`{"server_custom_id":"name-a","\udc00":1}`, 400, "invalid_json", []string{"name-a"}},
			{"a nested name is given twice",
				`{"server_custom_id":"nest-a","user_profile":{"nickname":"A","nickname":"B"}}`, 400, "invalid_json", []string{"nest-a"}},
			{"a nested name is given twice in different letter case",
				`{"server_custom_id":"nest-b","social_profile":{"user_id":"s1","platform":"steam","PLATFORM":"discord"}}`, 400, "invalid_json", []string{"nest-b"}},
			{"an attribute value repeats a name",
				`{"server_custom_id":"nest-c","attributes":[` + fmt.Sprintf(attr, `{"a":1,"a":2}`) + `]}`, 400, "invalid_json", []string{"nest-c"}},
			{"an attribute value has a lone surrogate",
				`{"server_custom_id":"nest-d","attributes":[` + fmt.Sprintf(attr, `"\ud800"`) + `]}`, 400, "invalid_json", []string{"nest-d"}},
		} {
			t.Run("should fail because "+tc.why, func(t *testing.T) {
				r := f.xsLogin(t, srv.bearer, xsQuery(ns), tc.body)
				field := ""
				if tc.status == http.StatusUnprocessableEntity {
					field = "server_custom_id"
				}
				xsWantError(t, tc.why, r, tc.status, tc.code, field)
				for _, id := range tc.ids {
					if _, err := f.Store.GetLink(t.Context(), ns, broker.DefaultCustomIDSlot, id); !errors.Is(err, broker.ErrNotFound) {
						t.Errorf("custom ID %q became a player: %v", id, err)
					}
				}
			})
		}
		t.Run("control: a surrogate pair is one character", func(t *testing.T) {
			_, claims := f.xsMustLogin(t, srv.bearer, xsQuery(ns), `{"server_custom_id":"smile-\ud83d\ude00"}`)
			if got := claims["server_custom_id"]; got != "smile-😀" {
				t.Errorf("server_custom_id claim %q, want %q", got, "smile-😀")
			}
		})
		t.Run("control: sibling objects may share names", func(t *testing.T) {
			f.xsMustLogin(t, srv.bearer, xsQuery(ns), `{"server_custom_id":"siblings","attributes":[`+
				fmt.Sprintf(attr, `{"a":1}`)+`,`+strings.Replace(fmt.Sprintf(attr, `{"a":2}`), `"k"`, `"k2"`, 1)+`]}`)
		})
	})
}

// TestStrictJSONGS2: the GS2 surface, liberal otherwise, refuses the same
// bodies as GS2's body.invalid.
func TestStrictJSONGS2(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		id, secret := f.client(t, gameServer("game"))
		hdr := trusted(id, f.gs2ProjectToken(t, id, secret))
		for _, tc := range []struct {
			why     string
			path    string // /gs2/auth/login when empty
			body    string
			gzip    bool
			message string   // the error's message
			users   []string // the userIds the body could be read as: none may become a player
		}{
			{why: "userId is given twice",
				body: `{"userId":"dup-a","userId":"dup-b"}`, message: "auth.accessToken.body.error.invalid", users: []string{"dup-a", "dup-b"}},
			{why: "userId is given twice, gzip-compressed", gzip: true,
				body: `{"userId":"dup-c","userId":"dup-d"}`, message: "auth.accessToken.body.error.invalid", users: []string{"dup-c", "dup-d"}},
			{why: "userId is given twice in different letter case",
				body: `{"userId":"case-a","USERID":"case-b"}`, message: "auth.accessToken.body.error.invalid", users: []string{"case-a", "case-b"}},
			{why: "USERID is not userId",
				body: `{"USERID":"case-c"}`, message: "auth.accessToken.userId.error.required", users: []string{"case-c"}},
			{why: `userId is a lone high surrogate \ud800`,
				body: `{"userId":"\ud800"}`, message: "auth.accessToken.body.error.invalid", users: []string{"\ufffd"}},
			{why: `userId is a lone low surrogate \udfff`,
				body: `{"userId":"\udfff"}`, message: "auth.accessToken.body.error.invalid", users: []string{"\ufffd"}},
			{why: `a high surrogate is followed by no low one \ud800\u0041`,
				body: `{"userId":"\ud800\u0041"}`, message: "auth.accessToken.body.error.invalid", users: []string{"\ufffdA"}},
			{why: "userId has an invalid UTF-8 byte",
				body: "{\"userId\":\"bad\xffutf8\"}", message: "auth.accessToken.body.error.invalid", users: []string{"bad\ufffdutf8"}},
			{why: "an ignored field has an invalid UTF-8 byte",
				body: "{\"userId\":\"utf8-a\",\"contextStack\":\"\xfe\"}", message: "auth.accessToken.body.error.invalid", users: []string{"utf8-a"}},
			{why: "an ignored name has a lone surrogate",
				body: `{"userId":"name-a","\udc00":1}`, message: "auth.accessToken.body.error.invalid", users: []string{"name-a"}},
			{why: "contextStack repeats a name",
				body: `{"userId":"nest-a","contextStack":{"a":1,"a":2}}`, message: "auth.accessToken.body.error.invalid", users: []string{"nest-a"}},
			{why: "a nested name is given twice in different letter case",
				body: `{"userId":"nest-b","extra":[{"k":1,"K":2}]}`, message: "auth.accessToken.body.error.invalid", users: []string{"nest-b"}},
			{why: "client_id is given twice", path: "/gs2/identifier/projectToken/login",
				body:    fmt.Sprintf(`{"client_id":"nobody","client_id":%q,"client_secret":%q}`, id, secret),
				message: "identifier.projectToken.body.error.invalid"},
		} {
			t.Run("should fail because "+tc.why, func(t *testing.T) {
				path, component := cmp.Or(tc.path, "/gs2/auth/login"), "accessToken"
				if tc.path != "" {
					component = "projectToken"
				}
				r := f.gs2Send(t, gs2Call{path: path, body: tc.body, gzip: tc.gzip, header: hdr})
				if it := checkGS2Error(t, r, http.StatusBadRequest, component); it.Message != tc.message {
					t.Errorf("message %q, want %q", it.Message, tc.message)
				}
				for _, u := range tc.users {
					if _, err := f.Store.GetUser(t.Context(), u); !errors.Is(err, broker.ErrNotFound) {
						t.Errorf("userId %q became a player: %v", u, err)
					}
				}
			})
		}
		t.Run("control: a surrogate pair is one character", func(t *testing.T) {
			r := f.gs2Send(t, gs2Call{path: "/gs2/auth/login", body: `{"userId":"smile-\ud83d\ude00"}`, header: hdr})
			if r.Status != http.StatusOK || r.str("userId") != "smile-😀" {
				t.Fatalf("%d %s", r.Status, r.Raw)
			}
		})
		t.Run("control: a nested object may reuse a top-level name", func(t *testing.T) {
			body, _ := json.Marshal(map[string]any{"userId": "outer", "contextStack": map[string]any{"userId": "inner"}})
			r := f.gs2Send(t, gs2Call{path: "/gs2/auth/login", body: string(body), header: hdr})
			if r.Status != http.StatusOK || r.str("userId") != "outer" {
				t.Fatalf("%d %s", r.Status, r.Raw)
			}
		})
	})
}
