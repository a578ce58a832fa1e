package oauth2_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	xoauth2 "golang.org/x/oauth2"

	"github.com/bridgekeeper/bridgekeeper/providers"
	"github.com/bridgekeeper/bridgekeeper/providers/oauth2"
	"github.com/bridgekeeper/bridgekeeper/providers/providertest"
)

const (
	redirectURL = "http://127.0.0.1:1/oauth2/callback/mobage"
	// mobagePerson is a People API answer: the person nested in entry.
	mobagePerson = `{"entry":{"id":"12345","nickname":"Taro","hasApp":true}}`
)

func (p *platform) config(authStyle, idField string) oauth2.Config {
	return oauth2.Config{
		Name:         "mobage",
		Slot:         1,
		AuthorizeURL: p.URL + authorizePath,
		TokenURL:     p.URL + tokenPath,
		UserinfoURL:  p.URL + peoplePath,
		UserIDField:  idField,
		ClientID:     clientID,
		ClientSecret: clientSecret,
		RedirectURL:  redirectURL,
		Scopes:       []string{"common"},
		AuthStyle:    authStyle,
	}
}

func newLogin() providers.Login {
	return providers.Login{State: rand.Text(), Nonce: rand.Text(), Verifier: xoauth2.GenerateVerifier()}
}

// noRedirect is a browser that stops at the first redirect, so the test
// reads the code from the Location the platform sends it to.
var noRedirect = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// authorize plays the browser: it follows p.AuthCodeURL(l) to the platform,
// which approves at once, and returns the code it redirects back with.
func authorize(t *testing.T, p providers.Provider, l providers.Login) string {
	t.Helper()
	resp, err := noRedirect.Get(p.AuthCodeURL(l))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: status %d, want 302", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Query().Get("state"); got != l.State {
		t.Fatalf("state = %q, want %q", got, l.State)
	}
	return loc.Query().Get("code")
}

func TestExchange(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name          string
		platformStyle string // the client authentication the platform accepts
		style         string // the one the provider is configured with
		person        string // the People API's answer
		idField       string
		mutate        func(c *oauth2.Config)
		setup         func(p *platform)
		code          func(code string) string
		wantSubject   string
		errSub        string // "" for success
		rfcErr        string // the RFC 6749 §5.2 error code, if any
	}{
		{name: "client_secret_basic", platformStyle: "basic", style: "basic", wantSubject: "12345"},
		{name: "client_secret_post", platformStyle: "post", style: "post", wantSubject: "12345"},
		{name: "empty style is basic", platformStyle: "basic", style: "", wantSubject: "12345"},
		{
			name: "top-level ID field", person: `{"id":"mobage:77","nickname":"Hanako"}`, idField: "id",
			wantSubject: "mobage:77",
		},
		{
			name:   "numeric ID beyond float64 precision",
			person: `{"entry":{"id":12345678901234567891}}`, wantSubject: "12345678901234567891",
		},
		{name: "array index in the path", person: `{"entry":[{"id":"7"}]}`, idField: "entry.0.id", wantSubject: "7"},
		{
			name: "platform wants basic, provider sends post", platformStyle: "basic", style: "post",
			errSub: "token endpoint", rfcErr: "invalid_client",
		},
		{
			name: "platform wants post, provider sends basic", platformStyle: "post", style: "basic",
			errSub: "token endpoint", rfcErr: "invalid_client",
		},
		{
			name:   "wrong client secret",
			mutate: func(c *oauth2.Config) { c.ClientSecret = "guess" },
			errSub: "token endpoint", rfcErr: "invalid_client",
		},
		{
			name:   "invalid code",
			code:   func(string) string { return "not-a-code" },
			errSub: "The authorization code is invalid", rfcErr: "invalid_grant",
		},
		{
			name:   "token type other than Bearer",
			setup:  func(p *platform) { p.tokenType = "mac" },
			errSub: `token_type "mac" is not Bearer`,
		},
		{
			name:   "access token expired at the People API",
			setup:  func(p *platform) { p.expired = true },
			errSub: `401 Unauthorized: invalid_token "The access token expired"`,
		},
		{name: "missing ID field", person: `{"entry":{"nickname":"Taro"}}`, errSub: "no entry.id in the answer"},
		{name: "missing parent object", person: `{"id":"1"}`, errSub: "no entry in the answer"},
		{name: "parent is not an object", person: `{"entry":"x"}`, errSub: "entry is not an object"},
		{name: "empty ID", person: `{"entry":{"id":""}}`, errSub: "entry.id is empty"},
		{name: "null ID", person: `{"entry":{"id":null}}`, errSub: "entry.id is null"},
		{name: "fractional ID", person: `{"entry":{"id":1.5}}`, errSub: "not an integer"},
		{name: "object ID", person: `{"entry":{"id":{"v":1}}}`, errSub: "entry.id is an object"},
		{name: "boolean ID", person: `{"entry":{"id":true}}`, errSub: "entry.id is true"},
		{name: "answer is not JSON", person: `<html>maintenance</html>`, errSub: "not a JSON object"},
		{name: "answer is a JSON array", person: `[{"id":"1"}]`, errSub: "not a JSON object"},
		{name: "platform down", setup: func(p *platform) { p.Close() }, errSub: "connection refused"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			platformStyle, style, person, idField := "basic", "basic", mobagePerson, "entry.id"
			if tc.platformStyle != "" {
				platformStyle, style = tc.platformStyle, tc.style
			}
			if tc.person != "" {
				person = tc.person
			}
			if tc.idField != "" {
				idField = tc.idField
			}
			pf := startPlatform(t, platformStyle, person)
			cfg := pf.config(style, idField)
			if tc.mutate != nil {
				tc.mutate(&cfg)
			}
			p, err := oauth2.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			l := newLogin()
			code := authorize(t, p, l)
			if tc.setup != nil {
				pf.mu.Lock()
				tc.setup(pf)
				pf.mu.Unlock()
			}
			if tc.code != nil {
				code = tc.code(code)
			}
			id, err := p.Exchange(ctx, code, l)
			if tc.errSub != "" {
				providertest.CheckUpstreamErr(t, err, tc.errSub, tc.rfcErr)
				return
			}
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			if id.Provider != "mobage" || id.Slot != 1 || id.Subject != tc.wantSubject {
				t.Errorf("identity = %q slot %d subject %q, want mobage slot 1 %q", id.Provider, id.Slot, id.Subject, tc.wantSubject)
			}
			if got, _ := json.Marshal(id.Claims); !jsonEqual(t, got, []byte(person)) {
				t.Errorf("claims = %s, want the People answer %s", got, person)
			}
			checkTokenRequest(t, pf, code, l, style)
		})
	}
}

// checkTokenRequest checks the wire format of the token request the
// platform received: the form of RFC 6749 §4.1.3 with the PKCE verifier,
// and the client authenticated in exactly the configured way.
func checkTokenRequest(t *testing.T, pf *platform, code string, l providers.Login, style string) {
	t.Helper()
	pf.mu.Lock()
	defer pf.mu.Unlock()
	f := pf.tokenForm
	for k, want := range map[string]string{
		"grant_type": "authorization_code", "code": code, "redirect_uri": redirectURL, "code_verifier": l.Verifier,
	} {
		if f.Get(k) != want {
			t.Errorf("token request %s = %q, want %q", k, f.Get(k), want)
		}
	}
	if !pf.verifierOK[code] {
		t.Error("the PKCE verifier does not match the challenge of the authorization request")
	}
	if style == "post" {
		if pf.tokenAuth != "" || f.Get("client_id") != clientID || f.Get("client_secret") != clientSecret {
			t.Errorf("client_secret_post: Authorization %q, form %v", pf.tokenAuth, f)
		}
	} else if !strings.HasPrefix(pf.tokenAuth, "Basic ") || f.Has("client_secret") {
		t.Errorf("client_secret_basic: Authorization %q, form %v", pf.tokenAuth, f)
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	ca, _ := json.Marshal(x)
	cb, _ := json.Marshal(y)
	return string(ca) == string(cb)
}

// checkUpstreamErr checks that err wraps providers.ErrUpstream, says sub
// and, when rfcErr is set, carries that token-endpoint error code.
func TestCodeIsRedeemedOnce(t *testing.T) {
	ctx := context.Background()
	pf := startPlatform(t, "post", mobagePerson)
	p, err := oauth2.New(pf.config("post", "entry.id"))
	if err != nil {
		t.Fatal(err)
	}
	l := newLogin()
	code := authorize(t, p, l)
	if _, err := p.Exchange(ctx, code, l); err != nil {
		t.Fatalf("first exchange: %v", err)
	}
	_, err = p.Exchange(ctx, code, l)
	providertest.CheckUpstreamErr(t, err, "token endpoint", "invalid_grant")
}

func TestExchangeRefusesLoginWithoutVerifier(t *testing.T) {
	pf := startPlatform(t, "basic", mobagePerson)
	p, err := oauth2.New(pf.config("basic", "entry.id"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Exchange(context.Background(), "code", providers.Login{State: "s"})
	if err == nil || errors.Is(err, providers.ErrUpstream) {
		t.Errorf("Exchange without a verifier = %v, want a non-upstream error", err)
	}
}

func TestAuthCodeURL(t *testing.T) {
	pf := startPlatform(t, "basic", mobagePerson)
	p, err := oauth2.New(pf.config("basic", "entry.id"))
	if err != nil {
		t.Fatal(err)
	}
	l := newLogin()
	authorize(t, p, l)
	sum := sha256.Sum256([]byte(l.Verifier))
	want := map[string]string{
		"response_type":         "code",
		"client_id":             clientID,
		"redirect_uri":          redirectURL,
		"scope":                 "common",
		"state":                 l.State,
		"code_challenge":        base64.RawURLEncoding.EncodeToString(sum[:]),
		"code_challenge_method": "S256",
	}
	pf.mu.Lock()
	defer pf.mu.Unlock()
	for k, v := range want {
		if pf.seen[k] != v {
			t.Errorf("authorization request %s = %q, want %q", k, pf.seen[k], v)
		}
	}
	for k := range pf.seen {
		if _, ok := want[k]; !ok {
			t.Errorf("authorization request has unexpected parameter %s=%q", k, pf.seen[k])
		}
	}
}

func TestNewDoesNotKeepConfig(t *testing.T) {
	pf := startPlatform(t, "basic", mobagePerson)
	cfg := pf.config("basic", "entry.id")
	scopes := []string{"common", "profile"}
	cfg.Scopes = scopes
	p, err := oauth2.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(scopes, []string{"common", "profile"}) {
		t.Fatalf("New changed the configured scopes to %v", scopes)
	}
	scopes[0] = "other"
	u, _ := url.Parse(p.AuthCodeURL(newLogin()))
	if got := u.Query().Get("scope"); got != "common profile" {
		t.Errorf("scope = %q after the caller changed its slice, want %q", got, "common profile")
	}
}

func TestExchangeHonoursContext(t *testing.T) {
	// A platform that accepts the connection and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	cfg := oauth2.Config{
		Name: "slow", AuthorizeURL: "http://" + ln.Addr().String() + "/a", TokenURL: "http://" + ln.Addr().String() + "/t",
		UserinfoURL: "http://" + ln.Addr().String() + "/u", UserIDField: "id", ClientID: "c", ClientSecret: "s",
		RedirectURL: redirectURL,
	}
	p, err := oauth2.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = p.Exchange(ctx, "code", newLogin())
	if !errors.Is(err, providers.ErrUpstream) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Exchange against a silent platform = %v, want ErrUpstream and DeadlineExceeded", err)
	}
}

func TestValidate(t *testing.T) {
	valid := oauth2.Config{
		Name: "mobage", Slot: 1, AuthorizeURL: "https://connect.mobage.jp/connect/1.0/services/authorize",
		TokenURL: "https://connect.mobage.jp/connect/1.0/api/token", UserinfoURL: "https://app.mobage.jp/social/api/restful/v2/people/@me/@self",
		UserIDField: "entry.id", ClientID: "id", ClientSecret: "secret",
		RedirectURL: "https://broker.example/oauth2/callback/mobage", Scopes: []string{"common"}, AuthStyle: "post",
	}
	cases := []struct {
		name   string
		mutate func(c *oauth2.Config)
		want   []string // substrings, one per expected problem line
	}{
		{name: "valid", mutate: func(*oauth2.Config) {}},
		{name: "default auth style", mutate: func(c *oauth2.Config) { c.AuthStyle = "" }},
		{name: "no scopes", mutate: func(c *oauth2.Config) { c.Scopes = nil }},
		{name: "empty name", mutate: func(c *oauth2.Config) { c.Name = "" }, want: []string{"name must not be empty"}},
		{name: "name with a slash", mutate: func(c *oauth2.Config) { c.Name = "../x" }, want: []string{"URL path segment"}},
		{name: "slot too high", mutate: func(c *oauth2.Config) { c.Slot = 1025 }, want: []string{"slot 1025 is not between 0 and 1024"}},
		{name: "relative token URL", mutate: func(c *oauth2.Config) { c.TokenURL = "/token" }, want: []string{`token_url "/token" is not an absolute http(s) URL`}},
		{name: "no userinfo URL", mutate: func(c *oauth2.Config) { c.UserinfoURL = "" }, want: []string{"userinfo_url must not be empty"}},
		{name: "no user ID field", mutate: func(c *oauth2.Config) { c.UserIDField = "" }, want: []string{"user_id_field must not be empty"}},
		{name: "empty key in user ID field", mutate: func(c *oauth2.Config) { c.UserIDField = "entry..id" }, want: []string{`user_id_field "entry..id" has an empty key`}},
		{name: "no client secret", mutate: func(c *oauth2.Config) { c.ClientSecret = "" }, want: []string{"client_secret must not be empty"}},
		{name: "unknown auth style", mutate: func(c *oauth2.Config) { c.AuthStyle = "private_key_jwt" }, want: []string{`auth_style "private_key_jwt" is not one of basic, post`}},
		{name: "bad scope", mutate: func(c *oauth2.Config) { c.Scopes = []string{"a b"} }, want: []string{`scopes[0] "a b"`}},
		{
			name:   "every problem at once",
			mutate: func(c *oauth2.Config) { *c = oauth2.Config{Slot: -1, AuthStyle: "x"} },
			want: []string{
				"name", "slot -1", "authorize_url", "token_url", "userinfo_url", "redirect URL",
				"user_id_field", "client_id", "client_secret", "auth_style",
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := valid
			c.Scopes = slices.Clone(valid.Scopes)
			tc.mutate(&c)
			err := c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if _, err := oauth2.New(c); err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate accepted %+v", c)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Errorf("%d problems reported, want %d:\n%v", len(lines), len(tc.want), err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if _, newErr := oauth2.New(c); newErr == nil {
				t.Error("New accepted an invalid config")
			}
		})
	}
}
