package web_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/web"
)

// Hostile-input fuzz targets for the HTTP surface. Every target builds ONE
// broker on SQLite per fuzz process (outside f.Fuzz) and calls its handler
// directly, without a listener. What every target asserts: no panic and no
// 5xx, whatever the input; GS2 and Xsolla calls answer 200 or a 4xx.
//
// Seeds live in testdata/fuzz/<Target>/. Credentials are random per broker,
// so seeds name them by placeholders ({{client_id}}, {{client_secret}},
// {{basic}}, {{project_token}}, ...: see fzBroker.vars), which every target
// replaces with the real values (escaped for where they stand) before the
// request is sent: a valid seed reaches the success path, and the mutations
// of the fuzzer start from there. Run them for longer with `make fuzz`
// (scripts/fuzz.sh); `go test` runs the seeds.

// fzIssuer is the fuzz brokers' issuer: nothing listens there.
const fzIssuer = "http://fuzz.bridgekeeper.test"

// fzTail keeps the end of the broker's log (Warn and above), to say why a
// request failed with a 5xx.
type fzTail struct {
	mu  sync.Mutex
	buf []byte
}

func (l *fzTail) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	if n := len(l.buf); n > 8<<10 {
		l.buf = append(l.buf[:0], l.buf[n-(8<<10):]...)
	}
	return len(p), nil
}

func (l *fzTail) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.buf)
}

// fzBroker is a broker on SQLite with one game-server client in namespace
// "game" and the credentials a valid request needs.
type fzBroker struct {
	h     http.Handler
	store broker.Store
	log   *fzTail
	// vars maps each placeholder to its value.
	vars map[string]string
	// secret is the game server's client secret.
	secret string
}

// fzAnswer is one answer of the handler.
type fzAnswer struct {
	Status int
	Header http.Header
	Raw    string
	Body   map[string]any
}

func (a fzAnswer) str(key string) string {
	s, _ := a.Body[key].(string)
	return s
}

// serve calls the handler with req, as the server would: no panic may
// escape it.
func (b *fzBroker) serve(req *http.Request) fzAnswer {
	rec := httptest.NewRecorder()
	b.h.ServeHTTP(rec, req)
	a := fzAnswer{Status: rec.Code, Header: rec.Header(), Raw: rec.Body.String()}
	_ = json.Unmarshal(rec.Body.Bytes(), &a.Body)
	return a
}

// call sends a request built from parts the test controls.
func (b *fzBroker) call(method, target string, header map[string]string, body []byte) fzAnswer {
	req := httptest.NewRequest(method, target, bytes.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return b.serve(req)
}

// must is call for the setup, which must succeed.
func (b *fzBroker) must(tb testing.TB, method, target string, header map[string]string, body string) fzAnswer {
	tb.Helper()
	a := b.call(method, target, header, []byte(body))
	if a.Status != http.StatusOK {
		tb.Fatalf("fuzz setup: %s %s: %d %s", method, target, a.Status, a.Raw)
	}
	return a
}

// newFzBroker builds the broker and logs in what the placeholders name;
// withAccount adds a GS2-Account account with a takeover ({{user_id}},
// {{password}}, {{signed_body}}, {{signature}}), for the GS2 target.
func newFzBroker(tb testing.TB, withAccount bool) *fzBroker {
	tb.Helper()
	ctx := context.Background()
	store := openSQLite(tb)
	tail := &fzTail{}
	log := slog.New(slog.NewTextHandler(tail, &slog.HandlerOptions{Level: slog.LevelWarn}))
	w := wire(tb, store, fzIssuer, log, settings{Options: web.Options{
		MaxBodyBytes:            64 << 10,
		XsollaPublisherProjects: map[int64]string{4242: "game"},
		SocialSlots:             map[string]int{"steam": 10, "discord": 11},
	}})
	h, secrets, clk := w.handler, w.secrets, w.clock
	b := &fzBroker{h: h, store: store, log: tail}

	c, secret, err := broker.CreateClient(ctx, store, secrets, gameServer("game"), clk.Now())
	if err != nil {
		tb.Fatal(err)
	}
	b.secret = secret
	ns, err := store.GetNamespaceByName(ctx, "game")
	if err != nil {
		tb.Fatal(err)
	}
	jsonHdr := map[string]string{"Content-Type": "application/json"}
	project := b.must(tb, http.MethodPost, "/gs2/identifier/projectToken/login", jsonHdr,
		fmt.Sprintf(`{"client_id":%q,"client_secret":%q}`, c.ID, secret)).str("access_token")
	hdr := map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + project, "X-GS2-CLIENT-ID": c.ID}
	player := b.must(tb, http.MethodPost, "/gs2/auth/login", hdr, `{"userId":"fuzz-player"}`).str("token")
	form := url.Values{"grant_type": {"server_custom_id"}, "server_custom_id": {"fuzz-custom"}}
	tok := b.must(tb, http.MethodPost, "/oauth2/token", map[string]string{
		"Content-Type":  formType,
		"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(c.ID)+":"+url.QueryEscape(secret))),
	}, form.Encode())
	b.vars = map[string]string{
		"{{client_id}}":     c.ID,
		"{{client_secret}}": secret,
		"{{basic}}":         base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(c.ID) + ":" + url.QueryEscape(secret))),
		"{{project_token}}": project,
		"{{player_token}}":  player,
		"{{access_token}}":  tok.str("access_token"),
		"{{refresh_token}}": tok.str("refresh_token"),
		"{{key_id}}":        "grn:gs2:ap-northeast-1:bridgekeeper:key:default:key:default",
		"{{project_id}}":    ns.ID,
	}
	if withAccount {
		acct := b.must(tb, http.MethodPost, "/gs2/account/game/account", hdr, `{}`)
		item, _ := acct.Body["item"].(map[string]any)
		userID, _ := item["userId"].(string)
		password, _ := item["password"].(string)
		auth := b.must(tb, http.MethodPut, "/gs2/account/game/account/"+userID, hdr, fmt.Sprintf(`{"password":%q}`, password))
		b.must(tb, http.MethodPost, "/gs2/account/game/account/"+userID+"/takeover", hdr,
			`{"type":0,"userIdentifier":"fuzz-takeover","password":"fuzz-takeover-password"}`)
		b.vars["{{user_id}}"], b.vars["{{password}}"] = userID, password
		b.vars["{{signed_body}}"], b.vars["{{signature}}"] = auth.str("body"), auth.str("signature")
	}
	for k, v := range b.vars {
		if v == "" {
			tb.Fatalf("fuzz setup: %s is empty", k)
		}
	}
	return b
}

// expand replaces the placeholders in s by their values, each encoded by
// enc for where it stands (nil: as they are).
func (b *fzBroker) expand(s string, enc func(string) string) string {
	if !strings.Contains(s, "{{") {
		return s
	}
	for k, v := range b.vars {
		if enc != nil {
			v = enc(v)
		}
		s = strings.ReplaceAll(s, k, v)
	}
	return s
}

// fzJSONString escapes s for the inside of a JSON string.
func fzJSONString(s string) string {
	q, _ := json.Marshal(s)
	return string(q[1 : len(q)-1])
}

// fzHeaderValue is v as a server reads it off the wire (surrounding blanks
// trimmed), and whether it can be sent at all: a header value holds no
// control character but tab (RFC 9110 §5.5; net/http refuses the request).
func fzHeaderValue(v string) (string, bool) {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return "", false
		}
	}
	return strings.Trim(v, " \t"), true
}

// checkFz fails on a 5xx, saying what was asked and what the log says.
func (b *fzBroker) checkFz(t *testing.T, what string, a fzAnswer) {
	t.Helper()
	if a.Status >= 500 {
		t.Fatalf("%s: %d %s\nbroker log:\n%s", what, a.Status, a.Raw, b.log.String())
	}
	if a.Status < 200 {
		t.Fatalf("%s: status %d", what, a.Status)
	}
}

// checkFzStrict is checkFz for the GS2 and Xsolla surfaces: success is
// exactly 200, anything else a 4xx.
func (b *fzBroker) checkFzStrict(t *testing.T, what string, a fzAnswer) {
	t.Helper()
	b.checkFz(t, what, a)
	if a.Status != http.StatusOK && (a.Status < 400 || a.Status > 499) {
		t.Fatalf("%s: status %d is neither 200 nor a 4xx: %s", what, a.Status, a.Raw)
	}
}

// presentedSecret is the client secret a request carries, by Basic or in
// the form, as the broker reads them ("" for none).
func presentedSecret(req *http.Request, form string) []string {
	var out []string
	if _, pass, ok := req.BasicAuth(); ok {
		if p, err := url.QueryUnescape(pass); err == nil {
			out = append(out, p)
		}
	}
	if v, err := url.ParseQuery(form); err == nil {
		out = append(out, v["client_secret"]...)
	}
	return out
}

// checkAuthenticated: a 200 from a client-authenticating endpoint means the
// request carried the client's real secret; a 401 to a request with an
// Authorization header carries a WWW-Authenticate challenge (RFC 6749 §5.2).
func (b *fzBroker) checkAuthenticated(t *testing.T, what string, req *http.Request, form string, a fzAnswer) {
	t.Helper()
	if a.Status == http.StatusOK {
		ok := false
		for _, s := range presentedSecret(req, form) {
			ok = ok || s == b.secret
		}
		if !ok {
			t.Fatalf("%s: 200 without the client's secret: %s", what, a.Raw)
		}
	}
	if a.Status == http.StatusUnauthorized && req.Header.Get("Authorization") != "" && a.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("%s: 401 to a request with Authorization but no WWW-Authenticate: %s", what, a.Raw)
	}
}

// FuzzTokenEndpoint: POST /oauth2/token with any body, Content-Type and
// Authorization. Placeholders are form-urlencoded in the body and as they
// are in the headers.
func FuzzTokenEndpoint(f *testing.F) {
	b := newFzBroker(f, false)
	f.Add("grant_type=client_credentials", formType, "Basic {{basic}}")
	f.Add("grant_type=client_credentials&client_id={{client_id}}&client_secret={{client_secret}}", formType, "")
	f.Fuzz(func(t *testing.T, body, contentType, authorization string) {
		contentType, ok1 := fzHeaderValue(b.expand(contentType, nil))
		authorization, ok2 := fzHeaderValue(b.expand(authorization, nil))
		if !ok1 || !ok2 {
			t.Skip("not a header value net/http would deliver")
		}
		body = b.expand(body, url.QueryEscape)
		for _, path := range []string{"/oauth2/token", "/connect/1.0/api/token"} {
			req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
			if contentType != "" {
				req.Header.Set("Content-Type", contentType)
			}
			if authorization != "" {
				req.Header.Set("Authorization", authorization)
			}
			a := b.serve(req)
			what := fmt.Sprintf("POST %s Content-Type %q Authorization %q body %q", path, contentType, authorization, body)
			b.checkFz(t, what, a)
			b.checkAuthenticated(t, what, req, body, a)
			if a.Status == http.StatusOK && a.str("access_token") == "" {
				t.Fatalf("%s: 200 without an access token: %s", what, a.Raw)
			}
			if a.Status != http.StatusOK && a.str("error") == "" {
				t.Fatalf("%s: %d without an RFC 6749 error: %s", what, a.Status, a.Raw)
			}
		}
	})
}

// FuzzClientAuthentication: client authentication at the token and the
// introspection endpoints, with any Authorization header and form (Basic
// variants, client_id/client_secret in the form, both, neither).
func FuzzClientAuthentication(f *testing.F) {
	b := newFzBroker(f, false)
	f.Add("Basic {{basic}}", "grant_type=client_credentials&token={{access_token}}")
	f.Add("", "client_id={{client_id}}&client_secret={{client_secret}}&grant_type=client_credentials&token={{project_token}}")
	f.Fuzz(func(t *testing.T, authorization, form string) {
		authorization, ok := fzHeaderValue(b.expand(authorization, nil))
		if !ok {
			t.Skip("not a header value net/http would deliver")
		}
		form = b.expand(form, url.QueryEscape)
		for _, path := range []string{"/oauth2/introspect", "/oauth2/token", "/oauth2/revoke"} {
			req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form))
			req.Header.Set("Content-Type", formType)
			if authorization != "" {
				req.Header.Set("Authorization", authorization)
			}
			a := b.serve(req)
			what := fmt.Sprintf("POST %s Authorization %q form %q", path, authorization, form)
			b.checkFz(t, what, a)
			b.checkAuthenticated(t, what, req, form, a)
		}
	})
}

// fzGS2Call is one GS2 JSON endpoint FuzzGS2Body sends bodies to.
type fzGS2Call struct {
	method, path string
	player       bool // sends X-GS2-ACCESS-TOKEN (the /me/ calls)
}

// fzGS2Calls are the GS2 JSON endpoints, by the index FuzzGS2Body draws.
var fzGS2Calls = []fzGS2Call{
	{http.MethodPost, "/gs2/auth/login", false},
	{http.MethodPost, "/gs2/auth/federation", false},
	{http.MethodPost, "/gs2/auth/timeoffset/token", false},
	{http.MethodPost, "/gs2/auth/login/signed", false},
	{http.MethodPost, "/gs2/account/game/account", false},
	{http.MethodPut, "/gs2/account/game/account/{{user_id}}", false},
	{http.MethodPost, "/gs2/account/game/account/me/takeover", true},
	{http.MethodPost, "/gs2/account/game/account/{{user_id}}/takeover", false},
	{http.MethodPut, "/gs2/account/game/account/me/takeover/type/0", true},
	{http.MethodPut, "/gs2/account/game/account/{{user_id}}/takeover/type/0", false},
	{http.MethodPost, "/gs2/account/game/takeover/type/0", false},
	{http.MethodPost, "/gs2/identifier/projectToken/login", false},
}

// FuzzGS2Body: the JSON bodies of the GS2 endpoints (fzGS2Calls[path %
// len]), plain or gzip-compressed (a body that already is a gzip stream is
// sent as it is), with a valid project token (and a player token for the
// /me/ calls). Placeholders are JSON-string escaped.
func FuzzGS2Body(f *testing.F) {
	b := newFzBroker(f, true)
	f.Add(uint8(0), []byte(`{"userId":"alice","timeOffset":60}`), false)
	f.Add(uint8(1), []byte(`{"userId":"alice","originalUserId":"bob","policyDocument":"{\"Version\":\"2016-04-01\",\"Statements\":[{\"Effect\":\"Allow\",\"Actions\":[\"*\"],\"Resources\":[\"*\"]}]}"}`), true)
	f.Fuzz(func(t *testing.T, path uint8, body []byte, compress bool) {
		call := fzGS2Calls[int(path)%len(fzGS2Calls)]
		target := b.expand(call.path, url.PathEscape)
		sent := []byte(b.expand(string(body), fzJSONString))
		hdr := map[string]string{
			"Content-Type":    "application/json",
			"Authorization":   "Bearer " + b.vars["{{project_token}}"],
			"X-GS2-CLIENT-ID": b.vars["{{client_id}}"],
		}
		if call.player {
			hdr["X-GS2-ACCESS-TOKEN"] = b.vars["{{player_token}}"]
		}
		switch {
		case compress && bytes.HasPrefix(sent, []byte{0x1f, 0x8b}):
			// Already a gzip stream (the seeds' bombs and truncations):
			// sent as it is.
			hdr["Content-Encoding"] = "gzip"
		case compress:
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			zw.Write(sent)
			zw.Close()
			sent = buf.Bytes()
			hdr["Content-Encoding"] = "gzip"
		}
		a := b.call(call.method, target, hdr, sent)
		what := fmt.Sprintf("%s %s gzip=%v body %q", call.method, target, compress, b.expand(string(body), fzJSONString))
		b.checkFzStrict(t, what, a)
		if a.Status != http.StatusOK {
			// GS2's SDKs JSON.parse the message: it must be an array.
			var items []map[string]any
			if err := json.Unmarshal([]byte(a.str("message")), &items); err != nil || len(items) == 0 {
				t.Fatalf("%s: %d answer is not a GS2 error: %s", what, a.Status, a.Raw)
			}
		}
	})
}

// FuzzXsollaBody: POST /users/login/server_custom_id with any query and
// body, as a valid game server. Placeholders are query-escaped in the query
// and JSON-string escaped in the body.
func FuzzXsollaBody(f *testing.F) {
	b := newFzBroker(f, false)
	f.Add("projectId={{project_id}}", []byte(`{"server_custom_id":"player-1"}`))
	f.Add("publisher_project_id=4242&with_logout=1", []byte(`{"server_custom_id":"player-2","social_profile":{"user_id":"7656","platform":"steam"}}`))
	f.Fuzz(func(t *testing.T, query string, body []byte) {
		query = b.expand(query, url.QueryEscape)
		for i := 0; i < len(query); i++ {
			// Blanks and control characters end or break an HTTP/1.1
			// request line; '#' never reaches a server.
			if c := query[i]; c <= ' ' || c == 0x7f || c == '#' {
				t.Skip("not a query an HTTP request line can carry")
			}
		}
		sent := b.expand(string(body), fzJSONString)
		req := httptest.NewRequest(http.MethodPost, "/users/login/server_custom_id", strings.NewReader(sent))
		req.URL.RawQuery = query
		req.RequestURI = req.URL.RequestURI()
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+b.vars["{{project_token}}"])
		a := b.serve(req)
		what := fmt.Sprintf("POST /users/login/server_custom_id?%s body %q", query, sent)
		b.checkFzStrict(t, what, a)
		switch {
		case a.Status == http.StatusOK && a.str("token") == "":
			t.Fatalf("%s: 200 without a token: %s", what, a.Raw)
		case a.Status != http.StatusOK && a.str("code") == "":
			t.Fatalf("%s: %d without an error code: %s", what, a.Status, a.Raw)
		}
	})
}
