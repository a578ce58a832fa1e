package web_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/keys"
)

// TestClientAuthSameAnswer: the token endpoint and GS2's project login
// answer an unknown client exactly as a known client with a wrong secret
// (issue 11 item 5; the equal work is BenchmarkAuthenticateClient's).
func TestClientAuthSameAnswer(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		id, _ := f.client(t, gameServer("game"))
		const unknown = "00000000-0000-4000-8000-00000000abcd"
		cc := url.Values{"grant_type": {"client_credentials"}}
		wrong, nobody := f.token(t, id, "bks_wrong", cc), f.token(t, unknown, "bks_wrong", cc)
		if wrong.Status != http.StatusUnauthorized || wrong.Raw != nobody.Raw || wrong.Status != nobody.Status {
			t.Errorf("token endpoint: wrong secret %d %s, unknown client %d %s", wrong.Status, wrong.Raw, nobody.Status, nobody.Raw)
		}
		project := func(clientID string) response {
			body, _ := json.Marshal(map[string]string{"client_id": clientID, "client_secret": "bks_wrong"})
			return f.gs2Send(t, gs2Call{path: "/gs2/identifier/projectToken/login", body: string(body)})
		}
		wrong, nobody = project(id), project(unknown)
		if wrong.Status != http.StatusUnauthorized || wrong.Raw != nobody.Raw || wrong.Status != nobody.Status {
			t.Errorf("project login: wrong secret %d %s, unknown client %d %s", wrong.Status, wrong.Raw, nobody.Status, nobody.Raw)
		}
		// The operator hears of each failure: client and address, no secret.
		logs := f.Logs.String()
		for _, who := range []string{id, unknown} {
			if !strings.Contains(logs, `"msg":"client authentication failed","client_id":"`+who+`","addr":"127.0.0.1"`) {
				t.Errorf("should fail because no log line tells of the failure of %s:\n%s", who, logs)
			}
		}
		if strings.Contains(logs, "bks_wrong") {
			t.Error("a secret reached the log")
		}
	})
}

// TestCanonicalPathsOnly: a path that is not in its clean form is refused
// with a 400, never redirected to the route it cleans to, and a takeover
// identifier that would need such a path cannot be created (issue 11
// item 6).
func TestCanonicalPathsOnly(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		hdr := trusted(f.gs2Project(t, "game"))
		f.tkoPlayer(t, hdr, "victim")
		f.tkoPlayer(t, hdr, "attacker")
		f.tkoMustCreate(t, hdr, "game", "victim", 0, "victim-device", "pw")
		noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		for _, tc := range []struct{ name, method, path string }{
			{"the identifier climbs to another route", http.MethodDelete,
				"/gs2/account/game/takeover/type/5/userIdentifier/..%2F..%2F..%2F..%2Faccount%2Fvictim%2Ftakeover%2Ftype%2F0%2Ftakeover"},
			{"a dot-dot segment", http.MethodDelete, "/gs2/account/game/account/attacker/../victim/takeover/type/0"},
			{"a dot segment", http.MethodGet, "/gs2/account/game/./account/victim"},
			{"an empty segment", http.MethodPost, "/oauth2//token"},
			{"a trailing slash", http.MethodGet, "/.well-known/jwks.json/"},
		} {
			t.Run("should fail because of "+tc.name, func(t *testing.T) {
				req, _ := http.NewRequest(tc.method, f.URL+tc.path, nil)
				for k, v := range hdr {
					req.Header.Set(k, v)
				}
				resp, err := noRedirect.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusBadRequest {
					t.Errorf("%s %s: %d (Location %q), want 400", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Location"))
				}
			})
		}
		// The victim's takeover is still there.
		r := f.gs2Send(t, gs2Call{method: http.MethodGet, path: tkoBase("game", "victim") + "/type/0", header: hdr})
		if r.Status != http.StatusOK {
			t.Errorf("the victim's takeover: %d %s", r.Status, r.Raw)
		}
		for _, ident := range []string{"dir/sub", "..", ".", "../../account"} {
			t.Run("should fail because the identifier is "+ident, func(t *testing.T) {
				r := f.tkoCreate(t, hdr, "game", "attacker", tkoJSON(t, map[string]any{"type": 5, "userIdentifier": ident, "password": "pw"}))
				tkoRefused(t, r, http.StatusBadRequest, "takeOver", "takeOver.userIdentifier.invalid")
			})
		}
	})
}

// TestPublicClientRevokes: a public client signs its player out with its
// client_id alone (RFC 7009 §2.1), for its own tokens only (issue 11 item 8).
func TestPublicClientRevokes(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		publicID, _ := f.client(t, nativeSpec("game"))
		otherID, _ := f.client(t, nativeSpec("game"))
		public, err := f.Broker.Client(ctx, publicID)
		if err != nil {
			t.Fatal(err)
		}
		other, err := f.Broker.Client(ctx, otherID)
		if err != nil {
			t.Fatal(err)
		}
		mine, err := f.Broker.LoginByLink(ctx, public, 1, "player-1", nil, broker.Binding{})
		if err != nil {
			t.Fatal(err)
		}
		theirs, err := f.Broker.LoginByLink(ctx, other, 1, "player-2", nil, broker.Binding{})
		if err != nil {
			t.Fatal(err)
		}
		revoke := func(form url.Values) response {
			return f.do(t, http.MethodPost, "/oauth2/revoke", formType, form.Encode(), nil)
		}
		refresh := func(clientID, rt string) response {
			form := refresh(rt)
			form.Set("client_id", clientID)
			return f.do(t, http.MethodPost, "/oauth2/token", formType, form.Encode(), nil)
		}

		// Another client's token is not this one's to revoke: 200, nothing done.
		if r := revoke(url.Values{"client_id": {publicID}, "token": {theirs.RefreshToken}}); r.Status != http.StatusOK {
			t.Fatalf("revoke another client's token: %d %s", r.Status, r.Raw)
		}
		if r := refresh(otherID, theirs.RefreshToken); r.Status != http.StatusOK {
			t.Errorf("should fail because a public client revoked another's token: refresh %d %s", r.Status, r.Raw)
		}
		if r := revoke(url.Values{"client_id": {publicID}, "token": {mine.RefreshToken}}); r.Status != http.StatusOK {
			t.Fatalf("should fail because a public client cannot sign out: %d %s", r.Status, r.Raw)
		}
		if r := refresh(publicID, mine.RefreshToken); r.Status != http.StatusBadRequest || r.str("error") != "invalid_grant" {
			t.Errorf("refresh after revocation: %d %s, want invalid_grant", r.Status, r.Raw)
		}
		// Introspection stays for confidential clients only.
		if r := f.do(t, http.MethodPost, "/oauth2/introspect", formType,
			url.Values{"client_id": {publicID}, "token": {mine.AccessToken}}.Encode(), nil); r.Status != http.StatusUnauthorized {
			t.Errorf("a public client introspected: %d %s", r.Status, r.Raw)
		}
	})
}

// TestAttributesBounded: logins cannot grow a player's attributes without
// end: past the bound (100 attributes, 64 KiB of keys and values) a login
// is refused and stores none of its attributes (issue 11 item 9).
func TestAttributesBounded(t *testing.T) {
	t.Parallel()
	xsollaEachStore(t, func(t *testing.T, f *fixture) {
		srv := f.xsServer(t, gameServer("game"))
		q := xsQuery(xsProject(t, f, "game"))
		big := strings.Repeat("x", 30<<10)
		login := func(attrs ...xsAttr) response {
			return f.xsLogin(t, srv.bearer, q, xsBody(t, map[string]any{"server_custom_id": "hoarder", "attributes": attrs}))
		}
		for i := range 2 {
			if r := login(xsA("blob"+strconv.Itoa(i), big, "server", "private", false)); r.Status != http.StatusOK {
				t.Fatalf("login %d: %d %s", i, r.Status, r.Raw)
			}
		}
		xsWantError(t, "should fail because a third 30 KiB attribute passes 64 KiB", login(xsA("blob2", big, "server", "private", false)),
			http.StatusUnprocessableEntity, "invalid_field", "attributes")
		many := make([]xsAttr, 0, 99)
		for i := range 99 {
			many = append(many, xsA("n"+strconv.Itoa(i), i, "server", "private", false))
		}
		xsWantError(t, "should fail because 101 attributes pass 100", login(many...),
			http.StatusUnprocessableEntity, "invalid_field", "attributes")
		// Replacing within the bound still works, and nothing refused was kept.
		if r := login(xsA("blob1", "small", "server", "private", false)); r.Status != http.StatusOK {
			t.Fatalf("replace: %d %s", r.Status, r.Raw)
		}
		_, claims := f.xsMustLogin(t, srv.bearer, q, xsID(t, "hoarder"))
		user := xsClaim(claims, "sub")
		if r, attrs := f.xsAttributes(t, srv.bearer, user); r.Status != http.StatusOK || len(attrs) != 2 {
			t.Errorf("attributes: %d, %d of them, want blob0 and blob1", r.Status, len(attrs))
		}
	})
}

// TestSmugglingShapedRequestClosesTheConnection: a request with both
// Content-Length and Transfer-Encoding is answered, and then its
// connection is closed, so that nothing a proxy framed otherwise can ride
// on it (issue 11 item 9).
func TestSmugglingShapedRequestClosesTheConnection(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		for _, tc := range []struct {
			name, headers string
			wantClose     bool
		}{
			{"should fail because Content-Length and Transfer-Encoding both frame the body", "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", true},
			{"should fail because Transfer-Encoding frames the body", "Transfer-Encoding: chunked\r\n", true},
			{"a Content-Length alone keeps the connection", "Content-Length: 5\r\n", false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				conn, err := net.Dial("tcp", strings.TrimPrefix(f.URL, "http://"))
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				body := "0\r\n\r\n"
				fmt.Fprintf(conn, "POST /oauth2/token HTTP/1.1\r\nHost: broker\r\nContent-Type: application/x-www-form-urlencoded\r\n%s\r\n%s", tc.headers, body)
				rd := bufio.NewReader(conn)
				resp, err := http.ReadResponse(rd, nil)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				conn.SetReadDeadline(time.Now().Add(time.Second)) // a kept connection says nothing
				_, err = rd.ReadByte()
				closed := errors.Is(err, io.EOF)
				if closed != tc.wantClose || resp.Close != tc.wantClose {
					t.Errorf("answer %d, Connection: close %v, connection closed %v (%v); want closed %v",
						resp.StatusCode, resp.Close, closed, err, tc.wantClose)
				}
			})
		}
	})
}

// TestNosniffEverywhere: every answer, of every surface and of the
// router's own refusals, carries X-Content-Type-Options: nosniff (issue 11
// item 10).
func TestNosniffEverywhere(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		for _, c := range []struct{ method, path string }{
			{http.MethodGet, "/.well-known/openid-configuration"},
			{http.MethodGet, "/.well-known/jwks.json"},
			{http.MethodPost, "/oauth2/token"},
			{http.MethodGet, "/oauth2/authorize"},
			{http.MethodGet, "/userinfo"},
			{http.MethodGet, "/healthz"},
			{http.MethodGet, "/no/such/route"},
			{http.MethodPut, "/oauth2/token"},
			{http.MethodGet, "/oauth2/../oauth2/token"},
			{http.MethodPost, "/gs2/auth/login"},
			{http.MethodGet, "/gs2/nothing"},
			{http.MethodPost, "/users/login/server_custom_id"},
		} {
			r := f.do(t, c.method, c.path, formType, "", nil)
			if got := r.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("should fail because %s %s (%d) says X-Content-Type-Options %q", c.method, c.path, r.Status, got)
			}
		}
	})
}

// TestDiscoveryListsOnlyKeyAlgs: discovery promises only the signing
// algorithms the broker has keys for (issue 11 item 10).
func TestDiscoveryListsOnlyKeyAlgs(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		algs := func() []any {
			r := f.do(t, http.MethodGet, "/.well-known/openid-configuration", "", "", nil)
			got, _ := r.Body["id_token_signing_alg_values_supported"].([]any)
			return got
		}
		if got := algs(); len(got) != 1 || got[0] != "ES256" {
			t.Errorf("should fail because discovery lists %v with only an ES256 key", got)
		}
		if _, err := keys.GenerateKey(t.Context(), f.Store, f.Secrets, "EdDSA", f.Clock.Now()); err != nil {
			t.Fatal(err)
		}
		if err := f.Broker.Keys().Load(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := algs(); len(got) != 2 || got[0] != "ES256" || got[1] != "EdDSA" {
			t.Errorf("after adding an EdDSA key discovery lists %v, want [ES256 EdDSA]", got)
		}
	})
}

// TestIdentifiersRefused: GS2 user IDs that GS2's paths cannot name, and
// custom IDs that look like another (blank, zero-width, direction
// overrides, byte-order marks), are refused on every surface (issue 11
// item 10).
func TestIdentifiersRefused(t *testing.T) {
	t.Parallel()
	xsollaEachStore(t, func(t *testing.T, f *fixture) {
		srv := f.xsServer(t, gameServer("game"))
		hdr := trusted(f.gs2Project(t, "game"))
		for _, id := range []string{"me", "..", ".", "a/b", "   ", "\t"} {
			r := f.gs2Send(t, gs2Call{path: "/gs2/auth/login", body: tkoJSON(t, map[string]string{"userId": id}), header: hdr})
			if it := checkGS2Error(t, r, http.StatusBadRequest, "accessToken"); !strings.Contains(it.Code, ".userId.") {
				t.Errorf("should fail because userId %q: code %q", id, it.Code)
			}
		}
		q := xsQuery(xsProject(t, f, "game"))
		for _, id := range []string{"   ", "a\u200bb", "\u202eplayer", "\ufeffplayer", "player\u2060"} {
			r := f.token(t, srv.id, srv.secret, customID(id))
			if r.Status != http.StatusBadRequest || r.str("error") != "invalid_request" {
				t.Errorf("should fail because server_custom_id %q: grant %d %s", id, r.Status, r.Raw)
			}
			xsWantError(t, fmt.Sprintf("should fail because server_custom_id %q", id), f.xsLogin(t, srv.bearer, q, xsID(t, id)),
				http.StatusUnprocessableEntity, "invalid_field", "server_custom_id")
		}
		// User IDs are global; namespace B's login of A's user is refused
		// without naming A.
		f.tkoPlayer(t, hdr, "shared-name")
		r := f.gs2Send(t, gs2Call{path: "/gs2/auth/login", body: `{"userId":"shared-name"}`, header: trusted(f.gs2Project(t, "other"))})
		checkGS2Error(t, r, http.StatusConflict, "accessToken")
		if strings.Contains(r.Raw, "game") || strings.Contains(r.Raw, "namespace") {
			t.Errorf("the refusal names the other namespace: %s", r.Raw)
		}
	})
}
