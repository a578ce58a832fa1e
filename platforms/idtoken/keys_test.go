package idtoken_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/platforms"
	"github.com/bridgekeeper/bridgekeeper/platforms/idtoken"
	"github.com/bridgekeeper/bridgekeeper/platforms/idtoken/idtokentest"
	"github.com/bridgekeeper/bridgekeeper/platforms/platformtest"
)

// mustVerify verifies token and wants user ID p1.
func (f *fixture) mustVerify(t *testing.T, token string) {
	t.Helper()
	id, err := f.verify(token, "")
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if id.UserID != "p1" {
		t.Fatalf("user ID %q; want p1", id.UserID)
	}
}

// wantFetches checks how often the issuer's key set was asked for.
func (f *fixture) wantFetches(t *testing.T, want int) {
	t.Helper()
	if got := f.iss.JWKSFetches(); got != want {
		t.Fatalf("%d key-set fetches; want %d", got, want)
	}
}

func TestNewMakesNoRequest(t *testing.T) {
	f := newFixture(t, nil)
	f.iss.SetOutage(platformtest.Failing)
	f.wantFetches(t, 0)
	f.iss.SetOutage(platformtest.Up)
	f.mustVerify(t, f.iss.Token("p1", game))
	f.wantFetches(t, 1)
}

func TestUnknownKidRefetchesAtMostOnceAMinute(t *testing.T) {
	f := newFixture(t, nil)
	unknown := func() string {
		return f.iss.SignHeader("ES256", map[string]any{"kid": "made-up"}, f.claims(nil))
	}
	f.mustVerify(t, f.iss.Token("p1", game))
	f.wantFetches(t, 1)

	steps := []struct {
		advance time.Duration
		fetches int
	}{
		{0, 1},                // fetched just now
		{59 * time.Second, 1}, // still within the minute
		{time.Second, 2},      // a minute after the last fetch
		{30 * time.Second, 2}, // within the minute of that refetch
		{30 * time.Second, 3},
	}
	for _, s := range steps {
		f.clock.Advance(s.advance)
		for range 3 {
			token := unknown()
			_, err := f.verify(token, "")
			wantRefusal(t, err, token, broker.KindInvalid, "the ID token's key is unknown")
		}
		f.wantFetches(t, s.fetches)
	}
	// Known kids never refetch.
	f.mustVerify(t, f.iss.Token("p1", game))
	f.wantFetches(t, 3)
}

func TestRotatedKeyVerifiesAfterOneRefetch(t *testing.T) {
	f := newFixture(t, nil)
	f.mustVerify(t, f.iss.Token("p1", game))
	old := f.iss.SignWith("RS256", f.claims(nil))
	f.clock.Advance(2 * time.Minute)
	f.iss.Rotate()

	f.mustVerify(t, f.iss.Token("p1", game))
	f.wantFetches(t, 2)
	f.mustVerify(t, f.iss.SignWith("RS256", f.claims(nil)))
	f.mustVerify(t, old) // still published
	f.wantFetches(t, 2)
}

func TestWithdrawnKeyStopsVerifyingAfterMaxAge(t *testing.T) {
	f := newFixture(t, nil)
	long := func(c map[string]any) { c["exp"] = c["iat"].(int64) + int64(3*idtoken.KeysMaxAge/time.Second) }
	old := f.iss.Sign(f.claims(long))
	f.mustVerify(t, old)
	f.iss.Rotate()
	f.iss.Retire()

	f.clock.Advance(idtoken.KeysMaxAge - time.Second)
	f.mustVerify(t, old) // the cached set still has it
	f.wantFetches(t, 1)

	f.clock.Advance(time.Second)
	_, err := f.verify(old, "")
	wantRefusal(t, err, old, broker.KindInvalid, "the ID token's key is unknown")
	f.wantFetches(t, 2)
}

func TestOldKeySetStaysInUseWhenRefreshFails(t *testing.T) {
	f := newFixture(t, nil)
	f.mustVerify(t, f.iss.Token("p1", game))
	f.iss.SetOutage(platformtest.Failing)

	f.clock.Advance(idtoken.KeysMaxAge)
	f.mustVerify(t, f.iss.Token("p1", game)) // the due refresh fails
	f.wantFetches(t, 2)

	// A kid we do not know may be one rotated in: the outage is the answer.
	f.clock.Advance(time.Minute)
	token := f.iss.SignHeader("ES256", map[string]any{"kid": "rotated-in"}, f.claims(nil))
	_, err := f.verify(token, "")
	wantRefusal(t, err, token, broker.KindUnavailable, "fakeid is unavailable")
	f.wantFetches(t, 3)
	f.mustVerify(t, f.iss.Token("p1", game))
	f.wantFetches(t, 3)
}

func TestIssuerDown(t *testing.T) {
	cases := []struct {
		name      string // should be unavailable because ...
		configure func(*idtoken.Config)
		outage    platformtest.Outage
	}{
		{name: "discovery answers 500", outage: platformtest.Failing},
		{name: "the key set answers 500", outage: platformtest.Failing,
			configure: func(c *idtoken.Config) { c.JWKSURL = c.Issuer + "/keys" }},
		// The timeout bounds the fetches after recovery too, so it leaves
		// room for a loopback fetch on a loaded machine under -race (50 ms
		// did not, once in make test).
		{name: "discovery hangs past the timeout", outage: platformtest.Hanging,
			configure: func(c *idtoken.Config) { c.Timeout = 300 * time.Millisecond }},
		{name: "the key set hangs past the timeout", outage: platformtest.Hanging,
			configure: func(c *idtoken.Config) { c.JWKSURL = c.Issuer + "/keys"; c.Timeout = 300 * time.Millisecond }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, tc.configure)
			f.iss.SetOutage(tc.outage)
			token := f.iss.Token("p1", game)
			_, err := f.verify(token, "")
			wantRefusal(t, err, token, broker.KindUnavailable, "fakeid is unavailable; retry")

			// No key set yet: the next request within RetryAfterFailure
			// does not wait for the platform again.
			f.iss.SetOutage(platformtest.Up)
			_, err = f.verify(token, "")
			wantRefusal(t, err, token, broker.KindUnavailable, "fakeid is unavailable")
			f.clock.Advance(idtoken.RetryAfterFailure)
			f.mustVerify(t, token)
		})
	}
}

func TestCallerDeadline(t *testing.T) {
	// The platform's own timeout is far away: only the caller's ends the wait.
	f := newFixture(t, func(c *idtoken.Config) { c.Timeout = time.Hour })
	f.iss.SetOutage(platformtest.Hanging)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	token := f.iss.Token("p1", game)
	done := make(chan error, 1)
	go func() {
		_, err := f.v.Verify(ctx, platforms.Request{Token: token, TokenType: platforms.TokenTypeIDToken})
		done <- err
	}()
	select {
	case err := <-done:
		wantRefusal(t, err, token, broker.KindUnavailable, "fakeid is unavailable")
	case <-time.After(10 * time.Second):
		t.Fatal("Verify went on waiting after its context ended")
	}
}

func TestMalformedAnswers(t *testing.T) {
	// Each server answers discovery as its case says and /keys with real's
	// key set, unless the case says otherwise, so that only what the case
	// breaks can make the fetch fail.
	cases := []struct {
		name string // should be unavailable because ...
		// discovery answers for the issuer at srv; "" serves a valid one.
		discovery func(srv string) string
		keys      string // the key set; "" serves real's
		status    int    // of the key set; 0 means 200
	}{
		{name: "the key set is not JSON", keys: "<html>maintenance</html>"},
		{name: "the key set has no keys", keys: `{"keys":[]}`},
		{name: "the key set is not a key set", keys: `{"issuer":"x"}`},
		{name: "the key set has only a symmetric key", keys: `{"keys":[{"kty":"oct","kid":"k","k":"c2VjcmV0c2VjcmV0c2VjcmV0"}]}`},
		{name: "the key set's keys are for encryption", keys: "enc"},
		{name: "the key set answers 404", status: http.StatusNotFound},
		{name: "discovery names another issuer", discovery: func(srv string) string {
			return `{"issuer":"https://elsewhere.example","jwks_uri":"` + srv + `/keys"}`
		}},
		{name: "discovery names a plain-http key set off loopback", discovery: func(srv string) string {
			return `{"issuer":"` + srv + `","jwks_uri":"http://keys.example/keys"}`
		}},
		{name: "discovery names no key set", discovery: func(srv string) string { return `{"issuer":"` + srv + `"}` }},
		{name: "discovery is not JSON", discovery: func(string) string { return "{" }},
	}
	real := idtokentest.NewIssuer(t)
	realKeys := fetchBody(t, real.JWKSURL())
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var srv *httptest.Server
			srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch {
				case r.URL.Path == "/keys" && tc.status != 0:
					w.WriteHeader(tc.status)
				case r.URL.Path == "/keys" && tc.keys == "enc":
					w.Write(bytes.ReplaceAll(realKeys, []byte(`"use":"sig"`), []byte(`"use":"enc"`)))
				case r.URL.Path == "/keys" && tc.keys != "":
					w.Write([]byte(tc.keys))
				case r.URL.Path == "/keys":
					w.Write(realKeys)
				case tc.discovery != nil:
					w.Write([]byte(tc.discovery(srv.URL)))
				default:
					w.Write([]byte(`{"issuer":"` + srv.URL + `","jwks_uri":"` + srv.URL + `/keys"}`))
				}
			}))
			t.Cleanup(srv.Close)
			// Every request goes to srv, whatever host it names, so that a
			// key set at a URL the verifier should not trust would be found.
			client := &http.Client{Transport: toServer{srv}}
			v, err := idtoken.New(idtoken.Config{Name: "fakeid", Issuer: srv.URL, Audiences: []string{game}, Client: client})
			if err != nil {
				t.Fatal(err)
			}
			claims := real.Claims("p1", game)
			claims["iss"] = srv.URL
			token := real.Sign(claims)
			_, err = v.Verify(context.Background(), platforms.Request{Token: token, TokenType: platforms.TokenTypeIDToken})
			wantRefusal(t, err, token, broker.KindUnavailable, "fakeid is unavailable")
		})
	}
}

// TestMalformedAnswersControl is TestMalformedAnswers' server with nothing
// broken: the token verifies, so each case fails for what it breaks.
func TestMalformedAnswersControl(t *testing.T) {
	real := idtokentest.NewIssuer(t)
	realKeys := fetchBody(t, real.JWKSURL())
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/keys" {
			w.Write(realKeys)
			return
		}
		w.Write([]byte(`{"issuer":"` + srv.URL + `","jwks_uri":"` + srv.URL + `/keys"}`))
	}))
	t.Cleanup(srv.Close)
	client := &http.Client{Transport: toServer{srv}}
	v, err := idtoken.New(idtoken.Config{Name: "fakeid", Issuer: srv.URL, Audiences: []string{game}, Client: client})
	if err != nil {
		t.Fatal(err)
	}
	claims := real.Claims("p1", game)
	claims["iss"] = srv.URL
	if _, err := v.Verify(context.Background(), platforms.Request{Token: real.Sign(claims)}); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

// toServer sends every request to srv.
type toServer struct{ srv *httptest.Server }

func (s toServer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host = "http", s.srv.Listener.Addr().String()
	return http.DefaultTransport.RoundTrip(r)
}

func fetchBody(t *testing.T, u string) []byte {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// deadlineTransport records how much time each request was given.
type deadlineTransport struct {
	mu   sync.Mutex
	left []time.Duration
}

func (d *deadlineTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	deadline, ok := r.Context().Deadline()
	d.mu.Lock()
	if ok {
		d.left = append(d.left, time.Until(deadline))
	} else {
		d.left = append(d.left, -1)
	}
	d.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func TestTimeoutBoundsEachRequest(t *testing.T) {
	const timeout = 700 * time.Millisecond
	tr := &deadlineTransport{}
	f := newFixture(t, func(c *idtoken.Config) { c.Timeout = timeout; c.Client = &http.Client{Transport: tr} })
	f.mustVerify(t, f.iss.Token("p1", game))
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(tr.left) != 2 { // discovery, key set
		t.Fatalf("%d requests; want 2", len(tr.left))
	}
	for _, left := range tr.left {
		if left <= 0 || left > timeout {
			t.Fatalf("a request was given %v; want at most %v", left, timeout)
		}
	}
}

// slowTransport delays every request, widening the window in which
// concurrent callers find no key set.
type slowTransport struct{}

func (slowTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	time.Sleep(50 * time.Millisecond)
	return http.DefaultTransport.RoundTrip(r)
}

func TestConcurrentCallersShareOneFetch(t *testing.T) {
	f := newFixture(t, func(c *idtoken.Config) { c.Client = &http.Client{Transport: slowTransport{}} })
	token := f.iss.Token("p1", game)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			_, err := f.verify(token, "")
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
	}
	f.wantFetches(t, 1)
}
