package web_test

// The browser link confirmation (issue 12 item 6): held links and their
// double-submit POST.

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestLinkConfirmation: the upstream's return of a link request links
// nothing; it shows a page naming the player the identity would be linked
// to, by nickname or else user ID, and the provider, and only Link on that
// page links; Cancel links nothing.
func TestLinkConfirmation(t *testing.T) {
	t.Parallel()
	eachFlowStore(t, func(t *testing.T, f *flowEnv) {
		e := newLinkEnv(f, t)
		tok := e.login(t, e.cfg, "google", "g-alice")
		alice := e.userID(t, tok.AccessToken)

		h := e.hold(t, tok.AccessToken, "mobage", "m-alice", nil)
		if !strings.Contains(h.page, alice) || !strings.Contains(h.page, "mobage") {
			t.Fatalf("the confirmation page does not name player %s and mobage: %.800s", alice, h.page)
		}
		if ls := e.links(t, tok.AccessToken); len(ls) != 1 || hasLink(ls, "mobage", "m-alice") {
			t.Fatalf("linked before the confirmation: %+v", ls)
		}
		resp, body := e.confirm(t, h.cookies, h.token, "link")
		page(t, resp, body, http.StatusOK, "Account linked")
		if ls := e.links(t, tok.AccessToken); len(ls) != 2 || !hasLink(ls, "mobage", "m-alice") {
			t.Fatalf("links after the confirmation: %+v", ls)
		}

		t.Run("the page names the player by nickname", func(t *testing.T) {
			bobTok := e.login(t, e.cfg, "mobage", "m-bob")
			bob := e.userID(t, bobTok.AccessToken)
			if err := f.Store.SetNickname(context.Background(), bob, "Bob <the Bold>"); err != nil {
				t.Fatal(err)
			}
			h := e.hold(t, bobTok.AccessToken, "google", "g-bob", nil)
			if !strings.Contains(h.page, "Bob &lt;the Bold&gt;") || strings.Contains(h.page, bob) {
				t.Fatalf("the confirmation page does not name the player by the nickname alone: %.800s", h.page)
			}
		})
		t.Run("should fail because the player chose Cancel", func(t *testing.T) {
			carolTok := e.login(t, e.cfg, "google", "g-carol")
			h := e.hold(t, carolTok.AccessToken, "mobage", "m-carol", nil)
			resp, body := e.confirm(t, h.cookies, h.token, "cancel")
			page(t, resp, body, http.StatusBadRequest, "cancelled")
			// With a redirect_uri the game is told: access_denied.
			h = e.hold(t, carolTok.AccessToken, "mobage", "m-carol", url.Values{"redirect_uri": {appRedirect}, "state": {"s-7"}})
			resp, body = e.confirm(t, h.cookies, h.token, "cancel")
			if q := redirected(t, resp, body, appRedirect); q.Get("error") != "access_denied" || q.Get("state") != "s-7" || q.Get("linked") != "" {
				t.Fatalf("client redirect %v", q)
			}
			if ls := e.links(t, carolTok.AccessToken); len(ls) != 1 || hasLink(ls, "mobage", "m-carol") {
				t.Fatalf("carol's links after Cancel: %+v", ls)
			}
		})
	})
}

// TestLinkConfirmRefusals: a confirmation without this browser's cookie
// and its page's token, or that is not a POST, or names no known action,
// is refused and spends nothing: the player's own confirmation still
// links afterwards. A held link expires.
func TestLinkConfirmRefusals(t *testing.T) {
	t.Parallel()
	eachFlowStore(t, func(t *testing.T, f *flowEnv) {
		e := newLinkEnv(f, t)
		// other is another player's link, waiting in another browser.
		otherTok := e.login(t, e.cfg, "google", "g-other")
		other := e.hold(t, otherTok.AccessToken, "mobage", "m-other", nil)
		forged := func(token string) string {
			b := []byte(token)
			b[len(b)/2] ^= 1 // base64url stays base64url
			return string(b)
		}
		cases := []struct {
			name   string
			send   func(t *testing.T, h *held) (*http.Response, string)
			status int
			text   string
		}{
			{"should fail because the cookie is missing", func(t *testing.T, h *held) (*http.Response, string) {
				return e.confirm(t, nil, h.token, "link")
			}, http.StatusForbidden, "not valid in this browser"},
			{"should fail because the token is missing", func(t *testing.T, h *held) (*http.Response, string) {
				return e.confirm(t, h.cookies, "", "link")
			}, http.StatusForbidden, "not valid in this browser"},
			{"should fail because the token is forged", func(t *testing.T, h *held) (*http.Response, string) {
				return e.confirm(t, h.cookies, forged(h.token), "link")
			}, http.StatusForbidden, "not valid in this browser"},
			{"should fail because the token is another browser's", func(t *testing.T, h *held) (*http.Response, string) {
				return e.confirm(t, h.cookies, other.token, "link")
			}, http.StatusForbidden, "not valid in this browser"},
			{"should fail because the cookie is another browser's", func(t *testing.T, h *held) (*http.Response, string) {
				return e.confirm(t, other.cookies, h.token, "link")
			}, http.StatusForbidden, "not valid in this browser"},
			{"should fail because the action is unknown", func(t *testing.T, h *held) (*http.Response, string) {
				return e.confirm(t, h.cookies, h.token, "yes")
			}, http.StatusBadRequest, "malformed"},
			{"should fail because the confirmation is a GET", func(t *testing.T, h *held) (*http.Response, string) {
				q := url.Values{"token": {h.token}, "action": {"link"}}
				return get(t, noFollow, e.URL+"/oauth2/link/confirm?"+q.Encode(), "Cookie", h.cookies[0].String())
			}, http.StatusMethodNotAllowed, "method_not_allowed"},
		}
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				tok := e.login(t, e.cfg, "google", "g-"+strconv.Itoa(i))
				h := e.hold(t, tok.AccessToken, "mobage", "m-"+strconv.Itoa(i), nil)
				resp, body := c.send(t, h)
				if resp.StatusCode != c.status || !strings.Contains(body, c.text) {
					t.Fatalf("want %d with %q, got %d: %.500s", c.status, c.text, resp.StatusCode, body)
				}
				if ls := e.links(t, tok.AccessToken); len(ls) != 1 {
					t.Fatalf("links after the refusal: %+v", ls)
				}
				if ls := e.links(t, otherTok.AccessToken); len(ls) != 1 {
					t.Fatalf("the other player's links after the refusal: %+v", ls)
				}
				resp, body = e.confirm(t, h.cookies, h.token, "link")
				page(t, resp, body, http.StatusOK, "Account linked")
			})
		}
		// Last: it moves the clock.
		t.Run("should fail because the held link expired", func(t *testing.T) {
			tok := e.login(t, e.cfg, "google", "g-late")
			h := e.hold(t, tok.AccessToken, "mobage", "m-late", nil)
			// A held link lives ten minutes at most (the player's access
			// token, fifteen).
			e.Clock.Advance(10*time.Minute + time.Second)
			resp, body := e.confirm(t, h.cookies, h.token, "link")
			page(t, resp, body, http.StatusBadRequest, "expired or was already used")
			if ls := e.links(t, tok.AccessToken); len(ls) != 1 {
				t.Fatalf("links after the late confirmation: %+v", ls)
			}
		})
	})
}

// TestLinkConfirmOnce: a held link is confirmed once. A replayed
// confirmation, even after the link was removed, links nothing, nor does
// Link after Cancel, and of two concurrent confirmations one links.
func TestLinkConfirmOnce(t *testing.T) {
	t.Parallel()
	eachFlowStore(t, func(t *testing.T, f *flowEnv) {
		e := newLinkEnv(f, t)
		t.Run("should fail because the confirmation was replayed", func(t *testing.T) {
			tok := e.login(t, e.cfg, "google", "g-replay")
			h := e.hold(t, tok.AccessToken, "mobage", "m-replay", nil)
			resp, body := e.confirm(t, h.cookies, h.token, "link")
			page(t, resp, body, http.StatusOK, "Account linked")
			if r := e.bearer(t, http.MethodDelete, "/account/links/"+strconv.Itoa(mobageSlot), tok.AccessToken, nil); r.Status != http.StatusNoContent {
				t.Fatalf("unlink: %d %s", r.Status, r.Raw)
			}
			resp, body = e.confirm(t, h.cookies, h.token, "link")
			page(t, resp, body, http.StatusBadRequest, "expired or was already used")
			if ls := e.links(t, tok.AccessToken); len(ls) != 1 || hasLink(ls, "mobage", "m-replay") {
				t.Fatalf("links after the replay: %+v", ls)
			}
		})
		t.Run("should fail because the link was cancelled", func(t *testing.T) {
			tok := e.login(t, e.cfg, "google", "g-cancel")
			h := e.hold(t, tok.AccessToken, "mobage", "m-cancel", nil)
			resp, body := e.confirm(t, h.cookies, h.token, "cancel")
			page(t, resp, body, http.StatusBadRequest, "cancelled")
			resp, body = e.confirm(t, h.cookies, h.token, "link")
			page(t, resp, body, http.StatusBadRequest, "expired or was already used")
			if ls := e.links(t, tok.AccessToken); len(ls) != 1 {
				t.Fatalf("links after Link after Cancel: %+v", ls)
			}
		})
		t.Run("should fail because a concurrent confirmation came first", func(t *testing.T) {
			tok := e.login(t, e.cfg, "google", "g-twice")
			h := e.hold(t, tok.AccessToken, "mobage", "m-twice", nil)
			form := url.Values{"token": {h.token}, "action": {"link"}}.Encode()
			var wg sync.WaitGroup
			status := make([]int, 2)
			for i := range status {
				wg.Go(func() {
					req, _ := http.NewRequest(http.MethodPost, e.URL+"/oauth2/link/confirm", strings.NewReader(form))
					req.Header.Set("Content-Type", formType)
					req.AddCookie(h.cookies[0])
					if resp, err := noFollow.Do(req); err == nil {
						resp.Body.Close()
						status[i] = resp.StatusCode
					}
				})
			}
			wg.Wait()
			slices.Sort(status)
			if status[0] != http.StatusOK || status[1] != http.StatusBadRequest {
				t.Fatalf("concurrent confirmations answered %v, want one 200 and one 400", status)
			}
			if ls := e.links(t, tok.AccessToken); len(ls) != 2 || !hasLink(ls, "mobage", "m-twice") {
				t.Fatalf("links %+v", ls)
			}
		})
	})
}
