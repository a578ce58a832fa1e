package web_test

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/grants"
	"github.com/bridgekeeper/bridgekeeper/web"
)

// The device authorization grant (RFC 8628, issue 13 item 1).

// consoleSpec is a public console client allowed the device grant.
func consoleSpec(ns string) broker.ClientSpec {
	return broker.ClientSpec{Namespace: ns, Name: "Space Racer for TV", Public: true, Scopes: []string{"openid", "game"},
		Grants: []string{broker.GrantDeviceCode, broker.GrantRefreshToken}}
}

var userCodeShape = regexp.MustCompile(`^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`)

// startDevice asks for a device code as the console client.
func (f *fixture) startDevice(t *testing.T, clientID string) response {
	t.Helper()
	r := f.send(t, call{path: "/oauth2/device_authorization", body: url.Values{"client_id": {clientID}, "scope": {"openid game"}}.Encode()})
	if r.Status != http.StatusOK {
		t.Fatalf("device authorization: %d %s", r.Status, r.Raw)
	}
	return r
}

// poll polls the token endpoint with a device code.
func (f *fixture) poll(t *testing.T, clientID, deviceCode string) response {
	t.Helper()
	return f.send(t, call{body: url.Values{"grant_type": {broker.GrantDeviceCode}, "device_code": {deviceCode}, "client_id": {clientID}}.Encode()})
}

// readBody reads and closes resp's body.
func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var deviceConfirmForm = regexp.MustCompile(`<form class="confirm" method="post" action="/device/confirm">\s*<input type="hidden" name="token" value="([^"]+)">`)

// decideDevice is a player on a phone: types typed at /device, signs in at
// google as subject, and answers the approval page with action.
func (f *flowEnv) decideDevice(t *testing.T, typed, subject, action string) (approvalPage, answer string) {
	t.Helper()
	b := newBrowser(t)
	f.queue("google", subject)
	resp, err := b.PostForm(f.URL+"/device", url.Values{"user_code": {typed}, "provider": {"google"}})
	if err != nil {
		t.Fatal(err)
	}
	approvalPage = readBody(t, resp)
	m := deviceConfirmForm.FindStringSubmatch(approvalPage)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("approval page: %d %.400s", resp.StatusCode, approvalPage)
	}
	resp, err = b.PostForm(f.URL+"/device/confirm", url.Values{"token": {m[1]}, "action": {action}})
	if err != nil {
		t.Fatal(err)
	}
	answer = readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("approval: %d %.400s", resp.StatusCode, answer)
	}
	return approvalPage, answer
}

// TestDeviceGrant: every answer of the polling endpoint, in order, and
// the codes' rules; the player approves with a cookie-keeping HTTP client.
func TestDeviceGrant(t *testing.T) {
	t.Parallel()
	eachFlowStore(t, func(t *testing.T, f *flowEnv) {
		console, _ := f.client(t, consoleSpec("game"))
		other, _ := f.client(t, consoleSpec("game"))
		da := f.startDevice(t, console)
		code, device := da.str("user_code"), da.str("device_code")
		if !userCodeShape.MatchString(code) || device == "" || da.str("verification_uri") != f.URL+"/device" ||
			da.str("verification_uri_complete") != f.URL+"/device?user_code="+url.QueryEscape(code) ||
			da.Body["expires_in"] != float64(600) || da.Body["interval"] != float64(5) {
			t.Fatalf("device authorization answer: %s", da.Raw)
		}
		step := func(d time.Duration) { f.Clock.Advance(d) }
		wantOAuthError(t, f.poll(t, console, device), http.StatusBadRequest, "authorization_pending")
		// Sooner than the interval: slow_down, and the interval grows to 10 s,
		// so 6 s later is still too soon; 11 s later is not.
		wantOAuthError(t, f.poll(t, console, device), http.StatusBadRequest, "slow_down")
		step(6 * time.Second)
		wantOAuthError(t, f.poll(t, console, device), http.StatusBadRequest, "slow_down")
		step(16 * time.Second)
		wantOAuthError(t, f.poll(t, console, device), http.StatusBadRequest, "authorization_pending")
		t.Run("should fail because another client polls with the code", func(t *testing.T) {
			step(16 * time.Second)
			wantOAuthError(t, f.poll(t, other, device), http.StatusBadRequest, "invalid_grant")
		})

		// Case and dashes are forgiven; the page names the console and the player.
		approval, answer := f.decideDevice(t, strings.ToLower(strings.ReplaceAll(code, "-", " ")), "tv-player", "approve")
		if !strings.Contains(approval, "Space Racer for TV") || !strings.Contains(answer, "Your device is signed in") {
			t.Errorf("approval %.300s / answer %.300s", approval, answer)
		}
		step(16 * time.Second)
		tok := f.poll(t, console, device)
		if tok.Status != http.StatusOK || tok.str("refresh_token") == "" || tok.str("id_token") == "" || tok.str("scope") != "openid game" {
			t.Fatalf("tokens: %d %s", tok.Status, tok.Raw)
		}
		if claims := xsVerify(t, f.fixture, tok.str("access_token")); claims["sub"] != tok.str("userId") {
			t.Errorf("access token sub %v, userId %s", claims["sub"], tok.str("userId"))
		}
		step(16 * time.Second)
		t.Run("should fail because the device code was used", func(t *testing.T) {
			wantOAuthError(t, f.poll(t, console, device), http.StatusBadRequest, "invalid_grant")
		})
		t.Run("should fail because the user code was used", func(t *testing.T) {
			resp, err := newBrowser(t).PostForm(f.URL+"/device", url.Values{"user_code": {code}, "provider": {"google"}})
			if err != nil {
				t.Fatal(err)
			}
			if body := readBody(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "not valid, or it has expired") {
				t.Errorf("%d %.300s", resp.StatusCode, body)
			}
		})
		t.Run("should fail because the player denied", func(t *testing.T) {
			d := f.startDevice(t, console)
			f.decideDevice(t, d.str("user_code"), "tv-player", "deny")
			wantOAuthError(t, f.poll(t, console, d.str("device_code")), http.StatusBadRequest, "access_denied")
		})
		t.Run("should fail because the code expired", func(t *testing.T) {
			d := f.startDevice(t, console)
			step(broker.DeviceCodeTTL + time.Second)
			wantOAuthError(t, f.poll(t, console, d.str("device_code")), http.StatusBadRequest, "expired_token")
		})
		t.Run("should fail because the device code is unknown", func(t *testing.T) {
			wantOAuthError(t, f.poll(t, console, "dc_unknown"), http.StatusBadRequest, "invalid_grant")
		})
		t.Run("should fail because the client may not use the grant", func(t *testing.T) {
			native, _ := f.client(t, nativeSpec("game"))
			r := f.send(t, call{path: "/oauth2/device_authorization", body: url.Values{"client_id": {native}}.Encode()})
			wantOAuthError(t, r, http.StatusBadRequest, "unauthorized_client")
		})
		// An unknown code and a used one get the same page.
		resp, err := newBrowser(t).PostForm(f.URL+"/device", url.Values{"user_code": {"BCDF-GHJK"}, "provider": {"google"}})
		if err != nil {
			t.Fatal(err)
		}
		if body := readBody(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "not valid, or it has expired") {
			t.Errorf("unknown code: %d %.300s", resp.StatusCode, body)
		}
		d := f.do(t, http.MethodGet, "/.well-known/openid-configuration", "", "", nil)
		if d.str("device_authorization_endpoint") != f.URL+"/oauth2/device_authorization" ||
			!slices.Contains(strs(d.Body["grant_types_supported"]), broker.GrantDeviceCode) {
			t.Errorf("discovery: %s", d.Raw)
		}
	})
}

// TestDeviceCodeGuessingIsBounded: wrong codes from one address run out
// the address's failure budget; the right code is then refused too, with
// a 429, and no answer tells a used code from an unknown one.
func TestDeviceCodeGuessingIsBounded(t *testing.T) {
	t.Parallel()
	g := startOIDC(t)
	f := buildFixture(t, openSQLite(t), func(issuer string) []web.Upstream {
		return []web.Upstream{oidcProvider(g, "google", googleSlot)(t, issuer)}
	}, func(s *settings) { s.Limits = grants.Limits{AddressFailuresPerMinute: 5} })
	console, _ := f.client(t, consoleSpec("game"))
	code := f.startDevice(t, console).str("user_code")
	b := newBrowser(t)
	status := 0
	for i := range 8 {
		resp, err := b.PostForm(f.URL+"/device", url.Values{"user_code": {"BCDF-GHJ" + string("BCDFGHJK"[i])}, "provider": {"google"}})
		if err != nil {
			t.Fatal(err)
		}
		readBody(t, resp)
		status = resp.StatusCode
	}
	resp, err := b.PostForm(f.URL+"/device", url.Values{"user_code": {code}, "provider": {"google"}})
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	if status != http.StatusTooManyRequests || resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("should fail because the address guessed 8 codes: last guess %d, the right code %d; want 429", status, resp.StatusCode)
	}
}

// TestBrowserDeviceSignIn is RFC 8628 end to end: golang.org/x/oauth2's
// DeviceAuth and DeviceAccessToken on the console, headless Chromium on
// the phone, which opens verification_uri_complete, signs in at mockoidc
// and approves.
func TestBrowserDeviceSignIn(t *testing.T) {
	t.Parallel()
	ctx, browserCtx := startChromium(t)
	for _, store := range []struct {
		name string
		open func(*testing.T) broker.Store
	}{{"sqlite", func(t *testing.T) broker.Store { return openSQLite(t) }}, {"postgres", openPostgres}} {
		t.Run(store.name, func(t *testing.T) {
			f := newFlowEnv(t, store.open(t))
			id, _ := f.client(t, consoleSpec("game"))
			cfg := &oauth2.Config{ClientID: id, Scopes: []string{"openid", "game"}, Endpoint: oauth2.Endpoint{
				DeviceAuthURL: f.URL + "/oauth2/device_authorization", TokenURL: f.URL + "/oauth2/token", AuthStyle: oauth2.AuthStyleInParams}}
			da, err := cfg.DeviceAuth(ctx)
			if err != nil {
				t.Fatalf("DeviceAuth: %v", err)
			}
			tokens := make(chan *oauth2.Token, 1)
			errs := make(chan error, 1)
			go func() {
				tok, err := cfg.DeviceAccessToken(ctx, da)
				if err != nil {
					errs <- err
					return
				}
				tokens <- tok
			}()
			f.queue("google", "couch-player-"+store.name)
			err = chromedp.Do(browserCtx,
				chromedp.Navigate(da.VerificationURIComplete),
				chromedp.WaitVisible(`//button[normalize-space()="Continue with google"]`),
				chromedp.Click(`//button[normalize-space()="Continue with google"]`),
				chromedp.WaitVisible(chromedp.ID("player")),
			)
			player, perr := chromedp.Run(browserCtx, chromedp.Text(chromedp.ID("player")))
			client, cerr := chromedp.Run(browserCtx, chromedp.Text(chromedp.ID("client")))
			if err == nil {
				err = errors.Join(perr, cerr, chromedp.Do(browserCtx,
					chromedp.Click(`//button[normalize-space()="Approve"]`),
					chromedp.WaitVisible(chromedp.ID("done"))))
			}
			if err != nil {
				at, _ := chromedp.Run(browserCtx, chromedp.Location())
				t.Fatalf("browser: %v (at %s)", err, at)
			}
			if client != "Space Racer for TV" || player == "" {
				t.Errorf("the approval page named client %q, player %q", client, player)
			}
			select {
			case tok := <-tokens:
				if user := f.userID(t, tok.AccessToken); user != player {
					t.Errorf("the device signed in as %s, the page said %s", user, player)
				}
				if idt, _ := tok.Extra("id_token").(string); idt == "" {
					t.Errorf("no id_token for openid")
				}
			case err := <-errs:
				t.Fatalf("DeviceAccessToken: %v", err)
			case <-time.After(30 * time.Second): // the test's own bound, not a measurement
				t.Fatal("should fail because the device got no tokens 30 s after the approval")
			}
		})
	}
}
