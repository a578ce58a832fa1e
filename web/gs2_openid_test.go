package web_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/platforms"
	"github.com/bridgekeeper/bridgekeeper/platforms/platformtest"
)

// GS2-Account's OpenID Connect takeovers, on exEachStore's fixture: its
// "apple" provider (type id_token) verifies the ID tokens of slot
// exAppleSlot; steam (exSteamSlot) takes no ID tokens.

// oidcCreate is createTakeOverOpenIdConnect (user "me") or
// createTakeOverOpenIdConnectAndByUserId.
func (f *fixture) oidcCreate(t *testing.T, hdr map[string]string, user string, body map[string]any) response {
	t.Helper()
	return f.gs2Send(t, gs2Call{path: tkoBase("game", user) + "/openIdConnect", body: tkoJSON(t, body), header: hdr})
}

// oidcDo is doTakeOverOpenIdConnect of type slot.
func (f *fixture) oidcDo(t *testing.T, hdr map[string]string, slot, idToken string) response {
	t.Helper()
	return f.gs2Send(t, gs2Call{path: "/gs2/account/game/takeover/type/" + slot + "/openIdConnect",
		body: tkoJSON(t, map[string]any{"idToken": idToken, "contextStack": nil}), header: hdr})
}

// oidcBody is the body of a create.
func oidcBody(slot int, idToken string) map[string]any {
	return map[string]any{"type": slot, "idToken": idToken, "contextStack": nil}
}

// oidcSignIn signs userID in as GS2's SDKs do (authentication, then
// loginBySignature, with the account's password) and returns the access
// token, whose userId must be userID's.
func (f *fixture) oidcSignIn(t *testing.T, hdr map[string]string, userID, password string) string {
	t.Helper()
	body, sig := f.gs2SignedPair(t, hdr, "game", userID, defaultKeyID, password)
	r := f.gs2LoginBySignature(t, hdr, defaultKeyID, body, sig)
	if r.Status != http.StatusOK || r.str("userId") != userID {
		t.Fatalf("loginBySignature: %d %s, want a token of %s", r.Status, r.Raw, userID)
	}
	return r.str("token")
}

// TestGS2OpenIDConnectTakeOver: an identity linked on the old device takes
// the account over on the new one, and is the link token exchange signs in
// with.
func TestGS2OpenIDConnectTakeOver(t *testing.T) {
	t.Parallel()
	exEachStore(t, func(t *testing.T, f *fixture, p exPlatforms) {
		clientID, project := f.gs2Project(t, "game")
		hdr := trusted(clientID, project)
		nsID := mustNamespace(t, f, "game").ID
		const oldPassword = "the-old-device-account-password"
		userA := f.tkoAccount(t, nsID, oldPassword)
		me := tkoAs(hdr, f.oidcSignIn(t, hdr, userA, oldPassword))

		// The platform's slot is the broker's: a password takeover there is
		// refused, an identity the platform proves is what it is for.
		tkoRefused(t, f.tkoCreate(t, me, "game", "me", tkoJSON(t, map[string]any{
			"type": exAppleSlot, "userIdentifier": "apple-a", "password": "pw"})), http.StatusBadRequest, "takeOver", "takeOver.type.reserved")
		r := f.oidcCreate(t, me, "me", map[string]any{"type": strconv.Itoa(exAppleSlot), "idToken": p.apple.Token("apple-a", exAudience)})
		if r.Status != http.StatusOK {
			t.Fatalf("createTakeOverOpenIdConnect: %d %s", r.Status, r.Raw)
		}
		tkoWant(t, item(t, r), "game", userA, exAppleSlot, "apple-a", 1)
		aboutNow(t, f, "createdAt", item(t, r)["createdAt"])
		// The same identity again (a new token) is the same takeover.
		if r := f.oidcCreate(t, me, "me", oidcBody(exAppleSlot, p.apple.Token("apple-a", exAudience))); r.Status != http.StatusOK {
			t.Errorf("createTakeOverOpenIdConnect again: %d %s", r.Status, r.Raw)
		}
		tkoWant(t, item(t, f.tkoGet(t, me, "game", "me", strconv.Itoa(exAppleSlot))), "game", userA, exAppleSlot, "apple-a", 1)

		// The new device: the ID token gives the account, with a new
		// password that signs in; the old device's stops working.
		r = f.oidcDo(t, hdr, strconv.Itoa(exAppleSlot), p.apple.Token("apple-a", exAudience))
		if r.Status != http.StatusOK {
			t.Fatalf("doTakeOverOpenIdConnect: %d %s", r.Status, r.Raw)
		}
		got := item(t, r)
		newPassword, _ := got["password"].(string)
		if got["userId"] != userA || got["accountId"] != accountGRN("game", userA) || got["banned"] != false ||
			!accountPassword.MatchString(newPassword) || newPassword == oldPassword {
			t.Fatalf("item %v, want the account of %s with a new password", got, userA)
		}
		if _, ok := r.Body["body"]; ok || len(r.Body) != 1 {
			t.Errorf("GS2's DoTakeOverOpenIdConnectResult is {item} alone: %s", r.Raw)
		}
		f.oidcSignIn(t, hdr, userA, newPassword)
		tkoRefused(t, f.gs2Authenticate(t, hdr, "game", userA, defaultKeyID, oldPassword), http.StatusUnauthorized, "account", "account.password.invalid")

		// Token exchange with the same identity signs the same player in.
		game, _ := f.client(t, exGameSpec("game"))
		if x := f.exchange(t, game, exForm("apple", platforms.TokenTypeIDToken, p.apple.Token("apple-a", exAudience))); x.str("userId") != userA {
			t.Errorf("token exchange of the identity: %d %s, want %s", x.Status, x.Raw, userA)
		}

		// ByUserId, for a player without an account (GS2-Auth's login):
		// doTakeOverOpenIdConnect makes the account.
		f.tkoPlayer(t, hdr, "no-account")
		r = f.oidcCreate(t, hdr, "no-account", oidcBody(exAppleSlot, p.apple.Token("apple-b", exAudience)))
		if r.Status != http.StatusOK {
			t.Fatalf("createTakeOverOpenIdConnectAndByUserId: %d %s", r.Status, r.Raw)
		}
		tkoWant(t, item(t, r), "game", "no-account", exAppleSlot, "apple-b", 1)
		r = f.oidcDo(t, hdr, strconv.Itoa(exAppleSlot), p.apple.Token("apple-b", exAudience))
		got = item(t, r)
		pw, _ := got["password"].(string)
		if r.Status != http.StatusOK || got["userId"] != "no-account" || !accountPassword.MatchString(pw) {
			t.Fatalf("doTakeOverOpenIdConnect of a player without an account: %d %s", r.Status, r.Raw)
		}
		aboutNow(t, f, "createdAt", got["createdAt"])
		f.oidcSignIn(t, hdr, "no-account", pw)
	})
}

// TestGS2OpenIDConnectTakeOverRefusals: each refusal in GS2's terms, and
// none of them links or hands over anything.
func TestGS2OpenIDConnectTakeOverRefusals(t *testing.T) {
	t.Parallel()
	exEachStore(t, func(t *testing.T, f *fixture, p exPlatforms) {
		clientID, project := f.gs2Project(t, "game")
		hdr := trusted(clientID, project)
		nsID := mustNamespace(t, f, "game").ID
		// A project client without the gs2 allowance.
		plain := gameServer("game")
		plain.Name, plain.Grants = "no gs2", []string{broker.GrantClientCredentials}
		plainID, plainSecret := f.client(t, plain)
		plainHdr := trusted(plainID, f.gs2ProjectToken(t, plainID, plainSecret))
		otherID, otherProject := f.gs2Project(t, "other")
		f.tkoPlayer(t, trusted(otherID, otherProject), "elsewhere")

		// alice holds apple-alice and a password takeover in slot 0; bob
		// holds nothing; carol, banned, holds apple-carol.
		alice := f.tkoAccount(t, nsID, "alice-password")
		f.tkoLink(t, nsID, alice, exAppleSlot, "apple-alice", "")
		f.tkoLink(t, nsID, alice, 0, "alice@example.com", "pw0")
		bob := f.tkoAccount(t, nsID, "bob-password")
		carol := f.tkoAccount(t, nsID, "carol-password")
		f.tkoLink(t, nsID, carol, exAppleSlot, "apple-carol", "")
		f.banUser(t, nsID, carol, "", "cheating", time.Hour)
		asAlice := tkoAs(hdr, f.tkoPlayer(t, hdr, alice))
		asBob := tkoAs(hdr, f.tkoPlayer(t, hdr, bob))
		policy := fedPolicy(`{"Effect":"Allow","Actions":["Gs2Account:CreateTakeOver"],"Resources":["*"]}`)
		asBobFederated := tkoAs(hdr, f.fedToken(t, hdr, "operator", bob, policy))

		token := func(sub string) string { return p.apple.Token(sub, exAudience) }
		claims := func(sub string, set map[string]any) string {
			c := p.apple.Claims(sub, exAudience)
			for k, v := range set {
				c[k] = v
			}
			return p.apple.Sign(c)
		}
		apple := strconv.Itoa(exAppleSlot)
		for _, tc := range []struct {
			name      string
			call      func() response
			status    int
			component string
			code      string
		}{
			// createTakeOverOpenIdConnect (me) and ...AndByUserId.
			{"no provider has the type", func() response { return f.oidcCreate(t, asBob, "me", oidcBody(7, token("apple-bob"))) },
				400, "takeOver", "takeOver.type.noProvider"},
			{"the type is a password takeover's", func() response { return f.oidcCreate(t, asBob, "me", oidcBody(0, token("apple-bob"))) },
				400, "takeOver", "takeOver.type.noProvider"},
			{"the type's provider takes no ID tokens", func() response {
				return f.oidcCreate(t, asBob, "me", oidcBody(exSteamSlot, token("apple-bob")))
			}, 400, "takeOver", "takeOver.type.noProvider"},
			{"no type", func() response { return f.oidcCreate(t, asBob, "me", map[string]any{"idToken": token("apple-bob")}) },
				400, "takeOver", "takeOver.type.required"},
			{"no idToken", func() response { return f.oidcCreate(t, asBob, "me", map[string]any{"type": exAppleSlot}) },
				400, "takeOver", "takeOver.idToken.required"},
			{"the ID token is for another game", func() response {
				return f.oidcCreate(t, asBob, "me", oidcBody(exAppleSlot, p.apple.Token("apple-bob", "com.other.game")))
			}, 401, "takeOver", "takeOver.idToken.invalid"},
			{"the ID token is expired", func() response {
				return f.oidcCreate(t, asBob, "me", oidcBody(exAppleSlot, claims("apple-bob", map[string]any{
					"iat": time.Now().Add(-2 * time.Hour).Unix(), "exp": time.Now().Add(-time.Hour).Unix()})))
			}, 401, "takeOver", "takeOver.idToken.invalid"},
			{"the ID token says alg none", func() response {
				return f.oidcCreate(t, asBob, "me", oidcBody(exAppleSlot, p.apple.SignWith("none", p.apple.Claims("apple-bob", exAudience))))
			}, 401, "takeOver", "takeOver.idToken.invalid"},
			{"the identity is another player's", func() response { return f.oidcCreate(t, asBob, "me", oidcBody(exAppleSlot, token("apple-alice"))) },
				409, "takeOver", "takeOver.userIdentifier.duplicate"},
			{"the player has another identity in the slot", func() response {
				return f.oidcCreate(t, asAlice, "me", oidcBody(exAppleSlot, token("apple-alice-2")))
			}, 409, "takeOver", "takeOver.type.duplicate"},
			{"no X-GS2-ACCESS-TOKEN", func() response { return f.oidcCreate(t, hdr, "me", oidcBody(exAppleSlot, token("apple-bob"))) },
				401, "accessToken", "accessToken.accessToken.required"},
			{"the federated token's policy does not allow it", func() response {
				return f.oidcCreate(t, asBobFederated, "me", oidcBody(exAppleSlot, token("apple-bob")))
			}, 401, "accessToken", "accessToken.policy.denied"},
			{"ByUserId without the gs2 allowance", func() response { return f.oidcCreate(t, plainHdr, bob, oidcBody(exAppleSlot, token("apple-bob"))) },
				401, "accessToken", "accessToken.client_id.invalid"},
			{"ByUserId of an unknown user", func() response { return f.oidcCreate(t, hdr, "nobody", oidcBody(exAppleSlot, token("apple-bob"))) },
				404, "account", "account.userId.notFound"},
			{"ByUserId of another namespace's user", func() response {
				return f.oidcCreate(t, hdr, "elsewhere", oidcBody(exAppleSlot, token("apple-bob")))
			}, 404, "account", "account.userId.notFound"},
			// doTakeOverOpenIdConnect.
			{"doTakeOver of an identity no player holds", func() response { return f.oidcDo(t, hdr, apple, token("apple-nobody")) },
				404, "takeOver", "takeOver.userIdentifier.notFound"},
			{"doTakeOver of a banned player", func() response { return f.oidcDo(t, hdr, apple, token("apple-carol")) },
				401, "account", "account.banned.infinity"},
			{"doTakeOver of a type no provider has", func() response { return f.oidcDo(t, hdr, "0", token("apple-alice")) },
				400, "takeOver", "takeOver.type.noProvider"},
			{"doTakeOver of type null", func() response { return f.oidcDo(t, hdr, "null", token("apple-alice")) },
				400, "takeOver", "takeOver.type.invalid"},
			{"doTakeOver with an ID token for another game", func() response {
				return f.oidcDo(t, hdr, apple, p.apple.Token("apple-alice", "com.other.game"))
			}, 401, "takeOver", "takeOver.idToken.invalid"},
			{"doTakeOver with an unsigned ID token", func() response {
				return f.oidcDo(t, hdr, apple, p.apple.SignWith("none", p.apple.Claims("apple-alice", exAudience)))
			}, 401, "takeOver", "takeOver.idToken.invalid"},
			{"doTakeOver without idToken", func() response { return f.oidcDo(t, hdr, apple, "") },
				400, "takeOver", "takeOver.idToken.required"},
			{"doTakeOver without a project token", func() response { return f.oidcDo(t, nil, apple, token("apple-alice")) },
				401, "accessToken", ""},
		} {
			t.Run("should fail because "+tc.name, func(t *testing.T) {
				tkoRefused(t, tc.call(), tc.status, tc.component, tc.code)
			})
		}
		// Nothing was linked, and no account changed hands.
		for user, want := range map[string]int{alice: 2, bob: 0, carol: 1} {
			if links, err := f.Broker.Links(t.Context(), user); err != nil || len(links) != want {
				t.Errorf("%s has links %+v (%v), want %d", user, links, err, want)
			}
		}
		f.oidcSignIn(t, hdr, alice, "alice-password")
	})
}

// TestGS2OpenIDConnectPlatformDown: a platform that cannot be asked is a
// 503 to retry, not a refusal of the token.
func TestGS2OpenIDConnectPlatformDown(t *testing.T) {
	t.Parallel()
	exEachStore(t, func(t *testing.T, f *fixture, p exPlatforms) {
		clientID, project := f.gs2Project(t, "game")
		hdr := trusted(clientID, project)
		nsID := mustNamespace(t, f, "game").ID
		userA := f.tkoAccount(t, nsID, "password-a")
		f.tkoLink(t, nsID, userA, exAppleSlot, "apple-a", "")
		p.apple.SetOutage(platformtest.Failing)
		r := f.oidcDo(t, hdr, strconv.Itoa(exAppleSlot), p.apple.Token("apple-a", exAudience))
		tkoRefused(t, r, http.StatusServiceUnavailable, "takeOver", "")
		if r.Header.Get("Retry-After") == "" {
			t.Errorf("no Retry-After: %v", r.Header)
		}
		r = f.oidcCreate(t, tkoAs(hdr, f.tkoPlayer(t, hdr, userA)), "me", oidcBody(exAppleSlot, p.apple.Token("apple-a", exAudience)))
		tkoRefused(t, r, http.StatusServiceUnavailable, "takeOver", "")
		// (The verifier asks again only after idtoken.RetryAfterFailure;
		// its recovery is tested in platforms/idtoken.)
		if a, err := f.Store.GetAccount(t.Context(), nsID, userA); err != nil || a.UserID != userA {
			t.Fatalf("account: %+v %v", a, err)
		}
		f.oidcSignIn(t, hdr, userA, "password-a")
	})
}
