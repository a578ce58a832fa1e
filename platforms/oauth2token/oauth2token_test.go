package oauth2token_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/platforms"
	"github.com/bridgekeeper/bridgekeeper/platforms/oauth2token"
	"github.com/bridgekeeper/bridgekeeper/platforms/oauth2token/oauth2tokentest"
	"github.com/bridgekeeper/bridgekeeper/platforms/platformtest"
)

const (
	ourApp   = "1100000000000000001"
	otherApp = "1200000000000000002"
	user     = "80351110224678912"
)

func verify(t *testing.T, cfg oauth2token.Config, token string) (platforms.Identity, error) {
	t.Helper()
	v, err := oauth2token.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return v.Verify(t.Context(), platforms.Request{Token: token, TokenType: platforms.TokenTypeAccessToken})
}

func TestVerify(t *testing.T) {
	for _, tc := range []struct {
		name string
		// issue prepares the fake and returns the token the game sends.
		issue  func(s *oauth2tokentest.Server) string
		config func(c *oauth2token.Config, s *oauth2tokentest.Server)
		outage platformtest.Outage
		// wantUser is the identity on success; otherwise wantKind and a
		// piece of the error.
		wantUser     string
		wantKind     broker.Kind
		wantDesc     string
		wantRequests int // -1: any
	}{
		{
			name:     "a token of our application is its user's",
			issue:    func(s *oauth2tokentest.Server) string { return s.Issue(user, "") },
			wantUser: user, wantRequests: 2,
		},
		{
			name:  "the user ID may sit in a nested field",
			issue: func(s *oauth2tokentest.Server) string { return s.Issue(user, "") },
			config: func(c *oauth2token.Config, _ *oauth2tokentest.Server) {
				c.UserIDField = "data.user.id"
			},
			wantUser: "mobage:77", wantRequests: 2,
		},
		{
			name:  "the token info answer serves as user info when both are one URL",
			issue: func(s *oauth2tokentest.Server) string { return s.Issue(user, "") },
			config: func(c *oauth2token.Config, s *oauth2tokentest.Server) {
				c.UserinfoURL, c.UserIDField = s.TokenInfoURL(), "user.id"
			},
			wantUser: user, wantRequests: 1,
		},
		{
			name:  "a numeric user ID is its decimal text, all 64 bits of it",
			issue: func(s *oauth2tokentest.Server) string { return s.Issue(user, "") },
			config: func(c *oauth2token.Config, _ *oauth2tokentest.Server) {
				c.UserIDField = "numeric_id"
			},
			wantUser: "18446744073709551615", wantRequests: 2,
		},
		{
			name:     "should fail because the token was issued to another application",
			issue:    func(s *oauth2tokentest.Server) string { return s.Issue(user, otherApp) },
			wantKind: broker.KindInvalid, wantDesc: "the access token was issued to another application", wantRequests: 1,
		},
		{
			name: "should fail because the token was revoked",
			issue: func(s *oauth2tokentest.Server) string {
				tok := s.Issue(user, "")
				s.Revoke(tok)
				return tok
			},
			wantKind: broker.KindInvalid, wantDesc: "the platform refused the access token", wantRequests: 1,
		},
		{
			name:     "should fail because the platform does not know the token",
			issue:    func(*oauth2tokentest.Server) string { return "NeverIssuedByThePlatform0123" },
			wantKind: broker.KindInvalid, wantDesc: "the platform refused the access token", wantRequests: 1,
		},
		{
			name:  "should fail because user info lacks the user ID field",
			issue: func(s *oauth2tokentest.Server) string { return s.Issue(user, "") },
			config: func(c *oauth2token.Config, _ *oauth2tokentest.Server) {
				c.UserIDField = "uid"
			},
			wantKind: broker.KindUnavailable, wantDesc: "no uid in the answer", wantRequests: 2,
		},
		{
			name:  "should fail because the user ID path runs into a string",
			issue: func(s *oauth2tokentest.Server) string { return s.Issue(user, "") },
			config: func(c *oauth2token.Config, _ *oauth2tokentest.Server) {
				c.UserIDField = "id.value"
			},
			wantKind: broker.KindUnavailable, wantDesc: "id is not an object", wantRequests: 2,
		},
		{
			name:  "should fail because the user ID is a fraction",
			issue: func(s *oauth2tokentest.Server) string { return s.Issue(user, "") },
			config: func(c *oauth2token.Config, _ *oauth2tokentest.Server) {
				c.UserIDField = "score"
			},
			wantKind: broker.KindUnavailable, wantDesc: "score is a number but not an integer", wantRequests: 2,
		},
		{
			name:  "should fail because the user ID is a boolean",
			issue: func(s *oauth2tokentest.Server) string { return s.Issue(user, "") },
			config: func(c *oauth2token.Config, _ *oauth2tokentest.Server) {
				c.UserIDField = "mfa_enabled"
			},
			wantKind: broker.KindUnavailable, wantDesc: "mfa_enabled is a boolean", wantRequests: 2,
		},
		{
			name:  "should fail because the user ID is an object",
			issue: func(s *oauth2tokentest.Server) string { return s.Issue(user, "") },
			config: func(c *oauth2token.Config, _ *oauth2tokentest.Server) {
				c.UserIDField = "data.user"
			},
			wantKind: broker.KindUnavailable, wantDesc: "data.user is an object", wantRequests: 2,
		},
		{
			name:  "should fail because the user ID is null",
			issue: func(s *oauth2tokentest.Server) string { return s.Issue(user, "") },
			config: func(c *oauth2token.Config, _ *oauth2tokentest.Server) {
				c.UserIDField = "avatar"
			},
			wantKind: broker.KindUnavailable, wantDesc: "avatar is null", wantRequests: 2,
		},
		{
			name:     "should fail because the user ID is empty",
			issue:    func(s *oauth2tokentest.Server) string { return s.Issue("", "") },
			wantKind: broker.KindUnavailable, wantDesc: "id is empty", wantRequests: 2,
		},
		{
			name:     "should fail because the user ID holds a control character",
			issue:    func(s *oauth2tokentest.Server) string { return s.Issue("80351110224678912\n", "") },
			wantKind: broker.KindUnavailable, wantDesc: "not a plausible user ID", wantRequests: 2,
		},
		{
			name:  "should fail because token info lacks the application field, which is the operator's to fix",
			issue: func(s *oauth2tokentest.Server) string { return s.Issue(user, "") },
			config: func(c *oauth2token.Config, _ *oauth2tokentest.Server) {
				c.ApplicationField = "app.id"
			},
			wantKind: broker.KindUnavailable, wantDesc: "no app in the answer", wantRequests: 1,
		},
		{
			name:     "should fail because the platform answers 500",
			issue:    func(s *oauth2tokentest.Server) string { return s.Issue(user, "") },
			outage:   platformtest.Failing,
			wantKind: broker.KindUnavailable, wantDesc: "discord is unavailable", wantRequests: 1,
		},
		{
			name:     "should fail because the platform does not answer within the timeout",
			issue:    func(s *oauth2tokentest.Server) string { return s.Issue(user, "") },
			outage:   platformtest.Hanging,
			wantKind: broker.KindUnavailable, wantDesc: "discord is unavailable", wantRequests: 1,
		},
		{
			name:     "should fail because the token is empty, without a call",
			issue:    func(*oauth2tokentest.Server) string { return "" },
			wantKind: broker.KindInvalid, wantDesc: "empty", wantRequests: 0,
		},
		{
			name:     "should fail because the token would break the header, without a call",
			issue:    func(s *oauth2tokentest.Server) string { return s.Issue(user, "") + "\r\nX-Evil: 1" },
			wantKind: broker.KindInvalid, wantDesc: "not a Bearer token", wantRequests: 0,
		},
		{
			name:     "should fail because the token is padding alone, without a call",
			issue:    func(*oauth2tokentest.Server) string { return "==" },
			wantKind: broker.KindInvalid, wantDesc: "not a Bearer token", wantRequests: 0,
		},
		{
			name:     "should fail because the token is absurdly long, without a call",
			issue:    func(*oauth2tokentest.Server) string { return strings.Repeat("a", 8193) },
			wantKind: broker.KindInvalid, wantDesc: "too long", wantRequests: 0,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := oauth2tokentest.NewServer(t, ourApp)
			token := tc.issue(s)
			s.SetUserFields(token, map[string]any{
				"data":       map[string]any{"user": map[string]any{"id": "mobage:77"}},
				"numeric_id": uint64(18446744073709551615),
				"score":      1.5,
			})
			cfg := s.Config("discord")
			cfg.Timeout = 200 * time.Millisecond
			if tc.config != nil {
				tc.config(&cfg, s)
			}
			s.SetOutage(tc.outage)

			id, err := verify(t, cfg, token)

			if tc.wantRequests >= 0 && s.Requests() != tc.wantRequests {
				t.Errorf("the platform got %d requests, want %d", s.Requests(), tc.wantRequests)
			}
			if tc.wantUser != "" {
				platformtest.WantUser(t, id, err, tc.wantUser)
				return
			}
			platformtest.WantRefusal(t, id, err, tc.wantKind, tc.wantDesc, token)
		})
	}
}

// TestVerifyJudgesOtherShapes covers what a platform other than Discord
// may answer: the fake speaks only Discord.
func TestVerifyJudgesOtherShapes(t *testing.T) {
	const token = "T0kenOfTheGame"
	for _, tc := range []struct {
		name           string
		infoStatus     int
		info, userinfo string
		wantUser       string
		wantKind       broker.Kind
		wantDesc       string
	}{
		{
			name:       "a numeric application ID matches its decimal text",
			infoStatus: http.StatusOK, info: `{"app":{"id":1100000000000000001}}`, userinfo: `{"id":"u1"}`,
			wantUser: "u1",
		},
		{
			name:       "should fail because a numeric application ID is another",
			infoStatus: http.StatusOK, info: `{"app":{"id":1100000000000000002}}`, userinfo: `{"id":"u1"}`,
			wantKind: broker.KindInvalid, wantDesc: "issued to another application",
		},
		{
			name:       "should fail because the application ID is a fraction",
			infoStatus: http.StatusOK, info: `{"app":{"id":1.1e18}}`, userinfo: `{"id":"u1"}`,
			wantKind: broker.KindUnavailable, wantDesc: "app.id is a number but not an integer",
		},
		{
			name:       "should fail because the platform forbids the token",
			infoStatus: http.StatusForbidden, info: `{"message":"Missing Access","code":50001}`,
			wantKind: broker.KindInvalid, wantDesc: "the platform refused the access token",
		},
		{
			name:       "should fail because the platform rate limits us",
			infoStatus: http.StatusTooManyRequests, info: `{"message":"You are being rate limited.","retry_after":1.5,"global":false}`,
			wantKind: broker.KindUnavailable, wantDesc: "token info answered 429",
		},
		{
			name:       "should fail because the token info answer is not JSON",
			infoStatus: http.StatusOK, info: `<html>`,
			wantKind: broker.KindUnavailable, wantDesc: "decode answer",
		},
		{
			name:       "should fail because the token info answer is null",
			infoStatus: http.StatusOK, info: `null`,
			wantKind: broker.KindUnavailable, wantDesc: "no app in the answer: the answer is not an object",
		},
		{
			name:       "an array index in the user ID path picks an element",
			infoStatus: http.StatusOK, info: `{"app":{"id":"1100000000000000001"}}`, userinfo: `{"entry":[{"id":"7"}]}`,
			wantUser: "7",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "Bearer "+token {
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				if r.URL.Path == "/info" {
					w.WriteHeader(tc.infoStatus)
					_, _ = w.Write([]byte(tc.info))
					return
				}
				_, _ = w.Write([]byte(tc.userinfo))
			}))
			t.Cleanup(srv.Close)
			cfg := oauth2token.Config{
				TokenInfoURL: srv.URL + "/info", ApplicationField: "app.id", ApplicationID: ourApp,
				UserinfoURL: srv.URL + "/me", UserIDField: "id",
			}
			if strings.Contains(tc.userinfo, "entry") {
				cfg.UserIDField = "entry.0.id"
			}

			id, err := verify(t, cfg, token)

			if tc.wantUser != "" {
				platformtest.WantUser(t, id, err, tc.wantUser)
				return
			}
			platformtest.WantRefusal(t, id, err, tc.wantKind, tc.wantDesc, token)
		})
	}
}

func TestVerifyRefusesOtherTokenTypes(t *testing.T) {
	s := oauth2tokentest.NewServer(t, ourApp)
	v, err := oauth2token.New(s.Config("discord"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(t.Context(), platforms.Request{Token: s.Issue(user, ""), TokenType: platforms.TokenTypeSteamTicket})
	if broker.KindOf(err) != broker.KindInvalid {
		t.Fatalf("Verify of a Steam ticket = %v, want an invalid refusal", err)
	}
	if s.Requests() != 0 {
		t.Errorf("the platform got %d requests, want none", s.Requests())
	}
}

func TestTokenTypes(t *testing.T) {
	s := oauth2tokentest.NewServer(t, ourApp)
	v, err := oauth2token.New(s.Config("discord"))
	if err != nil {
		t.Fatal(err)
	}
	if got := v.TokenTypes(); len(got) != 1 || got[0] != platforms.TokenTypeAccessToken {
		t.Fatalf("TokenTypes = %q, want only %q", got, platforms.TokenTypeAccessToken)
	}
}

// TestVerifyHonoursContext: the caller's deadline bounds the call even
// when the configured timeout is longer.
func TestVerifyHonoursContext(t *testing.T) {
	s := oauth2tokentest.NewServer(t, ourApp)
	s.SetOutage(platformtest.Hanging)
	cfg := s.Config("")
	cfg.Timeout = time.Minute
	v, err := oauth2token.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err = v.Verify(ctx, platforms.Request{Token: s.Issue(user, ""), TokenType: platforms.TokenTypeAccessToken})
	if broker.KindOf(err) != broker.KindUnavailable {
		t.Fatalf("Verify = %v, want unavailable", err)
	}
	// With no name, the platform is labelled by its host.
	if !strings.Contains(err.Error(), "127.0.0.1 is unavailable") {
		t.Errorf("error %q does not name the platform by its host", err)
	}
}

func TestNew(t *testing.T) {
	valid := oauth2token.Config{
		Name:         "discord",
		TokenInfoURL: "https://discord.com/api/oauth2/@me", ApplicationField: "application.id", ApplicationID: ourApp,
		UserinfoURL: "https://discord.com/api/users/@me", UserIDField: "id",
	}
	for _, tc := range []struct {
		name   string
		mutate func(c *oauth2token.Config)
		want   []string // each a piece of one problem; none: valid
	}{
		{name: "Discord's config is valid", mutate: func(*oauth2token.Config) {}},
		{name: "a loopback http URL is valid (tests)", mutate: func(c *oauth2token.Config) { c.UserinfoURL = "http://localhost:8080/me" }},
		{name: "should fail because the user-info URL is missing", mutate: func(c *oauth2token.Config) { c.UserinfoURL = "" }, want: []string{"userinfo_url must not be empty"}},
		{name: "should fail because the user-info URL is relative", mutate: func(c *oauth2token.Config) { c.UserinfoURL = "/api/users/@me" }, want: []string{"userinfo_url", "not an absolute http(s) URL"}},
		{name: "should fail because the token-info URL sends tokens in clear", mutate: func(c *oauth2token.Config) { c.TokenInfoURL = "http://discord.com/api/oauth2/@me" }, want: []string{"token_info_url", "must be https"}},
		{name: "should fail because the user ID field is missing", mutate: func(c *oauth2token.Config) { c.UserIDField = "" }, want: []string{"user_id_field must not be empty"}},
		{name: "should fail because the user ID field has an empty key", mutate: func(c *oauth2token.Config) { c.UserIDField = "data..id" }, want: []string{`user_id_field "data..id" has an empty key`}},
		{name: "should fail because the token-info URL is missing", mutate: func(c *oauth2token.Config) { c.TokenInfoURL = "" }, want: []string{"token_info_url must not be empty"}},
		{name: "should fail because the application field is missing", mutate: func(c *oauth2token.Config) { c.ApplicationField = "" }, want: []string{"application_field must not be empty"}},
		{name: "should fail because the application ID is missing", mutate: func(c *oauth2token.Config) { c.ApplicationID = "" }, want: []string{"application_id must not be empty"}},
		{name: "should fail because the timeout is negative", mutate: func(c *oauth2token.Config) { c.Timeout = -1 }, want: []string{"timeout", "is negative"}},
		{
			name:   "should fail because of every problem at once",
			mutate: func(c *oauth2token.Config) { c.TokenInfoURL, c.ApplicationField, c.ApplicationID = "", "", "" },
			want:   []string{"token_info_url", "application_field", "application_id"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := valid
			tc.mutate(&cfg)
			v, err := oauth2token.New(cfg)
			if len(tc.want) == 0 {
				if err != nil || v == nil {
					t.Fatalf("New = %v, %v; want a verifier", v, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("New succeeded, want an error saying %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}
