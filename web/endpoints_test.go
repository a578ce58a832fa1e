package web_test

import (
	"context"
	"encoding/json"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// get sends an unauthenticated GET.
func (f *fixture) get(t *testing.T, path string) response {
	t.Helper()
	return f.send(t, call{method: http.MethodGet, path: path, ctype: noCType})
}

func strs(v any) []string {
	xs, _ := v.([]any)
	out := make([]string, 0, len(xs))
	for _, x := range xs {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// TestDiscovery: RFC 8414 and OpenID Connect Discovery 1.0 §3, at both
// well-known paths, with endpoints that answer.
func TestDiscovery(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		var docs []string
		for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
			t.Run(path, func(t *testing.T) {
				r := f.get(t, path)
				if r.Status != http.StatusOK || r.Body == nil {
					t.Fatalf("%d %s", r.Status, r.Raw)
				}
				if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
					t.Errorf("Content-Type = %q", r.Header.Get("Content-Type"))
				}
				docs = append(docs, r.Raw)
				for key, want := range map[string]string{
					"issuer":                 f.URL,
					"token_endpoint":         f.URL + "/oauth2/token",
					"introspection_endpoint": f.URL + "/oauth2/introspect",
					"revocation_endpoint":    f.URL + "/oauth2/revoke",
					"jwks_uri":               f.URL + "/.well-known/jwks.json",
				} {
					if got := r.str(key); got != want {
						t.Errorf("%s = %q, want %q", key, got, want)
					}
				}
				grants := strs(r.Body["grant_types_supported"])
				for _, g := range []string{broker.GrantServerCustomID, broker.GrantClientCredentials, broker.GrantRefreshToken} {
					if !slices.Contains(grants, g) {
						t.Errorf("grant_types_supported %v lacks %s", grants, g)
					}
				}
				for _, g := range []string{"password", "implicit"} {
					if slices.Contains(grants, g) {
						t.Errorf("grant_types_supported %v advertises %s", grants, g)
					}
				}
				// Public clients (PKCE) use "none" at the token endpoint only.
				for key, want := range map[string][]string{
					"token_endpoint_auth_methods_supported":         {"client_secret_basic", "client_secret_post", "private_key_jwt", "none"},
					"introspection_endpoint_auth_methods_supported": {"client_secret_basic", "client_secret_post", "private_key_jwt"},
					"revocation_endpoint_auth_methods_supported":    {"client_secret_basic", "client_secret_post", "private_key_jwt"},
				} {
					got := strs(r.Body[key])
					slices.Sort(got)
					slices.Sort(want)
					if !slices.Equal(got, want) {
						t.Errorf("%s = %v, want %v", key, got, want)
					}
				}
				if algs := strs(r.Body["id_token_signing_alg_values_supported"]); !slices.Contains(algs, "ES256") {
					t.Errorf("id_token_signing_alg_values_supported = %v, want ES256 among them", algs)
				}
				if st := strs(r.Body["subject_types_supported"]); len(st) == 0 {
					t.Errorf("subject_types_supported is empty (OIDC Discovery requires it)")
				}

				// Every advertised grant is known to the token endpoint.
				id, secret := f.client(t, gameServer("game"))
				for _, g := range grants {
					tr := f.token(t, id, secret, url.Values{"grant_type": {g}})
					if tr.str("error") == "unsupported_grant_type" {
						t.Errorf("advertised grant %s: %s", g, tr.Raw)
					}
				}
			})
		}
		if len(docs) == 2 && docs[0] != docs[1] {
			t.Errorf("the two documents differ:\n%s\n%s", docs[0], docs[1])
		}
	})
}

// TestDiscoveredEndpointsWork follows the discovery document, as a client
// library would.
func TestDiscoveredEndpointsWork(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		d := f.get(t, "/.well-known/oauth-authorization-server")
		rel := func(key string) string {
			t.Helper()
			u := d.str(key)
			if !strings.HasPrefix(u, f.URL+"/") {
				t.Fatalf("%s = %q is not under the issuer %s", key, u, f.URL)
			}
			return strings.TrimPrefix(u, f.URL)
		}
		id, secret := f.client(t, gameServer("game"))
		login := f.send(t, call{path: rel("token_endpoint"), body: customID("p1").Encode(), basic: creds(id, secret)})
		if login.Status != http.StatusOK {
			t.Fatalf("token endpoint: %d %s", login.Status, login.Raw)
		}
		at := login.str("access_token")
		in := f.send(t, call{path: rel("introspection_endpoint"), body: url.Values{"token": {at}}.Encode(), basic: creds(id, secret)})
		wantActive(t, in, "introspection endpoint")
		rv := f.send(t, call{path: rel("revocation_endpoint"), body: url.Values{"token": {at}}.Encode(), basic: creds(id, secret)})
		if rv.Status != http.StatusOK {
			t.Errorf("revocation endpoint: %d %s", rv.Status, rv.Raw)
		}
		wantInactive(t, f.introspect(t, id, secret, at), "after revocation")
		k := f.get(t, rel("jwks_uri"))
		if keys, _ := k.Body["keys"].([]any); k.Status != http.StatusOK || len(keys) == 0 {
			t.Errorf("jwks_uri: %d %s", k.Status, k.Raw)
		}
	})
}

// TestJWKS: RFC 7517 — the active key, public parts only, and it verifies
// the tokens the broker issues.
func TestJWKS(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		r := f.get(t, "/.well-known/jwks.json")
		if r.Status != http.StatusOK {
			t.Fatalf("%d %s", r.Status, r.Raw)
		}
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/jwk-set+json" && mt != "application/json" {
			t.Errorf("Content-Type = %q", r.Header.Get("Content-Type"))
		}
		keys, _ := r.Body["keys"].([]any)
		if len(keys) != 1 {
			t.Fatalf("want the one active key, got %s", r.Raw)
		}
		for _, k := range keys {
			jwk, _ := k.(map[string]any)
			if jwk["kid"] == "" || jwk["kid"] == nil || jwk["alg"] != "ES256" || jwk["use"] != "sig" ||
				jwk["kty"] != "EC" || jwk["crv"] != "P-256" || jwk["x"] == nil || jwk["y"] == nil {
				t.Errorf("key = %v", jwk)
			}
			for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k", "oth"} {
				if _, ok := jwk[private]; ok {
					t.Errorf("key %v publishes the private member %q", jwk["kid"], private)
				}
			}
		}

		// The published key verifies an issued token, found by its kid.
		id, secret := f.client(t, gameServer("game"))
		at := f.mustToken(t, id, secret, url.Values{"grant_type": {"client_credentials"}}).str("access_token")
		var set jose.JSONWebKeySet
		if err := json.Unmarshal([]byte(r.Raw), &set); err != nil {
			t.Fatal(err)
		}
		kid, _ := jwtHeader(t, at)["kid"].(string)
		found := set.Key(kid)
		if len(found) != 1 || !found[0].IsPublic() {
			t.Fatalf("kid %q of an issued token: %d public keys in the set", kid, len(found))
		}
		jws, err := jose.ParseSigned(at, []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := jws.Verify(found[0]); err != nil {
			t.Errorf("the published key does not verify an issued token: %v", err)
		}
	})
}

func TestHealth(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		for _, path := range []string{"/healthz", "/readyz"} {
			r := f.get(t, path)
			if r.Status != http.StatusOK || r.str("status") != "ok" {
				t.Errorf("%s: %d %s", path, r.Status, r.Raw)
			}
			wantNoStoreJSON(t, r)
		}
	})
}

var metricLine = regexp.MustCompile(`(?m)^(bridgekeeper_http_\w+)\{([^}]*)\} (\S+)$`)

// metrics returns the bridgekeeper_http_* samples, keyed by name{labels}.
func (f *fixture) metrics(t *testing.T) map[string]float64 {
	t.Helper()
	raw := f.metricsText(t)
	out := map[string]float64{}
	for _, m := range metricLine.FindAllStringSubmatch(raw, -1) {
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatalf("metric %s: %v", m[0], err)
		}
		out[m[1]+"{"+m[2]+"}"] = v
	}
	return out
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		id, secret := f.client(t, gameServer("game"))
		f.mustToken(t, id, secret, url.Values{"grant_type": {"client_credentials"}})
		f.send(t, call{path: "/connect/1.0/api/token", body: cc(), basic: creds(id, secret)})
		f.token(t, id, "bks_wrong", url.Values{"grant_type": {"client_credentials"}})
		f.introspect(t, id, secret, "x")

		m := f.metrics(t)
		for key, want := range map[string]float64{
			`bridgekeeper_http_requests_total{code="200",route="token"}`:           2,
			`bridgekeeper_http_requests_total{code="401",route="token"}`:           1,
			`bridgekeeper_http_requests_total{code="200",route="introspect"}`:      1,
			`bridgekeeper_http_request_duration_seconds_count{route="token"}`:      3,
			`bridgekeeper_http_request_duration_seconds_count{route="introspect"}`: 1,
		} {
			if m[key] != want {
				t.Errorf("%s = %v, want %v", key, m[key], want)
			}
		}

		// Requests no route matches are counted too (routeName's "other").
		f.get(t, "/no/such/path")
		f.send(t, call{method: http.MethodGet, path: "/oauth2/token", ctype: noCType})
		m = f.metrics(t)
		other := m[`bridgekeeper_http_requests_total{code="404",route="other"}`]
		notAllowed := m[`bridgekeeper_http_requests_total{code="405",route="other"}`] +
			m[`bridgekeeper_http_requests_total{code="405",route="token"}`]
		if other != 1 || notAllowed != 1 {
			t.Errorf("404 counted %v times, 405 counted %v times; want 1 and 1", other, notAllowed)
		}
	})
}

// TestClientChangesTakeEffect: a client created, changed or deleted in the
// store by another process (the CLI) is seen within a second.
func TestClientChangesTakeEffect(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		ccForm := url.Values{"grant_type": {"client_credentials"}}

		// within polls until ok holds, for at most a second after the change.
		within := func(what string, ok func() (bool, string)) {
			t.Helper()
			deadline := time.Now().Add(time.Second)
			for {
				good, last := ok()
				if good {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: not in effect after 1s; last answer %s", what, last)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}

		// Created: an ID unknown a moment ago works at once (unknown IDs
		// are not cached).
		seed, _ := f.client(t, gameServer("game"))
		ns := namespaceOf(t, f, seed)
		id, secret := "cli-made-client", "bks_"+strings.Repeat("s", 43)
		wantOAuthError(t, f.token(t, id, secret, ccForm), http.StatusUnauthorized, "invalid_client")
		now := f.Clock.Now()
		c := broker.Client{
			ID: id, NamespaceID: ns, Name: "made by the CLI", SecretHash: f.Secrets.HashClientSecret(secret),
			Grants: []string{broker.GrantClientCredentials, broker.GrantServerCustomID}, Scopes: []string{"game"},
			AccessTTL: time.Hour, RefreshTTL: time.Hour, CustomIDSlot: broker.DefaultCustomIDSlot, CreatedAt: now, UpdatedAt: now,
		}
		if err := f.Store.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
		within("created", func() (bool, string) {
			r := f.token(t, id, secret, ccForm)
			return r.Status == http.StatusOK, r.Raw
		})

		// Changed: a new secret replaces the old one.
		newSecret := "bks_" + strings.Repeat("n", 43)
		c.SecretHash = f.Secrets.HashClientSecret(newSecret)
		c.UpdatedAt = f.Clock.Now()
		if err := f.Store.UpdateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
		within("secret changed", func() (bool, string) {
			r := f.token(t, id, secret, ccForm)
			return r.Status == http.StatusUnauthorized && r.str("error") == "invalid_client", r.Raw
		})
		f.mustToken(t, id, newSecret, ccForm)

		// Changed: the client_credentials grant is taken away.
		c.Grants = []string{broker.GrantServerCustomID}
		if err := f.Store.UpdateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
		within("grant removed", func() (bool, string) {
			r := f.token(t, id, newSecret, ccForm)
			return r.Status == http.StatusBadRequest && r.str("error") == "unauthorized_client", r.Raw
		})
		wantOAuthError(t, f.token(t, id, newSecret, ccForm), http.StatusBadRequest, "unauthorized_client")
		f.mustToken(t, id, newSecret, customID("p1"))

		// Deleted.
		if err := f.Store.DeleteClient(ctx, id); err != nil {
			t.Fatal(err)
		}
		within("deleted", func() (bool, string) {
			r := f.token(t, id, newSecret, customID("p1"))
			return r.Status == http.StatusUnauthorized && r.str("error") == "invalid_client", r.Raw
		})
		r := f.introspect(t, id, newSecret, "x")
		wantOAuthError(t, r, http.StatusUnauthorized, "invalid_client")
	})
}

// TestSecretsNotLogged: DESIGN §6 — never log a token or a secret, even at
// debug level and on failures.
func TestSecretsNotLogged(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		id, secret := f.client(t, gameServer("game"))
		otherID, otherSecret := f.client(t, gameServer("game"))
		ccForm := url.Values{"grant_type": {"client_credentials"}}
		var tokens []string
		keep := func(r response) response {
			for _, k := range []string{"access_token", "refresh_token"} {
				if s := r.str(k); s != "" {
					tokens = append(tokens, s)
				}
			}
			return r
		}

		keep(f.mustToken(t, id, secret, ccForm))
		keep(f.send(t, call{body: cc("client_id", id, "client_secret", secret)}))
		login := keep(f.mustToken(t, id, secret, customID("p1")))
		next := keep(f.mustToken(t, id, secret, refresh(login.str("refresh_token"))))
		keep(f.mustToken(t, id, secret, refresh(login.str("refresh_token")))) // retry in grace
		keep(f.send(t, call{path: "/connect/1.0/api/token", body: customID("p2").Encode(), basic: creds(id, secret)}))
		other := keep(f.mustToken(t, otherID, otherSecret, customID("p3")))
		f.introspect(t, id, secret, next.str("access_token"))
		f.introspect(t, id, secret, next.str("refresh_token"))
		f.mustRevoke(t, id, secret, next.str("access_token"), "")

		// Failures, each carrying a secret or a token.
		f.token(t, id, otherSecret, ccForm)                                                           // wrong secret, Basic
		f.send(t, call{body: cc("client_id", id, "client_secret", otherSecret)})                      // wrong secret, post
		f.send(t, call{body: cc("client_id", id, "client_secret", secret), basic: creds(id, secret)}) // both methods
		f.send(t, call{body: cc("client_secret", secret)})                                            // secret without id
		f.send(t, call{body: cc() + "&client_secret=" + url.QueryEscape(secret) + "&client_secret=" + url.QueryEscape(secret)})
		f.send(t, call{body: cc(), auth: basicHeader(id + ":" + secret + "%zz")})
		f.token(t, id, secret, refresh(other.str("refresh_token"))) // another client's token
		f.introspect(t, id, "bks_wrong", other.str("access_token"))
		f.mustRevoke(t, id, secret, next.str("refresh_token"), "")
		f.token(t, id, secret, refresh(next.str("refresh_token"))) // revoked
		keep(f.token(t, otherID, otherSecret, refresh(other.str("refresh_token"))))
		f.Clock.Advance(6 * time.Second)
		f.token(t, otherID, otherSecret, refresh(other.str("refresh_token"))) // spent, after the grace window: reuse
		f.token(t, id, secret, customID("nul\x00"))                           // refused, or a store error on PostgreSQL
		f.send(t, call{body: cc("client_id", "x\x00y", "client_secret", secret)})
		f.get(t, "/healthz")

		logs := f.Logs.String()
		// The log is there, at debug level, failures included.
		for _, want := range []string{`"msg":"request"`, `"route":"token"`, `"route":"introspect"`, `"route":"revoke"`, "reuse"} {
			if !strings.Contains(logs, want) {
				t.Errorf("the log lacks %s; is the fixture logging at debug level?", want)
			}
		}
		secrets := map[string]string{
			"client secret": secret, "other client secret": otherSecret,
			"Basic credentials":       strings.TrimPrefix(basicHeader(url.QueryEscape(id)+":"+url.QueryEscape(secret)), "Basic "),
			"other Basic credentials": strings.TrimPrefix(basicHeader(url.QueryEscape(otherID)+":"+url.QueryEscape(otherSecret)), "Basic "),
		}
		for i, tok := range tokens {
			secrets["token "+strconv.Itoa(i)] = tok
		}
		for name, s := range secrets {
			pieces := []string{s, strings.TrimPrefix(strings.TrimPrefix(s, "bks_"), "rt_")}
			if parts := strings.Split(s, "."); len(parts) == 3 {
				pieces = append(pieces, parts[1], parts[2]) // a JWT's claims or signature alone
			}
			for _, p := range pieces {
				if strings.Contains(logs, p) {
					t.Errorf("the log contains %s (%.12s…)", name, p)
				}
			}
		}
		if len(tokens) < 10 {
			t.Errorf("the flow issued %d tokens, want at least 10", len(tokens))
		}
	})
}

// metricsText is the admin listener's /metrics page.
func (f *fixture) metricsText(t *testing.T) string {
	t.Helper()
	rec := httptest.NewRecorder()
	f.Metrics.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

// TestMetricsAreNotPublic: the public listener serves no metrics; they
// are the admin listener's.
func TestMetricsAreNotPublic(t *testing.T) {
	t.Parallel()
	f := newFixture(t, openSQLite(t))
	if r := f.send(t, call{method: http.MethodGet, path: "/metrics", ctype: noCType}); r.Status != http.StatusNotFound {
		t.Errorf("public /metrics: %d %s", r.Status, r.Raw)
	}
}
