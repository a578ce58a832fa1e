package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/grants"
	"github.com/bridgekeeper/bridgekeeper/platforms"
	"github.com/bridgekeeper/bridgekeeper/platforms/gamecenter"
	"github.com/bridgekeeper/bridgekeeper/platforms/gamecenter/gamecentertest"
	"github.com/bridgekeeper/bridgekeeper/platforms/idtoken"
	"github.com/bridgekeeper/bridgekeeper/platforms/idtoken/idtokentest"
	"github.com/bridgekeeper/bridgekeeper/platforms/oauth2token"
	"github.com/bridgekeeper/bridgekeeper/platforms/oauth2token/oauth2tokentest"
	"github.com/bridgekeeper/bridgekeeper/platforms/platformtest"
	"github.com/bridgekeeper/bridgekeeper/platforms/steam"
	"github.com/bridgekeeper/bridgekeeper/platforms/steam/steamtest"
)

// Token exchange (issue 12): the platform fakes speak each platform's
// wire format; the broker runs as serve wires it.

const (
	exSteamSlot   = 20
	exAppleSlot   = 21
	exDiscordSlot = 22
	exGCSlot      = 23
	exAudience    = "com.example.game"
	exDiscordApp  = "111111111111111111"
)

// exPlatforms are the fakes of the platforms a fixture trusts.
type exPlatforms struct {
	steam   *steamtest.Server
	apple   *idtokentest.Issuer
	discord *oauth2tokentest.Server
	gc      *gamecentertest.KeyServer
}

// exEachStore runs fn on each store with a fixture whose token endpoint
// exchanges Steam tickets, ID tokens of one issuer ("apple"), Discord
// access tokens and Game Center signatures, each platform a fake of its
// own.
func exEachStore(t *testing.T, fn func(t *testing.T, f *fixture, p exPlatforms)) {
	for _, backend := range []struct {
		name string
		open func(*testing.T) broker.Store
	}{{"sqlite", func(t *testing.T) broker.Store { return openSQLite(t) }}, {"postgres", openPostgres}} {
		t.Run(backend.name, func(t *testing.T) {
			t.Parallel()
			p := exPlatforms{
				steam:   steamtest.NewServer(t, "480", "publisher-key-0123456789abcdef"),
				apple:   idtokentest.NewIssuer(t),
				discord: oauth2tokentest.NewServer(t, exDiscordApp),
				gc:      gamecentertest.NewKeyServer(t),
			}
			sc := p.steam.Config()
			sc.Name, sc.RejectPublisherBanned, sc.Timeout = "steam", true, 300*time.Millisecond
			sv, err := steam.New(sc)
			if err != nil {
				t.Fatal(err)
			}
			av, err := idtoken.New(idtoken.Config{Name: "apple", Issuer: p.apple.URL(), Audiences: []string{exAudience}, Timeout: 300 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			dc := p.discord.Config("discord")
			dc.Timeout = 300 * time.Millisecond
			dv, err := oauth2token.New(dc)
			if err != nil {
				t.Fatal(err)
			}
			gcc := p.gc.Config(exAudience)
			gcc.Timeout = 300 * time.Millisecond
			gv, err := gamecenter.New(gcc)
			if err != nil {
				t.Fatal(err)
			}
			plats := []grants.Platform{{Name: "steam", Slot: exSteamSlot, Verifier: sv}, {Name: "apple", Slot: exAppleSlot, Verifier: av},
				{Name: "discord", Slot: exDiscordSlot, Verifier: dv}, {Name: "gamecenter", Slot: exGCSlot, Verifier: gv}}
			f := buildFixture(t, backend.open(t), nil, func(s *settings) { s.Platforms = plats })
			fn(t, f, p)
		})
	}
}

// exGameSpec is a public game client allowed token exchange.
func exGameSpec(ns string) broker.ClientSpec {
	return broker.ClientSpec{Namespace: ns, Name: "game", Public: true, Scopes: []string{"openid", "game"},
		Grants: []string{"token-exchange", broker.GrantRefreshToken}}
}

func exForm(provider, tokenType, token string) url.Values {
	v := url.Values{"grant_type": {broker.GrantTokenExchange}, "subject_token": {token}, "subject_token_type": {tokenType}}
	if provider != "" {
		v.Set("provider", provider)
	}
	return v
}

// exchange posts a token exchange as a public client (client_id in the form).
func (f *fixture) exchange(t *testing.T, clientID string, form url.Values) response {
	t.Helper()
	form.Set("client_id", clientID)
	return f.do(t, http.MethodPost, "/oauth2/token", formType, form.Encode(), nil)
}

// TestTokenExchange: each platform's credential signs its player in, once
// per identity, with RFC 8693's answer, tokens that go-oidc verifies, and
// a refresh token that rotates.
func TestTokenExchange(t *testing.T) {
	t.Parallel()
	exEachStore(t, func(t *testing.T, f *fixture, p exPlatforms) {
		game, _ := f.client(t, exGameSpec("game"))
		steamTicket := p.steam.Issue("76561197960287930", steamtest.TicketOptions{})
		for _, tc := range []struct {
			name, provider, tokenType, token string
		}{
			{"steam", "steam", platforms.TokenTypeSteamTicket, steamTicket},
			{"apple", "apple", platforms.TokenTypeIDToken, p.apple.Token("001234.apple-user", exAudience)},
			{"apple as a jwt, provider implied", "", platforms.TokenTypeJWT, p.apple.Token("001234.apple-user", exAudience)},
			{"discord", "discord", platforms.TokenTypeAccessToken, p.discord.Issue("80351110224678912", "")},
			{"gamecenter, provider implied", "", platforms.TokenTypeGameCenter, p.gc.Sign("T:_0123456789abcdef", exAudience, time.Now())},
		} {
			t.Run(tc.name, func(t *testing.T) {
				form := exForm(tc.provider, tc.tokenType, tc.token)
				form.Set("scope", "openid game")
				r := f.exchange(t, game, form)
				if r.Status != http.StatusOK {
					t.Fatalf("exchange: %d %s", r.Status, r.Raw)
				}
				if r.str("issued_token_type") != platforms.TokenTypeAccessToken || r.str("token_type") != "Bearer" ||
					r.str("refresh_token") == "" || r.str("id_token") == "" || r.str("userId") == "" || r.str("scope") != "openid game" {
					t.Errorf("answer: %s", r.Raw)
				}
				if claims := xsVerify(t, f, r.str("access_token")); claims["sub"] != r.str("userId") {
					t.Errorf("access token sub %v, userId %s", claims["sub"], r.str("userId"))
				}
				xsVerify(t, f, r.str("id_token"))
				// The same identity again is the same player; the session rotates.
				again := f.exchange(t, game, exForm(tc.provider, tc.tokenType, tc.token))
				if again.str("userId") != r.str("userId") {
					t.Errorf("second exchange: player %s, first %s", again.str("userId"), r.str("userId"))
				}
				rt := f.do(t, http.MethodPost, "/oauth2/token", formType,
					url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.str("refresh_token")}, "client_id": {game}}.Encode(), nil)
				if rt.Status != http.StatusOK || rt.str("userId") != r.str("userId") {
					t.Errorf("refresh: %d %s", rt.Status, rt.Raw)
				}
			})
		}
		// One identity per provider: the apple player is not the steam player.
		s := f.exchange(t, game, exForm("steam", platforms.TokenTypeSteamTicket, steamTicket)).str("userId")
		a := f.exchange(t, game, exForm("apple", platforms.TokenTypeIDToken, p.apple.Token("001234.apple-user", exAudience))).str("userId")
		if s == a || s == "" {
			t.Errorf("steam player %q and apple player %q", s, a)
		}
		links, err := f.Broker.Links(t.Context(), s)
		if err != nil || len(links) != 1 || links[0].Slot != exSteamSlot || links[0].Identifier != "76561197960287930" {
			t.Errorf("the steam player's links: %+v %v", links, err)
		}

		t.Run("a confidential client with golang.org/x/oauth2", func(t *testing.T) {
			spec := exGameSpec("game")
			spec.Public, spec.Name = false, "server"
			id, secret := f.client(t, spec)
			cfg := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: f.URL + "/oauth2/token",
				EndpointParams: exForm("discord", platforms.TokenTypeAccessToken, p.discord.Issue("80351110224678912", ""))}
			tok, err := cfg.Token(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if claims := xsVerify(t, f, tok.AccessToken); claims["sub"] == "" || tok.RefreshToken == "" {
				t.Errorf("token: %+v, claims %v", tok, claims)
			}
		})

		// Discovery lists the grant.
		d := f.do(t, http.MethodGet, "/.well-known/openid-configuration", "", "", nil)
		if gs, _ := d.Body["grant_types_supported"].([]any); !slices.Contains(gs, any(broker.GrantTokenExchange)) {
			t.Errorf("discovery: %v", d.Body["grant_types_supported"])
		}
	})
}

// TestTokenExchangeRefusals: every refusal names its reason, never the
// credential.
func TestTokenExchangeRefusals(t *testing.T) {
	t.Parallel()
	exEachStore(t, func(t *testing.T, f *fixture, p exPlatforms) {
		game, _ := f.client(t, exGameSpec("game"))
		strict := exGameSpec("game")
		strict.NoCreateUsers, strict.Name = true, "strict"
		strictID, _ := f.client(t, strict)
		cc, _ := f.client(t, broker.ClientSpec{Namespace: "game", Name: "no exchange", Public: true, Grants: []string{broker.GrantRefreshToken}})
		goodTicket := p.steam.Issue("76561197960287931", steamtest.TicketOptions{})
		banned := p.steam.Issue("76561197960287932", steamtest.TicketOptions{})
		bannedUser := f.exchange(t, game, exForm("steam", platforms.TokenTypeSteamTicket, banned)).str("userId")
		f.banUser(t, xsProject(t, f, "game"), bannedUser, "", "cheating", time.Hour)
		apple := func(claims map[string]any) string {
			c := p.apple.Claims("apple-user", exAudience)
			for k, v := range claims {
				c[k] = v
			}
			return p.apple.Sign(c)
		}
		type refusal struct {
			name   string
			client string
			form   url.Values
			status int
			code   string
			says   string
		}
		steamForm := func(ticket string) url.Values { return exForm("steam", platforms.TokenTypeSteamTicket, ticket) }
		appleForm := func(token string) url.Values { return exForm("apple", platforms.TokenTypeIDToken, token) }
		withParam := func(v url.Values, k, val string) url.Values { v.Set(k, val); return v }
		gcForm := func(edit func(*gamecentertest.Items)) url.Values {
			it := p.gc.Items(gamecentertest.Good, "T:_gc-player", exAudience, time.Now())
			if edit != nil {
				edit(&it)
			}
			return exForm("gamecenter", platforms.TokenTypeGameCenter, it.JSON())
		}
		for _, tc := range []refusal{
			{"no subject_token", game, steamForm(""), 400, "invalid_request", "subject_token"},
			{"no subject_token_type", game, exForm("steam", "", goodTicket), 400, "invalid_request", "subject_token_type"},
			{"an unknown provider", game, exForm("xbox", platforms.TokenTypeSteamTicket, goodTicket), 400, "invalid_request", "xbox"},
			{"a token type the provider does not take", game, exForm("steam", platforms.TokenTypeIDToken, goodTicket), 400, "invalid_request", "does not accept"},
			{"no provider takes the type", game, exForm("", "urn:example:other", goodTicket), 400, "invalid_request", "no provider"},
			{"a requested token type not served", game, withParam(steamForm(goodTicket), "requested_token_type", platforms.TokenTypeIDToken), 400, "invalid_request", "requested_token_type"},
			{"an actor token", game, withParam(steamForm(goodTicket), "actor_token", "x"), 400, "invalid_request", "actor_token"},
			{"the client is not allowed the grant", cc, steamForm(goodTicket), 400, "unauthorized_client", ""},
			{"Steam does not know the ticket", game, steamForm("deadbeef"), 400, "invalid_grant", "invalid ticket"},
			{"the ticket is not hex", game, steamForm("not-a-ticket"), 400, "invalid_grant", ""},
			{"the ID token is for another game", game, appleForm(p.apple.Token("apple-user", "com.other.game")), 400, "invalid_grant", "audience"},
			{"the ID token is expired", game, appleForm(apple(map[string]any{"exp": time.Now().Add(-time.Hour).Unix()})), 400, "invalid_grant", "expired"},
			{"the ID token is of another issuer", game, appleForm(apple(map[string]any{"iss": "https://accounts.google.com"})), 400, "invalid_grant", "issuer"},
			{"the ID token says alg none", game, appleForm(p.apple.SignWith("none", p.apple.Claims("apple-user", exAudience))), 400, "invalid_grant", "algorithm"},
			{"the ID token is HMAC-signed with the public key", game, appleForm(p.apple.SignWith("HS256", p.apple.Claims("apple-user", exAudience))), 400, "invalid_grant", "algorithm"},
			{"the Discord token is another app's", game, exForm("discord", platforms.TokenTypeAccessToken, p.discord.Issue("1", "222222222222222222")), 400, "invalid_grant", "another application"},
			{"the Discord token is unknown", game, exForm("discord", platforms.TokenTypeAccessToken, "unknown-token"), 400, "invalid_grant", "refused"},
			{"the Game Center signature is stale", game, exForm("gamecenter", platforms.TokenTypeGameCenter, p.gc.Sign("T:_gc-player", exAudience, time.Now().Add(-time.Hour))), 400, "invalid_grant", "too old"},
			{"the Game Center signature is of another game", game, exForm("gamecenter", platforms.TokenTypeGameCenter, p.gc.Sign("T:_gc-player", "com.other.game", time.Now())), 400, "invalid_grant", "bundleId"},
			{"the Game Center key URL is off the allowed hosts", game, gcForm(func(it *gamecentertest.Items) {
				it.PublicKeyURL = "https://static.gc.evil.example/public-key/gc-prod-9.cer"
			}), 400, "invalid_grant", "publicKeyUrl"},
			{"the Game Center certificate chains to an untrusted CA", game, exForm("gamecenter", platforms.TokenTypeGameCenter, p.gc.Items(gamecentertest.OtherCA, "T:_gc-player", exAudience, time.Now()).JSON()), 400, "invalid_grant", "trusted authority"},
			{"the Game Center signature is tampered with", game, gcForm(func(it *gamecentertest.Items) { it.PlayerID = "T:_someone-else" }), 400, "invalid_grant", "signature"},
			{"the client creates no players", strictID, steamForm(goodTicket), 400, "invalid_grant", "no player has this identity"},
			{"the player is banned", game, steamForm(banned), 400, "invalid_grant", ""},
		} {
			t.Run("should fail because "+tc.name, func(t *testing.T) {
				r := f.exchange(t, tc.client, tc.form)
				wantOAuthError(t, r, tc.status, tc.code)
				if !strings.Contains(r.str("error_description"), tc.says) {
					t.Errorf("description %q does not say %q", r.str("error_description"), tc.says)
				}
				if tok := tc.form.Get("subject_token"); len(tok) > 8 && strings.Contains(r.Raw, tok) {
					t.Errorf("the answer holds the credential: %s", r.Raw)
				}
				var items gamecentertest.Items
				if json.Unmarshal([]byte(tc.form.Get("subject_token")), &items) == nil && items.Signature != "" && strings.Contains(r.Raw, items.Signature[:16]) {
					t.Errorf("the answer quotes the Game Center signature: %s", r.Raw)
				}
			})
		}
		t.Run("should fail because the platform is down", func(t *testing.T) {
			p.steam.SetOutage(platformtest.Hanging)
			defer p.steam.SetOutage(platformtest.Up)
			r := f.exchange(t, game, steamForm(goodTicket))
			wantOAuthError(t, r, http.StatusServiceUnavailable, "temporarily_unavailable")
			if r.Header.Get("Retry-After") == "" || !strings.Contains(r.str("error_description"), "steam") {
				t.Errorf("outage answer: %v %s", r.Header, r.Raw)
			}
		})
		// The identity of the refused strict sign-in made no player.
		if r := f.exchange(t, game, steamForm(goodTicket)); r.Status != http.StatusOK {
			t.Fatalf("exchange: %d %s", r.Status, r.Raw)
		} else if r2 := f.exchange(t, strictID, steamForm(goodTicket)); r2.Status != http.StatusOK || r2.str("userId") != r.str("userId") {
			t.Errorf("the strict client after the player exists: %d %s", r2.Status, r2.Raw)
		}
	})
}

// TestTokenExchangeFirstSignInRace: concurrent first sign-ins of one
// identity make one player.
func TestTokenExchangeFirstSignInRace(t *testing.T) {
	t.Parallel()
	exEachStore(t, func(t *testing.T, f *fixture, p exPlatforms) {
		game, _ := f.client(t, exGameSpec("game"))
		token := p.apple.Token("racer", exAudience)
		const n = 20
		users := make([]string, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				users[i] = f.exchange(t, game, exForm("apple", platforms.TokenTypeIDToken, token)).str("userId")
			})
		}
		wg.Wait()
		for _, u := range users {
			if u == "" || u != users[0] {
				t.Fatalf("should fail because 20 first sign-ins of one identity made players %v", users)
			}
		}
	})
}

// TestLinkPlatformWithoutBrowser: a signed-in player links a platform
// identity with its credential; an identity of another player, or a slot
// the player uses, is 409 and never re-points.
func TestLinkPlatformWithoutBrowser(t *testing.T) {
	t.Parallel()
	exEachStore(t, func(t *testing.T, f *fixture, p exPlatforms) {
		game, _ := f.client(t, exGameSpec("game"))
		player := f.exchange(t, game, exForm("apple", platforms.TokenTypeIDToken, p.apple.Token("linker", exAudience)))
		other := f.exchange(t, game, exForm("steam", platforms.TokenTypeSteamTicket, p.steam.Issue("76561197960287940", steamtest.TicketOptions{})))
		link := func(access string, form url.Values) response {
			form.Del("grant_type")
			return f.bearer(t, http.MethodPost, "/account/links", access, form)
		}
		ticket := p.steam.Issue("76561197960287941", steamtest.TicketOptions{})
		r := link(player.str("access_token"), exForm("steam", platforms.TokenTypeSteamTicket, ticket))
		if r.Status != http.StatusOK || r.str("provider") != "steam" || r.str("identifier") != "76561197960287941" {
			t.Fatalf("link: %d %s", r.Status, r.Raw)
		}
		if u := f.exchange(t, game, exForm("steam", platforms.TokenTypeSteamTicket, ticket)).str("userId"); u != player.str("userId") {
			t.Errorf("the linked identity signs in as %s, want %s", u, player.str("userId"))
		}
		for _, tc := range []struct {
			name string
			form url.Values
			says string
		}{
			{"the identity is another player's", exForm("steam", platforms.TokenTypeSteamTicket, p.steam.Issue("76561197960287940", steamtest.TicketOptions{})), "another player"},
			{"the player has a link in the slot", exForm("steam", platforms.TokenTypeSteamTicket, p.steam.Issue("76561197960287942", steamtest.TicketOptions{})), "this slot"},
		} {
			t.Run("should fail because "+tc.name, func(t *testing.T) {
				r := link(player.str("access_token"), tc.form)
				if r.Status != http.StatusConflict || !strings.Contains(r.str("error_description"), tc.says) {
					t.Errorf("%d %s", r.Status, r.Raw)
				}
			})
		}
		if u := f.exchange(t, game, exForm("steam", platforms.TokenTypeSteamTicket, p.steam.Issue("76561197960287940", steamtest.TicketOptions{}))).str("userId"); u != other.str("userId") {
			t.Errorf("the other player's identity now signs in as %s", u)
		}
		r = link(player.str("access_token"), exForm("apple", platforms.TokenTypeIDToken, p.apple.Token("someone", "com.other.game")))
		if r.Status != http.StatusBadRequest {
			t.Errorf("should fail because the credential does not verify: %d %s", r.Status, r.Raw)
		}
	})
}
