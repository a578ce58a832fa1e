package web_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// banUser bans a user of namespace nsID for d, and must succeed.
func (f *fixture) banUser(t *testing.T, nsID, userID, name, reason string, d time.Duration) broker.Ban {
	t.Helper()
	now := f.Clock.Now()
	b, err := broker.BanUser(t.Context(), f.Store, now, nsID, userID, name, reason, now.Add(d))
	if err != nil {
		t.Fatalf("BanUser: %v", err)
	}
	if b.UserID != userID || b.Reason != reason || !b.ReleaseAt.Equal(now.Add(d)) || (name != "" && b.Name != name) {
		t.Errorf("BanUser returned %+v", b)
	}
	return b
}

// banRefused checks GS2's refusal of a banned user.
func banRefused(t *testing.T, r response) {
	t.Helper()
	tkoRefused(t, r, http.StatusUnauthorized, "account", "account.banned.infinity")
}

// banAccount is getAccount's item.
func (f *fixture) banAccount(t *testing.T, hdr map[string]string, ns, userID string) map[string]any {
	t.Helper()
	r := f.gs2Send(t, gs2Call{method: http.MethodGet, path: "/gs2/account/" + ns + "/account/" + userID, header: hdr})
	if r.Status != http.StatusOK {
		t.Fatalf("getAccount: %d %s", r.Status, r.Raw)
	}
	return item(t, r)
}

// banWantStatuses checks an Account's banned and banStatuses.
func banWantStatuses(t *testing.T, a map[string]any, want ...broker.Ban) {
	t.Helper()
	if a["banned"] != (len(want) > 0) {
		t.Errorf("banned %v, want %v", a["banned"], len(want) > 0)
	}
	got, ok := a["banStatuses"].([]any)
	if !ok || len(got) != len(want) {
		t.Fatalf("banStatuses %v, want %d of them", a["banStatuses"], len(want))
	}
	for i, b := range want {
		g, _ := got[i].(map[string]any)
		if g["name"] != b.Name || g["reason"] != b.Reason || g["releaseTimestamp"] != float64(b.ReleaseAt.UnixMilli()) {
			t.Errorf("banStatuses[%d] = %v, want name %q, reason %q, releaseTimestamp %d", i, g, b.Name, b.Reason, b.ReleaseAt.UnixMilli())
		}
	}
}

// banEnv is a namespace with one account that can be banned, and what its
// player holds from before: a body/signature pair and a takeover.
type banEnv struct {
	f          *fixture
	hdr        map[string]string
	nsID, user string
	body, sig  string
}

const (
	banPassword         = "account-password"
	banTakeOver         = "banned@example.com"
	banTakeOverPassword = "takeover-password"
)

func newBanEnv(t *testing.T, f *fixture) *banEnv {
	t.Helper()
	clientID, project := f.gs2Project(t, "game")
	e := &banEnv{f: f, hdr: trusted(clientID, project), nsID: mustNamespace(t, f, "game").ID}
	e.user = f.tkoAccount(t, e.nsID, banPassword)
	f.tkoLink(t, e.nsID, e.user, 0, banTakeOver, banTakeOverPassword)
	e.body, e.sig = f.gs2SignedPair(t, e.hdr, "game", e.user, defaultKeyID, banPassword)
	return e
}

// calls are everything a banned user is refused, by name.
func (e *banEnv) calls(t *testing.T) map[string]func() response {
	f, hdr := e.f, e.hdr
	return map[string]func() response{
		"authentication": func() response {
			return f.gs2Authenticate(t, hdr, "game", e.user, defaultKeyID, banPassword)
		},
		"loginBySignature with a pair from before the ban": func() response {
			return f.gs2LoginBySignature(t, hdr, defaultKeyID, e.body, e.sig)
		},
		"login": func() response {
			return f.gs2Send(t, gs2Call{path: "/gs2/auth/login", body: tkoJSON(t, map[string]string{"userId": e.user}), header: hdr})
		},
		"federation as the user": func() response {
			return f.fedFederate(t, hdr, map[string]any{"originalUserId": "operator", "userId": e.user})
		},
		"federation from the user": func() response {
			return f.fedFederate(t, hdr, map[string]any{"originalUserId": e.user, "userId": "someone-else"})
		},
	}
}

// TestGS2BannedAccount: a ban refuses the user everywhere GS2 signs in, and
// getAccount shows it; UnbanUser lifts it at once.
func TestGS2BannedAccount(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		e := newBanEnv(t, f)
		bystander := f.tkoAccount(t, e.nsID, "bystander-password")
		if a := f.banAccount(t, e.hdr, "game", e.user); a["banned"] != false {
			t.Fatalf("banned before any ban: %v", a)
		}
		cheat := f.banUser(t, e.nsID, e.user, "cheat", "used a cheat tool", 10*time.Minute)
		spam := f.banUser(t, e.nsID, e.user, "", "spam", 24*time.Hour)
		if _, err := uuid.Parse(spam.Name); err != nil {
			t.Errorf("a ban without a name is named %q, not a UUID", spam.Name)
		}

		for name, call := range e.calls(t) {
			t.Run(name, func(t *testing.T) { banRefused(t, call()) })
		}
		t.Run("doTakeOver onto the user", func(t *testing.T) {
			banRefused(t, f.tkoDo(t, e.hdr, "game", "0", banTakeOver, banTakeOverPassword))
		})
		t.Run("getAccount", func(t *testing.T) {
			banWantStatuses(t, f.banAccount(t, e.hdr, "game", e.user), cheat, spam)
		})
		t.Run("describeAccounts", func(t *testing.T) {
			r := f.gs2Send(t, gs2Call{method: http.MethodGet, path: "/gs2/account/game/account", header: e.hdr})
			found := 0
			for _, it := range tkoItems(t, r) {
				switch it["userId"] {
				case e.user:
					found++
					banWantStatuses(t, it, cheat, spam)
				case bystander:
					found++
					banWantStatuses(t, it)
				}
			}
			if found != 2 {
				t.Errorf("describeAccounts: %s", r.Raw)
			}
		})
		t.Run("another user is not banned", func(t *testing.T) {
			if r := f.gs2Authenticate(t, e.hdr, "game", bystander, defaultKeyID, "bystander-password"); r.Status != http.StatusOK {
				t.Errorf("authentication: %d %s", r.Status, r.Raw)
			}
		})

		// UnbanUser lifts one ban by name, then all of them.
		if n, err := broker.UnbanUser(t.Context(), f.Store, e.nsID, e.user, "cheat"); err != nil || n != 1 {
			t.Fatalf("UnbanUser cheat = %d, %v", n, err)
		}
		banWantStatuses(t, f.banAccount(t, e.hdr, "game", e.user), spam)
		banRefused(t, e.calls(t)["authentication"]())
		if n, err := broker.UnbanUser(t.Context(), f.Store, e.nsID, e.user, "nothing-of-that-name"); err != nil || n != 0 {
			t.Errorf("UnbanUser of no such ban = %d, %v", n, err)
		}
		if n, err := broker.UnbanUser(t.Context(), f.Store, e.nsID, e.user, ""); err != nil || n != 1 {
			t.Fatalf("UnbanUser all = %d, %v", n, err)
		}
		banWantStatuses(t, f.banAccount(t, e.hdr, "game", e.user))
		for name, call := range e.calls(t) {
			t.Run("unbanned: "+name, func(t *testing.T) {
				if r := call(); r.Status != http.StatusOK {
					t.Errorf("%d %s", r.Status, r.Raw)
				}
			})
		}
	})
}

// TestGS2BanExpires: at its release time a ban stops holding, without
// anyone lifting it.
func TestGS2BanExpires(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		e := newBanEnv(t, f)
		f.banUser(t, e.nsID, e.user, "timeout", "ten minutes", 10*time.Minute)
		f.Clock.Advance(10*time.Minute - 30*time.Second)
		for name, call := range e.calls(t) {
			t.Run("30 s before release: "+name, func(t *testing.T) { banRefused(t, call()) })
		}
		if a := f.banAccount(t, e.hdr, "game", e.user); a["banned"] != true {
			t.Errorf("banned %v 30 s before release", a["banned"])
		}

		f.Clock.Advance(time.Minute)
		banWantStatuses(t, f.banAccount(t, e.hdr, "game", e.user))
		for name, call := range e.calls(t) {
			t.Run("released: "+name, func(t *testing.T) {
				if r := call(); r.Status != http.StatusOK {
					t.Errorf("%d %s", r.Status, r.Raw)
				}
			})
		}
		t.Run("released: doTakeOver", func(t *testing.T) {
			r := f.tkoDo(t, e.hdr, "game", "0", banTakeOver, banTakeOverPassword)
			if r.Status != http.StatusOK || item(t, r)["userId"] != e.user {
				t.Errorf("%d %s", r.Status, r.Raw)
			}
		})
	})
}

// TestGS2BanTokenEndpoint: a ban refuses the OAuth2 grants too, without
// spending or revoking the player's refresh token.
func TestGS2BanTokenEndpoint(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		id, secret := f.client(t, gameServer("game"))
		nsID := mustNamespace(t, f, "game").ID
		login := f.mustToken(t, id, secret, customID("player-7"))
		user, rt := login.str("userId"), login.str("refresh_token")
		if user == "" || rt == "" {
			t.Fatalf("login: %s", login.Raw)
		}
		f.banUser(t, nsID, user, "cheat", "", 10*time.Minute)

		wantOAuthError(t, f.token(t, id, secret, customID("player-7")), http.StatusBadRequest, "invalid_grant")
		// Twice: a refused refresh is not a use, so the second is no reuse.
		for range 2 {
			wantOAuthError(t, f.token(t, id, secret, refresh(rt)), http.StatusBadRequest, "invalid_grant")
		}
		stored, err := broker.FindRefreshToken(t.Context(), f.Store, rt)
		if err != nil || !stored.SpentAt.IsZero() || stored.FamilyRevoked {
			t.Errorf("refresh token after refused refreshes: %+v, %v", stored, err)
		}
		// Other players sign in as ever.
		if u := f.mustToken(t, id, secret, customID("player-8")).str("userId"); u == "" || u == user {
			t.Errorf("player-8 is %q", u)
		}

		f.Clock.Advance(10*time.Minute + time.Second)
		next := f.mustToken(t, id, secret, refresh(rt))
		if next.str("userId") != user || next.str("refresh_token") == "" || next.str("refresh_token") == rt {
			t.Errorf("refresh after the ban: %s", next.Raw)
		}
		f.mustToken(t, id, secret, refresh(next.str("refresh_token")))
		if u := f.mustToken(t, id, secret, customID("player-7")).str("userId"); u != user {
			t.Errorf("player-7 is now %q, was %q", u, user)
		}
	})
}

// TestGS2BanUserErrors: BanUser's and UnbanUser's refusals.
func TestGS2BanUserErrors(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		clientID, project := f.gs2Project(t, "game")
		hdr := trusted(clientID, project)
		nsID := mustNamespace(t, f, "game").ID
		otherID, otherProject := f.gs2Project(t, "other")
		otherNS := mustNamespace(t, f, "other").ID
		f.tkoPlayer(t, hdr, "player")
		f.tkoPlayer(t, trusted(otherID, otherProject), "stranger")
		now := f.Clock.Now()
		for _, tc := range []struct {
			name, ns, user, banName, reason string
			release                         time.Time
			notFound                        bool
		}{
			{"release in the past", nsID, "player", "b", "", now.Add(-time.Minute), false},
			{"release now", nsID, "player", "b", "", now, false},
			{"user of another namespace", nsID, "stranger", "b", "", now.Add(time.Hour), true},
			{"unknown user", nsID, uuid.NewString(), "b", "", now.Add(time.Hour), true},
			{"user of the namespace, named in another", otherNS, "player", "b", "", now.Add(time.Hour), true},
			{"name of 37 characters", nsID, "player", strings.Repeat("n", 37), "", now.Add(time.Hour), false},
			{"reason of 257 characters", nsID, "player", "b", strings.Repeat("r", 257), now.Add(time.Hour), false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				b, err := broker.BanUser(t.Context(), f.Store, now, tc.ns, tc.user, tc.banName, tc.reason, tc.release)
				if err == nil {
					t.Fatalf("BanUser = %+v, want an error", b)
				}
				if errors.Is(err, broker.ErrNotFound) != tc.notFound {
					t.Errorf("BanUser: %v; want ErrNotFound %v", err, tc.notFound)
				}
			})
		}
		for _, user := range []string{"player", "stranger"} {
			if bans, err := f.Store.ListBans(t.Context(), user); err != nil || len(bans) != 0 {
				t.Errorf("bans of %s after refused BanUsers: %v, %v", user, bans, err)
			}
		}
		if r := f.gs2Send(t, gs2Call{path: "/gs2/auth/login", body: `{"userId":"player"}`, header: hdr}); r.Status != http.StatusOK {
			t.Errorf("login after refused BanUsers: %d %s", r.Status, r.Raw)
		}

		// A ban of the same name replaces the earlier one.
		f.banUser(t, nsID, "player", "b", "first", time.Hour)
		second := f.banUser(t, nsID, "player", "b", "second", 2*time.Hour)
		if bans, err := f.Store.ListBans(t.Context(), "player"); err != nil || len(bans) != 1 || bans[0].Reason != "second" ||
			bans[0].ReleaseAt.UnixMilli() != second.ReleaseAt.UnixMilli() {
			t.Errorf("bans after a second ban of the name: %+v, %v", bans, err)
		}
		if n, err := broker.UnbanUser(t.Context(), f.Store, otherNS, "player", ""); !errors.Is(err, broker.ErrNotFound) || n != 0 {
			t.Errorf("UnbanUser from another namespace = %d, %v; want ErrNotFound", n, err)
		}
		if is, err := f.Store.Banned(t.Context(), "player", f.Clock.Now()); err != nil || !is {
			t.Errorf("Banned = %v, %v after a refused unban", is, err)
		}
	})
}
