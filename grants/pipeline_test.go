package grants

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"testing"
	"time"

	"github.com/go-oauth2/oauth2/v4"
	oauth2errors "github.com/go-oauth2/oauth2/v4/errors"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/throttle"
)

// The broker keeps grant types as plain strings; they must be the RFC's,
// as go-oauth2 spells them.
func TestGrantTypesAreTheRFCs(t *testing.T) {
	for got, want := range map[string]oauth2.GrantType{
		broker.GrantAuthorizationCode: oauth2.AuthorizationCode,
		broker.GrantRefreshToken:      oauth2.Refreshing,
		broker.GrantClientCredentials: oauth2.ClientCredentials,
	} {
		if got != string(want) {
			t.Errorf("broker grant %q, want %q", got, want)
		}
	}
}

// clients is a fixed set of clients with the secret "s3cret", and one
// trusted server token per client ("token-<id>").
type clients map[string]broker.Client

func (cs clients) AuthenticateClient(_ context.Context, id, secret string) (broker.Client, error) {
	c, ok := cs[id]
	if !ok || (!c.Public && secret != "s3cret") || (c.Public && secret != "") {
		return broker.Client{}, broker.Unauthenticated("client authentication failed", nil)
	}
	return c, nil
}

func (cs clients) VerifyAccess(_ context.Context, token string) (broker.AccessClaims, error) {
	switch token {
	case "expired":
		return broker.AccessClaims{}, broker.ErrTokenExpired
	case "down":
		return broker.AccessClaims{}, fmt.Errorf("verify: %w", broker.ErrUnavailable)
	case "player":
		return broker.AccessClaims{ClientID: "server", UserID: "u1", Namespace: "ns"}, nil
	}
	for id := range cs {
		if token == "token-"+id {
			return broker.AccessClaims{ClientID: id, Namespace: "ns"}, nil
		}
	}
	return broker.AccessClaims{}, errors.New("bad signature")
}

func (cs clients) Client(_ context.Context, id string) (broker.Client, error) {
	if c, ok := cs[id]; ok {
		return c, nil
	}
	return broker.Client{}, broker.ErrNotFound
}

// grant answers with err, or a token; typ "" is refresh_token.
type grant struct {
	typ string
	err error
}

func (g grant) Type() string { return cmp.Or(g.typ, broker.GrantRefreshToken) }
func (g grant) Exchange(context.Context, Request) (broker.Token, error) {
	return broker.Token{AccessToken: "at"}, g.err
}

// limiter refuses every key in deny.
type limiter struct{ deny map[string]bool }

func (l limiter) Allow(_ context.Context, key string, _ float64, _ int) (bool, time.Duration) {
	return !l.deny[key], time.Second
}
func (l limiter) Wait(context.Context, string, float64, int) time.Duration { return 0 }
func (l limiter) Take(context.Context, string, float64, int)               {}

var testClients = clients{
	"server": {ID: "server", NamespaceID: "ns", Grants: []string{broker.GrantRefreshToken, broker.GrantClientCredentials}, Scopes: []string{"game"}},
	"game":   {ID: "game", NamespaceID: "ns", Public: true, Grants: []string{broker.GrantClientCredentials, broker.GrantRefreshToken}},
	"narrow": {ID: "narrow", NamespaceID: "ns", Grants: []string{broker.GrantAuthorizationCode}},
}

func TestTokenRefusals(t *testing.T) {
	form := func(kv ...string) url.Values {
		v := url.Values{"grant_type": {broker.GrantRefreshToken}}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	server := Caller{Addr: "10.0.0.1", ID: "server", Secret: "s3cret"}
	for _, tc := range []struct {
		name     string
		caller   Caller
		form     url.Values
		grantErr error
		deny     string
		want     error // the OAuth2 code, or nil for none
		wantKind broker.Kind
	}{
		{name: "should fail because grant_type is missing", caller: server, form: url.Values{}, want: oauth2errors.ErrInvalidRequest, wantKind: broker.KindInvalid},
		{name: "should fail because no client authenticates", caller: Caller{Addr: "a"}, form: form(), want: oauth2errors.ErrInvalidClient, wantKind: broker.KindUnauthenticated},
		{name: "should fail because the secret is wrong", caller: Caller{ID: "server", Secret: "x"}, form: form(), want: oauth2errors.ErrInvalidClient, wantKind: broker.KindUnauthenticated},
		{name: "should fail because the grant is unknown", caller: server, form: url.Values{"grant_type": {"password"}}, want: oauth2errors.ErrUnsupportedGrantType, wantKind: broker.KindInvalid},
		{name: "should fail because the client is not allowed the grant", caller: Caller{ID: "narrow", Secret: "s3cret"}, form: form(), want: oauth2errors.ErrUnauthorizedClient, wantKind: broker.KindForbidden},
		{name: "should fail because a public client asks for client_credentials", caller: Caller{ID: "game"}, form: url.Values{"grant_type": {broker.GrantClientCredentials}}, want: oauth2errors.ErrUnauthorizedClient, wantKind: broker.KindForbidden},
		{name: "should fail because the scope is not the client's", caller: server, form: form("scope", "admin"), want: oauth2errors.ErrInvalidScope, wantKind: broker.KindInvalid},
		{name: "should fail because the grant's credential is refused", caller: server, form: form(), grantErr: broker.Unauthenticated("refresh token expired", nil), want: oauth2errors.ErrInvalidGrant, wantKind: broker.KindUnauthenticated},
		{name: "should fail because the player is banned", caller: server, form: form(), grantErr: broker.ErrBanned, want: oauth2errors.ErrInvalidGrant, wantKind: broker.KindForbidden},
		{name: "should fail because the broker narrows no wider scope", caller: server, form: form(), grantErr: broker.Invalid("scope", "exceeds"), want: oauth2errors.ErrInvalidScope, wantKind: broker.KindInvalid},
		{name: "should fail because the grant's parameter is missing", caller: server, form: form(), grantErr: missing("refresh_token"), want: oauth2errors.ErrInvalidRequest, wantKind: broker.KindInvalid},
		{name: "should fail unavailable, with no OAuth2 code", caller: server, form: form(), grantErr: fmt.Errorf("x: %w", broker.ErrUnavailable), wantKind: broker.KindUnavailable},
		{name: "should fail internal, with no OAuth2 code", caller: server, form: form(), grantErr: errors.New("disk on fire"), wantKind: broker.KindInternal},
		{name: "should fail because the client is over its rate", caller: server, form: form(), deny: "client:server", wantKind: broker.KindRateLimited},
		{name: "should fail because the address is over its rate", caller: server, form: form(), deny: "rate:addr:10.0.0.1", wantKind: broker.KindRateLimited},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := New(Config{Clients: testClients, Limiter: limiter{deny: map[string]bool{tc.deny: true}}, Limits: Limits{}, Log: slog.New(slog.DiscardHandler)},
				grant{err: tc.grantErr}, grant{typ: broker.GrantClientCredentials})
			_, err := p.Token(context.Background(), tc.caller, tc.form)
			if err == nil {
				t.Fatal("no error")
			}
			var ge *Error
			switch {
			case tc.want == nil && errors.As(err, &ge):
				t.Errorf("got OAuth2 code %v, want none: %v", ge.Code, err)
			case tc.want != nil && (!errors.As(err, &ge) || ge.Code != tc.want):
				t.Errorf("got %v, want code %v", err, tc.want)
			}
			if k := broker.KindOf(err); k != tc.wantKind {
				t.Errorf("kind %v, want %v (%v)", k, tc.wantKind, err)
			}
		})
	}
	t.Run("a good request gets its token", func(t *testing.T) {
		p := New(Config{Clients: testClients, Limiter: limiter{}, Limits: Limits{}, Log: slog.New(slog.DiscardHandler)}, grant{})
		if tok, err := p.Token(context.Background(), server, form("scope", "game")); err != nil || tok.AccessToken != "at" {
			t.Fatalf("%+v, %v", tok, err)
		}
	})
}

func TestServerRefusals(t *testing.T) {
	for _, tc := range []struct {
		name          string
		caller        Caller
		grant         string
		kind          broker.Kind
		field, reason string
	}{
		{"should fail because no token is sent", Caller{}, "", broker.KindUnauthenticated, "accessToken", "required"},
		{"should fail because the token expired", Caller{Bearer: "expired"}, "", broker.KindUnauthenticated, "accessToken", "expired"},
		{"should fail because the token does not verify", Caller{Bearer: "forged"}, "", broker.KindUnauthenticated, "accessToken", "invalid"},
		{"should fail because it is a player's token", Caller{Bearer: "player"}, "", broker.KindUnauthenticated, "accessToken", "invalid"},
		{"should fail because the claimed client is another", Caller{Bearer: "token-server", ClaimedID: "game"}, "", broker.KindUnauthenticated, "clientId", "invalid"},
		{"should fail because the client is public", Caller{Bearer: "token-game"}, "", broker.KindUnauthenticated, "accessToken", "invalid"},
		{"should fail because the client is not allowed the grant", Caller{Bearer: "token-server"}, broker.GrantServerCustomID, broker.KindForbidden, "client_id", ""},
		{"should fail because the store is down", Caller{Bearer: "down"}, "", broker.KindUnavailable, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := New(Config{Clients: testClients, Limiter: limiter{}, Limits: Limits{}, Log: slog.New(slog.DiscardHandler)})
			_, err := p.Server(context.Background(), tc.caller, tc.grant)
			if k := broker.KindOf(err); k != tc.kind {
				t.Fatalf("kind %v, want %v (%v)", k, tc.kind, err)
			}
			if tc.field == "" {
				return
			}
			if e := broker.Refusal(err); e.Field != tc.field || e.Reason != tc.reason {
				t.Errorf("field %q reason %q, want %q %q", e.Field, e.Reason, tc.field, tc.reason)
			}
		})
	}
	p := New(Config{Clients: testClients, Limiter: limiter{}, Limits: Limits{}, Log: slog.New(slog.DiscardHandler)})
	if c, err := p.Server(context.Background(), Caller{Bearer: "token-server", ClaimedID: "server"}, broker.GrantClientCredentials); err != nil || c.ID != "server" {
		t.Fatalf("a trusted server's own token: %+v, %v", c, err)
	}
}

// TestGuardKeys: a failure spends the budget of its pair (client ID or
// password's identifier, with the address), its address's and its
// identifier's; pair and address refuse up front, the identifier's refuses
// only a wrong password.
func TestGuardKeys(t *testing.T) {
	ctx := context.Background()
	limits := Limits{AuthFailuresPerMinute: 1, PasswordFailuresPerMinute: 1, AddressFailuresPerMinute: 3, IdentifierFailuresPerMinute: 2}
	cc := url.Values{"grant_type": {broker.GrantClientCredentials}}
	secret := func(addr, id, secret string) func(*Pipeline) error {
		return func(p *Pipeline) error {
			_, err := p.Token(ctx, Caller{Addr: addr, ID: id, Secret: secret}, cc)
			return err
		}
	}
	password := func(addr string, right bool) func(*Pipeline) error {
		return func(p *Pipeline) error {
			return p.Guarded(ctx, Caller{Addr: addr}, "takeover:1:a@example.com", func() error {
				if right {
					return nil
				}
				return broker.Unauthenticated("password is incorrect", nil)
			})
		}
	}
	for _, tc := range []struct {
		name     string
		failures []func(*Pipeline) error
		probe    func(*Pipeline) error
		admitted bool        // else refused as rate limited
		kind     broker.Kind // when admitted and refused all the same
	}{
		{name: "should fail because the client failed from this address", failures: []func(*Pipeline) error{secret("X", "server", "x")},
			probe: secret("X", "server", "s3cret")},
		{name: "should pass because the client failed from another address", failures: []func(*Pipeline) error{secret("X", "server", "x")},
			probe: secret("Y", "server", "s3cret"), admitted: true},
		{name: "should pass because another client failed from this address", failures: []func(*Pipeline) error{secret("X", "narrow", "x")},
			probe: secret("X", "server", "s3cret"), admitted: true},
		{name: "should fail because the unknown client failed from this address, as a known one", failures: []func(*Pipeline) error{secret("X", "ghost", "x")},
			probe: secret("X", "ghost", "x")},
		{name: "should fail because the address spent its cap across clients",
			failures: []func(*Pipeline) error{secret("X", "ghost1", "x"), secret("X", "ghost2", "x"), password("X", false)},
			probe:    secret("X", "server", "s3cret")},
		{name: "should fail because the client failed from another address of this IPv6 /64",
			failures: []func(*Pipeline) error{secret("2001:db8:1:2::1", "server", "x")},
			probe:    secret("2001:db8:1:2:ffff::9", "server", "s3cret")},
		{name: "should pass because the client failed from another IPv6 /64",
			failures: []func(*Pipeline) error{secret("2001:db8:1:2::1", "server", "x")},
			probe:    secret("2001:db8:1:3::1", "server", "s3cret"), admitted: true},
		{name: "should fail because the password failed from this address", failures: []func(*Pipeline) error{password("X", false)},
			probe: password("X", true)},
		{name: "should pass because the password failed from another address", failures: []func(*Pipeline) error{password("X", false)},
			probe: password("Y", true), admitted: true},
		{name: "should pass because the right password passes the identifier's cap",
			failures: []func(*Pipeline) error{password("X", false), password("Y", false)},
			probe:    password("Z", true), admitted: true},
		{name: "should fail because a wrong password meets the identifier's cap",
			failures: []func(*Pipeline) error{password("X", false), password("Y", false)},
			probe:    password("Z", false)},
		{name: "should fail as wrong because the identifier's cap is not spent",
			failures: []func(*Pipeline) error{password("X", false)},
			probe:    password("Z", false), admitted: true, kind: broker.KindUnauthenticated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Unix(1_700_000_000, 0)
			p := New(Config{Clients: testClients, Limiter: throttle.New(100, func() time.Time { return now }), Limits: limits, Log: slog.New(slog.DiscardHandler)}, grant{typ: broker.GrantClientCredentials})
			for i, fail := range tc.failures {
				if k := broker.KindOf(fail(p)); k != broker.KindUnauthenticated {
					t.Fatalf("failure %d: kind %v, want unauthenticated", i, k)
				}
			}
			err := tc.probe(p)
			switch {
			case !tc.admitted && broker.KindOf(err) != broker.KindRateLimited:
				t.Fatalf("%v, want rate limited", err)
			case tc.admitted && tc.kind == 0 && err != nil:
				t.Fatalf("%v, want none", err)
			case tc.admitted && tc.kind != 0 && broker.KindOf(err) != tc.kind:
				t.Fatalf("%v, want kind %v", err, tc.kind)
			}
		})
	}
}
