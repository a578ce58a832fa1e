package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
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
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing; under CI the browser test must run: %v", chromium, err)
		}
		t.Skipf("%s is missing: %v", chromium, err)
	}
	f := newFlowEnv(t, openSQLite(t))

	// The game's redirect URI records what the browser brought.
	got := make(chan url.Values, 1)
	game := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		select {
		case got <- r.URL.Query():
		default:
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><title>game</title><p id="done">Signed in</p>`))
	}))
	t.Cleanup(game.Close)
	spec := nativeSpec("game")
	spec.RedirectURIs = []string{game.URL + "/callback"}
	id, _ := f.client(t, spec)
	cfg := f.oauthConfig(id, "", game.URL+"/callback", "openid", "game")
	a := newAttempt(cfg, "")
	f.queue("google", "browser-player")

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
	defer cancel()
	// Cancelling the allocator waits for Chromium to exit, before the
	// user-data directory is removed.
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	defer cancelBrowser()

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
