package openapitest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a testing.TB that keeps what is reported to it, so that a
// test can check that a mismatch is reported.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	msgs []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}

func (r *recorder) reported() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.msgs, "\n")
}

// fakeBroker answers each request with what answer gives for its path.
type answer struct {
	status      int
	contentType string
	body        string
}

func fakeBroker(answers map[string]answer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := answers[r.Method+" "+r.URL.Path]
		if !ok {
			a = answer{http.StatusNotFound, "application/json", `{"error":"not_found","error_description":"no such endpoint"}`}
		}
		_, _ = io.Copy(io.Discard, r.Body)
		if a.contentType != "" {
			w.Header().Set("Content-Type", a.contentType)
		}
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
	})
}

const (
	jsonType  = "application/json; charset=utf-8"
	formType  = "application/x-www-form-urlencoded"
	goodToken = `{"access_token":"eyJ","token_type":"Bearer","expires_in":3600}`
)

// exchange is one request of a case.
type exchange struct {
	method, path, contentType, body string
	authorization                   string
}

// cases are exchanges and whether the contract must report them: each
// "should fail because" case names the reason in the message expected.
var cases = []struct {
	name    string
	answers map[string]answer
	send    exchange
	want    string // "" when nothing may be reported
}{
	{
		name:    "a documented answer passes",
		answers: map[string]answer{"GET /healthz": {200, jsonType, `{"status":"ok"}`}},
		send:    exchange{method: "GET", path: "/healthz"},
	},
	{
		name:    "should fail because the answer's body has the wrong shape",
		answers: map[string]answer{"GET /healthz": {200, jsonType, `{"status":3}`}},
		send:    exchange{method: "GET", path: "/healthz"},
		want:    "the answer: body: at '/status'",
	},
	{
		name:    "should fail because the status is not documented",
		answers: map[string]answer{"GET /healthz": {418, jsonType, `{"status":"ok"}`}},
		send:    exchange{method: "GET", path: "/healthz"},
		want:    "status is not supported",
	},
	{
		name:    "should fail because the document has no such path",
		answers: map[string]answer{"GET /admin/users": {200, jsonType, `[]`}},
		send:    exchange{method: "GET", path: "/admin/users"},
		want:    "the document has no operation GET /admin/users",
	},
	{
		name: "an unknown path refused by the router passes",
		send: exchange{method: "GET", path: "/favicon.ico"},
	},
	{
		name:    "should fail because a request outside the document was accepted",
		answers: map[string]answer{"POST /oauth2/token": {200, jsonType, goodToken}},
		send:    exchange{method: "POST", path: "/oauth2/token", contentType: formType, body: "scope=game"},
		want:    "a request outside the document was accepted",
	},
	{
		name: "a request outside the document that is refused passes",
		answers: map[string]answer{"POST /oauth2/token": {400, jsonType,
			`{"error":"invalid_request","error_description":"grant_type is required"}`}},
		send: exchange{method: "POST", path: "/oauth2/token", contentType: formType, body: "scope=game"},
	},
	{
		name:    "should fail because the token endpoint's alias has the same contract",
		answers: map[string]answer{"POST /connect/1.0/api/token": {200, jsonType, goodToken}},
		send:    exchange{method: "POST", path: "/connect/1.0/api/token", contentType: formType, body: "grant_type=password"},
		want:    "a request outside the document was accepted",
	},
	{
		name: "a GS2 error passes",
		answers: map[string]answer{"POST /gs2/identifier/projectToken/login": {400, jsonType,
			`{"message":"[{\"component\":\"projectToken\",\"message\":\"identifier.projectToken.clientId.error.required\",\"code\":\"projectToken.clientId.required\"}]"}`}},
		send: exchange{method: "POST", path: "/gs2/identifier/projectToken/login", contentType: "application/json", body: `{}`},
	},
	{
		name: "should fail because GS2's message must hold its JSON array",
		answers: map[string]answer{"POST /gs2/identifier/projectToken/login": {400, jsonType,
			`{"message":"clientId is required"}`}},
		send: exchange{method: "POST", path: "/gs2/identifier/projectToken/login", contentType: "application/json", body: `{}`},
		want: "at '/message'",
	},
	{
		name:    "should fail because a form parameter is repeated",
		answers: map[string]answer{"POST /oauth2/token": {200, jsonType, goodToken}},
		send: exchange{method: "POST", path: "/oauth2/token", contentType: formType,
			body: "grant_type=client_credentials&grant_type=client_credentials&client_id=c&client_secret=s"},
		want: "a request outside the document was accepted: body: at '/grant_type'",
	},
	{
		name: "a rest-of-path parameter takes unescaped slashes",
		answers: map[string]answer{"DELETE /gs2/account/game/takeover/type/4/userIdentifier/dir/sub@example.com": {200, jsonType,
			`{"item":{"takeOverId":"grn","userId":"u","type":4,"userIdentifier":"dir/sub@example.com","createdAt":1,"revision":1}}`}},
		send: exchange{method: "DELETE", path: "/gs2/account/game/takeover/type/4/userIdentifier/dir/sub@example.com",
			authorization: "Bearer eyJ"},
	},
	{
		name:    "should fail because a path longer than a rest-of-path template is still unknown elsewhere",
		answers: map[string]answer{"GET /healthz/extra/segments": {200, jsonType, `{"status":"ok"}`}},
		send:    exchange{method: "GET", path: "/healthz/extra/segments"},
		want:    "the document has no operation",
	},
	{
		name:    "the token endpoint's alias is documented",
		answers: map[string]answer{"POST /connect/1.0/api/token": {200, jsonType, goodToken}},
		send: exchange{method: "POST", path: "/connect/1.0/api/token", contentType: formType,
			body: url.Values{"grant_type": {"client_credentials"}, "client_id": {"c"}, "client_secret": {"s"}}.Encode()},
	},
}

func TestTransport(t *testing.T) {
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(fakeBroker(tc.answers))
			defer srv.Close()
			rec := &recorder{TB: t}
			client := Client(rec, c, srv.URL)
			sendAndRead(t, client, srv.URL, tc.send)
			checkReported(t, rec.reported(), tc.want)
		})
	}
}

// TestListener checks the same cases on the wire, through a server that
// listens through Listener.
func TestListener(t *testing.T) {
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(fakeBroker(tc.answers))
			tap := newWiretap(c, srv.Listener)
			srv.Listener = tap
			srv.Start()
			sendAndRead(t, srv.Client(), srv.URL, tc.send)
			srv.Close()
			checkReported(t, strings.Join(tap.finish(5*time.Second), "\n"), tc.want)
		})
	}
}

// TestTransportOtherOrigins checks that requests to another origin than
// the broker's (an upstream provider's mock) are not checked.
func TestTransportOtherOrigins(t *testing.T) {
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	upstream := httptest.NewServer(fakeBroker(map[string]answer{"GET /userinfo": {200, jsonType, `{"id":1}`}}))
	defer upstream.Close()
	rec := &recorder{TB: t}
	sendAndRead(t, Client(rec, c, "http://127.0.0.1:1"), upstream.URL, exchange{method: "GET", path: "/userinfo"})
	checkReported(t, rec.reported(), "")
}

func sendAndRead(t *testing.T, client *http.Client, base string, ex exchange) {
	t.Helper()
	req, err := http.NewRequest(ex.method, base+ex.path, strings.NewReader(ex.body))
	if err != nil {
		t.Fatal(err)
	}
	if ex.contentType != "" {
		req.Header.Set("Content-Type", ex.contentType)
	}
	if ex.authorization != "" {
		req.Header.Set("Authorization", ex.authorization)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
}

func checkReported(t *testing.T, got, want string) {
	t.Helper()
	switch {
	case want == "" && got != "":
		t.Errorf("reported, want nothing: %s", got)
	case want != "" && !strings.Contains(got, want):
		t.Errorf("reported %q, want it to say %q", got, want)
	}
}
