package clientjwt_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/bridgekeeper/bridgekeeper/clientjwt"
	"github.com/bridgekeeper/bridgekeeper/internal/replaytest"
	"github.com/bridgekeeper/bridgekeeper/internal/testclock"
)

func TestJWKSURIIsCached(t *testing.T) {
	ks := newKeyring(t)
	srv := newJWKSServer(t, jwksDoc(t, ks.public()...))
	clk := testclock.New(t0)
	v := newVerifier(t, clk, &replaytest.Memory{})
	keys := clientjwt.Keys{JWKSURI: srv.URL + "/jwks.json"}
	ctx := context.Background()

	verify := func(wantFetches int32) {
		t.Helper()
		if err := v.Verify(ctx, clientID, keys, sign(t, ks.rsa, jose.RS256, "rsa1", claims(clk.Now()))); err != nil {
			t.Fatalf("refused: %v", err)
		}
		if got := srv.fetches.Load(); got != wantFetches {
			t.Fatalf("jwks_uri fetched %d times; want %d", got, wantFetches)
		}
	}
	verify(1)
	verify(1) // another jti, same keys: from the cache
	clk.Advance(4 * time.Minute)
	verify(1)
	clk.Advance(2 * time.Minute) // past the 5 minutes
	verify(2)
}

func TestJWKSURIRotationIsPickedUpByOneRefetch(t *testing.T) {
	for _, tc := range []struct {
		name           string
		oldKID, newKID string // "" sends and registers keys without kid
	}{{"with kid", "ec1", "ec2"}, {"without kid", "", ""}} {
		t.Run(tc.name, func(t *testing.T) {
			ks := newKeyring(t)
			srv := newJWKSServer(t, jwksDoc(t, jose.JSONWebKey{Key: ks.ec.Public(), KeyID: tc.oldKID}))
			clk := testclock.New(t0)
			v := newVerifier(t, clk, &replaytest.Memory{})
			keys := clientjwt.Keys{JWKSURI: srv.URL + "/jwks.json"}
			ctx := context.Background()

			if err := v.Verify(ctx, clientID, keys, sign(t, ks.ec, jose.ES256, tc.oldKID, claims(clk.Now()))); err != nil {
				t.Fatalf("refused: %v", err)
			}
			next, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			srv.set(jwksDoc(t, jose.JSONWebKey{Key: next.Public(), KeyID: tc.newKID}), http.StatusOK, false)
			clk.Advance(90 * time.Second) // the cache is fresh, a refetch is allowed

			if err := v.Verify(ctx, clientID, keys, sign(t, next, jose.ES256, tc.newKID, claims(clk.Now()))); err != nil {
				t.Fatalf("the rotated key was refused: %v", err)
			}
			if got := srv.fetches.Load(); got != 2 {
				t.Fatalf("jwks_uri fetched %d times; want 2", got)
			}
			if tc.oldKID != "" {
				// The old key is gone from the refetched set.
				a := sign(t, ks.ec, jose.ES256, tc.oldKID, claims(clk.Now()))
				wantRefusal(t, v.Verify(ctx, clientID, keys, a), "the client assertion kid matches no registered key", a)
			}
		})
	}
}

func TestJWKSURIShouldFailBecauseTheKIDIsUnknown(t *testing.T) {
	ks := newKeyring(t)
	srv := newJWKSServer(t, jwksDoc(t, ks.public()...))
	clk := testclock.New(t0)
	v := newVerifier(t, clk, &replaytest.Memory{})
	keys := clientjwt.Keys{JWKSURI: srv.URL + "/jwks.json"}
	ctx := context.Background()

	unknown := func(wantFetches int32) {
		t.Helper()
		a := sign(t, ks.rsa, jose.RS256, "made-up", claims(clk.Now()))
		wantRefusal(t, v.Verify(ctx, clientID, keys, a), "the client assertion kid matches no registered key", a)
		if got := srv.fetches.Load(); got != wantFetches {
			t.Fatalf("jwks_uri fetched %d times; want %d", got, wantFetches)
		}
	}
	unknown(1) // the first fetch; too recent to refetch
	clk.Advance(10 * time.Second)
	unknown(1)
	clk.Advance(61 * time.Second)
	unknown(2) // one refetch
	for range 5 {
		clk.Advance(10 * time.Second)
		unknown(2) // no more within the minute
	}
	clk.Advance(15 * time.Second)
	unknown(3)
}

func TestJWKSURIShouldFailBecauseNoKeyVerifies(t *testing.T) {
	ks := newKeyring(t)
	srv := newJWKSServer(t, jwksDoc(t, ks.public()...))
	clk := testclock.New(t0)
	v := newVerifier(t, clk, &replaytest.Memory{})
	keys := clientjwt.Keys{JWKSURI: srv.URL + "/jwks.json"}
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	a := sign(t, other, jose.ES256, "", claims(clk.Now()))
	wantRefusal(t, v.Verify(context.Background(), clientID, keys, a), "the client assertion signature does not verify", a)
}

func TestJWKSURIShouldBeUnavailableBecauseItIsDown(t *testing.T) {
	ks := newKeyring(t)
	srv := newJWKSServer(t, nil)
	clk := testclock.New(t0)
	v := newVerifier(t, clk, &replaytest.Memory{})
	// The query stands for a credential the client put in its URI.
	keys := clientjwt.Keys{JWKSURI: srv.URL + "/jwks.json?sig=s3cr3t"}
	ctx := context.Background()

	for name, set := range map[string]func(){
		"500":           func() { srv.set([]byte("oops"), http.StatusInternalServerError, false) },
		"not a JWK Set": func() { srv.set([]byte("<html>"), http.StatusOK, false) },
	} {
		t.Run(name, func(t *testing.T) {
			set()
			before := srv.fetches.Load()
			a := sign(t, ks.rsa, jose.RS256, "rsa1", claims(clk.Now()))
			err := v.Verify(ctx, clientID, keys, a)
			wantUnavailable(t, err)
			if srv.fetches.Load() == before {
				t.Fatal("the jwks_uri was not asked")
			}
			if msg := err.Error(); strings.Contains(msg, "s3cr3t") || strings.Contains(msg, a) {
				t.Fatalf("error text leaks the query or the assertion: %s", msg)
			}
		})
	}

	// Once it is back, the same client passes: nothing was held against it.
	srv.set(jwksDoc(t, ks.public()...), http.StatusOK, false)
	if err := v.Verify(ctx, clientID, keys, sign(t, ks.rsa, jose.RS256, "rsa1", claims(clk.Now()))); err != nil {
		t.Fatalf("refused after recovery: %v", err)
	}
}

func TestJWKSURIShouldBeUnavailableBecauseItHangs(t *testing.T) {
	ks := newKeyring(t)
	srv := newJWKSServer(t, nil)
	srv.set(nil, http.StatusOK, true)
	keys := clientjwt.Keys{JWKSURI: srv.URL + "/jwks.json?sig=s3cr3t"}

	for name, client := range map[string]*http.Client{
		"default client": nil,
		// Timeout must bound the fetch even when the caller's client has none.
		"client without a timeout": {},
	} {
		t.Run(name, func(t *testing.T) {
			clk := testclock.New(t0)
			v := newVerifier(t, clk, &replaytest.Memory{}, func(c *clientjwt.Config) {
				c.Timeout = 200 * time.Millisecond
				c.Client = client
			})
			// The caller's deadline is only a backstop so that a missing
			// timeout fails this test instead of hanging it.
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			start := time.Now()
			err := v.Verify(ctx, clientID, keys, sign(t, ks.rsa, jose.RS256, "rsa1", claims(clk.Now())))
			if took := time.Since(start); took > 2*time.Second {
				t.Fatalf("Verify took %v; want about the 200ms timeout", took)
			}
			wantUnavailable(t, err)
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Fatalf("error text leaks the query: %v", err)
			}
		})
	}
}

func TestJWKSURIShouldFailBecauseItIsNotAcceptable(t *testing.T) {
	ks := newKeyring(t)
	v := newVerifier(t, testclock.New(t0), &replaytest.Memory{})
	a := sign(t, ks.rsa, jose.RS256, "rsa1", claims(t0))
	wantRefusal(t, v.Verify(context.Background(), clientID, clientjwt.Keys{JWKSURI: "http://10.0.0.1/jwks"}, a),
		"the client's registered jwks_uri is not acceptable", a)
}

func TestJWKSURIConcurrentVerifiesShareOneFetch(t *testing.T) {
	ks := newKeyring(t)
	srv := newJWKSServer(t, jwksDoc(t, ks.public()...))
	clk := testclock.New(t0)
	v := newVerifier(t, clk, &replaytest.Memory{})
	keys := clientjwt.Keys{JWKSURI: srv.URL + "/jwks.json"}

	const n = 16
	assertions := make([]string, n)
	for i := range assertions {
		assertions[i] = sign(t, ks.ec, jose.ES256, "ec1", claims(clk.Now()))
	}
	errs := make(chan error, n)
	for _, a := range assertions {
		go func() { errs <- v.Verify(context.Background(), clientID, keys, a) }()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("refused: %v", err)
		}
	}
	if got := srv.fetches.Load(); got != 1 {
		t.Fatalf("jwks_uri fetched %d times by %d concurrent verifies; want 1", got, n)
	}
}

func TestJWKSURIShouldBeUnavailableBecauseItIsTooLarge(t *testing.T) {
	ks := newKeyring(t)
	doc := jwksDoc(t, ks.public()...)
	// Valid JSON, just over 1 MiB: the size alone must refuse it.
	big := append([]byte(strings.Repeat(" ", 1<<20)), doc...)
	srv := newJWKSServer(t, big)
	clk := testclock.New(t0)
	v := newVerifier(t, clk, &replaytest.Memory{})
	err := v.Verify(context.Background(), clientID, clientjwt.Keys{JWKSURI: srv.URL + "/jwks.json"},
		sign(t, ks.ec, jose.ES256, "ec1", claims(clk.Now())))
	wantUnavailable(t, err)
}
