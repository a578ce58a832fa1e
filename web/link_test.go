package web_test

import (
	"io"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// bearer sends a request with an access token.
func (f *fixture) bearer(t *testing.T, method, path, token string, form url.Values) response {
	t.Helper()
	req, err := http.NewRequest(method, f.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", formType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return roundTrip(t, req)
}

// userID asks /userinfo whose token tok is.
func (f *fixture) userID(t *testing.T, accessToken string) string {
	t.Helper()
	r := f.bearer(t, http.MethodGet, "/userinfo", accessToken, nil)
	if r.Status != http.StatusOK || r.str("userId") == "" || r.str("sub") != r.str("userId") {
		t.Fatalf("userinfo: %d %s", r.Status, r.Raw)
	}
	return r.str("userId")
}

// linkEnv is a flow environment with a game client whose players sign in
// through google (mockoidc) and link mobage.
type linkEnv struct {
	*flowEnv
	cfg        *oauth2.Config
	id, secret string
}

func newLinkEnv(f *flowEnv, t *testing.T) *linkEnv {
	spec := appSpec("game")
	spec.AccessTTL = 15 * time.Minute
	id, secret := f.client(t, spec)
	return &linkEnv{flowEnv: f, cfg: f.oauthConfig(id, secret, appRedirect, "openid", "game"), id: id, secret: secret}
}

// startLink asks for a link URL as the holder of accessToken.
func (e *linkEnv) startLink(t *testing.T, accessToken string, form url.Values) string {
	t.Helper()
	r := e.bearer(t, http.MethodPost, "/account/links", accessToken, form)
	u := r.str("url")
	if r.Status != http.StatusOK || !strings.HasPrefix(u, e.URL+"/oauth2/link?") {
		t.Fatalf("POST /account/links: %d %s", r.Status, r.Raw)
	}
	return u
}

// held is a link waiting for the player's confirmation in a browser: the
// confirmation page, the cookies the browser sends with the confirmation
// and the token of the page's form.
type held struct {
	page    string
	cookies []*http.Cookie
	token   string
}

// confirmForm is the confirmation page's form and its token.
var confirmForm = regexp.MustCompile(`<form class="confirm" method="post" action="/oauth2/link/confirm">\s*<input type="hidden" name="token" value="([^"]+)">`)

// open opens a link URL in a new browser where subject signs in at
// provider, and returns the page the browser lands on and, when it is the
// confirmation page, the held link.
func (e *linkEnv) open(t *testing.T, linkURL, provider, subject string) (*http.Response, string, *held) {
	t.Helper()
	e.queue(provider, subject)
	b := newBrowser(t, appRedirect, appRedirect2)
	resp, body := get(t, b.Client, linkURL)
	m := confirmForm.FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		return resp, body, nil
	}
	u, err := url.Parse(e.URL + "/oauth2/link/confirm")
	if err != nil {
		t.Fatal(err)
	}
	return resp, body, &held{page: body, cookies: b.Jar.Cookies(u), token: m[1]}
}

// hold starts a link of provider as the holder of accessToken (form adds
// to the request) and opens it where subject signs in, up to the
// confirmation page, which must name the provider.
func (e *linkEnv) hold(t *testing.T, accessToken, provider, subject string, form url.Values) *held {
	t.Helper()
	form = maps.Clone(form)
	if form == nil {
		form = url.Values{}
	}
	form.Set("provider", provider)
	resp, body, h := e.open(t, e.startLink(t, accessToken, form), provider, subject)
	if h == nil {
		t.Fatalf("want the confirmation page, got %d: %.500s", resp.StatusCode, body)
	}
	page(t, resp, body, http.StatusOK, "Link this "+provider+" account?")
	if len(h.cookies) == 0 {
		t.Fatal("the confirmation page set no cookie")
	}
	return h
}

// confirm posts a confirmation form with token and action, sending cookies,
// and returns the answer as it is.
func (e *linkEnv) confirm(t *testing.T, cookies []*http.Cookie, token, action string) (*http.Response, string) {
	t.Helper()
	form := url.Values{"token": {token}, "action": {action}}
	req, err := http.NewRequest(http.MethodPost, e.URL+"/oauth2/link/confirm", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", formType)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// link opens a link URL in a browser where subject signs in at provider
// and, on the confirmation page, chooses Link. It returns what ends the
// flow: the answer to the confirmation, or the page that came instead of
// the confirmation page.
func (e *linkEnv) link(t *testing.T, linkURL, provider, subject string) (*http.Response, string) {
	t.Helper()
	resp, body, h := e.open(t, linkURL, provider, subject)
	if h == nil {
		return resp, body
	}
	return e.confirm(t, h.cookies, h.token, "link")
}

type linkItem struct {
	Slot                 int
	Provider, Identifier string
}

// links lists the links of the holder of accessToken.
func (e *linkEnv) links(t *testing.T, accessToken string) []linkItem {
	t.Helper()
	r := e.bearer(t, http.MethodGet, "/account/links", accessToken, nil)
	items, ok := r.Body["items"].([]any)
	if r.Status != http.StatusOK || !ok {
		t.Fatalf("GET /account/links: %d %s", r.Status, r.Raw)
	}
	var out []linkItem
	for _, it := range items {
		m := it.(map[string]any)
		slot, _ := m["slot"].(float64)
		created, _ := m["createdAt"].(float64)
		if created < float64(time.Now().Add(-time.Hour).UnixMilli()) {
			t.Fatalf("createdAt is not Unix ms: %s", r.Raw)
		}
		p, _ := m["provider"].(string)
		ident, _ := m["identifier"].(string)
		out = append(out, linkItem{Slot: int(slot), Provider: p, Identifier: ident})
	}
	return out
}

func hasLink(ls []linkItem, provider, subject string) bool {
	for _, l := range ls {
		if l.Provider == provider && l.Identifier == subject {
			return true
		}
	}
	return false
}

// TestLinkProvider: a signed-in player links mobage through the browser
// flow and can then sign in with either provider as the same user.
func TestLinkProvider(t *testing.T) {
	t.Parallel()
	eachFlowStore(t, func(t *testing.T, f *flowEnv) {
		e := newLinkEnv(f, t)
		tok := e.login(t, e.cfg, "google", "g-alice")
		alice := e.userID(t, tok.AccessToken)

		resp, body := e.link(t, e.startLink(t, tok.AccessToken, url.Values{"provider": {"mobage"}}), "mobage", "m-alice")
		page(t, resp, body, http.StatusOK, "Account linked")
		ls := e.links(t, tok.AccessToken)
		if len(ls) != 2 || !hasLink(ls, "google", "g-alice") || !hasLink(ls, "mobage", "m-alice") {
			t.Fatalf("links %+v", ls)
		}
		wantAudit(t, f.fixture, broker.AuditLink, alice, strconv.Itoa(mobageSlot)+":m-alice")
		for _, l := range ls {
			if want := map[string]int{"google": googleSlot, "mobage": mobageSlot}[l.Provider]; l.Slot != want {
				t.Fatalf("%s linked in slot %d, want %d", l.Provider, l.Slot, want)
			}
		}
		if got := e.userID(t, e.login(t, e.cfg, "mobage", "m-alice").AccessToken); got != alice {
			t.Fatalf("signing in via the linked mobage identity gave user %s, want %s", got, alice)
		}

		// The slot is taken now: linking mobage again is refused at once.
		if r := e.bearer(t, http.MethodPost, "/account/links", tok.AccessToken, url.Values{"provider": {"mobage"}}); r.Status != http.StatusConflict {
			t.Fatalf("relinking a taken slot: %d %s", r.Status, r.Raw)
		}
		if ls := e.links(t, tok.AccessToken); len(ls) != 2 {
			t.Fatalf("links after refused relinking: %+v", ls)
		}
	})
}

// TestLinkReturnsToClient: with a redirect_uri the browser goes back to the
// game with linked= and its state.
func TestLinkReturnsToClient(t *testing.T) {
	t.Parallel()
	eachFlowStore(t, func(t *testing.T, f *flowEnv) {
		e := newLinkEnv(f, t)
		tok := e.login(t, e.cfg, "mobage", "m-bob")
		u := e.startLink(t, tok.AccessToken, url.Values{"provider": {"google"}, "redirect_uri": {appRedirect2}, "state": {"s-42"}})
		resp, body := e.link(t, u, "google", "g-bob")
		q := redirected(t, resp, body, appRedirect2)
		if q.Get("linked") != "google" || q.Get("state") != "s-42" || q.Get("code") != "" {
			t.Fatalf("client redirect %v", q)
		}
		if ls := e.links(t, tok.AccessToken); len(ls) != 2 || !hasLink(ls, "google", "g-bob") {
			t.Fatalf("links %+v", ls)
		}

		t.Run("should fail because the redirect_uri is not the client's", func(t *testing.T) {
			r := e.bearer(t, http.MethodPost, "/account/links", tok.AccessToken,
				url.Values{"provider": {"google"}, "redirect_uri": {"https://evil.example/cb"}})
			if r.Status != http.StatusBadRequest || r.str("error") != "invalid_request" {
				t.Fatalf("%d %s", r.Status, r.Raw)
			}
		})
		t.Run("should fail because the player declined at the upstream", func(t *testing.T) {
			tok := e.login(t, e.cfg, "google", "g-erin") // no mobage link yet
			f.Mobage.Deny("access_denied")
			defer f.Mobage.Deny("")
			u := e.startLink(t, tok.AccessToken, url.Values{"provider": {"mobage"}, "redirect_uri": {appRedirect}, "state": {"s-43"}})
			resp, body := get(t, newBrowser(t, appRedirect).Client, u)
			if q := redirected(t, resp, body, appRedirect); q.Get("error") != "access_denied" || q.Get("state") != "s-43" || q.Get("linked") != "" {
				t.Fatalf("client redirect %v", q)
			}
			// Without a redirect_uri the browser is told on a page.
			resp, body = get(t, newBrowser(t, appRedirect).Client, e.startLink(t, tok.AccessToken, url.Values{"provider": {"mobage"}}))
			if resp.StatusCode < 400 || !strings.Contains(body, "did not complete") {
				t.Fatalf("%d %.300s", resp.StatusCode, body)
			}
			if ls := e.links(t, tok.AccessToken); len(ls) != 1 {
				t.Fatalf("links %+v", ls)
			}
		})
		t.Run("should fail because the provider is unknown", func(t *testing.T) {
			r := e.bearer(t, http.MethodPost, "/account/links", tok.AccessToken, url.Values{"provider": {"facebook"}})
			if r.Status != http.StatusBadRequest || r.str("error") != "invalid_request" {
				t.Fatalf("%d %s", r.Status, r.Raw)
			}
		})
	})
}

// TestLinkConflict: an identity linked to another user is never re-pointed.
func TestLinkConflict(t *testing.T) {
	t.Parallel()
	eachFlowStore(t, func(t *testing.T, f *flowEnv) {
		e := newLinkEnv(f, t)
		alice := e.userID(t, e.login(t, e.cfg, "mobage", "m-alice").AccessToken)
		bobTok := e.login(t, e.cfg, "google", "g-bob")
		bob := e.userID(t, bobTok.AccessToken)

		t.Run("should fail because the identity is another user's", func(t *testing.T) {
			resp, body := e.link(t, e.startLink(t, bobTok.AccessToken, url.Values{"provider": {"mobage"}}), "mobage", "m-alice")
			page(t, resp, body, http.StatusConflict, "already linked to another player")
			if ls := e.links(t, bobTok.AccessToken); len(ls) != 1 || !hasLink(ls, "google", "g-bob") {
				t.Fatalf("bob's links changed: %+v", ls)
			}
			// A redirect_uri does not turn the conflict into a redirect.
			u := e.startLink(t, bobTok.AccessToken, url.Values{"provider": {"mobage"}, "redirect_uri": {appRedirect}, "state": {"s"}})
			resp, body = e.link(t, u, "mobage", "m-alice")
			page(t, resp, body, http.StatusConflict, "already linked to another player")
			if got := e.userID(t, e.login(t, e.cfg, "mobage", "m-alice").AccessToken); got != alice {
				t.Fatalf("m-alice now signs in as %s, want alice %s (bob is %s)", got, alice, bob)
			}
		})
		t.Run("should fail because the user has another identity in that slot", func(t *testing.T) {
			// The API refuses at once ...
			r := e.bearer(t, http.MethodPost, "/account/links", bobTok.AccessToken, url.Values{"provider": {"google"}})
			if r.Status != http.StatusConflict || r.str("error") != "conflict" {
				t.Fatalf("POST /account/links for a taken slot: %d %s", r.Status, r.Raw)
			}
			// ... and of two links started while the slot was free, the
			// second to come back is a conflict page.
			carolTok := e.login(t, e.cfg, "google", "g-carol")
			first := e.startLink(t, carolTok.AccessToken, url.Values{"provider": {"mobage"}})
			second := e.startLink(t, carolTok.AccessToken, url.Values{"provider": {"mobage"}})
			resp, body := e.link(t, first, "mobage", "m-carol")
			page(t, resp, body, http.StatusOK, "Account linked")
			resp, body = e.link(t, second, "mobage", "m-carol-2")
			page(t, resp, body, http.StatusConflict, "Already linked")
			if ls := e.links(t, carolTok.AccessToken); len(ls) != 2 || !hasLink(ls, "mobage", "m-carol") || hasLink(ls, "mobage", "m-carol-2") {
				t.Fatalf("carol's links: %+v", ls)
			}
			if ls := e.links(t, bobTok.AccessToken); len(ls) != 1 || !hasLink(ls, "google", "g-bob") {
				t.Fatalf("bob's links changed: %+v", ls)
			}
		})
		t.Run("should fail because the link URL was used", func(t *testing.T) {
			u := e.startLink(t, bobTok.AccessToken, url.Values{"provider": {"mobage"}})
			resp, body := e.link(t, u, "mobage", "m-bob")
			page(t, resp, body, http.StatusOK, "Account linked")
			resp, body = e.link(t, u, "mobage", "m-eve")
			page(t, resp, body, http.StatusBadRequest, "Sign-in problem")
			if ls := e.links(t, bobTok.AccessToken); len(ls) != 2 || !hasLink(ls, "mobage", "m-bob") || hasLink(ls, "mobage", "m-eve") {
				t.Fatalf("bob's links %+v", ls)
			}
		})
		t.Run("should fail because the link URL was opened in another browser", func(t *testing.T) {
			daveTok := e.login(t, e.cfg, "google", "g-dave")
			u := e.startLink(t, daveTok.AccessToken, url.Values{"provider": {"mobage"}})
			resp, _ := get(t, noFollow, u) // an onlooker opens it first
			if resp.StatusCode != http.StatusFound {
				t.Fatalf("first open: %d", resp.StatusCode)
			}
			resp, body := get(t, noFollow, u)
			page(t, resp, body, http.StatusBadRequest, "Sign-in problem")
		})
	})
}

// TestUnlink: a link can be removed, but never the last way in.
func TestUnlink(t *testing.T) {
	t.Parallel()
	eachFlowStore(t, func(t *testing.T, f *flowEnv) {
		e := newLinkEnv(f, t)
		tok := e.login(t, e.cfg, "google", "g-carol")
		resp, body := e.link(t, e.startLink(t, tok.AccessToken, url.Values{"provider": {"mobage"}}), "mobage", "m-carol")
		page(t, resp, body, http.StatusOK, "Account linked")
		del := func(slot int) response {
			return e.bearer(t, http.MethodDelete, "/account/links/"+strconv.Itoa(slot), tok.AccessToken, nil)
		}

		if r := del(googleSlot); r.Status != http.StatusNoContent {
			t.Fatalf("delete google: %d %s", r.Status, r.Raw)
		}
		wantAudit(t, f.fixture, broker.AuditUnlink, e.userID(t, tok.AccessToken), strconv.Itoa(googleSlot)+":g-carol")
		if ls := e.links(t, tok.AccessToken); len(ls) != 1 || !hasLink(ls, "mobage", "m-carol") {
			t.Fatalf("links after delete %+v", ls)
		}
		// g-carol is no longer a way into carol's account.
		carol := e.userID(t, tok.AccessToken)
		if got := e.userID(t, e.login(t, e.cfg, "google", "g-carol").AccessToken); got == carol {
			t.Fatal("the removed link still signs in")
		}
		t.Run("should fail because it is the last link", func(t *testing.T) {
			if r := del(mobageSlot); r.Status != http.StatusConflict {
				t.Fatalf("delete the last link: %d %s", r.Status, r.Raw)
			}
			if ls := e.links(t, tok.AccessToken); len(ls) != 1 {
				t.Fatalf("links %+v", ls)
			}
		})
		t.Run("should fail because the slot has no link", func(t *testing.T) {
			if r := del(googleSlot); r.Status != http.StatusNotFound {
				t.Fatalf("%d %s", r.Status, r.Raw)
			}
		})
		t.Run("should fail because the slot is not a slot", func(t *testing.T) {
			for _, s := range []string{"x", "-1", "1025"} {
				r := e.bearer(t, http.MethodDelete, "/account/links/"+s, tok.AccessToken, nil)
				if r.Status != http.StatusBadRequest {
					t.Fatalf("slot %s: %d %s", s, r.Status, r.Raw)
				}
			}
		})
	})
}

// TestAccountAuth: the account API and /userinfo take a player's Bearer
// access token and nothing else.
func TestAccountAuth(t *testing.T) {
	t.Parallel()
	eachFlowStore(t, func(t *testing.T, f *flowEnv) {
		e := newLinkEnv(f, t)
		tok := e.login(t, e.cfg, "google", "g-dave")
		spec := gameServer("game")
		ccID, ccSecret := e.client(t, spec)
		cc := e.mustToken(t, ccID, ccSecret, url.Values{"grant_type": {"client_credentials"}}).str("access_token")

		calls := []struct{ method, path string }{
			{http.MethodGet, "/account/links"}, {http.MethodPost, "/account/links"},
			{http.MethodDelete, "/account/links/2"}, {http.MethodGet, "/userinfo"},
		}
		check := func(t *testing.T, header, wantDesc string) {
			t.Helper()
			for _, c := range calls {
				req, _ := http.NewRequest(c.method, e.URL+c.path, strings.NewReader("provider=mobage"))
				req.Header.Set("Content-Type", formType)
				if header != "" {
					req.Header.Set("Authorization", header)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				ch := resp.Header.Get("WWW-Authenticate")
				if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(ch, "Bearer") || !strings.Contains(ch, wantDesc) {
					t.Fatalf("%s %s: %d WWW-Authenticate %q, want 401 Bearer with %q", c.method, c.path, resp.StatusCode, ch, wantDesc)
				}
			}
		}
		t.Run("should fail because there is no token", func(t *testing.T) { check(t, "", "") })
		t.Run("should fail because the token is garbage", func(t *testing.T) { check(t, "Bearer not-a-token", `error="invalid_token"`) })
		t.Run("should fail because Basic is not Bearer", func(t *testing.T) { check(t, "Basic "+tok.AccessToken, "") })
		t.Run("should fail because the token is a client's", func(t *testing.T) { check(t, "Bearer "+cc, `error="invalid_token"`) })
		t.Run("should fail because the token was revoked", func(t *testing.T) {
			other := e.login(t, e.cfg, "google", "g-dave")
			r := e.do(t, http.MethodPost, "/oauth2/revoke", formType, url.Values{"token": {other.AccessToken}}.Encode(), &[2]string{e.id, e.secret})
			if r.Status != http.StatusOK {
				t.Fatalf("revoke: %d %s", r.Status, r.Raw)
			}
			check(t, "Bearer "+other.AccessToken, `error="invalid_token"`)
		})
		t.Run("control: the player's token is accepted", func(t *testing.T) {
			if r := e.bearer(t, http.MethodGet, "/account/links", tok.AccessToken, nil); r.Status != http.StatusOK {
				t.Fatalf("%d %s", r.Status, r.Raw)
			}
		})
		t.Run("should fail because the token expired", func(t *testing.T) {
			e.Clock.Advance(15*time.Minute + time.Minute)
			check(t, "Bearer "+tok.AccessToken, `error="invalid_token", error_description="The access token expired"`)
		})
	})
}

// TestLinkURLExpires: a link URL is good for AuthRequestTTL only.
func TestLinkURLExpires(t *testing.T) {
	t.Parallel()
	eachFlowStore(t, func(t *testing.T, f *flowEnv) {
		e := newLinkEnv(f, t)
		tok := e.login(t, e.cfg, "google", "g-erin")
		u := e.startLink(t, tok.AccessToken, url.Values{"provider": {"mobage"}})
		e.Clock.Advance(broker.AuthRequestTTL + time.Second)
		resp, body := get(t, noFollow, u)
		page(t, resp, body, http.StatusBadRequest, "Sign-in problem")
	})
}

// TestConcurrentUnlink: removing both of two links at once leaves one.
func TestConcurrentUnlink(t *testing.T) {
	t.Parallel()
	eachFlowStore(t, func(t *testing.T, f *flowEnv) {
		e := newLinkEnv(f, t)
		tok := e.login(t, e.cfg, "google", "g-frank")
		for round := range 4 {
			if ls := e.links(t, tok.AccessToken); len(ls) == 1 {
				p, s := "mobage", "m-frank"
				if ls[0].Provider == "mobage" {
					p, s = "google", "g-frank"
				}
				resp, body := e.link(t, e.startLink(t, tok.AccessToken, url.Values{"provider": {p}}), p, s)
				page(t, resp, body, http.StatusOK, "Account linked")
			}
			var wg sync.WaitGroup
			status := make([]int, 2)
			for i, slot := range []int{googleSlot, mobageSlot} {
				wg.Go(func() {
					req, _ := http.NewRequest(http.MethodDelete, e.URL+"/account/links/"+strconv.Itoa(slot), nil)
					req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
					if resp, err := http.DefaultClient.Do(req); err == nil {
						resp.Body.Close()
						status[i] = resp.StatusCode
					}
				})
			}
			wg.Wait()
			slices.Sort(status)
			if status[0] != http.StatusNoContent || status[1] != http.StatusConflict {
				t.Fatalf("round %d: concurrent deletes answered %v, want one 204 and one 409", round, status)
			}
			if ls := e.links(t, tok.AccessToken); len(ls) != 1 {
				t.Fatalf("round %d: links %+v", round, ls)
			}
		}
	})
}
