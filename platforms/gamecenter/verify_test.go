package gamecenter_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/platforms"
	"github.com/bridgekeeper/bridgekeeper/platforms/gamecenter"
	"github.com/bridgekeeper/bridgekeeper/platforms/gamecenter/gamecentertest"
	"github.com/bridgekeeper/bridgekeeper/platforms/platformtest"
)

type verifyCase struct {
	name string
	// token is what the game sends; config and outage adjust the
	// fixture before Verify.
	token  func(t *testing.T, f *fixture) string
	config func(c *gamecenter.Config)
	outage platformtest.Outage
	// wantUser is the identity on success; otherwise wantKind and a piece
	// of the description.
	wantUser string
	wantKind broker.Kind
	wantDesc string
	// wantFetches is how many requests reach the key server.
	wantFetches int
}

func runVerifyCases(t *testing.T, cases []verifyCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			cfg := f.config()
			if tc.config != nil {
				tc.config(&cfg)
			}
			token := tc.token(t, f)
			f.srv.SetOutage(tc.outage)
			id, err := verify(t, cfg, token)
			if tc.wantUser != "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if id.UserID != tc.wantUser {
					t.Errorf("UserID = %q, want %q", id.UserID, tc.wantUser)
				}
			} else {
				wantRefusal(t, id, err, tc.wantKind, tc.wantDesc, token)
			}
			if got := f.srv.Fetches(); got != tc.wantFetches {
				t.Errorf("the key server got %d requests, want %d", got, tc.wantFetches)
			}
		})
	}
}

func good(k gamecentertest.Key) func(*testing.T, *fixture) string {
	return func(_ *testing.T, f *fixture) string { return f.items(k).JSON() }
}

func TestVerify(t *testing.T) {
	runVerifyCases(t, []verifyCase{
		{
			name:     "a fresh signature is the player's",
			token:    good(gamecentertest.Good),
			wantUser: player, wantFetches: 1,
		},
		{
			name: "teamPlayerId, GameKit's name, is accepted for playerId",
			token: func(t *testing.T, f *fixture) string {
				return f.rewritten(t, func(m map[string]any) { m["teamPlayerId"] = m["playerId"]; delete(m, "playerId") })
			},
			wantUser: player, wantFetches: 1,
		},
		{
			name: "the timestamp may be a string of digits",
			token: func(t *testing.T, f *fixture) string {
				return f.rewritten(t, func(m map[string]any) { m["timestamp"] = string(m["timestamp"].(json.Number)) })
			},
			wantUser: player, wantFetches: 1,
		},
		{
			name:     "a certificate served as PEM is accepted",
			token:    good(gamecentertest.PEM),
			wantUser: player, wantFetches: 1,
		},
		{
			name: "a signature MaxAge old is still accepted",
			token: func(_ *testing.T, f *fixture) string {
				return f.srv.Items(gamecentertest.Good, player, bundle, f.now.Add(-gamecenter.DefaultMaxAge)).JSON()
			},
			wantUser: player, wantFetches: 1,
		},
		{
			name: "a timestamp less than a minute ahead is accepted (clock skew)",
			token: func(_ *testing.T, f *fixture) string {
				return f.srv.Items(gamecentertest.Good, player, bundle, f.now.Add(gamecenter.FutureLeeway)).JSON()
			},
			wantUser: player, wantFetches: 1,
		},
		{
			name:     "another configured organization may sign",
			token:    good(gamecentertest.NotApple),
			config:   func(c *gamecenter.Config) { c.Organizations = []string{"Not Apple Ltd"} },
			wantUser: player, wantFetches: 1,
		},
		{
			name: "should fail because the bundle ID is another game's",
			token: func(_ *testing.T, f *fixture) string {
				return f.srv.Items(gamecentertest.Good, player, otherBundle, f.now).JSON()
			},
			wantKind: broker.KindInvalid, wantDesc: "bundleId is not this game's", wantFetches: 0,
		},
		{
			name: "should fail because the bundle ID was changed after signing",
			token: func(_ *testing.T, f *fixture) string {
				it := f.srv.Items(gamecentertest.Good, player, otherBundle, f.now)
				it.BundleID = bundle
				return it.JSON()
			},
			config:   func(c *gamecenter.Config) { c.BundleIDs = []string{bundle, otherBundle} },
			wantKind: broker.KindInvalid, wantDesc: "signature does not verify", wantFetches: 1,
		},
		{
			name: "should fail because the signature is older than MaxAge",
			token: func(_ *testing.T, f *fixture) string {
				return f.srv.Items(gamecentertest.Good, player, bundle, f.now.Add(-gamecenter.DefaultMaxAge-time.Millisecond)).JSON()
			},
			wantKind: broker.KindInvalid, wantDesc: "too old", wantFetches: 0,
		},
		{
			name: "should fail because the signature is older than a shorter MaxAge",
			token: func(_ *testing.T, f *fixture) string {
				return f.srv.Items(gamecentertest.Good, player, bundle, f.now.Add(-31*time.Second)).JSON()
			},
			config:   func(c *gamecenter.Config) { c.MaxAge = 30 * time.Second },
			wantKind: broker.KindInvalid, wantDesc: "too old", wantFetches: 0,
		},
		{
			name: "should fail because the timestamp is more than a minute ahead",
			token: func(_ *testing.T, f *fixture) string {
				return f.srv.Items(gamecentertest.Good, player, bundle, f.now.Add(gamecenter.FutureLeeway+time.Millisecond)).JSON()
			},
			wantKind: broker.KindInvalid, wantDesc: "in the future", wantFetches: 0,
		},
		{
			name: "should fail because the timestamp is past the end of int64",
			token: func(t *testing.T, f *fixture) string {
				return f.rewritten(t, func(m map[string]any) { m["timestamp"] = strconv.FormatUint(math.MaxUint64, 10) })
			},
			wantKind: broker.KindInvalid, wantDesc: "in the future", wantFetches: 0,
		},
		{
			name:     "should fail because the certificate is issued by a CA that is not a root",
			token:    good(gamecentertest.OtherCA),
			wantKind: broker.KindInvalid, wantDesc: "not issued by a trusted authority", wantFetches: 1,
		},
		{
			name:     "should fail because the certificate is self-signed",
			token:    good(gamecentertest.SelfSigned),
			wantKind: broker.KindInvalid, wantDesc: "not issued by a trusted authority", wantFetches: 1,
		},
		{
			name:     "should fail because the chain lacks its intermediate",
			token:    good(gamecentertest.Good),
			config:   func(c *gamecenter.Config) { c.Intermediates = x509.NewCertPool() },
			wantKind: broker.KindInvalid, wantDesc: "not issued by a trusted authority", wantFetches: 1,
		},
		{
			name:     "should fail because the certificate has expired",
			token:    good(gamecentertest.Expired),
			wantKind: broker.KindInvalid, wantDesc: "certificate has expired", wantFetches: 1,
		},
		{
			name: "should fail because the clock is past the certificate's NotAfter",
			token: func(_ *testing.T, f *fixture) string {
				f.now = f.srv.Started().Add(gamecentertest.LeafLifetime + time.Minute)
				return f.items(gamecentertest.Good).JSON()
			},
			wantKind: broker.KindInvalid, wantDesc: "certificate has expired", wantFetches: 1,
		},
		{
			name:     "should fail because the certificate is another organization's",
			token:    good(gamecentertest.NotApple),
			wantKind: broker.KindInvalid, wantDesc: "not Apple's", wantFetches: 1,
		},
		{
			name:     "should fail because the certificate holds an ECDSA key",
			token:    good(gamecentertest.ECDSA),
			wantKind: broker.KindInvalid, wantDesc: "RSA key", wantFetches: 1,
		},
		{
			name:     "should fail because the certificate holds an RSA key of 1024 bits",
			token:    good(gamecentertest.WeakRSA),
			wantKind: broker.KindInvalid, wantDesc: "RSA key of 2048 bits or more", wantFetches: 1,
		},
		{
			name: "should fail because the signature was tampered with",
			token: func(t *testing.T, f *fixture) string {
				return f.edited(func(it *gamecentertest.Items) { it.Signature = flipped(t, it.Signature) })
			},
			wantKind: broker.KindInvalid, wantDesc: "signature does not verify", wantFetches: 1,
		},
		{
			name: "should fail because the salt was tampered with",
			token: func(t *testing.T, f *fixture) string {
				return f.edited(func(it *gamecentertest.Items) { it.Salt = flipped(t, it.Salt) })
			},
			wantKind: broker.KindInvalid, wantDesc: "signature does not verify", wantFetches: 1,
		},
		{
			name: "should fail because the timestamp was changed after signing",
			token: func(t *testing.T, f *fixture) string {
				return f.edited(func(it *gamecentertest.Items) { it.Timestamp++ })
			},
			wantKind: broker.KindInvalid, wantDesc: "signature does not verify", wantFetches: 1,
		},
		{
			name: "should fail because the signature is another player's",
			token: func(t *testing.T, f *fixture) string {
				return f.edited(func(it *gamecentertest.Items) { it.PlayerID = otherPlayer })
			},
			wantKind: broker.KindInvalid, wantDesc: "signature does not verify", wantFetches: 1,
		},
		{
			name:     "should fail because the key URL answers 404",
			token:    good(gamecentertest.Missing),
			wantKind: broker.KindInvalid, wantDesc: "the Game Center key could not be used", wantFetches: 1,
		},
		{
			name:     "should fail because the key URL answers something that is no certificate",
			token:    good(gamecentertest.Garbage),
			wantKind: broker.KindInvalid, wantDesc: "the Game Center key could not be used", wantFetches: 1,
		},
		{
			name:     "should fail because the key URL redirects (the certificate must come from the URL checked)",
			token:    good(gamecentertest.Redirect),
			wantKind: broker.KindInvalid, wantDesc: "the Game Center key could not be used", wantFetches: 1,
		},
		{
			name:     "should fail because the key server answers 500",
			token:    good(gamecentertest.Good),
			outage:   platformtest.Failing,
			wantKind: broker.KindUnavailable, wantDesc: "gamecenter is unavailable", wantFetches: 1,
		},
		{
			name:  "should fail because the key server does not answer within the timeout",
			token: good(gamecentertest.Good),
			// Long enough for a TLS handshake on a loaded CI machine: the
			// request must reach the server for the hang to be what times out.
			config:   func(c *gamecenter.Config) { c.Timeout = time.Second; c.Name = "game-center" },
			outage:   platformtest.Hanging,
			wantKind: broker.KindUnavailable, wantDesc: "game-center is unavailable", wantFetches: 1,
		},
	})
}

func TestVerifyRefusesTheWrongTokenType(t *testing.T) {
	f := newFixture(t)
	v, err := gamecenter.New(f.config())
	if err != nil {
		t.Fatal(err)
	}
	token := f.items(gamecentertest.Good).JSON()
	id, err := v.Verify(t.Context(), platforms.Request{Token: token, TokenType: platforms.TokenTypeIDToken})
	wantRefusal(t, id, err, broker.KindInvalid, "not a Game Center identity signature", token)
	if got := f.srv.Fetches(); got != 0 {
		t.Errorf("the key server got %d requests, want 0", got)
	}
	if got := v.TokenTypes(); len(got) != 1 || got[0] != platforms.TokenTypeGameCenter {
		t.Errorf("TokenTypes = %q, want [%s]", got, platforms.TokenTypeGameCenter)
	}
}

// A caller that gives up is not held until the fetch's own timeout.
func TestVerifyReturnsWhenTheCallerGivesUp(t *testing.T) {
	f := newFixture(t)
	f.srv.SetOutage(platformtest.Hanging)
	cfg := f.config()
	// Far longer than the test may run: if Verify waited for the fetch
	// rather than for its caller, the test would time out.
	cfg.Timeout = time.Hour
	v, err := gamecenter.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	token := f.items(gamecentertest.Good).JSON()
	id, err := v.Verify(ctx, platforms.Request{Token: token, TokenType: platforms.TokenTypeGameCenter})
	wantRefusal(t, id, err, broker.KindUnavailable, "gamecenter is unavailable", token)
	if !strings.Contains(err.Error(), "deadline exceeded") {
		t.Errorf("error %q does not say the caller's deadline passed", err)
	}
}
