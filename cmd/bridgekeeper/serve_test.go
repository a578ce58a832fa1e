package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/bridgekeeper/bridgekeeper/internal/proctest"
)

// liveWithin is how soon a client created or deleted by the CLI must take
// effect in a running serve (the issue: "within a second").
const liveWithin = time.Second

// verifier checks access tokens as a resource server would: go-oidc, with
// the keys from the issuer's discovery document and JWKS.
func verifier(t *testing.T, issuer, clientID string) *oidc.IDTokenVerifier {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatalf("go-oidc discovery of %s: %v", issuer, err)
	}
	// The provider's key set outlives ctx: go-oidc fetches keys with the
	// context passed to Verify.
	return p.Verifier(&oidc.Config{ClientID: clientID})
}

func verify(t *testing.T, v *oidc.IDTokenVerifier, tok string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Errorf("go-oidc does not accept the access token: %v", err)
	}
}

func TestServeSeesCLIClientChanges(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s store) {
		db := s.newURL(t)
		env := []string{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY=" + proctest.NewKEK()}
		srv := startServe(t, db, env)

		c := createClient(t, env, "--database", db, "--namespace", "live", "--name", "game server",
			"--grant", "client_credentials", "--scope", "game")
		created := time.Now()
		tr, ok := pollToken(t, srv.URL, c.ClientID, c.ClientSecret, liveWithin, func(tr tokenResponse) bool { return tr.status == http.StatusOK })
		if !ok {
			t.Fatalf("a client created by the CLI got no token within %s: %d %s", liveWithin, tr.status, tr.raw)
		}
		t.Logf("created client usable after %s", time.Since(created))
		if tr.AccessToken == "" || !strings.EqualFold(tr.TokenType, "bearer") || tr.ExpiresIn <= 0 {
			t.Errorf("token response %s: want a bearer access_token with expires_in", tr.raw)
		}
		verify(t, verifier(t, srv.URL, c.ClientID), tr.AccessToken)

		// A wrong secret is refused.
		if bad := clientCredentials(t, srv.URL, c.ClientID, c.ClientSecret+"x"); bad.status != http.StatusUnauthorized || bad.Error != "invalid_client" {
			t.Errorf("wrong secret: %d %s, want 401 invalid_client", bad.status, bad.raw)
		}

		mustBK(t, nil, "client", "delete", "--database", db, "--client-id", c.ClientID)
		deleted := time.Now()
		tr, ok = pollToken(t, srv.URL, c.ClientID, c.ClientSecret, liveWithin, func(tr tokenResponse) bool { return tr.status != http.StatusOK })
		if !ok {
			t.Fatalf("a client deleted by the CLI still got tokens %s later", liveWithin)
		}
		t.Logf("deleted client refused after %s", time.Since(deleted))
		if tr.status != http.StatusUnauthorized || tr.Error != "invalid_client" {
			t.Errorf("deleted client: %d %s, want 401 invalid_client", tr.status, tr.raw)
		}
	})
}

func TestServeKeyRotate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                string
		serveAlg, rotateAlg string // "" for the default, ES256
		wantOld, wantNew    string
	}{
		{"default algorithm", "", "", "ES256", "ES256"},
		{"EdDSA to RS256", "EdDSA", "RS256", "EdDSA", "RS256"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			eachStore(t, func(t *testing.T, s store) { testKeyRotate(t, s, tc.serveAlg, tc.rotateAlg, tc.wantOld, tc.wantNew) })
		})
	}
}

func testKeyRotate(t *testing.T, s store, serveAlg, rotateAlg, wantOld, wantNew string) {
	db := s.newURL(t)
	env := []string{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY=" + proctest.NewKEK()}
	var serveArgs, rotateArgs []string
	if serveAlg != "" {
		serveArgs = []string{"--signing-alg", serveAlg}
	}
	if rotateAlg != "" {
		rotateArgs = []string{"--signing-alg", rotateAlg}
	}
	srv := startServe(t, db, env, serveArgs...)
	// Its tokens live 3h: the retired key must stay published that long.
	c := createClient(t, env, "--database", db, "--namespace", "ns", "--name", "n", "--grant", "client_credentials", "--access-ttl", "3h")
	before, ok := pollToken(t, srv.URL, c.ClientID, c.ClientSecret, liveWithin, func(tr tokenResponse) bool { return tr.status == http.StatusOK })
	if !ok {
		t.Fatalf("no token: %d %s", before.status, before.raw)
	}
	oldAlg, oldKid := jwtHeader(t, before.AccessToken)
	if oldAlg != wantOld {
		t.Errorf("token before rotation signed with %s, want %s", oldAlg, wantOld)
	}
	if got := kids(fetchJWKS(t, srv.URL)); !slices.Equal(got, []string{oldKid}) {
		t.Fatalf("JWKS before rotation lists %v, want just the signing key %s", got, oldKid)
	}
	// A verifier that has already cached the old key set.
	early := verifier(t, srv.URL, c.ClientID)
	verify(t, early, before.AccessToken)

	r := mustBK(t, env, append([]string{"key", "rotate", "--database", db}, rotateArgs...)...)
	m := regexp.MustCompile(`new active key (\S+)`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("key rotate does not name the new key: %v", r)
	}
	newKid := m[1]
	if newKid == oldKid {
		t.Fatalf("key rotate reports the old key %s as new", oldKid)
	}
	if !strings.Contains(r.stdout, "3h1m") {
		t.Errorf("key rotate: the old key must stay published as long as the longest access token (3h) lives; it says:\n%s", r.stdout)
	}

	rotated := time.Now()
	var keys []jwk
	for {
		keys = fetchJWKS(t, srv.URL)
		if len(keys) == 2 || time.Since(rotated) > 2*time.Second {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got, want := kids(keys), kids([]jwk{{Kid: oldKid}, {Kid: newKid}}); !slices.Equal(got, want) {
		t.Fatalf("JWKS %s after key rotate lists %v, want %v", time.Since(rotated), got, want)
	}
	for _, k := range keys {
		if want := map[string]string{oldKid: wantOld, newKid: wantNew}[k.Kid]; k.Alg != want {
			t.Errorf("JWKS key %s has alg %s, want %s", k.Kid, k.Alg, want)
		}
	}

	after, ok := pollToken(t, srv.URL, c.ClientID, c.ClientSecret, 2*time.Second, func(tr tokenResponse) bool {
		if tr.status != http.StatusOK {
			return false
		}
		_, kid := jwtHeader(t, tr.AccessToken)
		return kid != oldKid
	})
	if !ok {
		t.Fatalf("tokens are still signed by the old key %s 2s after key rotate: %s", oldKid, after.raw)
	}
	if alg, kid := jwtHeader(t, after.AccessToken); kid != newKid || alg != wantNew {
		t.Errorf("token after rotation has kid %s alg %s, want the new key %s, %s", kid, alg, newKid, wantNew)
	}

	// Both the old and the new token verify, with a verifier that fetched
	// the keys before the rotation and with a fresh one. Discovery lists
	// only the algorithms the broker has keys for, and go-oidc keeps the
	// list it read: across a change of algorithm a cached verifier refuses
	// the new key's tokens until its relying party reads discovery again
	// (README, "key rotate").
	fresh := verifier(t, srv.URL, c.ClientID)
	for name, v := range map[string]*oidc.IDTokenVerifier{"cached": early, "fresh": fresh} {
		t.Run(name, func(t *testing.T) {
			verify(t, v, before.AccessToken)
			if name == "fresh" || wantOld == wantNew {
				verify(t, v, after.AccessToken)
			}
		})
	}
	// The server itself still accepts the old token (introspection).
	if active := introspect(t, srv.URL, c.ClientID, c.ClientSecret, before.AccessToken); !active {
		t.Errorf("introspection says the token signed before the rotation is not active")
	}
}

// introspect asks the server (RFC 7662) whether tok is active.
func introspect(t *testing.T, base, id, secret, tok string) bool {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/oauth2/introspect", strings.NewReader(url.Values{"token": {tok}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	res, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("POST /oauth2/introspect: %v", err)
	}
	defer res.Body.Close()
	var body struct {
		Active bool `json:"active"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("POST /oauth2/introspect: %d, %v", res.StatusCode, err)
	}
	return body.Active
}

// TestKeyRotatePublishFor: a retired key leaves JWKS once its publication
// period is over, without a restart.
func TestKeyRotatePublishFor(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s store) {
		db := s.newURL(t)
		env := []string{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY=" + proctest.NewKEK()}
		srv := startServe(t, db, env)
		old := kids(fetchJWKS(t, srv.URL))
		mustBK(t, env, "key", "rotate", "--database", db, "--publish-for", "2s")
		rotated := time.Now()
		saw2 := false
		for time.Since(rotated) < 6*time.Second {
			got := kids(fetchJWKS(t, srv.URL))
			saw2 = saw2 || len(got) == 2
			if len(got) == 1 && !slices.Equal(got, old) {
				if !saw2 {
					t.Logf("the retired key was never seen in JWKS (it is published for 2s only)")
				}
				t.Logf("the retired key left JWKS after %s", time.Since(rotated))
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("6s after key rotate --publish-for 2s JWKS still lists %v (old key %v)", kids(fetchJWKS(t, srv.URL)), old)
	})
}

func TestServeSigningAlg(t *testing.T) {
	t.Parallel()
	tests := []struct {
		alg      string // "" leaves the default
		wantAlg  string
		wantKty  string
		wantCurv string
	}{
		{"", "ES256", "EC", "P-256"},
		{"ES256", "ES256", "EC", "P-256"},
		{"EdDSA", "EdDSA", "OKP", "Ed25519"},
		{"RS256", "RS256", "RSA", ""},
	}
	for _, tc := range tests {
		name := tc.alg
		if name == "" {
			name = "default"
		}
		t.Run(name, func(t *testing.T) {
			eachStore(t, func(t *testing.T, s store) {
				db := s.newURL(t)
				env := []string{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY=" + proctest.NewKEK()}
				var extra []string
				if tc.alg != "" {
					extra = []string{"--signing-alg", tc.alg}
				}
				srv := startServe(t, db, env, extra...)
				keys := fetchJWKS(t, srv.URL)
				if len(keys) != 1 {
					t.Fatalf("JWKS on a fresh database: %+v, want one key", keys)
				}
				k := keys[0]
				if k.Alg != tc.wantAlg || k.Kty != tc.wantKty || k.Crv != tc.wantCurv || k.Use != "sig" || k.Kid == "" {
					t.Errorf("JWKS key %+v: want alg %s, kty %s, crv %q, use sig and a kid", k, tc.wantAlg, tc.wantKty, tc.wantCurv)
				}

				c := createClient(t, env, "--database", db, "--namespace", "ns", "--name", "n", "--grant", "client_credentials")
				tr, ok := pollToken(t, srv.URL, c.ClientID, c.ClientSecret, liveWithin, func(tr tokenResponse) bool { return tr.status == http.StatusOK })
				if !ok {
					t.Fatalf("no token: %d %s", tr.status, tr.raw)
				}
				alg, kid := jwtHeader(t, tr.AccessToken)
				if alg != tc.wantAlg || kid != k.Kid {
					t.Errorf("token header alg %s kid %s, want %s %s", alg, kid, tc.wantAlg, k.Kid)
				}
				verify(t, verifier(t, srv.URL, c.ClientID), tr.AccessToken)
			})
		})
	}
}

func TestServeStopsOnSignal(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			eachStore(t, func(t *testing.T, s store) {
				srv := startServe(t, s.newURL(t), []string{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY=" + proctest.NewKEK()})
				code, took := srv.stop(t, sig, 5*time.Second)
				if code != 0 {
					t.Errorf("serve exited %d after %v, want 0\nstderr:\n%s", code, sig, srv.stderr)
				}
				t.Logf("serve exited %s after %v", took, sig)
				if took > 3*time.Second {
					t.Errorf("serve took %s to exit on %v with nothing in flight", took, sig)
				}
				if _, err := httpClient.Get(srv.URL + "/healthz"); err == nil {
					t.Errorf("serve still answers after it exited")
				}
			})
		})
	}
}

func TestServeAddrInUse(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	r := bk(t, []string{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY=" + proctest.NewKEK()}, "serve", "--addr", addr, "--database", sqliteURL(t))
	if r.code == 0 || !strings.Contains(r.stderr, "addr") {
		t.Errorf("serve on an address in use: want a non-zero exit naming addr; got %v", r)
	}
}

// demoCreds matches what serve prints about the demo client.
var (
	demoIDRE     = regexp.MustCompile(`(?m)^\s*client_id:\s+(\S+)\s*$`)
	demoSecretRE = regexp.MustCompile(`(?m)^\s*client_secret:\s+(\S+)\s*$`)
	curlRE       = regexp.MustCompile(`(?m)^\s*(curl .*grant_type=client_credentials.*)$`)
)

func TestServeDemo(t *testing.T) {
	t.Parallel()
	db := sqliteURL(t)
	env := []string{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY=" + proctest.NewKEK(), "BRIDGEKEEPER_DEMO=true"}

	srv := startServe(t, db, env)
	out := srv.stdout.String()
	idm, secm, curlm := demoIDRE.FindStringSubmatch(out), demoSecretRE.FindStringSubmatch(out), curlRE.FindStringSubmatch(out)
	if idm == nil || secm == nil || curlm == nil {
		t.Fatalf("first start with BRIDGEKEEPER_DEMO=true: want client_id, client_secret and a curl line on stdout, got:\n%s", out)
	}
	id, secret, curl := idm[1], secm[1], curlm[1]
	if !strings.Contains(curl, id) || !strings.Contains(curl, secret) || !strings.Contains(curl, srv.URL+"/oauth2/token") {
		t.Errorf("curl line %q does not use the printed credentials and %s/oauth2/token", curl, srv.URL)
	}
	if tr := clientCredentials(t, srv.URL, id, secret); tr.status != http.StatusOK || tr.AccessToken == "" {
		t.Fatalf("the printed demo credentials get no token: %d %s", tr.status, tr.raw)
	} else {
		verify(t, verifier(t, srv.URL, id), tr.AccessToken)
	}
	// The demo client may log a player in by the game's own player ID.
	if tr := token(t, srv.URL, id, secret, url.Values{"grant_type": {"server_custom_id"}, "server_custom_id": {"player-1"}}); tr.status != http.StatusOK {
		t.Errorf("demo client, server_custom_id: %d %s", tr.status, tr.raw)
	}
	// The printed curl line itself works.
	if _, err := exec.LookPath("curl"); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "sh", "-c", curl+" -w '\\n%{http_code}'")
		b, err := cmd.Output()
		if lines := strings.Split(strings.TrimSpace(string(b)), "\n"); err != nil || lines[len(lines)-1] != "200" || !strings.Contains(string(b), "access_token") {
			t.Errorf("running the printed curl line: %v\n%s", err, b)
		}
	} else {
		t.Log("curl not installed; not running the printed line itself")
	}
	if code, _ := srv.stop(t, syscall.SIGTERM, 5*time.Second); code != 0 {
		t.Fatalf("serve exited %d on SIGTERM", code)
	}

	// The second start prints no secret, and the first one still works.
	srv2 := startServe(t, db, env)
	out2 := srv2.stdout.String()
	if strings.Contains(out2, secret) || demoSecretRE.MatchString(out2) {
		t.Errorf("second start printed a secret again:\n%s", out2)
	}
	if ls := listClients(t, db); len(ls) != 1 || ls[0].ClientID != id {
		t.Errorf("after two demo starts client list shows %v, want just %s", listedIDs(ls), id)
	}
	if tr := clientCredentials(t, srv2.URL, id, secret); tr.status != http.StatusOK {
		t.Errorf("demo credentials after restart: %d %s", tr.status, tr.raw)
	}
	if strings.Contains(srv.stderr.String()+srv2.stderr.String(), secret) {
		t.Errorf("the demo secret went to the log (stderr)")
	}
}

func TestServeWithoutDemoCreatesNoClient(t *testing.T) {
	t.Parallel()
	db := sqliteURL(t)
	srv := startServe(t, db, []string{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY=" + proctest.NewKEK()})
	if out := srv.stdout.String(); strings.Contains(out, "client_secret") {
		t.Errorf("serve without BRIDGEKEEPER_DEMO printed demo credentials:\n%s", out)
	}
	if ls := listClients(t, db); len(ls) != 0 {
		t.Errorf("serve without BRIDGEKEEPER_DEMO created clients: %v", listedIDs(ls))
	}
}

// TestAdminListener: serve's second listener has the admin API, the
// metrics and the OpenAPI document; the public one has none of them.
func TestAdminListener(t *testing.T) {
	t.Parallel()
	adminAddr := proctest.FreeAddr(t)
	srv := startServe(t, sqliteURL(t), []string{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY=" + proctest.NewKEK(), "BRIDGEKEEPER_ADMIN_ADDR=" + adminAddr})
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	admin := "http://" + adminAddr
	for _, c := range []struct {
		url, want string
		status    int
	}{
		{admin + "/metrics", "bridgekeeper_http_requests_total", http.StatusOK},
		{admin + "/openapi.yaml", "openapi: 3.1", http.StatusOK},
		{admin + "/admin/v1/namespaces", "invalid_token", http.StatusUnauthorized},
		{srv.URL + "/metrics", "", http.StatusNotFound},
		{srv.URL + "/admin/v1/namespaces", "", http.StatusNotFound},
	} {
		if status, body := get(c.url); status != c.status || !strings.Contains(body, c.want) {
			t.Errorf("GET %s: %d %.200s; want %d with %q", c.url, status, body, c.status, c.want)
		}
	}
}
