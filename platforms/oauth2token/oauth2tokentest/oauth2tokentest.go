package oauth2tokentest

import (
	"crypto/rand"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/platforms/oauth2token"
	"github.com/bridgekeeper/bridgekeeper/platforms/platformtest"
)

// Discord's paths, relative to URL.
const (
	TokenInfoPath = "/api/oauth2/@me"
	UserinfoPath  = "/api/users/@me"
)

// Server is a fake Discord API.
type Server struct {
	srv    *httptest.Server
	appID  string
	faults *platformtest.Faults

	mu     sync.Mutex
	tokens map[string]*grant
}

type grant struct {
	userID, appID string
	revoked       bool
	expires       time.Time
	userFields    map[string]any
}

// NewServer starts a fake Discord on loopback whose own application is
// appID; it is closed when t ends.
func NewServer(t testing.TB, appID string) *Server {
	t.Helper()
	s := &Server{appID: appID, tokens: map[string]*grant{}}
	s.srv, s.faults = platformtest.Serve(t, false, func(w http.ResponseWriter) {
		writeJSON(w, http.StatusInternalServerError, map[string]any{"message": "500: Internal Server Error", "code": 0})
	}, s.serve)
	return s
}

// URL is the fake's base URL.
func (s *Server) URL() string { return s.srv.URL }

// TokenInfoURL is the fake's GET /api/oauth2/@me.
func (s *Server) TokenInfoURL() string { return s.srv.URL + TokenInfoPath }

// UserinfoURL is the fake's GET /api/users/@me.
func (s *Server) UserinfoURL() string { return s.srv.URL + UserinfoPath }

// Config is an oauth2token.Config for this fake as for Discord, with the
// server's application as ours.
func (s *Server) Config(name string) oauth2token.Config {
	return oauth2token.Config{
		Name:             name,
		TokenInfoURL:     s.TokenInfoURL(),
		ApplicationField: "application.id",
		ApplicationID:    s.appID,
		UserinfoURL:      s.UserinfoURL(),
		UserIDField:      "id",
	}
}

// Issue mints an access token of the user userID issued to the
// application appID (the server's when empty), as Discord's token
// endpoint would.
func (s *Server) Issue(userID, appID string) string {
	if appID == "" {
		appID = s.appID
	}
	token := rand.Text() // 26 base32 characters, like Discord's 30 alphanumerics
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[token] = &grant{userID: userID, appID: appID, expires: time.Now().Add(7 * 24 * time.Hour).UTC()}
	return token
}

// Revoke revokes token: the fake answers 401 for it from now on.
func (s *Server) Revoke(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g, ok := s.tokens[token]; ok {
		g.revoked = true
	}
}

// SetUserFields adds fields to, or replaces fields of, the /api/users/@me
// answer for token, to serve other platforms' shapes (a numeric "id", a
// nested "data").
func (s *Server) SetUserFields(token string, fields map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g, ok := s.tokens[token]; ok {
		if g.userFields == nil {
			g.userFields = map[string]any{}
		}
		maps.Copy(g.userFields, fields)
	}
}

// SetOutage switches how the fake fails; platformtest.Up restores it.
func (s *Server) SetOutage(o platformtest.Outage) { s.faults.Set(o) }

// Requests is how many calls the fake has received.
func (s *Server) Requests() int { return s.faults.Requests() }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != TokenInfoPath && r.URL.Path != UserinfoPath {
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "404: Not Found", "code": 0})
		return
	}
	if r.Method != http.MethodGet {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"message": "405: Method Not Allowed", "code": 0})
		return
	}
	g, ok := s.grant(r.Header.Get("Authorization"))
	if !ok {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "401: Unauthorized", "code": 0})
		return
	}
	user := map[string]any{
		"id":            g.userID,
		"username":      "player" + g.userID,
		"avatar":        nil,
		"discriminator": "0",
		"public_flags":  0,
		"global_name":   "Player " + g.userID,
	}
	if r.URL.Path == TokenInfoPath {
		writeJSON(w, http.StatusOK, map[string]any{
			"application": map[string]any{
				"id":                     g.appID,
				"name":                   "Game " + g.appID,
				"icon":                   nil,
				"description":            "",
				"hook":                   true,
				"bot_public":             false,
				"bot_require_code_grant": false,
				"verify_key":             strings.Repeat("0f", 32),
			},
			"scopes":  []string{"identify"},
			"expires": g.expires.Format("2006-01-02T15:04:05.000000-07:00"),
			"user":    user,
		})
		return
	}
	user["flags"] = 0
	user["banner"] = nil
	user["accent_color"] = nil
	user["mfa_enabled"] = false
	user["locale"] = "en-US"
	user["premium_type"] = 0
	maps.Copy(user, g.userFields)
	writeJSON(w, http.StatusOK, user)
}

// grant is the live grant of the Authorization header's Bearer token.
func (s *Server) grant(authorization string) (grant, bool) {
	scheme, token, ok := strings.Cut(authorization, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return grant{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.tokens[token]
	if !ok || g.revoked {
		return grant{}, false
	}
	c := *g
	c.userFields = maps.Clone(g.userFields)
	return c, true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
