package web_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// gs2Call is one GS2 request as an SDK sends it.
type gs2Call struct {
	method string // POST when empty
	path   string
	body   string
	gzip   bool              // compress the body, with Content-Encoding: gzip
	header map[string]string // Authorization, X-GS2-CLIENT-ID, ...
}

// gs2Send sends c with the headers every SDK sends and decodes the answer.
func (f *fixture) gs2Send(t *testing.T, c gs2Call) response {
	t.Helper()
	method := c.method
	if method == "" {
		method = http.MethodPost
	}
	body := []byte(c.body)
	if c.gzip {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(body)
		zw.Close()
		body = buf.Bytes()
	}
	req, err := http.NewRequest(method, f.URL+c.path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json") // also on GET, as the SDKs do
	if c.gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, c.path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	_ = json.Unmarshal(raw, &r.Body)
	return r
}

// gs2Project registers a game-server client in namespace ns and logs it in
// as GS2's SDKs do; it returns the client ID and the project token.
func (f *fixture) gs2Project(t *testing.T, ns string) (clientID, token string) {
	t.Helper()
	id, secret := f.client(t, gameServer(ns))
	return id, f.gs2ProjectToken(t, id, secret)
}

func (f *fixture) gs2ProjectToken(t *testing.T, id, secret string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"client_id": id, "client_secret": secret})
	r := f.gs2Send(t, gs2Call{path: "/gs2/identifier/projectToken/login", body: string(body)})
	if r.Status != http.StatusOK || r.str("access_token") == "" {
		t.Fatalf("project login: %d %s", r.Status, r.Raw)
	}
	return r.str("access_token")
}

// trusted is the headers of a trusted-server call.
func trusted(clientID, token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token, "X-GS2-CLIENT-ID": clientID}
}

type gs2ErrorItem struct {
	Component string `json:"component"`
	Message   string `json:"message"`
	Code      string `json:"code"`
}

// checkGS2Error checks a GS2 error answer: the status, no-store, and a
// message that is a JSON array (as a string) of {component, message, code}
// whose component is the one given and whose message reads
// "<service>.<model>.<field>.error.<reason>".
func checkGS2Error(t *testing.T, r response, status int, component string) gs2ErrorItem {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Raw)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	msg, ok := r.Body["message"].(string)
	if !ok {
		t.Fatalf("message is not a string: %s", r.Raw)
	}
	var items []gs2ErrorItem
	if err := json.Unmarshal([]byte(msg), &items); err != nil || len(items) == 0 {
		t.Fatalf("message %q is not a JSON array of errors: %v", msg, err)
	}
	it := items[0]
	if it.Component != component {
		t.Errorf("component %q, want %q (%s)", it.Component, component, msg)
	}
	if parts := strings.Split(it.Message, "."); len(parts) != 5 || parts[3] != "error" || it.Code == "" {
		t.Errorf("message %q is not <service>.<model>.<field>.error.<reason> with a code (%s)", it.Message, msg)
	}
	return it
}

func TestGS2ServiceVersion(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		for _, svc := range []string{"auth", "identifier", "account"} {
			t.Run(svc, func(t *testing.T) {
				r := f.gs2Send(t, gs2Call{method: http.MethodGet, path: "/gs2/" + svc + "/system/version"})
				if r.Status != http.StatusOK || r.str("item") == "" || r.str("status") != r.str("item") {
					t.Fatalf("version: %d %s", r.Status, r.Raw)
				}
			})
		}
		// The routes are instrumented under one name.
		if m := f.metricsText(t); !strings.Contains(m, `bridgekeeper_http_requests_total{code="200",route="gs2"} 3`) {
			t.Errorf("metrics do not count the gs2 route:\n%s", m)
		}
	})
}

// TestGS2ProjectTokenAuth: trusted-server calls need a live client token
// of a confidential client, named by X-GS2-CLIENT-ID when that is sent.
func TestGS2ProjectTokenAuth(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		clientID, project := f.gs2Project(t, "game")
		// A player's token, as GS2-Auth's login hands it out.
		login := f.gs2Send(t, gs2Call{path: "/gs2/auth/login", body: `{"userId":"alice"}`, header: trusted(clientID, project)})
		if login.Status != http.StatusOK {
			t.Fatalf("login: %d %s", login.Status, login.Raw)
		}
		otherID, _ := f.gs2Project(t, "game")
		tests := []struct {
			name   string
			header map[string]string
			status int
		}{
			{"good", trusted(clientID, project), http.StatusOK},
			{"without X-GS2-CLIENT-ID", map[string]string{"Authorization": "Bearer " + project}, http.StatusOK},
			{"lower-case scheme", map[string]string{"Authorization": "bearer " + project}, http.StatusOK},
			{"no Authorization", map[string]string{"X-GS2-CLIENT-ID": clientID}, http.StatusUnauthorized},
			{"garbage token", trusted(clientID, "garbage"), http.StatusUnauthorized},
			{"Basic scheme", map[string]string{"Authorization": "Basic " + project}, http.StatusUnauthorized},
			{"a player's token", trusted(clientID, login.str("token")), http.StatusUnauthorized},
			{"X-GS2-CLIENT-ID of another client", trusted(otherID, project), http.StatusUnauthorized},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				r := f.gs2Send(t, gs2Call{path: "/gs2/auth/login", body: `{"userId":"bob"}`, header: tc.header})
				if tc.status == http.StatusOK {
					if r.Status != http.StatusOK {
						t.Fatalf("%d %s", r.Status, r.Raw)
					}
					return
				}
				checkGS2Error(t, r, tc.status, "accessToken")
			})
		}
	})
}

// TestGS2ProjectTokenOfDeletedClient: the client must still exist.
func TestGS2ProjectTokenOfDeletedClient(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		clientID, project := f.gs2Project(t, "game")
		if err := f.Store.DeleteClient(t.Context(), clientID); err != nil {
			t.Fatal(err)
		}
		f.Clock.Advance(time.Second) // past the broker's client cache
		r := f.gs2Send(t, gs2Call{path: "/gs2/auth/login", body: `{"userId":"bob"}`, header: trusted(clientID, project)})
		checkGS2Error(t, r, http.StatusUnauthorized, "accessToken")
	})
}

// TestGS2LiberalInput: GS2-WIRE.md's "be liberal" rules, and what is
// refused anyway.
func TestGS2LiberalInput(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		clientID, project := f.gs2Project(t, "game")
		tests := []struct {
			name   string
			body   string
			gzip   bool
			status int
			offset int // the token's timeOffset on success
		}{
			{"timeOffset as a string", `{"userId":"u1","timeOffset":"3600"}`, false, http.StatusOK, 3600},
			{"timeOffset as a number", `{"userId":"u1","timeOffset":3600}`, false, http.StatusOK, 3600},
			{"timeOffset null is absent", `{"userId":"u1","timeOffset":null}`, false, http.StatusOK, 0},
			{"timeOffset empty string is absent", `{"userId":"u1","timeOffset":""}`, false, http.StatusOK, 0},
			{"unknown fields ignored", `{"contextStack":"abc","userId":"u1","extra":{"a":[1]}}`, false, http.StatusOK, 0},
			{"gzip body", `{"userId":"u1","timeOffset":60}`, true, http.StatusOK, 60},
			{"userId null is absent", `{"userId":null}`, false, http.StatusBadRequest, 0},
			{"empty body is {}", ``, false, http.StatusBadRequest, 0},
			{"malformed JSON", `{"userId":`, false, http.StatusBadRequest, 0},
			{"trailing data", `{"userId":"u1"} {}`, false, http.StatusBadRequest, 0},
			{"not an object", `["u1"]`, false, http.StatusBadRequest, 0},
			{"timeOffset not a number", `{"userId":"u1","timeOffset":"soon"}`, false, http.StatusBadRequest, 0},
			{"timeOffset a fraction", `{"userId":"u1","timeOffset":1.5}`, false, http.StatusBadRequest, 0},
			{"userId an object", `{"userId":{"id":"u1"}}`, false, http.StatusBadRequest, 0},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				r := f.gs2Send(t, gs2Call{path: "/gs2/auth/login", body: tc.body, gzip: tc.gzip, header: trusted(clientID, project)})
				if tc.status != http.StatusOK {
					checkGS2Error(t, r, tc.status, "accessToken")
					return
				}
				if r.Status != http.StatusOK {
					t.Fatalf("%d %s", r.Status, r.Raw)
				}
				if got := jwtPayload(t, r.str("token"))["timeOffset"]; got != float64(tc.offset) {
					t.Errorf("timeOffset %v, want %d", got, tc.offset)
				}
			})
		}
	})
}

// TestGS2BodyLimit: the body limit bounds the decompressed size too.
func TestGS2BodyLimit(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		clientID, project := f.gs2Project(t, "game")
		big := `{"userId":"u1","pad":"` + strings.Repeat("a", 128<<10) + `"}`
		for _, gz := range []bool{false, true} {
			r := f.gs2Send(t, gs2Call{path: "/gs2/auth/login", body: big, gzip: gz, header: trusted(clientID, project)})
			if it := checkGS2Error(t, r, http.StatusBadRequest, "accessToken"); !strings.HasSuffix(it.Message, ".body.error.tooLarge") {
				t.Errorf("gzip=%v: message %q", gz, it.Message)
			}
		}
		r := f.gs2Send(t, gs2Call{path: "/gs2/auth/login", body: "not gzip", header: map[string]string{
			"Authorization": "Bearer " + project, "Content-Encoding": "gzip",
		}})
		checkGS2Error(t, r, http.StatusBadRequest, "accessToken")
	})
}

// TestGS2UnknownCall: an unserved GS2 path or method is a 404 the SDKs can
// read, not the OAuth2 surface's error.
func TestGS2UnknownCall(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		for _, c := range []gs2Call{
			{path: "/gs2/account/game/platformId"},
			{method: http.MethodGet, path: "/gs2/auth/login"},
		} {
			r := f.gs2Send(t, c)
			if it := checkGS2Error(t, r, http.StatusNotFound, "api"); !strings.HasSuffix(it.Message, ".error.notFound") {
				t.Errorf("%s %s: message %q", c.method, c.path, it.Message)
			}
		}
	})
}
