package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/admin"
	"github.com/bridgekeeper/bridgekeeper/internal/teststore"
	"github.com/bridgekeeper/bridgekeeper/web/console"
)

const wantCSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// TestSignIn: an admin gets a session whose cookie is HttpOnly and
// SameSite=Strict (not Secure over http), the sign-in cookie is Lax and
// spent, and the broker session the sign-in made is ended at once.
func TestSignIn(t *testing.T) {
	eachStore(t, func(t *testing.T, store broker.Store) {
		f := newFixture(t, store, "")
		s := f.signedIn(t, adminSubject)
		sess, login := s.setCookie("bk_console"), s.setCookie("bk_console_login")
		switch {
		case sess == nil || !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode || sess.Secure || sess.Path != "/console/" || sess.MaxAge != 0:
			t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, not Secure over http, Path=/console/, no Max-Age", sess)
		case login == nil || login.MaxAge != -1:
			t.Errorf("the sign-in cookie was not cleared by the callback: last %+v", login)
		}
		p := s.get(t, f.URL+"/console/")
		if p.URL.Path != "/console/search" || !strings.Contains(p.Body, "console:google:"+adminSubject) {
			t.Fatalf("/console/ of a signed-in admin went to %s: %.300s", p.URL, p.Body)
		}
		// The staff user of the admin namespace has no live session left.
		ns, err := store.GetNamespaceByName(context.Background(), admin.AdminNamespace)
		if err != nil {
			t.Fatal(err)
		}
		users, err := f.svc.Players.FindByLink(context.Background(), admin.Actor{ID: "test"}, googleSlot, adminSubject)
		if err != nil || len(users) != 1 || users[0].NamespaceID != ns.ID {
			t.Fatalf("staff user: %+v %v", users, err)
		}
		if sessions, _ := f.svc.Players.Sessions(context.Background(), admin.Actor{ID: "test"}, users[0].ID); len(sessions) != 0 {
			t.Errorf("the console's sign-in left broker sessions: %+v", sessions)
		}
	})
}

// TestSecureCookies: behind https (console.base_url https://...) both
// cookies are Secure, and the sign-in returns to the https callback.
func TestSecureCookies(t *testing.T) {
	f := newFixture(t, teststore.SQLite(t), "https://console.example")
	f.google.Queue(adminSubject)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(f.URL + "/console/login/google")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var login *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "bk_console_login" {
			login = c
		}
	}
	if login == nil || !login.Secure || !login.HttpOnly || login.SameSite != http.SameSiteLaxMode {
		t.Fatalf("sign-in cookie %+v: want Secure, HttpOnly, SameSite=Lax", login)
	}
	// Through the broker and the upstream, to the https callback, carrying
	// the broker's own cookie on the way.
	jar := newStaff(t)
	next := resp.Header.Get("Location")
	for range 10 {
		u, err := url.Parse(next)
		if err != nil {
			t.Fatal(err)
		}
		if u.Host == "console.example" {
			break
		}
		req, _ := http.NewRequest(http.MethodGet, next, nil)
		jar.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		r := jar.do(t, req)
		next = r.Header.Get("Location")
	}
	cb, err := url.Parse(next)
	if err != nil || cb.Host != "console.example" || cb.Path != "/console/callback" {
		t.Fatalf("the sign-in returned to %q, want https://console.example/console/callback", next)
	}
	req, _ := http.NewRequest(http.MethodGet, f.URL+cb.RequestURI(), nil)
	req.AddCookie(&http.Cookie{Name: login.Name, Value: login.Value})
	resp, err = noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var sess *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "bk_console" {
			sess = c
		}
	}
	if resp.StatusCode != http.StatusOK || sess == nil || !sess.Secure || !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode {
		t.Fatalf("callback %d, session cookie %+v: want Secure, HttpOnly, SameSite=Strict", resp.StatusCode, sess)
	}
}

// TestRefusedIdentity: an upstream identity console.admins does not list
// gets a page that says so and names it, no session cookie, and an audit
// event; a signed-in admin's cookie is not the way round it either.
func TestRefusedIdentity(t *testing.T) {
	eachStore(t, func(t *testing.T, store broker.Store) {
		f := newFixture(t, store, "")
		s := newStaff(t)
		p := f.signIn(t, s, "mallory")
		if p.Status != http.StatusForbidden || !strings.Contains(p.Body, "not a console admin") || !strings.Contains(p.Body, "mallory") {
			t.Fatalf("should fail because mallory is no admin: %d %.600s", p.Status, p.Body)
		}
		if c := s.setCookie("bk_console"); c != nil && c.MaxAge >= 0 {
			t.Errorf("a refused identity was given a session cookie: %+v", c)
		}
		if p := s.get(t, f.URL+"/console/search"); p.URL.Path != "/console/login" {
			t.Errorf("after the refusal /console/search answered at %s, want the sign-in page", p.URL)
		}
		if e := f.lastEvent(); e.Type != broker.AuditAdminAuthFailed || !strings.Contains(e.Detail, "google identity mallory is not a console admin") || e.Address != "127.0.0.1" {
			t.Errorf("last audit event %+v, want admin.auth.failed naming mallory", e)
		}
	})
}

// TestShouldFail: what must not change anything, each next to the same
// request done right, so that the check can fail.
func TestShouldFail(t *testing.T) {
	eachStore(t, func(t *testing.T, store broker.Store) {
		f := newFixture(t, store, "")
		alice := f.signedIn(t, adminSubject)
		token := f.csrf(t, alice)
		bob := f.signedIn(t, adminSubject2)
		bobToken := f.csrf(t, bob)
		tok := f.player("victim", "", "")
		family := f.family(tok.RefreshToken)
		revoke := f.URL + "/console/players/" + tok.UserID + "/revoke-session"
		form := func(csrf string) url.Values { return url.Values{"csrf": {csrf}, "session": {family}} }

		tests := []struct {
			name   string
			send   func(t *testing.T) page
			status int
			says   string
		}{
			{"no CSRF token", func(t *testing.T) page { return alice.post(t, revoke, url.Values{"session": {family}}) }, http.StatusForbidden, "did not come from your console session"},
			{"a wrong CSRF token", func(t *testing.T) page { return alice.post(t, revoke, form(token[:len(token)-1]+"x")) }, http.StatusForbidden, "did not come from your console session"},
			{"another session's CSRF token", func(t *testing.T) page { return alice.post(t, revoke, form(bobToken)) }, http.StatusForbidden, "did not come from your console session"},
			{"another origin", func(t *testing.T) page {
				req, _ := http.NewRequest(http.MethodPost, revoke, strings.NewReader(form(token).Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Origin", "https://evil.example")
				return alice.do(t, req)
			}, http.StatusForbidden, "did not come from your console session"},
			{"a GET on the action URL only asks", func(t *testing.T) page { return alice.get(t, revoke+"?session="+family) }, http.StatusOK, "Revoke session " + family},
			{"no session", func(t *testing.T) page { return newStaff(t).post(t, revoke, form(token)) }, http.StatusForbidden, "not signed in"},
			{"a forged session cookie", func(t *testing.T) page {
				req, _ := http.NewRequest(http.MethodPost, revoke, strings.NewReader(form(token).Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.AddCookie(&http.Cookie{Name: "bk_console", Value: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"})
				return newStaff(t).do(t, req)
			}, http.StatusForbidden, "not signed in"},
			{"a DELETE", func(t *testing.T) page {
				req, _ := http.NewRequest(http.MethodDelete, revoke, nil)
				return alice.do(t, req)
			}, http.StatusMethodNotAllowed, "does not take that method"},
		}
		for _, tt := range tests {
			t.Run("should fail because of "+tt.name, func(t *testing.T) {
				p := tt.send(t)
				if p.Status != tt.status || !strings.Contains(p.Body, tt.says) {
					t.Errorf("got %d %.500s; want %d saying %q", p.Status, p.Body, tt.status, tt.says)
				}
				if !f.live(tok.UserID, family) {
					t.Fatalf("the session was revoked")
				}
			})
		}
		t.Run("a forged session cookie is no session on a page either", func(t *testing.T) {
			s := newStaff(t)
			u, _ := url.Parse(f.URL + "/console/")
			s.Jar.SetCookies(u, []*http.Cookie{{Name: "bk_console", Value: "forged", Path: "/console/"}})
			if p := s.get(t, f.URL+"/console/players/"+tok.UserID); p.URL.Path != "/console/login" || strings.Contains(p.Body, tok.UserID) {
				t.Errorf("a forged cookie opened %s: %.300s", p.URL, p.Body)
			}
			if c := s.setCookie("bk_console"); c == nil || c.MaxAge != -1 {
				t.Errorf("the forged cookie was not cleared: %+v", c)
			}
		})
		t.Run("the same POST done right revokes", func(t *testing.T) {
			p := alice.post(t, revoke, form(token))
			if p.Status != http.StatusOK || p.URL.Path != "/console/players/"+tok.UserID || !strings.Contains(p.Body, "Session "+family+" revoked.") {
				t.Fatalf("got %d at %s: %.500s", p.Status, p.URL, p.Body)
			}
			if f.live(tok.UserID, family) {
				t.Fatal("the session is still live")
			}
			if e := f.lastEvent(); e.Type != broker.AuditSessionRevoke || e.Actor != "console:google:"+adminSubject || e.Target != family {
				t.Errorf("last audit event %+v", e)
			}
			// The flash is shown once.
			if p := alice.get(t, p.URL.String()); strings.Contains(p.Body, "revoked.") {
				t.Errorf("the outcome was shown twice")
			}
		})
		t.Run("should fail because the session timed out", func(t *testing.T) {
			tok2 := f.login("victim")
			fam2 := f.family(tok2.RefreshToken)
			f.clock.Advance(31 * time.Minute)
			p := alice.post(t, revoke, url.Values{"csrf": {token}, "session": {fam2}})
			if p.Status != http.StatusForbidden || !f.live(tok.UserID, fam2) {
				t.Errorf("an idle session acted: %d %.300s", p.Status, p.Body)
			}
			if p := bob.get(t, f.URL+"/console/search"); p.URL.Path != "/console/login" {
				t.Errorf("an idle session opened %s", p.URL)
			}
		})
	})
}

// TestSignOut: a signed-out session's cookie opens nothing.
func TestSignOut(t *testing.T) {
	f := newFixture(t, teststore.SQLite(t), "")
	s := f.signedIn(t, adminSubject)
	cookies := s.Jar.Cookies(mustURL(t, f.URL+"/console/"))
	token := f.csrf(t, s)
	if p := s.post(t, f.URL+"/console/logout", url.Values{"csrf": {"wrong"}}); p.Status != http.StatusForbidden {
		t.Fatalf("should fail because the token is wrong: sign-out answered %d", p.Status)
	}
	p := s.post(t, f.URL+"/console/logout", url.Values{"csrf": {token}})
	if p.URL.Path != "/console/login" || !strings.Contains(p.Body, "You are signed out.") {
		t.Fatalf("sign-out ended at %s: %.300s", p.URL, p.Body)
	}
	old := newStaff(t)
	old.Jar.SetCookies(mustURL(t, f.URL+"/console/"), cookies)
	if p := old.get(t, f.URL+"/console/search"); p.URL.Path != "/console/login" {
		t.Errorf("the signed-out cookie still opened %s", p.URL)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestEveryPageHasTheCSP: every answer, signed in or not, found or not,
// carries the strict policy and no-store, and no page holds script or
// inline style the policy would have to allow.
func TestEveryPageHasTheCSP(t *testing.T) {
	f := newFixture(t, teststore.SQLite(t), "")
	tok := f.player("p-csp", "76561198000000001", "Csp")
	s := f.signedIn(t, adminSubject)
	user := "/console/players/" + tok.UserID
	signedIn := []string{
		"/console/search", "/console/search?q=Csp", user, user + "/revoke-session?session=" + f.family(tok.RefreshToken),
		user + "/revoke-sessions", user + "/ban?for=24h&reason=test", user + "/unban", user + "/unlink?slot=3",
		"/console/clients", "/console/clients/new", "/console/clients/create?namespace=game&name=x&grant=client_credentials",
		"/console/clients/" + f.server.ID + "/rotate-secret", "/console/keys", "/console/keys/rotate?alg=ES256",
		"/console/audit", "/console/players/nobody", "/console/nothing-here",
	}
	anyone := []string{"/console/login", "/console/login/nowhere", "/console/callback?state=x&code=y", "/console/static/console.css"}
	check := func(t *testing.T, s *staff, path string) {
		p := s.get(t, f.URL+path)
		h := p.Header
		if h.Get("Content-Security-Policy") != wantCSP || h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: CSP %q, X-Frame-Options %q", path, h.Get("Content-Security-Policy"), h.Get("X-Frame-Options"))
		}
		if strings.HasSuffix(path, ".css") {
			return
		}
		if h.Get("Cache-Control") != "no-store" || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
			t.Errorf("%s: Cache-Control %q, Content-Type %q", path, h.Get("Cache-Control"), h.Get("Content-Type"))
		}
		for _, banned := range []string{"<script", " style=", "<style", "javascript:"} {
			if strings.Contains(p.Body, banned) {
				t.Errorf("%s holds %q", path, banned)
			}
		}
		if !strings.Contains(p.Body, `name="viewport" content="width=device-width, initial-scale=1"`) {
			t.Errorf("%s has no viewport", path)
		}
	}
	for _, path := range signedIn {
		check(t, s, path)
	}
	for _, path := range anyone {
		check(t, newStaff(t), path)
	}
}

// TestServiceErrorsAreReadable: the service's refusals are shown with
// their kind as the status and their description.
func TestServiceErrorsAreReadable(t *testing.T) {
	f := newFixture(t, teststore.SQLite(t), "")
	tok := f.player("p-err", "", "")
	s := f.signedIn(t, adminSubject)
	token := f.csrf(t, s)
	for _, tt := range []struct {
		path   string
		status int
		says   string
	}{
		{"/console/players/nobody", http.StatusNotFound, "Not found: player nobody not found."},
		{"/console/players/" + tok.UserID + "/ban?release_at=yesterday", http.StatusBadRequest, "Invalid release_at: give the release time as RFC 3339"},
		{"/console/players/" + tok.UserID + "/ban?release_at=2001-01-01T00:00:00Z", http.StatusOK, "Ban player"},
		{"/console/players/" + tok.UserID + "/unlink?slot=99", http.StatusNotFound, "no link in slot 99"},
		{"/console/search?q=x&in=slot:many", http.StatusBadRequest, "Invalid in:"},
		{"/console/audit?type=nonsense", http.StatusBadRequest, "Invalid type: type must be one of"},
		{"/console/clients/create?namespace=game&name=x", http.StatusBadRequest, "Invalid grant: choose at least one grant."},
	} {
		if p := s.get(t, f.URL+tt.path); p.Status != tt.status || !strings.Contains(p.Body, tt.says) {
			t.Errorf("%s: %d %.600s; want %d saying %q", tt.path, p.Status, p.Body, tt.status, tt.says)
		}
	}
	// A refusal of the confirmed action comes back as the outcome.
	p := s.post(t, f.URL+"/console/players/"+tok.UserID+"/ban", url.Values{"csrf": {token}, "release_at": {"2001-01-01T00:00:00Z"}})
	if p.URL.Path != "/console/players/"+tok.UserID || !strings.Contains(p.Body, "Ban failed. Invalid release_at: the release time must be in the future.") {
		t.Errorf("a ban in the past: at %s %.600s", p.URL, p.Body)
	}
}

// TestTenantActions: create a client (its secret shown once), rotate its
// secret, rotate the signing key: each confirmed, audited as the console
// admin.
func TestTenantActions(t *testing.T) {
	eachStore(t, func(t *testing.T, store broker.Store) {
		f := newFixture(t, store, "")
		s := f.signedIn(t, adminSubject)
		token := f.csrf(t, s)
		p := s.post(t, f.URL+"/console/clients/create", url.Values{"csrf": {token}, "namespace": {"game"}, "name": {"matchmaker"},
			"grant": {"client_credentials", "server_custom_id"}, "scope": {"game"}})
		if p.URL.Path != "/console/clients" || !strings.Contains(p.Body, "Client matchmaker created") || !strings.Contains(p.Body, `id="secret"`) {
			t.Fatalf("create client: at %s %.800s", p.URL, p.Body)
		}
		e := f.lastEvent()
		if e.Type != broker.AuditClientCreate || e.Actor != "console:google:"+adminSubject {
			t.Fatalf("last audit event %+v", e)
		}
		if p := s.get(t, p.URL.String()); strings.Contains(p.Body, `id="secret"`) {
			t.Error("the secret was shown twice")
		}
		c, err := f.svc.Tenants.Client(context.Background(), admin.Actor{ID: "test"}, e.Target)
		if err != nil || c.Name != "matchmaker" || len(c.Grants) != 2 || c.Grants[1] != broker.GrantServerCustomID {
			t.Fatalf("created client %+v %v", c, err)
		}
		p = s.post(t, f.URL+"/console/clients/"+c.ID+"/rotate-secret", url.Values{"csrf": {token}})
		if !strings.Contains(p.Body, "was rotated") || !strings.Contains(p.Body, `id="secret"`) || f.lastEvent().Type != broker.AuditClientSecret {
			t.Fatalf("rotate secret: %.800s", p.Body)
		}
		before, _ := f.svc.Tenants.Keys(context.Background(), admin.Actor{ID: "test"})
		p = s.post(t, f.URL+"/console/keys/rotate", url.Values{"csrf": {token}, "alg": {"EdDSA"}})
		after, _ := f.svc.Tenants.Keys(context.Background(), admin.Actor{ID: "test"})
		if !strings.Contains(p.Body, "Signing key rotated") || len(after) != len(before)+1 || after[len(after)-1].Alg != "EdDSA" {
			t.Fatalf("rotate key: %d -> %d keys: %.600s", len(before), len(after), p.Body)
		}
		if p := s.get(t, f.URL+"/console/audit?type="+broker.AuditKeyRotate); !strings.Contains(p.Body, "console:google:"+adminSubject) {
			t.Errorf("the audit page filtered by type lacks the rotation: %.600s", p.Body)
		}
	})
}

// TestEnsureConsoleClient: created once, found by name after, pointed at
// a new address when the console moved.
func TestEnsureConsoleClient(t *testing.T) {
	f := newFixture(t, teststore.SQLite(t), "")
	ctx := context.Background()
	a := admin.Actor{ID: "serve"}
	again, err := f.svc.Tenants.EnsureConsoleClient(ctx, a, console.RedirectURI(f.URL))
	if err != nil || again.ID != f.console.ID {
		t.Fatalf("second start: %+v %v, want client %s", again, err, f.console.ID)
	}
	moved, err := f.svc.Tenants.EnsureConsoleClient(ctx, a, "https://admin.example.com/console/callback")
	if err != nil || moved.ID != f.console.ID || len(moved.RedirectURIs) != 1 || moved.RedirectURIs[0] != "https://admin.example.com/console/callback" {
		t.Fatalf("moved: %+v %v", moved, err)
	}
	if !moved.Public || len(moved.Grants) != 1 || moved.Grants[0] != broker.GrantAuthorizationCode || moved.SecretHash != nil {
		t.Errorf("the console client is not a public authorization_code client: %+v", moved)
	}
	if _, err := f.svc.Tenants.EnsureConsoleClient(ctx, admin.Actor{ID: "x", NamespaceID: f.server.NamespaceID}, "http://x/console/callback"); broker.KindOf(err) != broker.KindForbidden {
		t.Errorf("a namespace admin registered the console: %v", err)
	}
}
