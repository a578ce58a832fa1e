package web_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// jwtPayload decodes a JWT's claims without verifying them.
func jwtPayload(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

func TestGS2ProjectLogin(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		id, secret := f.client(t, gameServer("game"))
		publicSpec := gameServer("game")
		publicSpec.Public, publicSpec.Grants = true, []string{broker.GrantRefreshToken}
		publicID, _ := f.client(t, publicSpec)
		tests := []struct {
			name   string
			body   string
			status int
		}{
			{"good", fmt.Sprintf(`{"client_id":%q,"client_secret":%q}`, id, secret), http.StatusOK},
			{"wrong secret", fmt.Sprintf(`{"client_id":%q,"client_secret":"bks_wrong"}`, id), http.StatusUnauthorized},
			{"no secret", fmt.Sprintf(`{"client_id":%q}`, id), http.StatusUnauthorized},
			{"unknown client", fmt.Sprintf(`{"client_id":"nobody","client_secret":%q}`, secret), http.StatusUnauthorized},
			{"public client", fmt.Sprintf(`{"client_id":%q}`, publicID), http.StatusUnauthorized},
			{"no client_id", `{"client_secret":"x"}`, http.StatusBadRequest},
			{"malformed JSON", `{"client_id":`, http.StatusBadRequest},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				r := f.gs2Send(t, gs2Call{path: "/gs2/identifier/projectToken/login", body: tc.body})
				if tc.status != http.StatusOK {
					checkGS2Error(t, r, tc.status, "projectToken")
					return
				}
				if r.Status != http.StatusOK || r.str("token_type") != "Bearer" || r.Body["expires_in"] != float64(3600) || r.str("owner_id") != "bridgekeeper" {
					t.Fatalf("%d %s", r.Status, r.Raw)
				}
				if c := jwtPayload(t, r.str("access_token")); c["client_id"] != id || c["userId"] != nil {
					t.Errorf("project token claims %v", c)
				}
			})
		}
	})
}

// TestGS2Login: GS2-Auth's login, with and without a time-offset token.
func TestGS2Login(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		clientID, project := f.gs2Project(t, "game")
		hdr := trusted(clientID, project)
		offsetToken := func(t *testing.T, userID string, offset int) string {
			t.Helper()
			r := f.gs2Send(t, gs2Call{path: "/gs2/auth/timeoffset/token", body: fmt.Sprintf(`{"userId":%q,"timeOffset":%d}`, userID, offset), header: hdr})
			if r.Status != http.StatusOK || r.str("token") == "" || r.str("userId") != userID || r.Body["expire"] == nil {
				t.Fatalf("timeoffset/token: %d %s", r.Status, r.Raw)
			}
			return r.str("token")
		}
		aliceToken := offsetToken(t, "alice", 7200)
		tampered := aliceToken[:len(aliceToken)-2] + "xx"
		tests := []struct {
			name        string
			body        string
			offsetToken string
			status      int
			offset      int
		}{
			{"no time offset", `{"userId":"alice"}`, "", http.StatusOK, 0},
			{"body time offset", `{"userId":"alice","timeOffset":60}`, "", http.StatusOK, 60},
			{"time-offset token wins", `{"userId":"alice","timeOffset":60}`, aliceToken, http.StatusOK, 7200},
			{"time-offset token of another user", `{"userId":"bob"}`, aliceToken, http.StatusBadRequest, 0},
			{"tampered time-offset token", `{"userId":"alice"}`, tampered, http.StatusBadRequest, 0},
			{"garbage time-offset token", `{"userId":"alice"}`, "garbage", http.StatusBadRequest, 0},
			{"userId of 128 characters", fmt.Sprintf(`{"userId":%q}`, strings.Repeat("u", 128)), "", http.StatusOK, 0},
			{"userId of 129 characters", fmt.Sprintf(`{"userId":%q}`, strings.Repeat("u", 129)), "", http.StatusBadRequest, 0},
			{"userId with a control character", `{"userId":"a\u0001b"}`, "", http.StatusBadRequest, 0},
			{"no userId", `{"timeOffset":1}`, "", http.StatusBadRequest, 0},
			{"timeOffset -1", `{"userId":"alice","timeOffset":-1}`, "", http.StatusBadRequest, 0},
			{"timeOffset 315360000", `{"userId":"alice","timeOffset":315360000}`, "", http.StatusOK, 315360000},
			{"timeOffset 315360001", `{"userId":"alice","timeOffset":315360001}`, "", http.StatusBadRequest, 0},
			{"timeOffset 315360001 as a string", `{"userId":"alice","timeOffset":"315360001"}`, "", http.StatusBadRequest, 0},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				h := map[string]string{"X-GS2-TIME-OFFSET-TOKEN": tc.offsetToken}
				for k, v := range hdr {
					h[k] = v
				}
				r := f.gs2Send(t, gs2Call{path: "/gs2/auth/login", body: tc.body, header: h})
				if tc.status != http.StatusOK {
					checkGS2Error(t, r, tc.status, "accessToken")
					return
				}
				if r.Status != http.StatusOK {
					t.Fatalf("%d %s", r.Status, r.Raw)
				}
				var userID string
				json.Unmarshal([]byte(tc.body), &struct{ UserID *string }{&userID})
				c := jwtPayload(t, r.str("token"))
				if r.str("userId") != userID || c["userId"] != userID || c["sub"] != userID || c["timeOffset"] != float64(tc.offset) {
					t.Errorf("answer %s, claims %v", r.Raw, c)
				}
				exp, _ := r.Body["expire"].(float64)
				if want := f.Clock.Now().Add(time.Hour).UnixMilli(); exp < float64(want-5000) || exp > float64(want+5000) {
					t.Errorf("expire %v, want about %d (Unix ms)", exp, want)
				}
			})
		}
	})
}

// TestGS2TimeOffsetTokenExpires: a time-offset token lives an hour.
func TestGS2TimeOffsetTokenExpires(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		id, secret := f.client(t, gameServer("game"))
		project := f.gs2ProjectToken(t, id, secret)
		r := f.gs2Send(t, gs2Call{path: "/gs2/auth/timeoffset/token", body: `{"userId":"alice","timeOffset":"3600"}`, header: trusted(id, project)})
		if r.Status != http.StatusOK {
			t.Fatalf("timeoffset/token: %d %s", r.Status, r.Raw)
		}
		offsetToken := r.str("token")
		f.Clock.Advance(61 * time.Minute)
		h := trusted(id, f.gs2ProjectToken(t, id, secret)) // the old project token expired too
		h["X-GS2-TIME-OFFSET-TOKEN"] = offsetToken
		r = f.gs2Send(t, gs2Call{path: "/gs2/auth/login", body: `{"userId":"alice"}`, header: h})
		checkGS2Error(t, r, http.StatusBadRequest, "accessToken")
	})
}

// TestGS2TimeOffsetTokenRequest: issueTimeOffsetTokenByUserId's checks.
func TestGS2TimeOffsetTokenRequest(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		clientID, project := f.gs2Project(t, "game")
		tests := []struct {
			name   string
			body   string
			header map[string]string
			status int
		}{
			{"good", `{"userId":"alice","timeOffset":10}`, trusted(clientID, project), http.StatusOK},
			{"no project token", `{"userId":"alice","timeOffset":10}`, nil, http.StatusUnauthorized},
			{"no userId", `{"timeOffset":10}`, trusted(clientID, project), http.StatusBadRequest},
			{"timeOffset -1", `{"userId":"alice","timeOffset":-1}`, trusted(clientID, project), http.StatusBadRequest},
			{"timeOffset 315360001", `{"userId":"alice","timeOffset":315360001}`, trusted(clientID, project), http.StatusBadRequest},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				r := f.gs2Send(t, gs2Call{path: "/gs2/auth/timeoffset/token", body: tc.body, header: tc.header})
				switch {
				case tc.status == http.StatusOK && r.Status != http.StatusOK:
					t.Fatalf("%d %s", r.Status, r.Raw)
				case tc.status == http.StatusUnauthorized:
					checkGS2Error(t, r, tc.status, "accessToken")
				case tc.status != http.StatusOK:
					checkGS2Error(t, r, tc.status, "timeOffsetToken")
				}
			})
		}
	})
}

// TestGS2LoginUserElsewhere: a userId taken in another namespace is a 409,
// and the namespace that has it keeps logging it in.
func TestGS2LoginUserElsewhere(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		gameID, gameProject := f.gs2Project(t, "game")
		otherID, otherProject := f.gs2Project(t, "other")
		login := func(clientID, project string) response {
			return f.gs2Send(t, gs2Call{path: "/gs2/auth/login", body: `{"userId":"carol"}`, header: trusted(clientID, project)})
		}
		if r := login(otherID, otherProject); r.Status != http.StatusOK {
			t.Fatalf("first login: %d %s", r.Status, r.Raw)
		}
		it := checkGS2Error(t, login(gameID, gameProject), http.StatusConflict, "accessToken")
		if it.Message != "auth.accessToken.userId.error.conflict" {
			t.Errorf("message %q", it.Message)
		}
		if r := login(otherID, otherProject); r.Status != http.StatusOK {
			t.Fatalf("second login: %d %s", r.Status, r.Raw)
		}
	})
}
