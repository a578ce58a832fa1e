package bench

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

func TestPercentile(t *testing.T) {
	ms := func(n ...int) []time.Duration {
		out := make([]time.Duration, len(n))
		for i, v := range n {
			out[i] = time.Duration(v) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	for _, tc := range []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty is zero", nil, 50, 0},
		{"one sample is every percentile", ms(7), 99, 7 * time.Millisecond},
		{"p50 of an even count is the lower middle", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p50 of an odd count is the middle", ms(1, 2, 3, 4, 5), 50, 3 * time.Millisecond},
		{"p99 of 1..100 is 99", ms(hundred...), 99, 99 * time.Millisecond},
		{"p100 is the maximum", ms(hundred...), 100, 100 * time.Millisecond},
		{"p99 of 10 samples is the maximum", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
		{"tiny p is the minimum", ms(3, 4, 5), 0.001, 3 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Percentile(tc.sorted, tc.p); got != tc.want {
				t.Errorf("Percentile(%v, %v) = %v, want %v", tc.sorted, tc.p, got, tc.want)
			}
		})
	}
}

func TestSummarizeMergesWindows(t *testing.T) {
	// 200 samples 1..200 ms spread unevenly over three unsorted windows,
	// as rounds on one side are.
	var w [3]window
	for i := 200; i >= 1; i-- {
		w[i%3].lat = append(w[i%3].lat, time.Duration(i)*time.Millisecond)
	}
	w[1].errs, w[1].firstErr = 3, "HTTP 500"
	w[2].errs, w[2].firstErr = 1, "HTTP 503"
	w[0].elapsed, w[1].elapsed, w[2].elapsed = time.Second, 600*time.Millisecond, 400*time.Millisecond
	var all window
	for _, x := range w {
		all.add(x)
	}
	s := all.summarize()
	if s.OK != 200 || s.Errors != 4 || s.FirstError != "HTTP 500" {
		t.Fatalf("counts = %d ok, %d errors (%q)", s.OK, s.Errors, s.FirstError)
	}
	if s.P50 != 100*time.Millisecond || s.P99 != 198*time.Millisecond || s.Max != 200*time.Millisecond {
		t.Errorf("p50, p99, max = %v, %v, %v; want 100ms, 198ms, 200ms", s.P50, s.P99, s.Max)
	}
	if s.RPS() != 100 {
		t.Errorf("RPS = %v, want 100", s.RPS())
	}
	// Each window's own rate, in the order added: 66/1s, 67/0.6s, 67/0.4s.
	if want := []float64{66, 67 / 0.6, 67 / 0.4}; !slices.EqualFunc(s.Rounds, want, func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }) {
		t.Errorf("Rounds = %v, want %v", s.Rounds, want)
	}
}

// TestRoundRatios: the spread printed beside a ratio pairs each broker
// round with the limit round of the same number.
func TestRoundRatios(t *testing.T) {
	sc := scenario{Name: "refresh_token", MinRatio: 0.85}
	for _, tc := range []struct {
		name          string
		broker, limit []float64
		want          string
	}{
		{"pairs by round, lowest to highest", []float64{90, 80, 100}, []float64{100, 100, 100}, "0.90 (rounds 0.80-1.00)"},
		{"a faster limit round lowers its pair only", []float64{90, 90}, []float64{100, 120}, "0.82 (rounds 0.75-0.90)"},
		{"one round has no spread", []float64{90}, []float64{100}, "0.90"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			side := func(rounds []float64) Summary {
				total := 0.0
				for _, r := range rounds {
					total += r
				}
				return Summary{OK: int(total), Elapsed: time.Duration(len(rounds)) * time.Second, Rounds: rounds}
			}
			if got := (result{sc: sc, broker: side(tc.broker), limit: side(tc.limit)}).checks()[0].value; got != tc.want {
				t.Errorf("value = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestChecks(t *testing.T) {
	sc := scenario{Name: "refresh_token", MinRatio: 0.8, MaxP99Ratio: 2}
	sum := func(ok, errs int, p99 time.Duration) Summary {
		return Summary{OK: ok, Errors: errs, Elapsed: time.Second, P99: p99}
	}
	for _, tc := range []struct {
		name          string
		broker, limit Summary
		want          []string
	}{
		{"both met", sum(90, 0, 3*time.Millisecond), sum(100, 0, 2*time.Millisecond), []string{"PASS", "PASS"}},
		{"throughput missed", sum(70, 0, 3*time.Millisecond), sum(100, 0, 2*time.Millisecond), []string{"MISS", "PASS"}},
		{"p99 at exactly 2x misses", sum(90, 0, 4*time.Millisecond), sum(100, 0, 2*time.Millisecond), []string{"PASS", "MISS"}},
		{"errors void the run", sum(90, 1, 3*time.Millisecond), sum(100, 0, 2*time.Millisecond), []string{"ERRORS", "ERRORS"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := result{sc: sc, broker: tc.broker, limit: tc.limit}.checks()
			var got []string
			for _, c := range cs {
				got = append(got, c.verdict)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("verdicts = %v, want %v", got, tc.want)
			}
		})
	}
}

// tokenRequest posts form to the token endpoint at base with Basic
// credentials user and pass as given, that is already form-encoded per RFC
// 6749 §2.3.1 (the constants need no encoding), and returns the status,
// headers and decoded JSON.
func tokenRequest(t *testing.T, base, user, pass string, form url.Values) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("decode answer (status %d): %v", resp.StatusCode, err)
	}
	return resp.StatusCode, resp.Header, body
}

// verifyAccessToken checks an access token's ES256 signature against pub
// and its header, and returns its claims.
func verifyAccessToken(t *testing.T, tok string, pub any) accessClaims {
	t.Helper()
	jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatalf("parse access token: %v", err)
	}
	h := jws.Signatures[0].Header
	if typ := h.ExtraHeaders[jose.HeaderType]; typ != "at+jwt" || h.KeyID != "limit" {
		t.Errorf("header typ %v kid %q, want at+jwt and limit", typ, h.KeyID)
	}
	payload, err := jws.Verify(pub)
	if err != nil {
		t.Fatalf("verify access token: %v", err)
	}
	var c accessClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestLimitCPU(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	cc := url.Values{"grant_type": {"client_credentials"}, "scope": {"games"}}
	for _, tc := range []struct {
		name       string
		id, secret string
		form       url.Values
		wantStatus int
		wantError  string
	}{
		{"valid credentials get a token", LimitClientID, LimitClientSecret, cc, 200, ""},
		// RFC 6749 §2.3.1: a client may form-encode every character.
		{"percent-encoded credentials are decoded", "bench%2Dlimit%2Dclient", LimitClientSecret, cc, 200, ""},
		{"wrong secret is invalid_client", LimitClientID, "nope", cc, 401, "invalid_client"},
		{"unknown client is invalid_client", "someone", LimitClientSecret, cc, 401, "invalid_client"},
		{"no credentials is invalid_client", "", "", cc, 401, "invalid_client"},
		{"other grants are unsupported", LimitClientID, LimitClientSecret, url.Values{"grant_type": {"password"}}, 400, "unsupported_grant_type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := NewLimitCPU(LimitConfig{Issuer: "http://limit.test", Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(l)
			defer srv.Close()
			status, h, body := tokenRequest(t, srv.URL, tc.id, tc.secret, tc.form)
			if status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %v", status, tc.wantStatus, body)
			}
			if h.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", h.Get("Cache-Control"))
			}
			if tc.wantError != "" {
				if body["error"] != tc.wantError {
					t.Errorf("error %v, want %s", body["error"], tc.wantError)
				}
				if status == 401 && h.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
				return
			}
			if body["token_type"] != "Bearer" || body["expires_in"] != float64(3600) || body["scope"] != "games" {
				t.Errorf("answer %v", body)
			}
			c := verifyAccessToken(t, body["access_token"].(string), l.PublicKey())
			if c.Issuer != "http://limit.test" || c.ClientID != LimitClientID || c.Subject != LimitClientID ||
				c.Audience != LimitClientID || c.Scope != "games" || c.IssuedAt != now.Unix() ||
				c.Expiry != now.Add(time.Hour).Unix() || c.ID == "" {
				t.Errorf("claims %+v", c)
			}
		})
	}
}

func TestLimitCPURejectsMalformedRequests(t *testing.T) {
	l, err := NewLimitCPU(LimitConfig{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(l)
	defer srv.Close()
	for _, tc := range []struct {
		name, method, ctype string
		want                int
	}{
		{"GET is not allowed", http.MethodGet, "", 405},
		{"JSON body is invalid_request", http.MethodPost, "application/json", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+"/oauth2/token", strings.NewReader("grant_type=client_credentials"))
			req.Header.Set("Content-Type", tc.ctype)
			req.SetBasicAuth(LimitClientID, LimitClientSecret)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.want == 405 && resp.Header.Get("Allow") != "POST" {
				t.Errorf("405 with Allow %q, want POST", resp.Header.Get("Allow"))
			}
		})
	}
}

// testPostgres returns the admin URL of the test cluster. Without one the
// PostgreSQL tests skip locally but fail in CI, where skipping would hide
// that they never ran.
func testPostgres(t *testing.T) string {
	t.Helper()
	u := os.Getenv("BRIDGEKEEPER_TEST_POSTGRES_URL")
	if u == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("BRIDGEKEEPER_TEST_POSTGRES_URL is not set in CI")
		}
		t.Skip("BRIDGEKEEPER_TEST_POSTGRES_URL is not set")
	}
	return u
}

// testDatabase creates a fresh database for one test and drops it after.
func testDatabase(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	cl, err := openCluster(ctx, testPostgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cl.close(); err != nil {
			t.Error(err)
		}
	})
	u, err := cl.createDB(ctx, "bk_bench_test")
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// newDurable starts a LimitDurable on a fresh database.
func newDurable(t *testing.T) (*LimitDurable, *httptest.Server) {
	t.Helper()
	ctx := context.Background()
	pool, err := openPool(ctx, testDatabase(t), 4)
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLimitDurable(ctx, pool, LimitConfig{Issuer: "http://durable.test"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(l)
	// Cleanups run last-in first-out: the server and pool go before the
	// database is dropped.
	t.Cleanup(pool.Close)
	t.Cleanup(srv.Close)
	return l, srv
}

func customIDValues(id string, issueRefresh bool) url.Values {
	v, _ := url.ParseQuery(string(customIDForm(id, issueRefresh)))
	return v
}

func TestLimitDurableCustomID(t *testing.T) {
	l, srv := newDurable(t)
	login := func(id string, issue bool) map[string]any {
		t.Helper()
		status, h, body := tokenRequest(t, srv.URL, LimitClientID, LimitClientSecret, customIDValues(id, issue))
		if status != 200 || h.Get("Cache-Control") != "no-store" {
			t.Fatalf("status %d, Cache-Control %q: %v", status, h.Get("Cache-Control"), body)
		}
		return body
	}
	first := login("player-1", false)
	again := login("player-1", false)
	other := login("player-2", false)
	if first["userId"] == "" || first["userId"] != again["userId"] || first["userId"] == other["userId"] {
		t.Errorf("userIds %v, %v, %v: want the same user twice, then another", first["userId"], again["userId"], other["userId"])
	}
	if _, ok := first["refresh_token"]; ok {
		t.Error("the measured login must not store a refresh token")
	}
	c := verifyAccessToken(t, first["access_token"].(string), l.PublicKey())
	if c.Subject != first["userId"] || c.Issuer != "http://durable.test" {
		t.Errorf("claims %+v", c)
	}
	if rt, _ := login("player-1", true)["refresh_token"].(string); rt == "" {
		t.Error("seeding login returned no refresh_token")
	}

	status, _, body := tokenRequest(t, srv.URL, LimitClientID, "wrong", customIDValues("player-1", false))
	if status != 401 || body["error"] != "invalid_client" {
		t.Errorf("wrong secret: %d %v", status, body)
	}
	status, _, body = tokenRequest(t, srv.URL, LimitClientID, LimitClientSecret, customIDValues("", false))
	if status != 400 || body["error"] != "invalid_request" {
		t.Errorf("empty id: %d %v", status, body)
	}
}

func TestLimitDurableRefreshRotation(t *testing.T) {
	l, srv := newDurable(t)
	refresh := func(rt string) (int, map[string]any) {
		t.Helper()
		status, _, body := tokenRequest(t, srv.URL, LimitClientID, LimitClientSecret,
			url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
		return status, body
	}
	_, _, seed := tokenRequest(t, srv.URL, LimitClientID, LimitClientSecret, customIDValues("player-1", true))
	rt0 := seed["refresh_token"].(string)

	status, body := refresh(rt0)
	if status != 200 {
		t.Fatalf("first rotation: %d %v", status, body)
	}
	rt1 := body["refresh_token"].(string)
	if rt1 == "" || rt1 == rt0 || body["userId"] != seed["userId"] {
		t.Errorf("rotation answer %v", body)
	}
	verifyAccessToken(t, body["access_token"].(string), l.PublicKey())

	for _, tc := range []struct{ name, token string }{
		{"a spent token is invalid_grant", rt0},
		{"an unknown token is invalid_grant", "not-a-token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if status, body := refresh(tc.token); status != 400 || body["error"] != "invalid_grant" {
				t.Errorf("%d %v", status, body)
			}
		})
	}

	t.Run("concurrent spends of one token succeed once", func(t *testing.T) {
		const n = 8
		statuses := make(chan int, n)
		for range n {
			go func() {
				s, _ := refresh(rt1)
				statuses <- s
			}()
		}
		ok := 0
		for range n {
			if <-statuses == 200 {
				ok++
			}
		}
		if ok != 1 {
			t.Errorf("%d of %d concurrent spends succeeded, want 1", ok, n)
		}
	})
}

// TestLoginWorkerLimitStoresRefresh: --limit-stores-refresh asks only the
// limit server for a refresh token with each login, and only when given.
func TestLoginWorkerLimitStoresRefresh(t *testing.T) {
	for _, tc := range []struct {
		name  string
		limit bool
		flag  bool
		want  bool
	}{
		{"limit with the flag stores a refresh token", true, true, true},
		{"limit without the flag only upserts the user", true, false, false},
		{"broker is never sent the limit's parameter", false, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := runConfig{loadConfig: loadConfig{Concurrency: 2}, Users: 4, LimitStoresRefresh: tc.flag}
			w, err := loginWorker(customIDLogin)(context.Background(), nil, side{Limit: tc.limit}, 0, cfg)
			if err != nil {
				t.Fatal(err)
			}
			forms := w.(*customIDWorker).forms
			if len(forms) != 2 {
				t.Fatalf("worker 0 of 2 has %d forms, want 2", len(forms))
			}
			for _, f := range forms {
				v, err := url.ParseQuery(string(f))
				if err != nil {
					t.Fatal(err)
				}
				if got := v.Get(paramIssueRefresh) == "1"; got != tc.want || v.Get(paramServerCustomID) == "" {
					t.Fatalf("form %q: asks for a refresh token %v, want %v", f, got, tc.want)
				}
			}
		})
	}
}
