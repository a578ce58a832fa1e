package steam_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/platforms"
	"github.com/bridgekeeper/bridgekeeper/platforms/platformtest"
	"github.com/bridgekeeper/bridgekeeper/platforms/steam"
	"github.com/bridgekeeper/bridgekeeper/platforms/steam/steamtest"
)

const (
	appID  = "480"
	key    = "0123456789ABCDEF0123456789ABCDEF"
	player = "76561197960287930"
	owner  = "76561197960265728"
)

// verify runs one ticket through a verifier made from cfg.
func verify(t *testing.T, cfg steam.Config, ticket string) (platforms.Identity, error) {
	t.Helper()
	v, err := steam.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return v.Verify(t.Context(), platforms.Request{Token: ticket, TokenType: platforms.TokenTypeSteamTicket})
}

func TestVerify(t *testing.T) {
	for _, tc := range []struct {
		name string
		// issue registers what the case needs with the fake and returns
		// the ticket the game sends.
		issue  func(s *steamtest.Server) string
		config func(c *steam.Config)
		outage platformtest.Outage
		// wantUser is the identity on success; otherwise wantKind and a
		// piece of the description.
		wantUser     string
		wantKind     broker.Kind
		wantDesc     string
		wantRequests int // -1: any
	}{
		{
			name:     "a valid ticket is the player's SteamID",
			issue:    func(s *steamtest.Server) string { return s.Issue(player, steamtest.TicketOptions{}) },
			wantUser: player, wantRequests: 1,
		},
		{
			name:     "an upper-case hex ticket is still hex",
			issue:    func(s *steamtest.Server) string { return strings.ToUpper(s.Issue(player, steamtest.TicketOptions{})) },
			wantUser: player, wantRequests: 1,
		},
		{
			name: "the identity the ticket was minted for is sent along",
			issue: func(s *steamtest.Server) string {
				return s.Issue(player, steamtest.TicketOptions{Identity: "bridgekeeper"})
			},
			config:   func(c *steam.Config) { c.Identity = "bridgekeeper" },
			wantUser: player, wantRequests: 1,
		},
		{
			name:     "should fail because Steam does not know the ticket (101)",
			issue:    func(*steamtest.Server) string { return strings.Repeat("ab", 120) },
			wantKind: broker.KindInvalid, wantDesc: "Steam refused the ticket: invalid ticket (101)", wantRequests: 1,
		},
		{
			name:     "should fail because the ticket is for another game (102)",
			issue:    func(s *steamtest.Server) string { return s.Issue(player, steamtest.TicketOptions{AppID: "730"}) },
			wantKind: broker.KindInvalid, wantDesc: "ticket for another game (102)", wantRequests: 1,
		},
		{
			name: "should fail because the ticket was minted for another identity",
			issue: func(s *steamtest.Server) string {
				return s.Issue(player, steamtest.TicketOptions{Identity: "someone-else"})
			},
			config:   func(c *steam.Config) { c.Identity = "bridgekeeper" },
			wantKind: broker.KindInvalid, wantDesc: "invalid ticket (101)", wantRequests: 1,
		},
		{
			name: "should fail because the ticket has expired (103)",
			issue: func(s *steamtest.Server) string {
				return s.Issue(player, steamtest.TicketOptions{ErrorCode: steamtest.ErrTicketExpired})
			},
			wantKind: broker.KindInvalid, wantDesc: "expired ticket (103)", wantRequests: 1,
		},
		{
			name:     "should fail because Steam refuses with a code we do not know, named by number only",
			issue:    func(s *steamtest.Server) string { return s.Issue(player, steamtest.TicketOptions{ErrorCode: 7}) },
			wantKind: broker.KindInvalid, wantDesc: "Steam refused the ticket (code 7)", wantRequests: 1,
		},
		{
			name:     "should fail because Steam is rate limiting us (EResult 84), which is no fault of the ticket",
			issue:    func(s *steamtest.Server) string { return s.Issue(player, steamtest.TicketOptions{ErrorCode: 84}) },
			wantKind: broker.KindUnavailable, wantRequests: 1,
		},
		{
			name:     "should fail because the publisher key is wrong, which is ours to fix",
			issue:    func(s *steamtest.Server) string { return s.Issue(player, steamtest.TicketOptions{}) },
			config:   func(c *steam.Config) { c.PublisherKey = "FEDCBA9876543210FEDCBA9876543210" },
			wantKind: broker.KindUnavailable, wantDesc: "answered 403: the publisher key is wrong", wantRequests: 1,
		},
		{
			name:     "should fail because the ticket is not hex, without asking Steam",
			issue:    func(*steamtest.Server) string { return "not a ticket" },
			wantKind: broker.KindInvalid, wantDesc: "not hexadecimal", wantRequests: 0,
		},
		{
			name:     "should fail because the ticket has an odd number of hex digits, without asking Steam",
			issue:    func(s *steamtest.Server) string { return s.Issue(player, steamtest.TicketOptions{})[1:] },
			wantKind: broker.KindInvalid, wantDesc: "not hexadecimal", wantRequests: 0,
		},
		{
			name:     "should fail because the ticket is empty, without asking Steam",
			issue:    func(*steamtest.Server) string { return "" },
			wantKind: broker.KindInvalid, wantDesc: "empty", wantRequests: 0,
		},
		{
			name:     "should fail because the ticket is longer than the SDK can make, without asking Steam",
			issue:    func(*steamtest.Server) string { return strings.Repeat("ab", 2561) },
			wantKind: broker.KindInvalid, wantDesc: "too long", wantRequests: 0,
		},
		{
			name:     "a VAC ban does not bar sign-in by default",
			issue:    func(s *steamtest.Server) string { return s.Issue(player, steamtest.TicketOptions{VACBanned: true}) },
			wantUser: player, wantRequests: 1,
		},
		{
			name:     "should fail because the account is VAC banned and the platform rejects VAC bans",
			issue:    func(s *steamtest.Server) string { return s.Issue(player, steamtest.TicketOptions{VACBanned: true}) },
			config:   func(c *steam.Config) { c.RejectVACBanned = true },
			wantKind: broker.KindInvalid, wantDesc: "the Steam account is VAC banned", wantRequests: 1,
		},
		{
			name: "should fail because the publisher banned the account",
			issue: func(s *steamtest.Server) string {
				return s.Issue(player, steamtest.TicketOptions{PublisherBanned: true})
			},
			config:   func(c *steam.Config) { c.RejectPublisherBanned = true },
			wantKind: broker.KindInvalid, wantDesc: "banned from this game", wantRequests: 1,
		},
		{
			name: "a publisher ban passes when the platform does not reject them",
			issue: func(s *steamtest.Server) string {
				return s.Issue(player, steamtest.TicketOptions{PublisherBanned: true})
			},
			wantUser: player, wantRequests: 1,
		},
		{
			name:     "a family-shared copy is the player's by default",
			issue:    func(s *steamtest.Server) string { return s.Issue(player, steamtest.TicketOptions{OwnerSteamID: owner}) },
			wantUser: player, wantRequests: 1,
		},
		{
			name:     "a family-shared copy is the player's under family_sharing player",
			issue:    func(s *steamtest.Server) string { return s.Issue(player, steamtest.TicketOptions{OwnerSteamID: owner}) },
			config:   func(c *steam.Config) { c.FamilySharing = steam.FamilySharingPlayer },
			wantUser: player, wantRequests: 1,
		},
		{
			name:     "a family-shared copy is the owner's under family_sharing owner",
			issue:    func(s *steamtest.Server) string { return s.Issue(player, steamtest.TicketOptions{OwnerSteamID: owner}) },
			config:   func(c *steam.Config) { c.FamilySharing = steam.FamilySharingOwner },
			wantUser: owner, wantRequests: 1,
		},
		{
			name:     "an owned copy is the player's under family_sharing owner",
			issue:    func(s *steamtest.Server) string { return s.Issue(player, steamtest.TicketOptions{}) },
			config:   func(c *steam.Config) { c.FamilySharing = steam.FamilySharingOwner },
			wantUser: player, wantRequests: 1,
		},
		{
			name:     "should fail because the copy is family-shared and the platform refuses that",
			issue:    func(s *steamtest.Server) string { return s.Issue(player, steamtest.TicketOptions{OwnerSteamID: owner}) },
			config:   func(c *steam.Config) { c.FamilySharing = steam.FamilySharingRefuse },
			wantKind: broker.KindInvalid, wantDesc: "family-shared", wantRequests: 1,
		},
		{
			name:     "an owned copy passes when the platform refuses family sharing",
			issue:    func(s *steamtest.Server) string { return s.Issue(player, steamtest.TicketOptions{}) },
			config:   func(c *steam.Config) { c.FamilySharing = steam.FamilySharingRefuse },
			wantUser: player, wantRequests: 1,
		},
		{
			name:     "should fail because Steam answers 500",
			issue:    func(s *steamtest.Server) string { return s.Issue(player, steamtest.TicketOptions{}) },
			outage:   platformtest.Failing,
			wantKind: broker.KindUnavailable, wantDesc: "steam is unavailable", wantRequests: 1,
		},
		{
			name:     "should fail because Steam does not answer within the timeout",
			issue:    func(s *steamtest.Server) string { return s.Issue(player, steamtest.TicketOptions{}) },
			outage:   platformtest.Hanging,
			wantKind: broker.KindUnavailable, wantDesc: "steam is unavailable", wantRequests: 1,
		},
		{
			name:     "should fail because Steam answers a steamid that is not a number",
			issue:    func(s *steamtest.Server) string { return s.Issue("STEAM_0:0:11101", steamtest.TicketOptions{}) },
			wantKind: broker.KindUnavailable, wantRequests: 1,
		},
		{
			name:     "should fail because Steam answers a steamid that overflows 64 bits",
			issue:    func(s *steamtest.Server) string { return s.Issue("18446744073709551616", steamtest.TicketOptions{}) },
			wantKind: broker.KindUnavailable, wantRequests: 1,
		},
		{
			name:     "should fail because Steam answers a steamid with a leading zero, another spelling of an ID",
			issue:    func(s *steamtest.Server) string { return s.Issue("0"+player, steamtest.TicketOptions{}) },
			wantKind: broker.KindUnavailable, wantRequests: 1,
		},
		{
			name:     "should fail because Steam answers an empty steamid",
			issue:    func(s *steamtest.Server) string { return s.Issue("", steamtest.TicketOptions{}) },
			wantKind: broker.KindUnavailable, wantRequests: 1,
		},
		{
			name: "should fail because Steam answers an ownersteamid that is not a number",
			issue: func(s *steamtest.Server) string {
				return s.Issue(player, steamtest.TicketOptions{OwnerSteamID: "someone"})
			},
			config:   func(c *steam.Config) { c.FamilySharing = steam.FamilySharingOwner },
			wantKind: broker.KindUnavailable, wantRequests: 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := steamtest.NewServer(t, appID, key)
			ticket := tc.issue(s)
			cfg := s.Config()
			cfg.Timeout = 200 * time.Millisecond
			if tc.config != nil {
				tc.config(&cfg)
			}
			s.SetOutage(tc.outage)

			id, err := verify(t, cfg, ticket)

			if tc.wantRequests >= 0 && s.Requests() != tc.wantRequests {
				t.Errorf("Steam got %d requests, want %d", s.Requests(), tc.wantRequests)
			}
			if tc.wantUser != "" {
				platformtest.WantUser(t, id, err, tc.wantUser)
				return
			}
			platformtest.WantRefusal(t, id, err, tc.wantKind, tc.wantDesc, cfg.PublisherKey, key, ticket)
		})
	}
}

// TestVerifyJudgesOddAnswers covers answers the fake never gives: Steam
// documents their shapes, not that it will never vary them.
func TestVerifyJudgesOddAnswers(t *testing.T) {
	for _, tc := range []struct {
		name     string
		status   int
		body     string
		wantKind broker.Kind
		wantDesc string
	}{
		{
			name:   "should fail because the result is not OK",
			status: http.StatusOK, body: `{"response":{"params":{"result":"Denied","steamid":"76561197960287930","ownersteamid":"76561197960287930","vacbanned":false,"publisherbanned":false}}}`,
			wantKind: broker.KindInvalid, wantDesc: "Steam did not accept the ticket",
		},
		{
			name:   "should fail because a 400 carries Steam's error",
			status: http.StatusBadRequest, body: `{"response":{"error":{"errorcode":3,"errordesc":"Invalid parameter"}}}`,
			wantKind: broker.KindInvalid, wantDesc: "malformed ticket (3)",
		},
		{
			name:   "should fail because the error wins over params",
			status: http.StatusOK, body: `{"response":{"params":{"result":"OK","steamid":"76561197960287930"},"error":{"errorcode":101,"errordesc":"Invalid ticket"}}}`,
			wantKind: broker.KindInvalid, wantDesc: "invalid ticket (101)",
		},
		{
			name:   "should fail because the answer has neither params nor error",
			status: http.StatusOK, body: `{"response":{}}`,
			wantKind: broker.KindUnavailable, wantDesc: "neither params nor error",
		},
		{
			name:   "should fail because the answer is not JSON",
			status: http.StatusOK, body: `<html>maintenance</html>`,
			wantKind: broker.KindUnavailable, wantDesc: "steam is unavailable",
		},
		{
			name:   "should fail because Steam answers a 404 without its error",
			status: http.StatusNotFound, body: `Not Found`,
			wantKind: broker.KindUnavailable, wantDesc: "answered 404",
		},
		{
			name:   "should fail because Steam is rate limiting us with a 429",
			status: http.StatusTooManyRequests, body: `Too Many Requests`,
			wantKind: broker.KindUnavailable, wantDesc: "answered 429",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			t.Cleanup(srv.Close)
			ticket := strings.Repeat("ab", 100)

			id, err := verify(t, steam.Config{AppID: appID, PublisherKey: key, APIURL: srv.URL}, ticket)

			platformtest.WantRefusal(t, id, err, tc.wantKind, tc.wantDesc, key, ticket)
		})
	}
}

func TestVerifyRefusesOtherTokenTypes(t *testing.T) {
	s := steamtest.NewServer(t, appID, key)
	v, err := steam.New(s.Config())
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(t.Context(), platforms.Request{Token: s.Issue(player, steamtest.TicketOptions{}), TokenType: platforms.TokenTypeIDToken})
	if broker.KindOf(err) != broker.KindInvalid {
		t.Fatalf("Verify of an ID token = %v, want an invalid refusal", err)
	}
	if s.Requests() != 0 {
		t.Errorf("Steam got %d requests, want none", s.Requests())
	}
}

func TestTokenTypes(t *testing.T) {
	v, err := steam.New(steam.Config{AppID: appID, PublisherKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if got := v.TokenTypes(); len(got) != 1 || got[0] != platforms.TokenTypeSteamTicket {
		t.Fatalf("TokenTypes = %q, want only %q", got, platforms.TokenTypeSteamTicket)
	}
}

// TestVerifyHonoursContext: the caller's deadline bounds the call even
// when the configured timeout is longer.
func TestVerifyHonoursContext(t *testing.T) {
	s := steamtest.NewServer(t, appID, key)
	s.SetOutage(platformtest.Hanging)
	cfg := s.Config()
	cfg.Timeout = time.Minute
	v, err := steam.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	ticket := s.Issue(player, steamtest.TicketOptions{})
	id, err := v.Verify(ctx, platforms.Request{Token: ticket, TokenType: platforms.TokenTypeSteamTicket})
	platformtest.WantRefusal(t, id, err, broker.KindUnavailable, "steam is unavailable", key, ticket)
}

// TestVerifyDoesNotFollowRedirects: a redirect would carry the key in its
// query to wherever it points.
func TestVerifyDoesNotFollowRedirects(t *testing.T) {
	var followed atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { followed.Add(1) }))
	t.Cleanup(target.Close)
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+r.URL.RequestURI(), http.StatusFound)
	}))
	t.Cleanup(redirector.Close)

	_, err := verify(t, steam.Config{AppID: appID, PublisherKey: key, APIURL: redirector.URL}, strings.Repeat("ab", 100))
	if broker.KindOf(err) != broker.KindUnavailable {
		t.Fatalf("Verify = %v, want unavailable", err)
	}
	if n := followed.Load(); n != 0 {
		t.Fatalf("the redirect was followed %d times", n)
	}
}

func TestNew(t *testing.T) {
	valid := steam.Config{Name: "steam", AppID: appID, PublisherKey: key}
	for _, tc := range []struct {
		name   string
		mutate func(c *steam.Config)
		want   []string // each a piece of one problem; none: valid
	}{
		{name: "the minimal config is valid", mutate: func(*steam.Config) {}},
		{name: "a loopback http API URL is valid (tests)", mutate: func(c *steam.Config) { c.APIURL = "http://127.0.0.1:8080/base" }},
		{name: "every family sharing mode is valid", mutate: func(c *steam.Config) { c.FamilySharing = steam.FamilySharingRefuse }},
		{name: "should fail because the AppID is missing", mutate: func(c *steam.Config) { c.AppID = "" }, want: []string{"app_id must not be empty"}},
		{name: "should fail because the AppID is not a number", mutate: func(c *steam.Config) { c.AppID = "spacewar" }, want: []string{`app_id "spacewar" is not a Steam AppID`}},
		{name: "should fail because the AppID overflows 32 bits", mutate: func(c *steam.Config) { c.AppID = "4294967296" }, want: []string{"is not a Steam AppID"}},
		{name: "should fail because the publisher key is missing", mutate: func(c *steam.Config) { c.PublisherKey = "" }, want: []string{"publisher_key must not be empty"}},
		{name: "should fail because the family sharing mode is unknown", mutate: func(c *steam.Config) { c.FamilySharing = "borrower" }, want: []string{`family_sharing "borrower" is not one of`}},
		{name: "should fail because the API URL is relative", mutate: func(c *steam.Config) { c.APIURL = "partner.steam-api.com" }, want: []string{"api_url", "is not an absolute http(s) URL"}},
		{name: "should fail because the API URL does not parse", mutate: func(c *steam.Config) { c.APIURL = "https://[::1" }, want: []string{"api_url"}},
		{name: "should fail because the API URL sends the key in clear to another host", mutate: func(c *steam.Config) { c.APIURL = "http://partner.steam-api.com" }, want: []string{"must be https"}},
		{name: "should fail because the API URL has a query", mutate: func(c *steam.Config) { c.APIURL = "https://partner.steam-api.com/?key=x" }, want: []string{"must have no query"}},
		{name: "should fail because the timeout is negative", mutate: func(c *steam.Config) { c.Timeout = -time.Second }, want: []string{"timeout -1s is negative"}},
		{
			name:   "should fail because of every problem at once",
			mutate: func(c *steam.Config) { c.AppID, c.PublisherKey, c.FamilySharing = "", "", "x" },
			want:   []string{"app_id", "publisher_key", "family_sharing"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := valid
			tc.mutate(&cfg)
			v, err := steam.New(cfg)
			if len(tc.want) == 0 {
				if err != nil || v == nil {
					t.Fatalf("New = %v, %v; want a verifier", v, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("New succeeded, want an error saying %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), key) {
				t.Errorf("error %q quotes the publisher key", err)
			}
		})
	}
}
