package web_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// The Xsolla-style surface: POST /users/login/server_custom_id and
// GET /users/{userId}/attributes, over real HTTP on loopback, on SQLite and
// PostgreSQL.

const (
	xsLoginPath = "/users/login/server_custom_id"
	// The social platforms configured in the fixture, and their slots.
	xsSteamSlot   = 10
	xsDiscordSlot = 11
	// Publisher project IDs configured in the fixture.
	xsPubGame    = 4242 // -> "game"
	xsPubOther   = 4343 // -> "other"
	xsPubMissing = 4444 // -> a namespace that does not exist
)

// xsollaOptions are the Xsolla options of the tests: publisher projects
// and social slots.
func xsollaOptions(o *settings) {
	o.XsollaPublisherProjects = map[int64]string{xsPubGame: "game", xsPubOther: "other", xsPubMissing: "no-such-namespace"}
	o.SocialSlots = map[string]int{"steam": xsSteamSlot, "discord": xsDiscordSlot}
}

// xsollaEachStore is eachStore with the Xsolla options.
func xsollaEachStore(t *testing.T, fn func(t *testing.T, f *fixture)) {
	eachStoreWith(t, xsollaOptions, fn)
}

// xsServer is a game server: a client and its client_credentials token.
type xsServer struct {
	id, secret string
	bearer     string // "Bearer <access token>"
}

func (f *fixture) xsServer(t *testing.T, spec broker.ClientSpec) xsServer {
	t.Helper()
	id, secret := f.client(t, spec)
	return xsServer{id: id, secret: secret, bearer: f.xsBearer(t, id, secret)}
}

func (f *fixture) xsBearer(t *testing.T, id, secret string) string {
	t.Helper()
	r := f.mustToken(t, id, secret, url.Values{"grant_type": {"client_credentials"}})
	return "Bearer " + r.str("access_token")
}

// xsProject is the namespace's ID: the Xsolla projectId.
func xsProject(t *testing.T, f *fixture, name string) string {
	t.Helper()
	ns, err := f.Store.GetNamespaceByName(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return ns.ID
}

// xsCall sends one request with a raw Authorization header ("" for none)
// and a JSON body ("" for none).
func (f *fixture) xsCall(t *testing.T, method, path, auth, body string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
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
	_ = json.Unmarshal(raw, &r.Body)
	return r
}

// xsQuery is the login's query: projectId and further name/value pairs.
func xsQuery(projectID string, kv ...string) url.Values {
	q := url.Values{}
	if projectID != "" {
		q.Set("projectId", projectID)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return q
}

func (f *fixture) xsLogin(t *testing.T, bearer string, q url.Values, body string) response {
	t.Helper()
	return f.xsCall(t, http.MethodPost, xsLoginPath+"?"+q.Encode(), bearer, body)
}

// xsMustLogin is a login that must succeed; it returns the token and its
// claims as verified by go-oidc against the JWKS.
func (f *fixture) xsMustLogin(t *testing.T, bearer string, q url.Values, body string) (string, map[string]any) {
	t.Helper()
	r := f.xsLogin(t, bearer, q, body)
	if r.Status != http.StatusOK {
		t.Fatalf("login %s: %d %s", body, r.Status, r.Raw)
	}
	xsWantJSON(t, r)
	if len(r.Body) != 1 || r.str("token") == "" {
		t.Fatalf(`login answer is not {"token": ...}: %s`, r.Raw)
	}
	return r.str("token"), xsVerify(t, f, r.str("token"))
}

// xsVerify checks a token the way a game back end would: go-oidc with the
// broker's JWKS, and returns its claims.
func xsVerify(t *testing.T, f *fixture, token string) map[string]any {
	t.Helper()
	ctx := context.Background()
	keys := oidc.NewRemoteKeySet(ctx, f.URL+"/.well-known/jwks.json")
	v := oidc.NewVerifier(f.URL, keys, &oidc.Config{SkipClientIDCheck: true, SupportedSigningAlgs: []string{oidc.ES256}})
	tok, err := v.Verify(ctx, token)
	if err != nil {
		t.Fatalf("go-oidc: %v", err)
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// xsBody is v as JSON.
func xsBody(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// xsID is a login body with only the server_custom_id.
func xsID(t *testing.T, id string) string {
	return xsBody(t, map[string]any{"server_custom_id": id})
}

type xsAttr = map[string]any

func xsA(key string, value any, typ, perm string, readOnly bool) xsAttr {
	return xsAttr{"key": key, "value": value, "attr_type": typ, "permission": perm, "read_only": readOnly}
}

// xsWantJSON checks the headers of every answer of the surface.
func xsWantJSON(t *testing.T, r response) {
	t.Helper()
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", r.Header.Get("Content-Type"))
	}
	if got := r.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
}

// xsWantError checks an error answer: status, a stable code, a
// description, and the field when one is named ("" checks none).
func xsWantError(t *testing.T, what string, r response, status int, code, field string) {
	t.Helper()
	if r.Status != status || r.str("code") != code {
		t.Errorf("%s: got %d %s, want %d with code %q", what, r.Status, r.Raw, status, code)
		return
	}
	if r.str("description") == "" {
		t.Errorf("%s: no description: %s", what, r.Raw)
	}
	if field != "" && r.str("field") != field {
		t.Errorf("%s: field = %q, want %q (%s)", what, r.str("field"), field, r.Raw)
	}
	xsWantJSON(t, r)
	if status == http.StatusUnauthorized && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("%s: WWW-Authenticate = %q, want a Bearer challenge", what, r.Header.Get("WWW-Authenticate"))
	}
}

func xsWantActive(t *testing.T, f *fixture, srv xsServer, token, what string) {
	t.Helper()
	if r := f.introspect(t, srv.id, srv.secret, token); r.Status != http.StatusOK || r.Body["active"] != true {
		t.Errorf("%s: want active, got %d %s", what, r.Status, r.Raw)
	}
}

func xsWantInactive(t *testing.T, f *fixture, srv xsServer, token, what string) {
	t.Helper()
	if r := f.introspect(t, srv.id, srv.secret, token); r.Status != http.StatusOK || strings.TrimSpace(r.Raw) != `{"active":false}` {
		t.Errorf(`%s: want {"active":false}, got %d %s`, what, r.Status, r.Raw)
	}
}

// xsAttributes is GET /users/{userId}/attributes.
func (f *fixture) xsAttributes(t *testing.T, bearer, userID string) (response, []map[string]any) {
	t.Helper()
	r := f.xsCall(t, http.MethodGet, "/users/"+url.PathEscape(userID)+"/attributes", bearer, "")
	var list []map[string]any
	if r.Status == http.StatusOK {
		if err := json.Unmarshal([]byte(r.Raw), &list); err != nil {
			t.Fatalf("attributes answer is not a JSON array: %s", r.Raw)
		}
	}
	return r, list
}

// xsWantAttributes checks the listing against want, keyed; values compare
// as JSON values.
func xsWantAttributes(t *testing.T, got []map[string]any, want ...xsAttr) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("attributes = %v, want %v", got, want)
		return
	}
	byKey := map[string]map[string]any{}
	for _, a := range got {
		if len(a) != 5 {
			t.Errorf("attribute %v: want exactly key, value, attr_type, permission, read_only", a)
		}
		k, _ := a["key"].(string)
		byKey[k] = a
	}
	for _, w := range want {
		k := w["key"].(string)
		g, ok := byKey[k]
		if !ok {
			t.Errorf("attribute %q missing from %v", k, got)
			continue
		}
		var wantValue any
		_ = json.Unmarshal([]byte(xsBody(t, w["value"])), &wantValue)
		if !reflect.DeepEqual(g["value"], wantValue) || g["attr_type"] != w["attr_type"] ||
			g["permission"] != w["permission"] || g["read_only"] != w["read_only"] {
			t.Errorf("attribute %q = %v, want %v", k, g, w)
		}
	}
}

func xsClaim(claims map[string]any, name string) string {
	s, _ := claims[name].(string)
	return s
}

// TestXsollaLogin: a full login, the token's claims checked with go-oidc
// against the JWKS, the user, its links and its profile in the store, and
// later logins of the same player.
func TestXsollaLogin(t *testing.T) {
	t.Parallel()
	xsollaEachStore(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		srv := f.xsServer(t, gameServer("game"))
		ns := xsProject(t, f, "game")
		body := xsBody(t, map[string]any{
			"server_custom_id": "player-1",
			"attributes": []xsAttr{
				xsA("level", 3, "server", "public", false),
				xsA("secret_note", map[string]any{"a": []any{1, "x"}}, "client", "private", true),
			},
			"social_profile": map[string]any{"user_id": "76561198000000000", "platform": "steam"},
			"user_profile":   map[string]any{"nickname": "Neo"},
		})
		before := f.Clock.Now()
		tok, claims := f.xsMustLogin(t, srv.bearer, xsQuery(ns, "payload", "match-42"), body)
		sub := xsClaim(claims, "sub")
		if sub == "" || sub == "player-1" {
			t.Fatalf("sub = %q", sub)
		}
		wantAudit(t, f, broker.AuditLink, sub, ":76561198000000000")
		for name, want := range map[string]any{
			"type": "server_custom_id", "server_custom_id": "player-1", "iss": f.URL, "namespace": ns,
			"payload": "match-42", "userId": sub, "timeOffset": float64(0), "nickname": "Neo", "client_id": srv.id,
		} {
			if claims[name] != want {
				t.Errorf("claim %s = %v, want %v", name, claims[name], want)
			}
		}
		iat, _ := claims["iat"].(float64)
		exp, _ := claims["exp"].(float64)
		if d := time.Unix(int64(iat), 0).Sub(before); d < -2*time.Second || d > 10*time.Second {
			t.Errorf("iat %v is %s from the login", iat, d)
		}
		if exp-iat != 3600 {
			t.Errorf("exp - iat = %v, want the client's access TTL 3600", exp-iat)
		}

		// The user, its custom-ID link, its social link (a takeover link of
		// the platform's slot) and its profile.
		u, err := f.Store.GetUser(ctx, sub)
		if err != nil || u.NamespaceID != ns || u.Nickname != "Neo" {
			t.Errorf("user = %+v, %v", u, err)
		}
		if l, err := f.Store.GetLink(ctx, ns, broker.DefaultCustomIDSlot, "player-1"); err != nil || l.UserID != sub {
			t.Errorf("custom-ID link = %+v, %v", l, err)
		}
		l, err := f.Store.GetLink(ctx, ns, xsSteamSlot, "76561198000000000")
		if err != nil || l.UserID != sub || l.PasswordHash != nil || l.Slot != xsSteamSlot {
			t.Errorf("steam link = %+v, %v", l, err)
		}
		// It is an access token like the others.
		xsWantActive(t, f, srv, tok, "the login's token")

		// The attributes, private and public alike.
		r, attrs := f.xsAttributes(t, srv.bearer, sub)
		if r.Status != http.StatusOK {
			t.Fatalf("attributes: %d %s", r.Status, r.Raw)
		}
		xsWantJSON(t, r)
		xsWantAttributes(t, attrs,
			xsA("level", 3, "server", "public", false),
			xsA("secret_note", map[string]any{"a": []any{1, "x"}}, "client", "private", true))

		// A later login without user_profile keeps the nickname; without
		// payload there is no payload claim; publisher_project_id names the
		// same project; the user is the same.
		_, again := f.xsMustLogin(t, srv.bearer, url.Values{"publisher_project_id": {strconv.Itoa(xsPubGame)}}, xsID(t, "player-1"))
		if xsClaim(again, "sub") != sub || xsClaim(again, "nickname") != "Neo" {
			t.Errorf("later login: sub %v nickname %v, want %s Neo", again["sub"], again["nickname"], sub)
		}
		if _, ok := again["payload"]; ok {
			t.Errorf("payload claim without a payload: %v", again["payload"])
		}
		// A new nickname replaces it; the projectId may be upper case.
		_, renamed := f.xsMustLogin(t, srv.bearer, xsQuery(strings.ToUpper(ns)),
			xsBody(t, map[string]any{"server_custom_id": "player-1", "user_profile": map[string]any{"nickname": "Trinity"}}))
		if xsClaim(renamed, "sub") != sub || xsClaim(renamed, "nickname") != "Trinity" {
			t.Errorf("renamed: sub %v nickname %v", renamed["sub"], renamed["nickname"])
		}
		// Another player is another user.
		_, other := f.xsMustLogin(t, srv.bearer, xsQuery(ns), xsID(t, "player-2"))
		if s := xsClaim(other, "sub"); s == "" || s == sub {
			t.Errorf("another player's sub = %q (player-1's is %s)", s, sub)
		}
		// A user without attributes lists none: [].
		if r, list := f.xsAttributes(t, srv.bearer, xsClaim(other, "sub")); r.Status != http.StatusOK || len(list) != 0 || strings.TrimSpace(r.Raw) != "[]" {
			t.Errorf("no attributes: %d %s, want []", r.Status, r.Raw)
		}
	})
}

// TestXsollaLoginSameUserAsGrant: the player of this endpoint is the very
// user the server_custom_id grant signs in, whichever comes first.
func TestXsollaLoginSameUserAsGrant(t *testing.T) {
	t.Parallel()
	xsollaEachStore(t, func(t *testing.T, f *fixture) {
		srv := f.xsServer(t, gameServer("game"))
		ns := xsProject(t, f, "game")

		grant := f.mustToken(t, srv.id, srv.secret, customID("grant-first"))
		_, claims := f.xsMustLogin(t, srv.bearer, xsQuery(ns), xsID(t, "grant-first"))
		if grant.str("userId") == "" || xsClaim(claims, "sub") != grant.str("userId") {
			t.Errorf("grant then login: grant user %q, login sub %q", grant.str("userId"), claims["sub"])
		}

		_, claims = f.xsMustLogin(t, srv.bearer, xsQuery(ns), xsID(t, "login-first"))
		grant = f.mustToken(t, srv.id, srv.secret, url.Values{"grant_type": {broker.GrantServerCustomID}, "server_custom_id": {"login-first"}})
		if xsClaim(claims, "sub") != grant.str("userId") {
			t.Errorf("login then grant: login sub %q, grant user %q", claims["sub"], grant.str("userId"))
		}
		// Another server of the namespace (same custom-ID slot) sees the same player.
		other := f.xsServer(t, gameServer("game"))
		_, again := f.xsMustLogin(t, other.bearer, xsQuery(ns), xsID(t, "login-first"))
		if xsClaim(again, "sub") != xsClaim(claims, "sub") {
			t.Errorf("another server: sub %q, want %q", again["sub"], claims["sub"])
		}
	})
}

// TestXsollaLoginConcurrentFirstLogin: 20 concurrent first logins of one
// server_custom_id (with attributes and a social profile) are one user.
func TestXsollaLoginConcurrentFirstLogin(t *testing.T) {
	t.Parallel()
	xsollaEachStore(t, func(t *testing.T, f *fixture) {
		srv := f.xsServer(t, gameServer("game"))
		ns := xsProject(t, f, "game")
		body := xsBody(t, map[string]any{
			"server_custom_id": "racer",
			"attributes":       []xsAttr{xsA("lap", 1, "server", "public", false)},
			"social_profile":   map[string]any{"user_id": "steam-racer", "platform": "steam"},
		})
		const n = 20
		type result struct {
			status int
			raw    string
			err    error
		}
		results := make([]result, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				req, err := http.NewRequest(http.MethodPost, f.URL+xsLoginPath+"?"+xsQuery(ns).Encode(), strings.NewReader(body))
				if err != nil {
					results[i].err = err
					return
				}
				req.Header.Set("Authorization", srv.bearer)
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					results[i].err = err
					return
				}
				defer resp.Body.Close()
				raw, err := io.ReadAll(resp.Body)
				results[i] = result{status: resp.StatusCode, raw: string(raw), err: err}
			})
		}
		close(start)
		wg.Wait()
		subs := map[string]int{}
		for i, r := range results {
			if r.err != nil || r.status != http.StatusOK {
				t.Errorf("login %d: %d %s %v", i, r.status, r.raw, r.err)
				continue
			}
			var answer struct{ Token string }
			_ = json.Unmarshal([]byte(r.raw), &answer)
			subs[xsClaim(xsVerify(t, f, answer.Token), "sub")]++
		}
		if len(subs) != 1 {
			t.Fatalf("concurrent first logins made %d users: %v", len(subs), subs)
		}
		var sub string
		for s := range subs {
			sub = s
		}
		ctx := t.Context()
		if l, err := f.Store.GetLink(ctx, ns, broker.DefaultCustomIDSlot, "racer"); err != nil || l.UserID != sub {
			t.Errorf("custom-ID link = %+v, %v; want user %s", l, err, sub)
		}
		if l, err := f.Store.GetLink(ctx, ns, xsSteamSlot, "steam-racer"); err != nil || l.UserID != sub {
			t.Errorf("steam link = %+v, %v; want user %s", l, err, sub)
		}
		_, attrs := f.xsAttributes(t, srv.bearer, sub)
		xsWantAttributes(t, attrs, xsA("lap", 1, "server", "public", false))
	})
}

// TestXsollaAttributesUpsert: later logins upsert attributes by key; a
// read_only attribute keeps its first value (and the login succeeds).
func TestXsollaAttributesUpsert(t *testing.T) {
	t.Parallel()
	xsollaEachStore(t, func(t *testing.T, f *fixture) {
		srv := f.xsServer(t, gameServer("game"))
		ns := xsProject(t, f, "game")
		login := func(attrs ...xsAttr) string {
			t.Helper()
			_, claims := f.xsMustLogin(t, srv.bearer, xsQuery(ns), xsBody(t, map[string]any{"server_custom_id": "upserter", "attributes": attrs}))
			return xsClaim(claims, "sub")
		}
		sub := login(
			xsA("level", 1, "server", "public", false),
			xsA("class", "mage", "client", "private", true),
			xsA("flags", []any{true, nil, 1.5}, "server", "private", false),
			xsA("nothing", nil, "client", "public", false),
		)
		_, attrs := f.xsAttributes(t, srv.bearer, sub)
		xsWantAttributes(t, attrs,
			xsA("level", 1, "server", "public", false),
			xsA("class", "mage", "client", "private", true),
			xsA("flags", []any{true, nil, 1.5}, "server", "private", false),
			xsA("nothing", nil, "client", "public", false))

		// Upsert: level changes (value, type, permission), class is
		// read_only and stays, gold is new, flags and nothing are untouched.
		if again := login(
			xsA("level", map[string]any{"n": 2}, "client", "private", false),
			xsA("class", "warrior", "server", "public", false),
			xsA("gold", 100, "server", "public", true),
		); again != sub {
			t.Fatalf("second login is user %s, want %s", again, sub)
		}
		_, attrs = f.xsAttributes(t, srv.bearer, sub)
		xsWantAttributes(t, attrs,
			xsA("level", map[string]any{"n": 2}, "client", "private", false),
			xsA("class", "mage", "client", "private", true),
			xsA("flags", []any{true, nil, 1.5}, "server", "private", false),
			xsA("nothing", nil, "client", "public", false),
			xsA("gold", 100, "server", "public", true))

		// A non-read_only attribute may become read_only; from then on it stays.
		login(xsA("level", 7, "server", "public", true))
		login(xsA("level", 8, "server", "public", false), xsA("gold", 0, "client", "private", false))
		_, attrs = f.xsAttributes(t, srv.bearer, sub)
		xsWantAttributes(t, attrs,
			xsA("level", 7, "server", "public", true),
			xsA("class", "mage", "client", "private", true),
			xsA("flags", []any{true, nil, 1.5}, "server", "private", false),
			xsA("nothing", nil, "client", "public", false),
			xsA("gold", 100, "server", "public", true))

		// Boundaries that must pass: a 256-character key of every allowed
		// character class.
		long := strings.Repeat("aZ_9", 64)
		login(xsA(long, "ok", "client", "public", false))
		_, attrs = f.xsAttributes(t, srv.bearer, sub)
		if len(attrs) != 6 {
			t.Errorf("after the 256-character key: %d attributes, want 6", len(attrs))
		}
	})
}

// TestXsollaAttributesEndpoint: who may read which user's attributes.
func TestXsollaAttributesEndpoint(t *testing.T) {
	t.Parallel()
	xsollaEachStore(t, func(t *testing.T, f *fixture) {
		srv := f.xsServer(t, gameServer("game"))
		ns := xsProject(t, f, "game")
		_, claims := f.xsMustLogin(t, srv.bearer, xsQuery(ns), xsBody(t, map[string]any{
			"server_custom_id": "reader", "attributes": []xsAttr{xsA("hp", 10, "server", "private", false)},
		}))
		sub := xsClaim(claims, "sub")

		other := f.xsServer(t, gameServer("other"))
		_, otherClaims := f.xsMustLogin(t, other.bearer, xsQuery(xsProject(t, f, "other")), xsID(t, "reader"))
		otherSub := xsClaim(otherClaims, "sub")
		if otherSub == sub {
			t.Fatal("the same custom ID in two namespaces is one user")
		}

		r, _ := f.xsAttributes(t, srv.bearer, otherSub)
		xsWantError(t, "a user of another namespace", r, http.StatusNotFound, "user_not_found", "")
		r, _ = f.xsAttributes(t, other.bearer, sub)
		xsWantError(t, "another namespace's server", r, http.StatusNotFound, "user_not_found", "")
		r, _ = f.xsAttributes(t, srv.bearer, "00000000-0000-4000-8000-000000000000")
		xsWantError(t, "an unknown user", r, http.StatusNotFound, "user_not_found", "")
		r, _ = f.xsAttributes(t, srv.bearer, "not-a-user")
		xsWantError(t, "a user ID that is not a UUID", r, http.StatusNotFound, "user_not_found", "")
		r, _ = f.xsAttributes(t, "", sub)
		xsWantError(t, "no Authorization", r, http.StatusUnauthorized, "unauthorized", "")
		r, _ = f.xsAttributes(t, "Bearer "+xsTokenOf(t, f, srv, ns, "reader"), sub)
		xsWantError(t, "the player's own token", r, http.StatusUnauthorized, "unauthorized", "")

		r, attrs := f.xsAttributes(t, srv.bearer, sub)
		if r.Status != http.StatusOK {
			t.Fatalf("own user: %d %s", r.Status, r.Raw)
		}
		xsWantAttributes(t, attrs, xsA("hp", 10, "server", "private", false))
	})
}

// xsTokenOf is a fresh login token of the player.
func xsTokenOf(t *testing.T, f *fixture, srv xsServer, ns, id string) string {
	t.Helper()
	tok, _ := f.xsMustLogin(t, srv.bearer, xsQuery(ns), xsID(t, id))
	return tok
}

// TestXsollaServerAuth: only a client_credentials token of a client allowed
// the server_custom_id grant in the project's namespace is a server; all
// else is 401 with a Bearer challenge, on both endpoints.
func TestXsollaServerAuth(t *testing.T) {
	t.Parallel()
	xsollaEachStore(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		srv := f.xsServer(t, gameServer("game"))
		ns := xsProject(t, f, "game")
		_, claims := f.xsMustLogin(t, srv.bearer, xsQuery(ns), xsID(t, "victim"))
		sub := xsClaim(claims, "sub")

		grantPlayer := f.mustToken(t, srv.id, srv.secret, customID("victim"))
		xsollaPlayer := xsTokenOf(t, f, srv, ns, "victim")
		noGrant := f.xsServer(t, broker.ClientSpec{Namespace: "game", Name: "cc only", Scopes: []string{"game"},
			Grants: []string{broker.GrantClientCredentials}})
		otherNS := f.xsServer(t, gameServer("other"))
		deleted := f.xsServer(t, gameServer("game"))
		if err := f.Store.DeleteClient(ctx, deleted.id); err != nil {
			t.Fatal(err)
		}
		revoked := f.xsServer(t, gameServer("game"))
		if r := f.do(t, http.MethodPost, "/oauth2/revoke", formType,
			url.Values{"token": {strings.TrimPrefix(revoked.bearer, "Bearer ")}}.Encode(), &[2]string{revoked.id, revoked.secret}); r.Status != http.StatusOK {
			t.Fatalf("revoke: %d %s", r.Status, r.Raw)
		}
		f.Clock.Advance(time.Second) // past the broker's client cache

		cases := []struct {
			name string
			auth string
			// attributesToo: the case applies to GET /users/{id}/attributes
			// (a client of another namespace gets 404 there, as the user is
			// not of its project).
			attributesToo bool
		}{
			{"no Authorization header", "", true},
			{"an empty Bearer", "Bearer ", true},
			{"Basic client credentials", "Basic " + base64.StdEncoding.EncodeToString([]byte(srv.id+":"+srv.secret)), true},
			{"a garbage token", "Bearer not-a-token", true},
			{"the token without a scheme", strings.TrimPrefix(srv.bearer, "Bearer "), true},
			{"a player's token from the grant", "Bearer " + grantPlayer.str("access_token"), true},
			{"a player's token from this endpoint", "Bearer " + xsollaPlayer, true},
			{"a client without the server_custom_id grant", noGrant.bearer, true},
			{"a client of another namespace", otherNS.bearer, false},
			{"a deleted client's token", deleted.bearer, true},
			{"a revoked token", revoked.bearer, true},
			{"a tampered token", srv.bearer[:len(srv.bearer)-4] + "AAAA", true},
		}
		for _, c := range cases {
			r := f.xsLogin(t, c.auth, xsQuery(ns), xsID(t, "victim"))
			xsWantError(t, "login with "+c.name, r, http.StatusUnauthorized, "unauthorized", "")
			if c.attributesToo {
				r, _ := f.xsAttributes(t, c.auth, sub)
				xsWantError(t, "attributes with "+c.name, r, http.StatusUnauthorized, "unauthorized", "")
			}
		}
		// The other namespace's server is no server of this project by
		// publisher_project_id either.
		r := f.xsLogin(t, otherNS.bearer, url.Values{"publisher_project_id": {strconv.Itoa(xsPubGame)}}, xsID(t, "victim"))
		xsWantError(t, "another namespace's server by publisher_project_id", r, http.StatusUnauthorized, "unauthorized", "")

		// An expired server token.
		short := f.xsServer(t, broker.ClientSpec{Namespace: "game", Name: "short", Scopes: []string{"game"},
			Grants: []string{broker.GrantClientCredentials, broker.GrantServerCustomID}, AccessTTL: time.Minute})
		f.xsMustLogin(t, short.bearer, xsQuery(ns), xsID(t, "victim"))
		f.Clock.Advance(2 * time.Minute)
		r = f.xsLogin(t, short.bearer, xsQuery(ns), xsID(t, "victim"))
		xsWantError(t, "an expired token", r, http.StatusUnauthorized, "unauthorized", "")
		r, _ = f.xsAttributes(t, short.bearer, sub)
		xsWantError(t, "attributes with an expired token", r, http.StatusUnauthorized, "unauthorized", "")

		// And the real server still gets in.
		f.xsMustLogin(t, srv.bearer, xsQuery(ns), xsID(t, "victim"))
	})
}

// TestXsollaProject: projectId and publisher_project_id.
func TestXsollaProject(t *testing.T) {
	t.Parallel()
	xsollaEachStore(t, func(t *testing.T, f *fixture) {
		srv := f.xsServer(t, gameServer("game"))
		ns := xsProject(t, f, "game")
		f.client(t, gameServer("other")) // the namespace exists, the server is not of it
		body := xsID(t, "p")

		_, claims := f.xsMustLogin(t, srv.bearer, xsQuery(ns), body)
		sub := xsClaim(claims, "sub")
		_, claims = f.xsMustLogin(t, srv.bearer, url.Values{"publisher_project_id": {strconv.Itoa(xsPubGame)}}, body)
		if xsClaim(claims, "sub") != sub {
			t.Errorf("publisher_project_id: sub %v, want %s", claims["sub"], sub)
		}

		for _, c := range []struct {
			name   string
			q      url.Values
			status int
			code   string
			field  string
		}{
			{"an unknown projectId", xsQuery("00000000-0000-4000-8000-000000000000"), http.StatusNotFound, "project_not_found", ""},
			{"a projectId that is not a UUID", xsQuery("game"), http.StatusBadRequest, "invalid_request", "projectId"},
			{"a projectId that is almost a UUID", xsQuery(ns + "0"), http.StatusBadRequest, "invalid_request", "projectId"},
			{"an unmapped publisher_project_id", url.Values{"publisher_project_id": {"1"}}, http.StatusNotFound, "project_not_found", ""},
			{"a publisher_project_id mapped to no namespace", url.Values{"publisher_project_id": {strconv.Itoa(xsPubMissing)}}, http.StatusNotFound, "project_not_found", ""},
			{"a publisher_project_id that is not a number", url.Values{"publisher_project_id": {"game"}}, http.StatusBadRequest, "invalid_request", "publisher_project_id"},
			{"another namespace's projectId", xsQuery(xsProject(t, f, "other")), http.StatusUnauthorized, "unauthorized", ""},
			{"another namespace's publisher_project_id", url.Values{"publisher_project_id": {strconv.Itoa(xsPubOther)}}, http.StatusUnauthorized, "unauthorized", ""},
			{"no project at all", url.Values{}, http.StatusBadRequest, "invalid_request", ""},
		} {
			r := f.xsLogin(t, srv.bearer, c.q, body)
			xsWantError(t, c.name, r, c.status, c.code, c.field)
		}

		// Any spelling of the project's UUID names the project.
		for _, spelling := range []string{"{" + ns + "}", "urn:uuid:" + ns, strings.ReplaceAll(ns, "-", ""), strings.ToUpper(ns)} {
			r := f.xsLogin(t, srv.bearer, xsQuery(spelling), body)
			if r.Status != http.StatusOK {
				t.Errorf("projectId %q (the project's own UUID, spelled otherwise): got %d %s, want 200", spelling, r.Status, r.Raw)
				continue
			}
			if c := xsVerify(t, f, r.str("token")); xsClaim(c, "sub") != sub || xsClaim(c, "namespace") != ns {
				t.Errorf("projectId %q: sub %v namespace %v", spelling, c["sub"], c["namespace"])
			}
		}
	})
}

// TestXsollaQuery: with_logout and payload.
func TestXsollaQuery(t *testing.T) {
	t.Parallel()
	xsollaEachStore(t, func(t *testing.T, f *fixture) {
		srv := f.xsServer(t, gameServer("game"))
		ns := xsProject(t, f, "game")
		body := xsID(t, "q")
		for _, v := range []string{"0", ""} {
			f.xsMustLogin(t, srv.bearer, xsQuery(ns, "with_logout", v), body)
		}
		for _, v := range []string{"2", "true", "yes", "01", " 1", "-1"} {
			r := f.xsLogin(t, srv.bearer, xsQuery(ns, "with_logout", v), body)
			xsWantError(t, "with_logout="+v, r, http.StatusBadRequest, "invalid_request", "with_logout")
		}
		// The payload is returned as is, whatever its characters.
		payload := `{"match":42,"note":"é & ü / ?"}`
		_, claims := f.xsMustLogin(t, srv.bearer, xsQuery(ns, "payload", payload), body)
		if claims["payload"] != payload {
			t.Errorf("payload claim = %v, want %q", claims["payload"], payload)
		}
		r := f.xsLogin(t, srv.bearer, xsQuery(ns, "payload", strings.Repeat("p", 2049)), body)
		xsWantError(t, "a 2049-byte payload", r, http.StatusBadRequest, "invalid_request", "payload")
	})
}

// TestXsollaMalformedBody: JSON that is malformed or of the wrong types is a
// 400, before any rule is checked.
func TestXsollaMalformedBody(t *testing.T) {
	t.Parallel()
	xsollaEachStore(t, func(t *testing.T, f *fixture) {
		srv := f.xsServer(t, gameServer("game"))
		ns := xsProject(t, f, "game")
		for _, c := range []struct {
			name, body string
			field      string // when the answer names one
		}{
			{"not JSON", `server_custom_id=p`, ""},
			{"an unfinished object", `{"server_custom_id":"p"`, ""},
			{"a JSON array", `[{"server_custom_id":"p"}]`, ""},
			{"a JSON string", `"p"`, ""},
			{"server_custom_id as a number", `{"server_custom_id":42}`, "server_custom_id"},
			{"attributes not an array", `{"server_custom_id":"p","attributes":{"key":"k"}}`, "attributes"},
			{"an attribute not an object", `{"server_custom_id":"p","attributes":["k"]}`, "attributes"},
			{"read_only as a string", `{"server_custom_id":"p","attributes":[{"key":"k","value":1,"attr_type":"client","permission":"public","read_only":"true"}]}`, "read_only"},
			{"key as a number", `{"server_custom_id":"p","attributes":[{"key":1,"value":1,"attr_type":"client","permission":"public"}]}`, "key"},
			{"social_profile as a string", `{"server_custom_id":"p","social_profile":"steam"}`, "social_profile"},
			{"nickname as a number", `{"server_custom_id":"p","user_profile":{"nickname":7}}`, "nickname"},
			{"trailing data", `{"server_custom_id":"p"} trailing`, ""},
			{"a second object", `{"server_custom_id":"p"}{"server_custom_id":"q"}`, ""},
			{"an unfinished attribute value", `{"server_custom_id":"p","attributes":[{"key":"k","value":[1,}]}`, ""},
		} {
			r := f.xsLogin(t, srv.bearer, xsQuery(ns), c.body)
			xsWantError(t, c.name, r, http.StatusBadRequest, "invalid_json", "")
			if c.field != "" && !strings.HasSuffix(r.str("field"), c.field) {
				t.Errorf("%s: field = %q, want it to name %s", c.name, r.str("field"), c.field)
			}
		}
		// No body at all.
		r := f.xsCall(t, http.MethodPost, xsLoginPath+"?"+xsQuery(ns).Encode(), srv.bearer, "")
		xsWantError(t, "no body", r, http.StatusBadRequest, "invalid_json", "")
		// Trailing white space is no trailing data.
		f.xsMustLogin(t, srv.bearer, xsQuery(ns), `{"server_custom_id":"p"}`+"\n\t ")
	})
}

// TestXsollaInvalidFields: valid JSON breaking a rule is a 422 naming the
// field; a rule's boundary passes.
func TestXsollaInvalidFields(t *testing.T) {
	t.Parallel()
	xsollaEachStore(t, func(t *testing.T, f *fixture) {
		srv := f.xsServer(t, gameServer("game"))
		ns := xsProject(t, f, "game")
		ok := func(attrs ...xsAttr) []xsAttr { return attrs }
		good := xsA("good", 1, "client", "public", false)
		for _, c := range []struct {
			name  string
			body  map[string]any
			field string
		}{
			{"a key with a dash", map[string]any{"server_custom_id": "p", "attributes": ok(xsA("bad-key", 1, "client", "public", false))}, "attributes[0].key"},
			{"a key with a space", map[string]any{"server_custom_id": "p", "attributes": ok(xsA("bad key", 1, "client", "public", false))}, "attributes[0].key"},
			{"a non-ASCII key", map[string]any{"server_custom_id": "p", "attributes": ok(xsA("clé", 1, "client", "public", false))}, "attributes[0].key"},
			{"an empty key", map[string]any{"server_custom_id": "p", "attributes": ok(xsA("", 1, "client", "public", false))}, "attributes[0].key"},
			{"a 257-character key", map[string]any{"server_custom_id": "p", "attributes": ok(xsA(strings.Repeat("k", 257), 1, "client", "public", false))}, "attributes[0].key"},
			{"a duplicate key", map[string]any{"server_custom_id": "p", "attributes": ok(good, xsA("good", 2, "server", "private", false))}, "attributes[1].key"},
			{"a bad key after a good one", map[string]any{"server_custom_id": "p", "attributes": ok(good, xsA("bad-key", 1, "client", "public", false))}, "attributes[1].key"},
			{`attr_type "admin"`, map[string]any{"server_custom_id": "p", "attributes": ok(xsA("k", 1, "admin", "public", false))}, "attributes[0].attr_type"},
			{`permission "secret"`, map[string]any{"server_custom_id": "p", "attributes": ok(xsA("k", 1, "client", "secret", false))}, "attributes[0].permission"},
			{"a missing value", map[string]any{"server_custom_id": "p", "attributes": []any{map[string]any{"key": "k", "attr_type": "client", "permission": "public"}}}, "attributes[0].value"},
			{"a missing key", map[string]any{"server_custom_id": "p", "attributes": []any{map[string]any{"value": 1, "attr_type": "client", "permission": "public"}}}, "attributes[0].key"},
			{"a missing attr_type", map[string]any{"server_custom_id": "p", "attributes": []any{map[string]any{"key": "k", "value": 1, "permission": "public"}}}, "attributes[0].attr_type"},
			{"a missing permission", map[string]any{"server_custom_id": "p", "attributes": []any{map[string]any{"key": "k", "value": 1, "attr_type": "client"}}}, "attributes[0].permission"},
			{"no server_custom_id", map[string]any{"attributes": ok(good)}, "server_custom_id"},
			{"an empty server_custom_id", map[string]any{"server_custom_id": ""}, "server_custom_id"},
			{"a 257-character server_custom_id", map[string]any{"server_custom_id": strings.Repeat("c", 257)}, "server_custom_id"},
			{"a server_custom_id with a control character", map[string]any{"server_custom_id": "a\u0001b"}, "server_custom_id"},
			{"a 256-character nickname", map[string]any{"server_custom_id": "p", "user_profile": map[string]any{"nickname": strings.Repeat("n", 256)}}, "user_profile.nickname"},
			{"an unknown platform", map[string]any{"server_custom_id": "p", "social_profile": map[string]any{"user_id": "u", "platform": "myspace"}}, "social_profile.platform"},
			{"a missing platform", map[string]any{"server_custom_id": "p", "social_profile": map[string]any{"user_id": "u"}}, "social_profile.platform"},
			{"a missing social user_id", map[string]any{"server_custom_id": "p", "social_profile": map[string]any{"platform": "steam"}}, "social_profile.user_id"},
			{"an empty social user_id", map[string]any{"server_custom_id": "p", "social_profile": map[string]any{"user_id": "", "platform": "steam"}}, "social_profile.user_id"},
		} {
			r := f.xsLogin(t, srv.bearer, xsQuery(ns), xsBody(t, c.body))
			xsWantError(t, c.name, r, http.StatusUnprocessableEntity, "invalid_field", c.field)
		}
		// Nothing of a refused login was kept.
		if _, err := f.Store.GetLink(t.Context(), ns, broker.DefaultCustomIDSlot, strings.Repeat("c", 257)); !errors.Is(err, broker.ErrNotFound) {
			t.Errorf("a refused server_custom_id was linked: %v", err)
		}

		// The boundaries pass: 256 characters (not bytes) of custom ID, 255 of nickname.
		id := strings.Repeat("é", 256)
		_, claims := f.xsMustLogin(t, srv.bearer, xsQuery(ns), xsBody(t, map[string]any{
			"server_custom_id": id, "user_profile": map[string]any{"nickname": strings.Repeat("ñ", 255)},
		}))
		if claims["server_custom_id"] != id || claims["nickname"] != strings.Repeat("ñ", 255) {
			t.Errorf("boundary claims: %v %v", claims["server_custom_id"], claims["nickname"])
		}
	})
}

// TestXsollaNeverServerError: inputs a store may not hold are refused (or
// taken) the same on both stores, never a 5xx.
func TestXsollaNeverServerError(t *testing.T) {
	t.Parallel()
	xsollaEachStore(t, func(t *testing.T, f *fixture) {
		srv := f.xsServer(t, gameServer("game"))
		ns := xsProject(t, f, "game")
		for _, c := range []struct{ name, body string }{
			{"a nickname with a NUL", `{"server_custom_id":"p1","user_profile":{"nickname":"ne\u0000o"}}`},
			{"a nickname with a control character", `{"server_custom_id":"p2","user_profile":{"nickname":"ne\u0007o"}}`},
			{"an attribute value with invalid UTF-8", "{\"server_custom_id\":\"p3\",\"attributes\":[{\"key\":\"k\",\"value\":\"\xff\xfe\",\"attr_type\":\"client\",\"permission\":\"public\"}]}"},
			{"an attribute value with an escaped NUL", `{"server_custom_id":"p4","attributes":[{"key":"k","value":"a\u0000b","attr_type":"client","permission":"public"}]}`},
			{"a social user_id with a NUL", `{"server_custom_id":"p5","social_profile":{"user_id":"s\u0000","platform":"steam"}}`},
		} {
			r := f.xsLogin(t, srv.bearer, xsQuery(ns), c.body)
			if r.Status >= 500 {
				t.Errorf("BUG: %s: %d %s, want a 4xx (or 200); server log: %s", c.name, r.Status, r.Raw, xsLastError(f))
			}
		}
	})
}

// xsLastError is the server's last logged error line.
func xsLastError(f *fixture) string {
	lines := strings.Split(strings.TrimSpace(f.Logs.String()), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], `"level":"ERROR"`) {
			return lines[i]
		}
	}
	return "(none)"
}

// TestXsollaSocialProfileLinked: a social identity belongs to one user, and
// a user has one identity per platform.
func TestXsollaSocialProfileLinked(t *testing.T) {
	t.Parallel()
	xsollaEachStore(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		srv := f.xsServer(t, gameServer("game"))
		ns := xsProject(t, f, "game")
		social := func(id, platform, user string) string {
			return xsBody(t, map[string]any{"server_custom_id": id, "social_profile": map[string]any{"user_id": user, "platform": platform}})
		}
		_, a := f.xsMustLogin(t, srv.bearer, xsQuery(ns), social("alice", "steam", "s-1"))
		alice := xsClaim(a, "sub")

		r := f.xsLogin(t, srv.bearer, xsQuery(ns), social("bob", "steam", "s-1"))
		xsWantError(t, "another user's steam ID", r, http.StatusConflict, "social_profile_linked", "")
		if l, err := f.Store.GetLink(ctx, ns, xsSteamSlot, "s-1"); err != nil || l.UserID != alice {
			t.Errorf("steam s-1 = %+v, %v; want alice %s", l, err, alice)
		}
		// Linking again what is linked is fine.
		if _, again := f.xsMustLogin(t, srv.bearer, xsQuery(ns), social("alice", "steam", "s-1")); xsClaim(again, "sub") != alice {
			t.Errorf("alice again: %v", again["sub"])
		}
		// Alice has a steam identity: another one is a conflict too.
		r = f.xsLogin(t, srv.bearer, xsQuery(ns), social("alice", "steam", "s-2"))
		xsWantError(t, "a second steam ID", r, http.StatusConflict, "social_profile_linked", "")
		if _, err := f.Store.GetLink(ctx, ns, xsSteamSlot, "s-2"); !errors.Is(err, broker.ErrNotFound) {
			t.Errorf("refused steam s-2 was linked: %v", err)
		}
		// Another platform is another slot.
		f.xsMustLogin(t, srv.bearer, xsQuery(ns), social("alice", "discord", "d-1"))
		if l, err := f.Store.GetLink(ctx, ns, xsDiscordSlot, "d-1"); err != nil || l.UserID != alice {
			t.Errorf("discord d-1 = %+v, %v", l, err)
		}
		// Bob can have s-2.
		_, b := f.xsMustLogin(t, srv.bearer, xsQuery(ns), social("bob", "steam", "s-2"))
		if l, err := f.Store.GetLink(ctx, ns, xsSteamSlot, "s-2"); err != nil || l.UserID != xsClaim(b, "sub") {
			t.Errorf("steam s-2 = %+v, %v; want bob %v", l, err, b["sub"])
		}
	})
}

// TestXsollaWithLogout: with_logout=1 ends every earlier session of the
// player: refresh tokens stop rotating, access tokens introspect inactive;
// the token it returns is active, and other players are untouched.
//
// The cut-off for access tokens is per whole second of iat: a logout ends
// every access token of the player issued up to the end of the logout's
// second, except the one the logout itself returns. So a token issued in
// the same second as the logout, even just after it, is ended too (by
// design, as documented in the README). The test advances the clock by 2 s
// between the earlier logins and the logout, and by 1 s after it, so that
// no token lands in the logout's second by chance.
func TestXsollaWithLogout(t *testing.T) {
	t.Parallel()
	xsollaEachStore(t, func(t *testing.T, f *fixture) {
		srv := f.xsServer(t, gameServer("game"))
		ns := xsProject(t, f, "game")
		body := xsID(t, "leaver")

		grant := f.mustToken(t, srv.id, srv.secret, customID("leaver"))
		oldXsolla, _ := f.xsMustLogin(t, srv.bearer, xsQuery(ns), body)
		explicit0, _ := f.xsMustLogin(t, srv.bearer, xsQuery(ns, "with_logout", "0"), body)
		bystander := f.mustToken(t, srv.id, srv.secret, customID("bystander"))
		xsWantActive(t, f, srv, oldXsolla, "earlier login token after with_logout=0")
		xsWantActive(t, f, srv, grant.str("access_token"), "grant access token after with_logout=0")

		f.Clock.Advance(2 * time.Second)
		logout, claims := f.xsMustLogin(t, srv.bearer, xsQuery(ns, "with_logout", "1"), body)
		if xsClaim(claims, "sub") != grant.str("userId") {
			t.Fatalf("with_logout login is user %v, want %s", claims["sub"], grant.str("userId"))
		}
		if e := wantAudit(t, f, broker.AuditLogout, grant.str("userId"), ""); e.Actor != "client:"+srv.id {
			t.Errorf("logout event: %+v", e)
		}
		xsWantActive(t, f, srv, logout, "the with_logout login's own token")
		xsWantInactive(t, f, srv, oldXsolla, "an earlier login token")
		xsWantInactive(t, f, srv, explicit0, "the with_logout=0 login token")
		xsWantInactive(t, f, srv, grant.str("access_token"), "the grant's access token")
		xsWantInactive(t, f, srv, grant.str("refresh_token"), "the grant's refresh token")
		if r := f.token(t, srv.id, srv.secret, refresh(grant.str("refresh_token"))); r.Status != http.StatusBadRequest || r.str("error") != "invalid_grant" {
			t.Errorf("refresh after logout: %d %s, want 400 invalid_grant", r.Status, r.Raw)
		}
		// The ended tokens do not work as Bearer tokens either.
		if r := f.xsCall(t, http.MethodGet, "/userinfo", "Bearer "+oldXsolla, ""); r.Status != http.StatusUnauthorized {
			t.Errorf("userinfo with an ended token: %d %s", r.Status, r.Raw)
		}
		if r := f.xsCall(t, http.MethodGet, "/userinfo", "Bearer "+logout, ""); r.Status != http.StatusOK {
			t.Errorf("userinfo with the logout's own token: %d %s", r.Status, r.Raw)
		}
		// Other players keep their sessions; the server keeps its token.
		xsWantActive(t, f, srv, bystander.str("access_token"), "another player's access token")
		f.mustToken(t, srv.id, srv.secret, refresh(bystander.str("refresh_token")))

		// After the logout's second, new sessions work, and the logout's
		// token stays active.
		f.Clock.Advance(time.Second)
		fresh := f.mustToken(t, srv.id, srv.secret, customID("leaver"))
		xsWantActive(t, f, srv, fresh.str("access_token"), "a login after the logout")
		next := f.mustToken(t, srv.id, srv.secret, refresh(fresh.str("refresh_token")))
		xsWantActive(t, f, srv, next.str("access_token"), "a refresh after the logout")
		later, _ := f.xsMustLogin(t, srv.bearer, xsQuery(ns), body)
		xsWantActive(t, f, srv, later, "an Xsolla login after the logout")
		xsWantActive(t, f, srv, logout, "the logout's token, later")

		// A second logout ends the first logout's token too.
		f.Clock.Advance(2 * time.Second)
		second, _ := f.xsMustLogin(t, srv.bearer, xsQuery(ns, "with_logout", "1"), body)
		xsWantInactive(t, f, srv, logout, "the first logout's token after a second logout")
		xsWantInactive(t, f, srv, later, "a token before the second logout")
		xsWantActive(t, f, srv, second, "the second logout's token")

		// with_logout=1 on a player's very first login just signs in.
		first, _ := f.xsMustLogin(t, srv.bearer, xsQuery(ns, "with_logout", "1"), xsID(t, "newcomer"))
		xsWantActive(t, f, srv, first, "a first login with with_logout=1")
	})
}

// xsStallingBody is a request body of total bytes that counts what the
// transport read from it, and stalls at stallAt until the answer arrived
// (release closed), then fails the upload. If the server needs more than
// stallAt to answer, the stall gives up after 3 s and the body flows on:
// gaveUp then shows the server waited for more than stallAt bytes, and sent
// how much it had consumed when its answer came.
type xsStallingBody struct {
	prefix   string
	total    int64
	stallAt  int64
	sent     atomic.Int64
	gaveUp   atomic.Bool
	release  chan struct{}
	resuming bool // only the transport's writer touches it
}

func newXsStallingBody(total, stallAt int64) *xsStallingBody {
	return &xsStallingBody{prefix: `{"server_custom_id":"big","pad":"`, total: total, stallAt: stallAt, release: make(chan struct{})}
}

var errXsAnswered = errors.New("the answer arrived; the rest of the body is not sent")

func (b *xsStallingBody) Read(p []byte) (int, error) {
	n := b.sent.Load()
	if n >= b.total {
		return 0, io.EOF
	}
	select {
	case <-b.release:
		return 0, errXsAnswered
	default:
	}
	if n >= b.stallAt && !b.resuming {
		select {
		case <-b.release:
			return 0, errXsAnswered
		case <-time.After(3 * time.Second):
			b.gaveUp.Store(true)
			b.resuming = true
		}
	}
	limit := b.total - n
	if !b.resuming {
		limit = min(limit, b.stallAt-n)
	}
	k := int(min(int64(len(p)), limit))
	for i := range k {
		if off := n + int64(i); off < int64(len(b.prefix)) {
			p[i] = b.prefix[off]
		} else {
			p[i] = 'a'
		}
	}
	b.sent.Add(int64(k))
	return k, nil
}

// TestXsollaBodyLimit: a 1 MiB body is refused with 413 body_too_large
// without the server reading it all, sent with a Content-Length and sent
// chunked; a body under the 64 KiB limit is read.
//
// The body stalls at 128 KiB (twice the limit) until the answer comes: a
// server that stops reading at its limit answers during the stall. Without
// the stall the client would push much of the body into the loopback
// socket buffers whatever the server does, and the count would say nothing.
func TestXsollaBodyLimit(t *testing.T) {
	t.Parallel()
	xsollaEachStore(t, func(t *testing.T, f *fixture) {
		srv := f.xsServer(t, gameServer("game"))
		ns := xsProject(t, f, "game")
		const total, stallAt = 1 << 20, 128 << 10
		for _, chunked := range []bool{false, true} {
			what := "1 MiB body with a Content-Length"
			if chunked {
				what = "1 MiB body sent chunked"
			}
			body := newXsStallingBody(total, stallAt)
			req, err := http.NewRequest(http.MethodPost, f.URL+xsLoginPath+"?"+xsQuery(ns).Encode(), body)
			if err != nil {
				t.Fatal(err)
			}
			req.ContentLength = total
			if chunked {
				req.ContentLength = -1
			}
			req.Header.Set("Authorization", srv.bearer)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			sent := body.sent.Load()
			if err != nil {
				close(body.release)
				t.Fatalf("%s: %v (after %d bytes sent)", what, err, sent)
			}
			raw, _ := io.ReadAll(resp.Body)
			close(body.release)
			resp.Body.Close()
			r := response{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
			_ = json.Unmarshal(raw, &r.Body)
			xsWantError(t, what, r, http.StatusRequestEntityTooLarge, "body_too_large", "")
			if sent >= total/2 {
				t.Errorf("%s: the answer came after %d of %d bytes were read; far fewer must be", what, sent, total)
			}
			if body.gaveUp.Load() {
				t.Errorf("BUG: %s: the server did not answer with %d bytes (twice its 64 KiB limit) available; "+
					"it answered after reading %d bytes", what, stallAt, sent)
			}
			if !resp.Close {
				t.Errorf("%s: the 413 leaves the connection open with the rest of the body unread (no Connection: close)", what)
			}
		}

		// Just over the limit, chunked, is refused too; just under it is read.
		over := `{"server_custom_id":"big","pad":"` + strings.Repeat("a", 64<<10) + `"}`
		req, _ := http.NewRequest(http.MethodPost, f.URL+xsLoginPath+"?"+xsQuery(ns).Encode(), io.MultiReader(strings.NewReader(over)))
		req.ContentLength = -1
		req.Header.Set("Authorization", srv.bearer)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		r := response{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
		_ = json.Unmarshal(raw, &r.Body)
		xsWantError(t, "64 KiB + 35 bytes, chunked", r, http.StatusRequestEntityTooLarge, "body_too_large", "")

		under := xsBody(t, map[string]any{"server_custom_id": "big",
			"attributes": []xsAttr{xsA("blob", strings.Repeat("b", 60<<10), "server", "private", false)}})
		_, claims := f.xsMustLogin(t, srv.bearer, xsQuery(ns), under)
		_, attrs := f.xsAttributes(t, srv.bearer, xsClaim(claims, "sub"))
		xsWantAttributes(t, attrs, xsA("blob", strings.Repeat("b", 60<<10), "server", "private", false))
	})
}

// TestXsollaRateLimit: a client over its RateLimit gets 429 with
// Retry-After. The limiter runs on the fixture's clock, and a client's
// budget is shared by all it does (its client_credentials token request
// spends from it too).
func TestXsollaRateLimit(t *testing.T) {
	t.Parallel()
	xsollaEachStore(t, func(t *testing.T, f *fixture) {
		spec := gameServer("game")
		spec.RateLimit = 2
		srv := f.xsServer(t, spec)
		free := f.xsServer(t, gameServer("game")) // RateLimit 0: unlimited
		ns := xsProject(t, f, "game")
		body := xsID(t, "busy")
		f.Clock.Advance(time.Second) // refill what the token request spent

		// A burst of 2 passes.
		f.xsMustLogin(t, srv.bearer, xsQuery(ns), body)
		f.xsMustLogin(t, srv.bearer, xsQuery(ns), body)
		// Then 429 (tried a few times in case the machine is slow enough
		// for the bucket to refill in between).
		var limited response
		for range 3 {
			if limited = f.xsLogin(t, srv.bearer, xsQuery(ns), body); limited.Status == http.StatusTooManyRequests {
				break
			}
		}
		xsWantError(t, "over the rate", limited, http.StatusTooManyRequests, "rate_limited", "")
		ra, err := strconv.Atoi(limited.Header.Get("Retry-After"))
		if err != nil || ra < 1 {
			t.Errorf("Retry-After = %q, want an integer >= 1", limited.Header.Get("Retry-After"))
		}
		// The attributes endpoint spends the same client's budget.
		if r, _ := f.xsAttributes(t, srv.bearer, "00000000-0000-4000-8000-000000000000"); r.Status != http.StatusTooManyRequests {
			t.Errorf("attributes while limited: %d %s, want 429", r.Status, r.Raw)
		}
		// Other clients are not limited.
		for range 5 {
			f.xsMustLogin(t, free.bearer, xsQuery(ns), body)
		}
		// A second later the bucket has refilled.
		f.Clock.Advance(time.Second)
		f.xsMustLogin(t, srv.bearer, xsQuery(ns), body)
	})
}

// TestXsollaBannedUser: a banned player cannot log in until the release.
func TestXsollaBannedUser(t *testing.T) {
	t.Parallel()
	xsollaEachStore(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		srv := f.xsServer(t, gameServer("game"))
		ns := xsProject(t, f, "game")
		_, claims := f.xsMustLogin(t, srv.bearer, xsQuery(ns), xsID(t, "cheater"))
		user := xsClaim(claims, "sub")
		if _, err := broker.BanUser(ctx, f.Store, f.Clock.Now(), ns, user, "", "r", f.Clock.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		r := f.xsLogin(t, srv.bearer, xsQuery(ns), xsID(t, "cheater"))
		xsWantError(t, "a banned user", r, http.StatusForbidden, "user_banned", "")
		r = f.xsLogin(t, srv.bearer, xsQuery(ns, "with_logout", "1"), xsBody(t, map[string]any{
			"server_custom_id": "cheater", "attributes": []xsAttr{xsA("score", 999999, "server", "public", false)},
		}))
		xsWantError(t, "a banned user with attributes", r, http.StatusForbidden, "user_banned", "")
		if _, attrs := f.xsAttributes(t, srv.bearer, user); len(attrs) != 0 {
			t.Errorf("a banned user's refused login stored attributes: %v", attrs)
		}
		// Others still log in.
		f.xsMustLogin(t, srv.bearer, xsQuery(ns), xsID(t, "honest"))

		// After the release the player is back (with a fresh server token:
		// the old one expired with the hour).
		f.Clock.Advance(time.Hour + time.Minute)
		bearer := f.xsBearer(t, srv.id, srv.secret)
		_, back := f.xsMustLogin(t, bearer, xsQuery(ns), xsID(t, "cheater"))
		if xsClaim(back, "sub") != user {
			t.Errorf("after the release: user %v, want %s", back["sub"], user)
		}
	})
}

// TestXsollaChallenge: a 401 names invalid_token only when a token was
// sent (RFC 6750 §3.1).
func TestXsollaChallenge(t *testing.T) {
	t.Parallel()
	f := buildFixture(t, openSQLite(t), nil, xsollaOptions)
	for _, tc := range []struct {
		auth string
		want string
	}{
		{"", `Bearer realm="bridgekeeper"`},
		{"Bearer not-a-token", `Bearer realm="bridgekeeper", error="invalid_token"`},
	} {
		req, _ := http.NewRequest(http.MethodGet, f.URL+"/users/someone/attributes", nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if got := res.Header.Get("WWW-Authenticate"); res.StatusCode != http.StatusUnauthorized || got != tc.want {
			t.Errorf("Authorization %q: %d %q, want 401 %q", tc.auth, res.StatusCode, got, tc.want)
		}
	}
}
