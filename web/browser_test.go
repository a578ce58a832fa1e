package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"
)

const chromium = "/usr/bin/chromium"

// TestBrowserSignIn drives headless Chromium through the whole flow as a
// player would: the game opens the authorize URL without a provider, the
// player clicks google on the login page, mockoidc signs them in, and the
// browser lands on the game's redirect URI with a code the game exchanges.
func TestBrowserSignIn(t *testing.T) {
	t.Parallel()
	ctx, browserCtx := startChromium(t)
	f := newFlowEnv(t, openSQLite(t))
	game, got := startGame(t)
	spec := nativeSpec("game")
	spec.RedirectURIs = []string{game}
	id, _ := f.client(t, spec)
	cfg := f.oauthConfig(id, "", game, "openid", "game")
	a := newAttempt(cfg, "")
	f.queue("google", "browser-player")

	err := chromedp.Do(browserCtx,
		chromedp.Navigate(a.URL),
		chromedp.WaitVisible(chromedp.CSS(`a.button`)),
	)
	if err != nil {
		t.Fatalf("browser: the login page: %v", err)
	}
	title, err := chromedp.Run(browserCtx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(browserCtx,
		chromedp.Click(`//a[normalize-space()="Continue with google"]`),
		chromedp.WaitVisible(chromedp.ID("done")),
	)
	landed, _ := chromedp.Run(browserCtx, chromedp.Location())
	if err != nil {
		t.Fatalf("browser: from the login page to the game: %v (at %s)", err, landed)
	}
	if title != "Sign in" {
		t.Errorf("login page title %q", title)
	}
	var q url.Values
	select {
	case q = <-got:
	default:
		t.Fatalf("the game's redirect URI was not reached; the browser is at %s", landed)
	}
	if q.Get("state") != a.State || q.Get("code") == "" || q.Get("iss") != f.URL {
		t.Fatalf("the game got %v", q)
	}

	tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(a.Verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	idt := f.verifyIDToken(t, id, tok)
	if idt.Nonce != a.Nonce {
		t.Fatalf("ID token nonce %q, want %q", idt.Nonce, a.Nonce)
	}
	if user := f.userID(t, tok.AccessToken); idt.Subject != user {
		t.Fatalf("ID token sub %q, userinfo %q", idt.Subject, user)
	}
	links := f.bearer(t, http.MethodGet, "/account/links", tok.AccessToken, nil)
	if items, _ := links.Body["items"].([]any); len(items) != 1 || items[0].(map[string]any)["identifier"] != "browser-player" {
		t.Fatalf("links %s", links.Raw)
	}
}

// TestBrowserLinkConfirm drives the browser link flow in headless
// Chromium: after the upstream sign-in the player sees the player (by
// nickname, else user ID) and the provider the identity would be linked
// to, nothing is linked until they click Link, which then returns them to
// the game; Cancel links nothing.
func TestBrowserLinkConfirm(t *testing.T) {
	t.Parallel()
	_, browserCtx := startChromium(t)
	f := newFlowEnv(t, openSQLite(t))
	game, got := startGame(t)
	spec := appSpec("game")
	spec.RedirectURIs = []string{game}
	id, secret := f.client(t, spec)
	e := &linkEnv{flowEnv: f, cfg: f.oauthConfig(id, secret, game, "openid", "game"), id: id, secret: secret}

	// do runs steps for at most 15s, so that a page that never comes
	// fails the test with the browser's location still readable.
	do := func(steps ...chromedp.Action[chromedp.Void]) error {
		ctx, cancel := context.WithTimeout(browserCtx, 15*time.Second)
		defer cancel()
		return chromedp.Do(ctx, steps...)
	}
	// confirmPage opens a link URL where subject signs in at mobage, and
	// returns the text of the page it lands on, which must be the
	// confirmation page.
	confirmPage := func(t *testing.T, linkURL, subject string) string {
		t.Helper()
		f.queue("mobage", subject)
		err := do(chromedp.Navigate(linkURL), chromedp.WaitVisible(chromedp.CSS(`button[value="link"]`)))
		if err != nil {
			at, _ := chromedp.Run(browserCtx, chromedp.Location())
			t.Fatalf("browser: the confirmation page: %v (at %s)", err, at)
		}
		title, err := chromedp.Run(browserCtx, chromedp.Title())
		if err != nil || title != "Link account?" {
			t.Fatalf("confirmation page title %q: %v", title, err)
		}
		text, err := chromedp.Run(browserCtx, chromedp.Text(chromedp.CSS("main")))
		if err != nil {
			t.Fatal(err)
		}
		return text
	}

	t.Run("Link links", func(t *testing.T) {
		tok := e.login(t, e.cfg, "google", "g-captain")
		if err := f.Store.SetNickname(context.Background(), e.userID(t, tok.AccessToken), "Captain Alice"); err != nil {
			t.Fatal(err)
		}
		u := e.startLink(t, tok.AccessToken, url.Values{"provider": {"mobage"}, "redirect_uri": {game}, "state": {"s-1"}})
		text := confirmPage(t, u, "m-captain")
		if !strings.Contains(text, "Captain Alice") || !strings.Contains(text, "mobage") {
			t.Fatalf("the confirmation page does not name Captain Alice and mobage: %s", text)
		}
		if ls := e.links(t, tok.AccessToken); len(ls) != 1 {
			t.Fatalf("linked before the click on Link: %+v", ls)
		}
		err := do(chromedp.Click(chromedp.CSS(`button[value="link"]`)), chromedp.WaitVisible(chromedp.ID("done")))
		landed, _ := chromedp.Run(browserCtx, chromedp.Location())
		if err != nil {
			t.Fatalf("browser: from Link to the game: %v (at %s)", err, landed)
		}
		select {
		case q := <-got:
			if q.Get("linked") != "mobage" || q.Get("state") != "s-1" || q.Get("iss") != f.URL {
				t.Fatalf("the game got %v", q)
			}
		default:
			t.Fatalf("the game's redirect URI was not reached; the browser is at %s", landed)
		}
		if ls := e.links(t, tok.AccessToken); len(ls) != 2 || !hasLink(ls, "mobage", "m-captain") {
			t.Fatalf("links after Link: %+v", ls)
		}
	})
	t.Run("should fail because the player chose Cancel", func(t *testing.T) {
		tok := e.login(t, e.cfg, "google", "g-mate")
		mate := e.userID(t, tok.AccessToken)
		text := confirmPage(t, e.startLink(t, tok.AccessToken, url.Values{"provider": {"mobage"}}), "m-mate")
		if !strings.Contains(text, mate) || !strings.Contains(text, "mobage") {
			t.Fatalf("the confirmation page does not name player %s and mobage: %s", mate, text)
		}
		err := do(
			chromedp.Click(chromedp.CSS(`button[value="cancel"]`)),
			chromedp.WaitVisible(`//p[contains(., "cancelled")]`),
		)
		if err != nil {
			at, _ := chromedp.Run(browserCtx, chromedp.Location())
			t.Fatalf("browser: from Cancel to its page: %v (at %s)", err, at)
		}
		if ls := e.links(t, tok.AccessToken); len(ls) != 1 {
			t.Fatalf("links after Cancel: %+v", ls)
		}
	})
}

// startChromium starts headless Chromium for t (skipped without it, but
// under CI) and returns a context bounding the test and the browser's.
func startChromium(t *testing.T) (ctx, browserCtx context.Context) {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing; under CI the browser test must run: %v", chromium, err)
		}
		t.Skipf("%s is missing: %v", chromium, err)
	}
	userData := t.TempDir()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox, // running as root needs it
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("disable-client-side-phishing-detection", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter,AutofillServerCommunication"),
		// Names resolve to nothing: the test only talks to loopback.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.UserDataDir(userData),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	// Cleanups run last in, first out: cancelling the allocator waits for
	// Chromium to exit, before the user-data directory is removed.
	t.Cleanup(cancel)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancelBrowser)
	// Started here, on browserCtx: a browser started by a step's shorter
	// context would close with it.
	if err := chromedp.Do(browserCtx); err != nil {
		t.Fatalf("start %s: %v", chromium, err)
	}
	return ctx, browserCtx
}

// startGame runs a game's redirect URI, which records what the browser
// brought (the first visit) and shows a page with id "done".
func startGame(t *testing.T) (redirectURI string, got <-chan url.Values) {
	t.Helper()
	visits := make(chan url.Values, 1)
	game := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		select {
		case visits <- r.URL.Query():
		default:
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><title>game</title><p id="done">Signed in</p>`))
	}))
	t.Cleanup(game.Close)
	return game.URL + "/callback", visits
}
