package oauth2_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// platform is a fake Mobage Connect: its token endpoint and People API speak
// the wire format of the Mobage Connect server-side guide (seed 003) —
// client_secret_basic or client_secret_post, a form with grant_type, code and
// redirect_uri, a JSON token response with token_type Bearer and expires_in
// 900, JSON errors {error, error_description}, and a Bearer-protected People
// API that answers 401 "The access token expired" for an expired token.
type platform struct {
	*httptest.Server

	authStyle string // "basic" or "post": the only client authentication accepted
	tokenType string // token_type of the token response
	person    string // the People API's JSON answer
	expired   bool   // the People API says every access token has expired

	mu         sync.Mutex
	grants     map[string]grant  // unredeemed codes
	tokens     map[string]bool   // access tokens issued
	tokenForm  url.Values        // the last token request's form
	tokenAuth  string            // the last token request's Authorization header
	verifierOK map[string]bool   // code → its PKCE verifier matched the challenge
	seen       map[string]string // authorization request parameters
}

// grant is what an authorization request bound to its code.
type grant struct{ redirectURI, challenge string }

const (
	clientID = "game-app-1"
	// A secret with characters that RFC 6749 §2.3.1 form-encodes before
	// they go into the Basic credentials.
	clientSecret  = "s3cr:t/+&= x"
	authorizePath = "/connect/1.0/authorize"
	tokenPath     = "/connect/1.0/api/token"
	peoplePath    = "/social/api/restful/v2/people/@me/@self"
)

func startPlatform(t *testing.T, authStyle, person string) *platform {
	t.Helper()
	p := &platform{
		authStyle:  authStyle,
		tokenType:  "Bearer",
		person:     person,
		grants:     map[string]grant{},
		tokens:     map[string]bool{},
		verifierOK: map[string]bool{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+authorizePath, p.authorize)
	mux.HandleFunc("POST "+tokenPath, p.token)
	mux.HandleFunc("GET "+peoplePath, p.people)
	p.Server = httptest.NewServer(mux)
	t.Cleanup(p.Close)
	return p
}

// authorize approves at once, as the player would, and redirects back with
// a code.
func (p *platform) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("response_type") != "code" || q.Get("client_id") != clientID || q.Get("redirect_uri") == "" {
		writeError(w, http.StatusBadRequest, "invalid_request", "bad authorization request")
		return
	}
	code := rand.Text()
	p.mu.Lock()
	p.grants[code] = grant{redirectURI: q.Get("redirect_uri"), challenge: q.Get("code_challenge")}
	p.seen = map[string]string{}
	for k := range q {
		p.seen[k] = q.Get(k)
	}
	p.mu.Unlock()
	back, _ := url.Parse(q.Get("redirect_uri"))
	v := back.Query()
	v.Set("code", code)
	v.Set("state", q.Get("state"))
	back.RawQuery = v.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

// token is the token endpoint (RFC 6749 §4.1.3, §5).
func (p *platform) token(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		writeError(w, http.StatusBadRequest, "invalid_request", "the body must be application/x-www-form-urlencoded")
		return
	}
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", "the body does not parse")
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tokenForm, p.tokenAuth = r.PostForm, r.Header.Get("Authorization")

	// Client authentication, exactly one method (RFC 6749 §2.3).
	id, secret, basic := r.BasicAuth()
	var ok bool
	switch p.authStyle {
	case "basic":
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
		ok = basic && !r.PostForm.Has("client_secret")
	case "post":
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		ok = r.Header.Get("Authorization") == ""
	}
	if !ok || id != clientID || secret != clientSecret {
		w.Header().Set("WWW-Authenticate", `Basic realm="mobage"`)
		writeError(w, http.StatusUnauthorized, "invalid_client", "Client authentication failed")
		return
	}

	if r.PostForm.Get("grant_type") != "authorization_code" {
		writeError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be authorization_code")
		return
	}
	code := r.PostForm.Get("code")
	g, found := p.grants[code]
	delete(p.grants, code) // a code is good for one attempt
	if !found {
		writeError(w, http.StatusBadRequest, "invalid_grant", "The authorization code is invalid or expired")
		return
	}
	if r.PostForm.Get("redirect_uri") != g.redirectURI {
		writeError(w, http.StatusBadRequest, "invalid_grant", "redirect_uri does not match")
		return
	}
	// Mobage's guide says nothing of PKCE; the fake ignores it like a
	// platform that does not know it, but records whether it was right.
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	p.verifierOK[code] = g.challenge != "" && base64.RawURLEncoding.EncodeToString(sum[:]) == g.challenge

	access := rand.Text()
	p.tokens[access] = true
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token":  access,
		"token_type":    p.tokenType,
		"expires_in":    900,
		"refresh_token": rand.Text(),
		"scope":         "common",
	})
}

// people is the People API: the signed-in person, for a Bearer token
// (RFC 6750 §2.1).
func (p *platform) people(w http.ResponseWriter, r *http.Request) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	p.mu.Lock()
	issued, expired, person := p.tokens[tok], p.expired, p.person
	p.mu.Unlock()
	switch {
	case !ok:
		w.Header().Set("WWW-Authenticate", `Bearer realm="mobage"`)
		writeError(w, http.StatusUnauthorized, "invalid_request", "no access token")
		return
	case !issued:
		w.Header().Set("WWW-Authenticate", `Bearer realm="mobage", error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, "invalid_token", "The access token is invalid")
		return
	case expired:
		w.Header().Set("WWW-Authenticate", `Bearer realm="mobage", error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, "invalid_token", "The access token expired")
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write([]byte(person))
}

func writeError(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": description})
}
