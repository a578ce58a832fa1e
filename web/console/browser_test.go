package console_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/internal/teststore"
)

const chromium = "/usr/bin/chromium"

// screenshotDir keeps the screenshots past the test, for review.
var screenshotDir = filepath.Join(os.TempDir(), "bridgekeeper-console-screenshots")

// TestBrowserConsole drives headless Chromium through the console as
// support staff would: an identity console.admins does not list is turned
// away; an admin signs in through mockoidc, finds a player by a linked
// Steam ID, opens the player, revokes one of their two sessions and bans
// them, each after its confirmation page; the broker then refuses the
// revoked session's refresh, and the other session's once the ban holds.
// The search and player pages are saved at 1280 and 390 px wide.
func TestBrowserConsole(t *testing.T) {
	t.Parallel()
	browserCtx := startChromium(t)
	for _, store := range []struct {
		name string
		open func(testing.TB) broker.Store
	}{{"sqlite", teststore.SQLite}, {"postgres", teststore.Postgres}} {
		t.Run(store.name, func(t *testing.T) {
			f := newFixture(t, store.open(t), "")
			steamID := "76561198000000042"
			first := f.player("player-42", steamID, "Captain Nemo")
			second := f.login("player-42")
			revoked := f.family(first.RefreshToken)
			// do runs steps for at most 15 s, so that a page that never
			// comes fails with the browser's location.
			do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
				t.Helper()
				ctx, cancel := context.WithTimeout(browserCtx, 15*time.Second)
				defer cancel()
				if err := chromedp.Do(ctx, steps...); err != nil {
					at, _ := chromedp.Run(browserCtx, chromedp.Location())
					body, _ := chromedp.Run(browserCtx, chromedp.Text(chromedp.CSS("body")))
					t.Fatalf("browser: %s: %v (at %s: %.400s)", what, err, at, body)
				}
			}
			do("forget the last store's cookies", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				return clearCookies(ctx, tg)
			}))

			// An identity nobody listed.
			f.google.Queue("mallory")
			do("a refused sign-in",
				chromedp.Navigate(f.URL+"/console/"),
				chromedp.WaitVisible(`//a[normalize-space()="Sign in with google"]`),
				chromedp.Click(`//a[normalize-space()="Sign in with google"]`),
				chromedp.WaitVisible(chromedp.ID("problem")),
			)
			if got := text(t, browserCtx, chromedp.ID("problem")); !strings.Contains(got, "may not use the support console") || !strings.Contains(got, "mallory") {
				t.Fatalf("the refusal page says %q", got)
			}
			if names := cookieNames(t, browserCtx); strings.Contains(names, "bk_console ") {
				t.Fatalf("a refused identity holds a session cookie: %s", names)
			}
			do("the search page without a session", chromedp.Navigate(f.URL+"/console/search"),
				chromedp.WaitVisible(`//a[normalize-space()="Sign in with google"]`))

			// An admin.
			f.google.Queue(adminSubject)
			do("sign in",
				chromedp.Click(`//a[normalize-space()="Sign in with google"]`),
				chromedp.WaitVisible(chromedp.ID("q")),
			)
			if actor := text(t, browserCtx, chromedp.ID("actor")); actor != "console:google:"+adminSubject {
				t.Errorf("signed in as %q", actor)
			}
			do("search by the Steam ID",
				chromedp.SetValue(chromedp.ID("q"), steamID),
				chromedp.Click(`//button[normalize-space()="Search"]`),
				chromedp.WaitVisible(chromedp.ID("results")),
			)
			if got := text(t, browserCtx, chromedp.ID("results")); !strings.Contains(got, first.UserID) || !strings.Contains(got, "identity in slot 10 (steam)") {
				t.Fatalf("the results are %q", got)
			}
			shoot(t, browserCtx, store.name, "search")
			do("open the player",
				chromedp.Click(`//table[@id="results"]//a[normalize-space()="`+first.UserID+`"]`),
				chromedp.WaitVisible(chromedp.ID("sessions")),
			)
			if got := text(t, browserCtx, chromedp.ID("user-id")); got != first.UserID {
				t.Fatalf("the player page is %q's", got)
			}

			do("revoke one session",
				chromedp.Click(chromedp.ID("revoke-"+revoked)),
				chromedp.WaitVisible(chromedp.ID("question")),
			)
			if q := text(t, browserCtx, chromedp.ID("question")); !strings.Contains(q, "Revoke session "+revoked) {
				t.Fatalf("the confirmation asks %q", q)
			}
			if !f.live(first.UserID, revoked) {
				t.Fatal("the session went before the confirmation")
			}
			do("confirm the revocation",
				chromedp.Click(chromedp.ID("confirm")),
				chromedp.WaitVisible(chromedp.ID("flash")),
			)
			if got := text(t, browserCtx, chromedp.ID("flash")); !strings.Contains(got, "Session "+revoked+" revoked.") {
				t.Fatalf("the outcome says %q", got)
			}
			if _, err := f.broker.Refresh(context.Background(), f.server, first.RefreshToken, nil, broker.Binding{}); err == nil {
				t.Fatal("should fail because the session was revoked: its refresh token still rotates")
			}
			var err error
			if second, err = f.broker.Refresh(context.Background(), f.server, second.RefreshToken, nil, broker.Binding{}); err != nil {
				t.Fatalf("the other session no longer refreshes before the ban: %v", err)
			}

			do("ban the player",
				chromedp.SetValue(chromedp.ID("ban-reason"), "chargeback fraud"),
				chromedp.Click(chromedp.ID("ban")),
				chromedp.WaitVisible(chromedp.ID("question")),
			)
			if q := text(t, browserCtx, chromedp.ID("question")); !strings.HasPrefix(q, "Ban player Captain Nemo") {
				t.Fatalf("the confirmation asks %q", q)
			}
			do("confirm the ban",
				chromedp.Click(chromedp.ID("confirm")),
				chromedp.WaitVisible(chromedp.ID("flash")),
			)
			if got := text(t, browserCtx, chromedp.ID("status")); !strings.Contains(got, "banned until") {
				t.Fatalf("the player's status is %q", got)
			}
			_, err = f.broker.Refresh(context.Background(), f.server, second.RefreshToken, nil, broker.Binding{})
			if !errors.Is(err, broker.ErrBanned) {
				t.Fatalf("should fail because the player is banned: the refresh answered %v", err)
			}
			e := f.lastEvent()
			if e.Type != broker.AuditBan || e.Actor != "console:google:"+adminSubject || !strings.Contains(e.Detail, "chargeback fraud") {
				t.Errorf("last audit event %+v", e)
			}
			shoot(t, browserCtx, store.name, "player")
		})
	}
}

// text is the text of the element sel finds.
func text[S chromedp.Selectable](t *testing.T, browserCtx context.Context, sel S) string {
	t.Helper()
	s, err := chromedp.Run(browserCtx, chromedp.Text(sel))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// shoot saves the page at 1280 and 390 px wide.
func shoot(t *testing.T, browserCtx context.Context, storeName, page string) {
	t.Helper()
	dir := filepath.Join(screenshotDir, storeName)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, width := range []int64{1280, 390} {
		opts := []chromedp.EmulateViewportOption{}
		if width < 600 {
			opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateScale(2))
		}
		ctx, cancel := context.WithTimeout(browserCtx, 15*time.Second)
		err := chromedp.Do(ctx, chromedp.EmulateViewport(width, 900, opts...))
		var png []byte
		if err == nil {
			png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
		}
		cancel()
		if err != nil {
			t.Fatalf("screenshot of %s at %d px: %v", page, width, err)
		}
		path := filepath.Join(dir, page+"-"+strconv.FormatInt(width, 10)+".png")
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
	}
	if err := chromedp.Do(browserCtx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatal(err)
	}
}

// clearCookies forgets every cookie: the stores' consoles all listen on
// 127.0.0.1, and cookies do not tell ports apart.
func clearCookies(ctx context.Context, tg *chromedp.Target) error {
	_, err := cdp.Call(ctx, tg, network.ClearBrowserCookies, cdp.Empty{})
	return err
}

// cookieNames lists the names of the cookies the browser holds for the
// page it is on, each followed by a space.
func cookieNames(t *testing.T, browserCtx context.Context) string {
	t.Helper()
	res, err := chromedp.Run(browserCtx, func(ctx context.Context, tg *chromedp.Target) (network.GetCookiesResult, error) {
		return cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{})
	})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, c := range res.Cookies {
		b.WriteString(c.Name + " ")
	}
	return b.String()
}

// startChromium starts headless Chromium for t (skipped without it, but
// under CI), as web's browser tests do.
func startChromium(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing; under CI the browser test must run: %v", chromium, err)
		}
		t.Skipf("%s is missing: %v", chromium, err)
	}
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
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter,AutofillServerCommunication"),
		// Names resolve to nothing: the test only talks to loopback.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.UserDataDir(t.TempDir()),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	t.Cleanup(cancel)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(browserCtx); err != nil {
		t.Fatalf("start %s: %v", chromium, err)
	}
	return browserCtx
}
