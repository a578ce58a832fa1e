package web_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// call is one raw request, for the inputs f.do cannot express.
type call struct {
	method  string     // POST when empty
	path    string     // /oauth2/token when empty
	ctype   string     // formType when empty; noCType sends none
	body    string     // sent as is
	auth    string     // a raw Authorization header
	basic   *[2]string // client_secret_basic, form-urlencoded (RFC 6749 §2.3.1)
	chunked bool       // send the body with unknown length (chunked)
	header  map[string]string
}

const noCType = "-"

// send sends c and decodes the answer. A transport error fails the test: the
// server must answer everything.
func (f *fixture) send(t *testing.T, c call) response {
	t.Helper()
	method, path, ctype := c.method, c.path, c.ctype
	if method == "" {
		method = http.MethodPost
	}
	if path == "" {
		path = "/oauth2/token"
	}
	if ctype == "" {
		ctype = formType
	}
	var body io.Reader = strings.NewReader(c.body)
	if c.chunked {
		body = io.MultiReader(strings.NewReader(c.body)) // length unknown to the transport
	}
	req, err := http.NewRequest(method, f.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if c.chunked {
		req.ContentLength = -1
	}
	if ctype != noCType {
		req.Header.Set("Content-Type", ctype)
	}
	if c.basic != nil {
		req.SetBasicAuth(url.QueryEscape(c.basic[0]), url.QueryEscape(c.basic[1]))
	}
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	r := response{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	r.Body = decodeJSON(raw)
	return r
}

func decodeJSON(raw []byte) map[string]any {
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	return m
}

// wantNoStoreJSON checks the headers of every JSON answer that may carry a
// token or an error (RFC 6749 §5.1, §5.2).
func wantNoStoreJSON(t *testing.T, r response) {
	t.Helper()
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", r.Header.Get("Content-Type"))
	}
	if got := r.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	if got := r.Header.Get("Pragma"); got != "no-cache" {
		t.Errorf("Pragma = %q, want no-cache", got)
	}
	if r.Body == nil {
		t.Errorf("body is not a JSON object: %q", r.Raw)
	}
}

// wantOAuthError checks an RFC 6749 §5.2 error answer.
func wantOAuthError(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.Status != status || r.str("error") != code {
		t.Errorf("got %d %s, want %d with error %q", r.Status, r.Raw, status, code)
	}
	if r.str("error_description") == "" {
		t.Errorf("no error_description: %s", r.Raw)
	}
	wantNoStoreJSON(t, r)
}

// wantChallenge checks the WWW-Authenticate header of a 401: present, naming
// Basic, exactly when the client authenticated with Basic (RFC 6749 §5.2).
func wantChallenge(t *testing.T, r response, want bool) {
	t.Helper()
	got := r.Header.Get("WWW-Authenticate")
	switch {
	case want && !strings.HasPrefix(got, "Basic "):
		t.Errorf("WWW-Authenticate = %q, want a Basic challenge", got)
	case !want && got != "":
		t.Errorf("WWW-Authenticate = %q, want none", got)
	}
}

func basicHeader(userPass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(userPass))
}

func creds(id, secret string) *[2]string { return &[2]string{id, secret} }

// tokenError is a token request that must be refused.
type tokenError struct {
	name      string // completes "should fail because …"
	call      func(t *testing.T, f *fixture, id, secret string) call
	status    int
	code      string
	challenge bool // WWW-Authenticate: Basic expected
}

func cc(extra ...string) string {
	v := url.Values{"grant_type": {"client_credentials"}}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	return v.Encode()
}

// basicCall is a client_secret_basic call with a raw body.
func basicCall(body string) func(*testing.T, *fixture, string, string) call {
	return func(_ *testing.T, _ *fixture, id, secret string) call {
		return call{body: body, basic: creds(id, secret)}
	}
}

func multipartBody() (string, string) {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	_ = w.WriteField("grant_type", "client_credentials")
	_ = w.Close()
	return b.String(), w.FormDataContentType()
}

const maxBody = 64 << 10 // the fixture's web.Options.MaxBodyBytes

func tokenErrors() []tokenError {
	const bad = http.StatusBadRequest
	const unauth = http.StatusUnauthorized
	multi, multiType := multipartBody()
	over := cc("pad", strings.Repeat("x", maxBody))
	return []tokenError{
		// invalid_request
		{name: "grant_type is missing", call: basicCall("scope=game"), status: bad, code: "invalid_request"},
		{name: "grant_type is empty", call: basicCall("grant_type="), status: bad, code: "invalid_request"},
		{name: "a parameter is repeated", call: basicCall(cc() + "&scope=game&scope=game"), status: bad, code: "invalid_request"},
		{name: "grant_type is repeated", call: basicCall(cc() + "&grant_type=client_credentials"), status: bad, code: "invalid_request"},
		{name: "client_secret_basic and client_secret_post are both used", call: func(_ *testing.T, _ *fixture, id, secret string) call {
			return call{body: cc("client_id", id, "client_secret", secret), basic: creds(id, secret)}
		}, status: bad, code: "invalid_request"},
		{name: "client_secret comes without client_id", call: func(_ *testing.T, _ *fixture, _, secret string) call {
			return call{body: cc("client_secret", secret)}
		}, status: bad, code: "invalid_request"},
		{name: "the form client_id differs from the Basic user", call: func(t *testing.T, f *fixture, id, secret string) call {
			other, _ := f.client(t, gameServer("game"))
			return call{body: cc("client_id", other), basic: creds(id, secret)}
		}, status: bad, code: "invalid_request"},
		{name: "server_custom_id is missing", call: basicCall("grant_type=server_custom_id"), status: bad, code: "invalid_request"},
		{name: "server_custom_id has 257 characters", call: basicCall(customID(strings.Repeat("a", 257)).Encode()), status: bad, code: "invalid_request"},
		{name: "server_custom_id has 257 multi-byte characters", call: basicCall(customID(strings.Repeat("é", 257)).Encode()), status: bad, code: "invalid_request"},
		{name: "refresh_token is missing", call: basicCall("grant_type=refresh_token"), status: bad, code: "invalid_request"},
		{name: "refresh_token is empty", call: basicCall("grant_type=refresh_token&refresh_token="), status: bad, code: "invalid_request"},

		// invalid_client
		{name: "the Basic client is unknown", call: func(_ *testing.T, _ *fixture, _, secret string) call {
			return call{body: cc(), basic: creds("no-such-client", secret)}
		}, status: unauth, code: "invalid_client", challenge: true},
		{name: "the Basic secret is wrong", call: func(_ *testing.T, _ *fixture, id, _ string) call {
			return call{body: cc(), basic: creds(id, "bks_wrong")}
		}, status: unauth, code: "invalid_client", challenge: true},
		{name: "the Basic user is empty", call: func(_ *testing.T, _ *fixture, _, secret string) call {
			return call{body: cc(), auth: basicHeader(":" + secret)}
		}, status: unauth, code: "invalid_client", challenge: true},
		{name: "the client_secret_post secret is wrong", call: func(_ *testing.T, _ *fixture, id, _ string) call {
			return call{body: cc("client_id", id, "client_secret", "bks_wrong")}
		}, status: unauth, code: "invalid_client"},
		{name: "a confidential client presents no secret", call: func(_ *testing.T, _ *fixture, id, _ string) call {
			return call{body: cc("client_id", id)}
		}, status: unauth, code: "invalid_client"},
		{name: "no client authentication is included", call: func(_ *testing.T, _ *fixture, _, _ string) call {
			return call{body: cc()}
		}, status: unauth, code: "invalid_client"},
		{name: "a public client presents a secret", call: func(t *testing.T, f *fixture, _, _ string) call {
			pub, _ := f.client(t, broker.ClientSpec{Namespace: "game", Name: "app", Public: true, Grants: []string{broker.GrantRefreshToken}})
			return call{body: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"rt_x"}, "client_id": {pub}, "client_secret": {"guess"}}.Encode()}
		}, status: unauth, code: "invalid_client"},
		{name: "the client_id is 10 KB", call: func(_ *testing.T, _ *fixture, _, secret string) call {
			return call{body: cc("client_id", strings.Repeat("c", 10<<10), "client_secret", secret)}
		}, status: unauth, code: "invalid_client"},
		{name: "the Basic client_id is 10 KB", call: func(_ *testing.T, _ *fixture, _, secret string) call {
			return call{body: cc(), basic: creds(strings.Repeat("c", 10<<10), secret)}
		}, status: unauth, code: "invalid_client", challenge: true},

		// unsupported_grant_type
		{name: "grant_type password is not supported", call: basicCall("grant_type=password&username=u&password=p"), status: bad, code: "unsupported_grant_type"},
		{name: "grant_type is a made-up URN", call: basicCall("grant_type=" + url.QueryEscape("urn:example:params:oauth:grant-type:made-up")), status: bad, code: "unsupported_grant_type"},

		// unauthorized_client
		{name: "the client is not allowed the grant", call: func(t *testing.T, f *fixture, _, _ string) call {
			spec := gameServer("game")
			spec.Grants = []string{broker.GrantServerCustomID}
			id, secret := f.client(t, spec)
			return call{body: cc(), basic: creds(id, secret)}
		}, status: bad, code: "unauthorized_client"},
		{name: "a public client asks for client_credentials", call: func(t *testing.T, f *fixture, _, _ string) call {
			pub, _ := f.client(t, broker.ClientSpec{Namespace: "game", Name: "app", Public: true, Grants: []string{broker.GrantRefreshToken}})
			return call{body: cc("client_id", pub)}
		}, status: bad, code: "unauthorized_client"},
		{name: "a public client asks for server_custom_id", call: func(t *testing.T, f *fixture, _, _ string) call {
			pub, _ := f.client(t, broker.ClientSpec{Namespace: "game", Name: "app", Public: true, Grants: []string{broker.GrantRefreshToken}})
			v := customID("p1")
			v.Set("client_id", pub)
			return call{body: v.Encode()}
		}, status: bad, code: "unauthorized_client"},

		// invalid_scope
		{name: "the scope is not registered for the client", call: basicCall(cc("scope", "game admin")), status: bad, code: "invalid_scope"},
		{name: `the scope holds a "`, call: basicCall(cc("scope", `game"`)), status: bad, code: "invalid_scope"},
		{name: `the scope holds a \`, call: basicCall(cc("scope", `ga\me`)), status: bad, code: "invalid_scope"},

		// invalid_grant
		{name: "the refresh token is unknown", call: basicCall(refresh("rt_" + strings.Repeat("A", 43)).Encode()), status: bad, code: "invalid_grant"},
		{name: "the refresh token is 10 KB", call: basicCall(refresh(strings.Repeat("r", 10<<10)).Encode()), status: bad, code: "invalid_grant"},
		{name: "the refresh token is another client's", call: func(t *testing.T, f *fixture, id, secret string) call {
			otherID, otherSecret := f.client(t, gameServer("game"))
			rt := f.mustToken(t, otherID, otherSecret, customID("p1")).str("refresh_token")
			return call{body: refresh(rt).Encode(), basic: creds(id, secret)}
		}, status: bad, code: "invalid_grant"},
		{name: "the refresh token is another namespace's", call: func(t *testing.T, f *fixture, id, secret string) call {
			otherID, otherSecret := f.client(t, gameServer("other-game"))
			rt := f.mustToken(t, otherID, otherSecret, customID("p1")).str("refresh_token")
			return call{body: refresh(rt).Encode(), basic: creds(id, secret)}
		}, status: bad, code: "invalid_grant"},

		// Bad input: a clear 4xx, never a 5xx or a panic.
		{name: "the Content-Type is application/json", call: func(_ *testing.T, _ *fixture, id, secret string) call {
			return call{ctype: "application/json", body: `{"grant_type":"client_credentials"}`, basic: creds(id, secret)}
		}, status: bad, code: "invalid_request"},
		{name: "there is no Content-Type", call: func(_ *testing.T, _ *fixture, id, secret string) call {
			return call{ctype: noCType, body: cc(), basic: creds(id, secret)}
		}, status: bad, code: "invalid_request"},
		{name: "the body is multipart", call: func(_ *testing.T, _ *fixture, id, secret string) call {
			return call{ctype: multiType, body: multi, basic: creds(id, secret)}
		}, status: bad, code: "invalid_request"},
		{name: "the Content-Type is malformed", call: func(_ *testing.T, _ *fixture, id, secret string) call {
			return call{ctype: "application/x-www-form-urlencoded; charset", body: cc(), basic: creds(id, secret)}
		}, status: bad, code: "invalid_request"},
		{name: "the charset is latin1", call: func(_ *testing.T, _ *fixture, id, secret string) call {
			return call{ctype: formType + "; charset=latin1", body: cc(), basic: creds(id, secret)}
		}, status: bad, code: "invalid_request"},
		{name: "the body is over the limit", call: basicCall(over), status: http.StatusRequestEntityTooLarge, code: "invalid_request"},
		{name: "the body is over the limit, sent chunked", call: func(_ *testing.T, _ *fixture, id, secret string) call {
			return call{body: over, basic: creds(id, secret), chunked: true}
		}, status: http.StatusRequestEntityTooLarge, code: "invalid_request"},
		{name: "the body is twice the limit, sent chunked", call: func(_ *testing.T, _ *fixture, id, secret string) call {
			return call{body: over + "&more=" + strings.Repeat("y", maxBody), basic: creds(id, secret), chunked: true}
		}, status: http.StatusRequestEntityTooLarge, code: "invalid_request"},
		{name: "the Basic credentials are not base64", call: func(_ *testing.T, _ *fixture, _, _ string) call {
			return call{body: cc(), auth: "Basic !!!"}
		}, status: bad, code: "invalid_request"},
		{name: "the Basic credentials have no colon", call: func(_ *testing.T, _ *fixture, _, _ string) call {
			return call{body: cc(), auth: basicHeader("nocolon")}
		}, status: bad, code: "invalid_request"},
		{name: "the Basic user has an invalid percent-escape", call: func(_ *testing.T, _ *fixture, _, secret string) call {
			return call{body: cc(), auth: basicHeader("client%zz:" + url.QueryEscape(secret))}
		}, status: bad, code: "invalid_request"},
		{name: "the Basic password has an invalid percent-escape", call: func(_ *testing.T, _ *fixture, id, _ string) call {
			return call{body: cc(), auth: basicHeader(id + ":secret%")}
		}, status: bad, code: "invalid_request"},
		{name: "the Basic user is not UTF-8", call: func(_ *testing.T, _ *fixture, _, secret string) call {
			return call{body: cc(), auth: basicHeader("%FF:" + url.QueryEscape(secret))}
		}, status: bad, code: "invalid_request"},
		{name: "a value is not UTF-8 (escaped 0xFF)", call: basicCall(cc() + "&scope=%FF"), status: bad, code: "invalid_request"},
		{name: "a value is not UTF-8 (raw byte)", call: basicCall(cc() + "&scope=\xff"), status: bad, code: "invalid_request"},
		{name: "a key is not UTF-8 (escaped 0xFF)", call: basicCall(cc() + "&%FF=1"), status: bad, code: "invalid_request"},
		{name: "a key is not UTF-8 (raw byte)", call: basicCall("\xfe\xff=1&" + cc()), status: bad, code: "invalid_request"},
		{name: "the server_custom_id is not UTF-8", call: basicCall("grant_type=server_custom_id&server_custom_id=p%C3"), status: bad, code: "invalid_request"},
		{name: "the form has an invalid percent-escape", call: basicCall("a=%zz&" + cc()), status: bad, code: "invalid_request"},
		{name: "the form uses ; as separator", call: basicCall("grant_type=client_credentials;scope=game"), status: bad, code: "invalid_request"},
		{name: "the method is GET", call: func(_ *testing.T, _ *fixture, id, secret string) call {
			return call{method: http.MethodGet, ctype: noCType, basic: creds(id, secret)}
		}, status: http.StatusMethodNotAllowed, code: "method_not_allowed"},
		{name: "the path is unknown", call: func(_ *testing.T, _ *fixture, id, secret string) call {
			return call{path: "/oauth2/tokens", body: cc(), basic: creds(id, secret)}
		}, status: http.StatusNotFound, code: "not_found"},

		// The Mobage Connect alias refuses like the token endpoint.
		{name: "the alias gets a wrong secret", call: func(_ *testing.T, _ *fixture, id, _ string) call {
			return call{path: "/connect/1.0/api/token", body: cc(), basic: creds(id, "bks_wrong")}
		}, status: unauth, code: "invalid_client", challenge: true},
		{name: "the alias gets an unknown grant", call: func(_ *testing.T, _ *fixture, id, secret string) call {
			return call{path: "/connect/1.0/api/token", body: "grant_type=password", basic: creds(id, secret)}
		}, status: bad, code: "unsupported_grant_type"},
	}
}

// TestTokenErrors: every RFC 6749 §5.2 error of the token endpoint, and bad
// input answered with a clear 4xx. Each case gets a client of its own; the
// server and store are shared per store, since a PostgreSQL fixture costs
// a CREATE DATABASE.
func TestTokenErrors(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		for _, tc := range tokenErrors() {
			t.Run("should fail because "+tc.name, func(t *testing.T) {
				id, secret := f.client(t, gameServer("game"))
				r := f.send(t, tc.call(t, f, id, secret))
				if tc.status == http.StatusNotFound || tc.status == http.StatusMethodNotAllowed {
					// Not OAuth2 errors: TestRoutingErrors checks the rest.
					if r.Status != tc.status || r.str("error") != tc.code {
						t.Errorf("got %d %s, want %d with error %q", r.Status, r.Raw, tc.status, tc.code)
					}
					wantNoStoreJSON(t, r)
					return
				}
				wantOAuthError(t, r, tc.status, tc.code)
				if tc.status == http.StatusUnauthorized {
					wantChallenge(t, r, tc.challenge)
				}
			})
		}
	})
}

// TestTokenErrorDescriptionCharset: RFC 6749 §5.2 allows only
// %x20-21 / %x23-5B / %x5D-7E in error_description: no '"', no '\', nothing
// outside printable ASCII.
func TestTokenErrorDescriptionCharset(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		id, secret := f.client(t, gameServer("game"))
		var bad []string
		for _, tc := range tokenErrors() {
			r := f.send(t, tc.call(t, f, id, secret))
			d := r.str("error_description")
			if r.Status >= 400 && d == "" && r.Status != http.StatusNotFound && r.Status != http.StatusMethodNotAllowed {
				t.Errorf("%s: no error_description: %s", tc.name, r.Raw)
			}
			if !validDescription(d) {
				bad = append(bad, fmt.Sprintf("%s: %q", tc.name, d))
			}
		}
		if len(bad) > 0 {
			t.Errorf("error_description outside RFC 6749 §5.2's character set:\n%s",
				strings.Join(bad, "\n"))
		}
	})
}

func validDescription(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x22 || c == 0x5C || c > 0x7E {
			return false
		}
	}
	return true
}

// TestTokenUnsupportedAuthScheme: RFC 6749 §5.2 names "unsupported
// authentication method" as an invalid_client case; the client used the
// Authorization header, so the 401 carries the Basic challenge.
func TestTokenUnsupportedAuthScheme(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		r := f.send(t, call{body: cc(), auth: "Bearer x"})
		if r.Status >= 500 || r.Status < 400 {
			t.Fatalf("Bearer at the token endpoint: %d %s", r.Status, r.Raw)
		}
		wantNoStoreJSON(t, r)
		if r.str("error_description") == "" {
			t.Errorf("no error_description: %s", r.Raw)
		}
		wantOAuthError(t, r, http.StatusUnauthorized, "invalid_client")
		wantChallenge(t, r, true)
	})
}

// TestTokenAcceptsEdgeInputs: inputs at the edge of what is allowed succeed.
func TestTokenAcceptsEdgeInputs(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		call func(id, secret string) call
	}{
		{"server_custom_id of 256 two-byte characters", func(id, secret string) call {
			return call{body: customID(strings.Repeat("é", 256)).Encode(), basic: creds(id, secret)}
		}},
		{"server_custom_id of 256 three-byte characters", func(id, secret string) call {
			return call{body: customID(strings.Repeat("日", 256)).Encode(), basic: creds(id, secret)}
		}},
		{"server_custom_id of 256 four-byte characters", func(id, secret string) call {
			return call{body: customID(strings.Repeat("😀", 256)).Encode(), basic: creds(id, secret)}
		}},
		{"server_custom_id of 256 ASCII characters", func(id, secret string) call {
			return call{body: customID(strings.Repeat("a", 256)).Encode(), basic: creds(id, secret)}
		}},
		{"a body of exactly the limit", func(id, secret string) call {
			body := cc()
			body += "&pad=" + strings.Repeat("x", maxBody-len(body)-len("&pad="))
			return call{body: body, basic: creds(id, secret)}
		}},
		{"a body of exactly the limit, sent chunked", func(id, secret string) call {
			body := cc()
			body += "&pad=" + strings.Repeat("x", maxBody-len(body)-len("&pad="))
			return call{body: body, basic: creds(id, secret), chunked: true}
		}},
		{"charset=UTF-8", func(id, secret string) call {
			return call{ctype: formType + "; charset=UTF-8", body: cc(), basic: creds(id, secret)}
		}},
		{"a media type in capitals", func(id, secret string) call {
			return call{ctype: "Application/X-WWW-Form-URLEncoded", body: cc(), basic: creds(id, secret)}
		}},
		{"client_secret_post", func(id, secret string) call {
			return call{body: cc("client_id", id, "client_secret", secret)}
		}},
		{"Basic with the form client_id equal to the Basic user", func(id, secret string) call {
			return call{body: cc("client_id", id), basic: creds(id, secret)}
		}},
		{"the Mobage Connect alias", func(id, secret string) call {
			return call{path: "/connect/1.0/api/token", body: customID("p1").Encode(), basic: creds(id, secret)}
		}},
	}
	eachStore(t, func(t *testing.T, f *fixture) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				id, secret := f.client(t, gameServer("game"))
				r := f.send(t, tc.call(id, secret))
				if r.Status != http.StatusOK || r.str("access_token") == "" || r.str("token_type") != "Bearer" {
					t.Fatalf("got %d %s", r.Status, r.Raw)
				}
				wantNoStoreJSON(t, r)
				if in := f.introspect(t, id, secret, r.str("access_token")); in.Body["active"] != true || in.str("client_id") != id {
					t.Errorf("issued token introspects %s", in.Raw)
				}
			})
		}
	})
}

// TestTokenAlias: POST /connect/1.0/api/token is /oauth2/token.
func TestTokenAlias(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		id, secret := f.client(t, gameServer("game"))
		login := f.do(t, http.MethodPost, "/connect/1.0/api/token", formType, customID("p1").Encode(), creds(id, secret))
		if login.Status != http.StatusOK || login.str("refresh_token") == "" || login.str("userId") == "" {
			t.Fatalf("alias login: %d %s", login.Status, login.Raw)
		}
		wantNoStoreJSON(t, login)
		// The same user and the same refresh-token family as the main path.
		main := f.mustToken(t, id, secret, customID("p1"))
		if main.str("userId") != login.str("userId") {
			t.Errorf("alias user %s, main path user %s", login.str("userId"), main.str("userId"))
		}
		next := f.mustToken(t, id, secret, refresh(login.str("refresh_token")))
		if next.str("userId") != login.str("userId") {
			t.Errorf("refresh of the alias token: %s", next.Raw)
		}
		again := f.do(t, http.MethodPost, "/connect/1.0/api/token", formType, refresh(next.str("refresh_token")).Encode(), creds(id, secret))
		if again.Status != http.StatusOK || again.str("userId") != login.str("userId") {
			t.Errorf("alias refresh: %d %s", again.Status, again.Raw)
		}
		wantOAuthError(t, f.do(t, http.MethodPost, "/connect/1.0/api/token", formType, "grant_type=refresh_token", creds(id, secret)),
			http.StatusBadRequest, "invalid_request")
	})
}

// TestRoutingErrors: unknown paths and methods are JSON errors too.
func TestRoutingErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, method, path string
		status             int
		code               string
	}{
		{"GET on the token endpoint", http.MethodGet, "/oauth2/token", http.StatusMethodNotAllowed, "method_not_allowed"},
		{"PUT on the token endpoint", http.MethodPut, "/oauth2/token", http.StatusMethodNotAllowed, "method_not_allowed"},
		{"GET on introspection", http.MethodGet, "/oauth2/introspect", http.StatusMethodNotAllowed, "method_not_allowed"},
		{"POST on discovery", http.MethodPost, "/.well-known/openid-configuration", http.StatusMethodNotAllowed, "method_not_allowed"},
		{"an unknown path", http.MethodGet, "/no/such/path", http.StatusNotFound, "not_found"},
		{"an unknown POST path", http.MethodPost, "/oauth2/tokens", http.StatusNotFound, "not_found"},
	}
	eachStore(t, func(t *testing.T, f *fixture) {
		var bugs []string
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := f.send(t, call{method: tc.method, path: tc.path, body: cc()})
				if r.Status != tc.status || r.str("error") != tc.code {
					t.Errorf("got %d %s, want %d with error %q", r.Status, r.Raw, tc.status, tc.code)
				}
				wantNoStoreJSON(t, r)
				if r.str("error_description") == "" {
					bugs = append(bugs, tc.name+": no error_description: "+strings.TrimSpace(r.Raw))
				}
				// RFC 9110 §15.5.6: a 405 MUST carry Allow.
				if tc.status == http.StatusMethodNotAllowed && !strings.Contains(r.Header.Get("Allow"), http.MethodPost) &&
					!strings.Contains(r.Header.Get("Allow"), http.MethodGet) {
					bugs = append(bugs, tc.name+": 405 without an Allow header")
				}
			})
		}
		if len(bugs) > 0 {
			t.Errorf("NotFound/MethodNotAllowed handlers:\n%s", strings.Join(bugs, "\n"))
		}
	})
}

// TestRandomInputsNever5xx: 300 random requests (fixed seed) are each answered
// with a status below 500 and, when refused, a JSON error.
func TestRandomInputsNever5xx(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		id, secret := f.client(t, gameServer("game"))
		login := f.mustToken(t, id, secret, customID("p1"))
		g := &gen{rng: rand.New(rand.NewPCG(6749, 7662)), id: id, secret: secret,
			rt: login.str("refresh_token"), at: login.str("access_token")}
		for i := range 300 {
			c := g.call()
			r := f.send(t, c)
			if r.Status >= 500 {
				t.Errorf("request %d %s %s auth=%q ctype=%q chunked=%v body=%q: %d %s",
					i, c.method, c.path, c.auth, c.ctype, c.chunked, truncateString(c.body, 300), r.Status, r.Raw)
				continue
			}
			if r.Status >= 400 {
				wantNoStoreJSON(t, r)
				if r.str("error") == "" {
					t.Errorf("request %d: %d without an error code: %s", i, r.Status, r.Raw)
				}
			}
		}
	})
}

func truncateString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// gen makes random requests: mostly plausible ones, so that they get past the
// early checks, with random damage.
type gen struct {
	rng                *rand.Rand
	id, secret, rt, at string
}

func (g *gen) pick(xs ...string) string { return xs[g.rng.IntN(len(xs))] }

func (g *gen) printable(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(0x20 + g.rng.IntN(0x7f-0x20))
	}
	return string(b)
}

// bytesNoNUL are random bytes of any value but 0 (NUL is TestNULBytes').
func (g *gen) bytesNoNUL(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(1 + g.rng.IntN(255))
	}
	return string(b)
}

func (g *gen) value() string {
	switch g.rng.IntN(12) {
	case 0:
		return ""
	case 1:
		return url.QueryEscape(g.bytesNoNUL(1 + g.rng.IntN(40)))
	case 2:
		return g.bytesNoNUL(1 + g.rng.IntN(40)) // raw, unescaped
	case 3:
		return g.pick("%", "%z", "%zz", "%F", ";", "&&", "==", "%C3")
	case 4:
		return url.QueryEscape(strings.Repeat(g.printable(1), g.rng.IntN(3000)))
	case 5:
		return url.QueryEscape(g.printable(1 + g.rng.IntN(300)))
	default:
		return url.QueryEscape(g.pick(g.id, g.secret, g.rt, g.at, "game", "game profile", "admin",
			"client_credentials", "server_custom_id", "refresh_token", "password", broker.GrantServerCustomID,
			"access_token", "p1", "é", "日本"))
	}
}

func (g *gen) key() string {
	return g.pick("grant_type", "grant_type", "client_id", "client_secret", "scope", "server_custom_id",
		"refresh_token", "token", "token_type_hint", url.QueryEscape(g.printable(1+g.rng.IntN(8))), "%FF", "")
}

func (g *gen) body() string {
	if g.rng.IntN(10) == 0 {
		return g.bytesNoNUL(g.rng.IntN(500))
	}
	parts := make([]string, g.rng.IntN(7))
	for i := range parts {
		parts[i] = g.key() + "=" + g.value()
	}
	return strings.Join(parts, g.pick("&", "&", "&", ";"))
}

func (g *gen) call() call {
	if g.rng.IntN(2) == 0 {
		return g.plausible()
	}
	c := call{
		method: g.pick(http.MethodPost, http.MethodPost, http.MethodPost, http.MethodPost, http.MethodGet, http.MethodPut),
		path:   g.pick("/oauth2/token", "/oauth2/token", "/connect/1.0/api/token", "/oauth2/introspect", "/oauth2/revoke", "/nope"),
		ctype: g.pick(formType, formType, formType, formType+"; charset=utf-8", formType+"; charset=latin1",
			"application/json", noCType, "multipart/form-data; boundary=x", "text/plain", g.printable(1+g.rng.IntN(30))),
		body:    g.body(),
		chunked: g.rng.IntN(5) == 0,
	}
	if c.ctype == "" {
		c.ctype = noCType
	}
	g.authenticate(&c)
	return c
}

// plausible is a well-formed request to a real endpoint with one or two
// things wrong, so that it gets deep into the pipeline.
func (g *gen) plausible() call {
	c := call{path: g.pick("/oauth2/token", "/oauth2/token", "/oauth2/introspect", "/oauth2/revoke"), chunked: g.rng.IntN(5) == 0}
	form := url.Values{}
	if c.path == "/oauth2/token" {
		form.Set("grant_type", g.pick("client_credentials", "server_custom_id", broker.GrantServerCustomID, "refresh_token", "password"))
		form.Set("scope", g.pick("", "game", "game profile", "admin"))
		form.Set("server_custom_id", g.pick("p1", "p2", "日本", strings.Repeat("x", 256)))
		form.Set("refresh_token", g.pick(g.rt, "rt_unknown"))
	} else {
		form.Set("token", g.pick(g.rt, g.at, "garbage"))
		form.Set("token_type_hint", g.pick("", "access_token", "refresh_token", "other"))
	}
	// Damage one value with anything but a NUL.
	keys := slices.Collect(maps.Keys(form))
	slices.Sort(keys)
	if g.rng.IntN(2) == 0 {
		form.Set(keys[g.rng.IntN(len(keys))], g.pick(g.bytesNoNUL(1+g.rng.IntN(20)), g.printable(1+g.rng.IntN(600))))
	}
	c.body = form.Encode()
	if g.rng.IntN(3) == 0 {
		c.body += "&" + g.key() + "=" + g.value()
	}
	if g.rng.IntN(3) == 0 {
		g.authenticate(&c)
	} else {
		c.basic = creds(g.id, g.secret)
	}
	return c
}

func (g *gen) authenticate(c *call) {
	switch g.rng.IntN(8) {
	case 0, 1:
		c.basic = creds(g.id, g.secret)
	case 2:
		c.basic = creds(g.pick(g.id, g.printable(10)), g.printable(g.rng.IntN(60)))
	case 3:
		c.auth = "Basic " + g.printable(g.rng.IntN(60))
	case 4:
		c.auth = basicHeader(g.printable(g.rng.IntN(30)) + g.pick(":", "") + g.printable(g.rng.IntN(30)))
	case 5:
		c.auth = g.pick("Bearer ", "Digest ", "basic ", "") + g.printable(1+g.rng.IntN(40))
	case 6:
		c.body += "&client_id=" + url.QueryEscape(g.pick(g.id, g.printable(8))) + "&client_secret=" + url.QueryEscape(g.pick(g.secret, g.printable(8)))
	}
	if strings.TrimSpace(c.auth) == "" {
		c.auth = ""
	}
}

// TestNULBytes: U+0000 is valid UTF-8 but PostgreSQL text cannot hold it; a
// value carrying it is refused with the error its parameter calls for, the
// same on both stores, never a 500.
func TestNULBytes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		call   func(id, secret string) call
		status int
		code   string
	}{
		{"client_id (client_secret_post)", func(_, secret string) call {
			return call{body: cc("client_id", "game\x00server", "client_secret", secret)}
		}, http.StatusUnauthorized, "invalid_client"},
		{"client_id (client_secret_basic)", func(_, secret string) call {
			return call{body: cc(), basic: creds("game\x00server", secret)}
		}, http.StatusUnauthorized, "invalid_client"},
		{"client_secret", func(id, _ string) call {
			return call{body: cc(), basic: creds(id, "bks_\x00")}
		}, http.StatusUnauthorized, "invalid_client"},
		{"refresh_token", func(id, secret string) call {
			return call{body: refresh("rt_\x00").Encode(), basic: creds(id, secret)}
		}, http.StatusBadRequest, "invalid_grant"},
		{"scope", func(id, secret string) call {
			return call{body: cc("scope", "game\x00"), basic: creds(id, secret)}
		}, http.StatusBadRequest, "invalid_scope"},
		{"server_custom_id", func(id, secret string) call {
			return call{body: customID("player\x0042").Encode(), basic: creds(id, secret)}
		}, http.StatusBadRequest, "invalid_request"},
	}
	eachStore(t, func(t *testing.T, f *fixture) {
		for _, tc := range cases {
			t.Run("should fail because a NUL is in the "+tc.name, func(t *testing.T) {
				id, secret := f.client(t, gameServer("game"))
				r := f.send(t, tc.call(id, secret))
				wantOAuthError(t, r, tc.status, tc.code)
			})
		}
		t.Run("should answer inactive for a NUL in an introspected token", func(t *testing.T) {
			id, secret := f.client(t, gameServer("game"))
			r := f.introspect(t, id, secret, "rt_\x00")
			if r.Status != http.StatusOK || strings.TrimSpace(r.Raw) != `{"active":false}` {
				t.Errorf("got %d %s", r.Status, r.Raw)
			}
		})
	})
}
