package web_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// TestGS2TrustedCallsNeedTheAllowance: a client may mint a player's token,
// or act on a player it names, only when it is allowed the gs2 trusted
// calls; client_credentials, or server_custom_id, is not that allowance,
// nor the reverse (issue 11 item 1).
func TestGS2TrustedCallsNeedTheAllowance(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		f.tkoPlayer(t, trusted(f.gs2Project(t, "game")), "victim")

		for _, tc := range []struct {
			name   string
			grants []string
		}{
			{"client_credentials only", []string{broker.GrantClientCredentials}},
			{"server_custom_id", []string{broker.GrantClientCredentials, broker.GrantServerCustomID, broker.GrantRefreshToken}},
		} {
			t.Run("should fail because the client holds "+tc.name, func(t *testing.T) {
				id, secret := f.client(t, broker.ClientSpec{Namespace: "game", Name: "narrow", Grants: tc.grants, Scopes: []string{"game"}})
				hdr := trusted(id, f.gs2ProjectToken(t, id, secret))
				for _, call := range []gs2Call{
					{path: "/gs2/auth/login", body: `{"userId":"victim"}`},
					{path: "/gs2/auth/federation", body: `{"userId":"victim","originalUserId":"victim"}`},
					{path: "/gs2/auth/timeoffset/token", body: `{"userId":"victim","timeOffset":60}`},
					{method: http.MethodGet, path: "/gs2/account/game/account"},
					{method: http.MethodGet, path: "/gs2/account/game/account/victim"},
					{method: http.MethodGet, path: tkoBase("game", "victim")},
					{path: tkoBase("game", "victim"), body: `{"type":7,"userIdentifier":"mine","password":"pw"}`},
					{method: http.MethodDelete, path: "/gs2/account/game/takeover/type/7/userIdentifier/mine"},
				} {
					call.header = hdr
					tkoRefused(t, f.gs2Send(t, call), http.StatusUnauthorized, "accessToken", "accessToken.client_id.invalid")
				}
				// What a game client does with the project token stays open.
				r := f.gs2Send(t, gs2Call{path: "/gs2/account/game/account", header: hdr})
				if r.Status != http.StatusOK {
					t.Errorf("createAccount: %d %s", r.Status, r.Raw)
				}
			})
		}

		t.Run("should fail because gs2 does not allow server_custom_id", func(t *testing.T) {
			id, secret := f.client(t, broker.ClientSpec{Namespace: "game", Name: "gs2 only",
				Grants: []string{broker.GrantClientCredentials, broker.GrantGS2Trusted}})
			r := f.token(t, id, secret, customID("player-1"))
			if r.Status != http.StatusBadRequest || r.str("error") != "unauthorized_client" {
				t.Errorf("server_custom_id: %d %s, want unauthorized_client", r.Status, r.Raw)
			}
			// And the allowance is no grant_type of the token endpoint.
			r = f.token(t, id, secret, url.Values{"grant_type": {broker.GrantGS2Trusted}})
			if r.Status != http.StatusBadRequest || r.str("error") != "unsupported_grant_type" {
				t.Errorf("grant_type=gs2: %d %s, want unsupported_grant_type", r.Status, r.Raw)
			}
			// It does allow the trusted calls.
			hdr := trusted(id, f.gs2ProjectToken(t, id, secret))
			if r := f.gs2Send(t, gs2Call{path: "/gs2/auth/login", body: `{"userId":"victim"}`, header: hdr}); r.Status != http.StatusOK {
				t.Errorf("login with the allowance: %d %s", r.Status, r.Raw)
			}
		})

		t.Run("should fail because a public client cannot hold gs2", func(t *testing.T) {
			_, _, err := broker.CreateClient(t.Context(), f.Store, f.Secrets, broker.ClientSpec{Namespace: "game", Name: "public",
				Public: true, Grants: []string{broker.GrantGS2Trusted}}, f.Clock.Now())
			if err == nil {
				t.Fatal("a public client was allowed the gs2 trusted calls")
			}
		})
	})
}

// TestRestrictedTokenCannotChangeLinks: a federated token restricted by
// its policy may add or remove a link only when the policy allows
// Bridgekeeper:Link / Bridgekeeper:Unlink; else the identity it linked would
// sign in unrestricted (issue 11 item 2).
func TestRestrictedTokenCannotChangeLinks(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		hdr := trusted(f.gs2Project(t, "game"))
		own := f.tkoPlayer(t, hdr, "player-1")
		denyAll := f.fedToken(t, hdr, "operator", "player-1", fedPolicy(`{"Effect":"Deny","Actions":["*"],"Resources":["*"]}`))
		inboxOnly := f.fedToken(t, hdr, "operator", "player-1", fedPolicy(`{"Effect":"Allow","Actions":["Gs2Inbox:*"],"Resources":["*"]}`))
		linker := f.fedToken(t, hdr, "operator", "player-1",
			fedPolicy(`{"Effect":"Allow","Actions":["Bridgekeeper:Link","Bridgekeeper:Unlink"],"Resources":["grn:gs2:*:*:account:game:account:player-1"]}`))
		otherAccount := f.fedToken(t, hdr, "operator", "player-1",
			fedPolicy(`{"Effect":"Allow","Actions":["Bridgekeeper:*"],"Resources":["grn:gs2:*:*:account:game:account:someone-else"]}`))

		link := func(token string) response {
			return f.bearer(t, http.MethodPost, "/account/links", token, url.Values{"provider": {"nowhere"}})
		}
		unlink := func(token string) response {
			return f.bearer(t, http.MethodDelete, "/account/links/7", token, nil)
		}
		for _, tc := range []struct {
			name  string
			token string
		}{
			{"its policy denies everything", denyAll},
			{"its policy allows other actions only", inboxOnly},
			{"its policy allows linking another account only", otherAccount},
		} {
			t.Run("should fail because "+tc.name, func(t *testing.T) {
				for what, r := range map[string]response{"link": link(tc.token), "unlink": unlink(tc.token)} {
					if r.Status != http.StatusForbidden || r.str("error") != "insufficient_scope" ||
						!strings.Contains(r.Header.Get("WWW-Authenticate"), "insufficient_scope") {
						t.Errorf("%s: %d %s %q, want 403 insufficient_scope", what, r.Status, r.Raw, r.Header.Get("WWW-Authenticate"))
					}
				}
			})
		}
		// The player's own token and a token whose policy allows it go on to
		// the request itself: no such provider, no link in slot 7.
		for name, token := range map[string]string{"own": own, "allowed by policy": linker} {
			if r := link(token); r.Status != http.StatusBadRequest || !strings.Contains(r.Raw, "provider") {
				t.Errorf("%s token, link: %d %s, want the provider refused", name, r.Status, r.Raw)
			}
			if r := unlink(token); r.Status == http.StatusForbidden || r.Status == http.StatusOK {
				t.Errorf("%s token, unlink: %d %s, want the missing link refused", name, r.Status, r.Raw)
			}
		}
	})
}

// TestReservedSlots: the slots the broker links identities in (configured
// providers and social platforms, the default custom-ID slot, clients'
// custom-ID slots) refuse GS2 takeover writes, so that nobody can
// pre-claim a player's future identity (issue 11 item 3).
func TestReservedSlots(t *testing.T) {
	t.Parallel()
	xsollaEachStore(t, func(t *testing.T, f *fixture) {
		id, secret := f.client(t, gameServer("game"))
		hdr := trusted(id, f.gs2ProjectToken(t, id, secret))
		slot42 := gameServer("game")
		slot42.CustomIDSlot = ptr(42)
		f.client(t, slot42)
		otherNS := gameServer("other")
		otherNS.CustomIDSlot = ptr(43)
		f.client(t, otherNS)
		const attacker = "attacker"
		me := tkoAs(hdr, f.tkoPlayer(t, hdr, attacker))

		create := func(h map[string]string, user string, slot int, identifier string) response {
			return f.tkoCreate(t, h, "game", user, tkoJSON(t, map[string]any{"type": slot, "userIdentifier": identifier, "password": "pw"}))
		}
		for _, tc := range []struct {
			name string
			slot int
		}{
			{"slot 3 is the default custom-ID slot", 3},
			{"slot 42 is a client's custom-ID slot in the namespace", 42},
			{"slot 10 is the steam social platform's", xsSteamSlot},
		} {
			t.Run("should fail because "+tc.name, func(t *testing.T) {
				for who, r := range map[string]response{
					"ByUserId": create(hdr, attacker, tc.slot, "victim-"+strconv.Itoa(tc.slot)),
					"me":       create(me, "me", tc.slot, "victim-me-"+strconv.Itoa(tc.slot)),
				} {
					if it := tkoRefused(t, r, http.StatusBadRequest, "takeOver", ""); !strings.Contains(it.Code, ".type.") {
						t.Errorf("%s: code %q does not name type", who, it.Code)
					}
				}
			})
		}
		// Another namespace's custom-ID slot and an unused one are free.
		for _, slot := range []int{43, 7} {
			if r := create(hdr, attacker, slot, "free"); r.Status != http.StatusOK {
				t.Errorf("slot %d: %d %s", slot, r.Status, r.Raw)
			}
		}

		t.Run("should fail because a password is set in a reserved slot", func(t *testing.T) {
			// As if written before slots were reserved.
			f.tkoLink(t, xsProject(t, f, "game"), attacker, 3, "pre-claimed", "old")
			r := f.gs2Send(t, gs2Call{method: http.MethodPut, path: tkoBase("game", attacker) + "/type/3", header: hdr,
				body: tkoJSON(t, map[string]any{"oldPassword": "old", "password": "new"})})
			tkoRefused(t, r, http.StatusBadRequest, "takeOver", "takeOver.type.reserved")
		})

		// The victim's first server_custom_id login makes a player of their own.
		if u := f.mustToken(t, id, secret, customID("victim-3")).str("userId"); u == attacker || u == "" {
			t.Errorf("victim-3 signed in as %q (the attacker is %s)", u, attacker)
		}
	})
}

func ptr[T any](v T) *T { return &v }
