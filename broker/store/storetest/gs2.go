package storetest

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// gs2Cases check what GS2-Account and GS2-Auth federation need of a store:
// takeover passwords, the last-link rule with an account, bans and their
// effect on logins and refreshes, policy documents and account passwords.
func gs2Cases() []testCase {
	return []testCase{
		{name: "Link/Password", run: testLinkPassword},
		{name: "Link/UpdatePassword", run: testUpdateLinkPassword},
		{name: "Link/DeleteWithAccount", run: testDeleteLinkWithAccount},
		{name: "Link/DeleteByIdentifier", run: testDeleteLinkByIdentifier},
		{name: "Ban/PutListDelete", run: testBans},
		{name: "Ban/Banned", run: testBanned},
		{name: "Ban/BlocksCreateByLink", run: testBanBlocksCreateByLink},
		{name: "Ban/BlocksRotate", run: testBanBlocksRotate},
		{name: "PurgeExpired/Bans", run: testPurgeBans},
		{name: "Policy/RoundTrip", run: testPolicies},
		{name: "Account/SetPassword", run: testSetAccountPassword},
		{name: "Concurrency/UpdateLinkPasswordOnce", run: testUpdateLinkPasswordRace},
	}
}

// takeoverHash stands in for the bcrypt hash of a takeover password.
func takeoverHash(password string) []byte {
	return []byte("$2a$10$" + password + "/N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy")
}

func newLink(t *testing.T, s broker.Store, l broker.Link) broker.Link {
	t.Helper()
	ok(t, fmt.Sprintf("CreateLink %s slot %d", l.UserID, l.Slot), s.CreateLink(caseCtx(t), l))
	l.Revision = 1 // every link starts at revision 1
	return l
}

func getUserLink(t *testing.T, s broker.Store, userID string, slot int) broker.Link {
	t.Helper()
	l, err := s.GetUserLink(caseCtx(t), userID, slot)
	ok(t, fmt.Sprintf("GetUserLink(%s, %d)", userID, slot), err)
	return l
}

// checkLink compares a link read back with want, spelling out the password
// hash and revision, which a failure must name plainly.
func checkLink(t *testing.T, what string, got, want broker.Link) {
	t.Helper()
	equal(t, what, got, want)
	sameBytes(t, what+": PasswordHash", got.PasswordHash, want.PasswordHash)
	if got.Revision != want.Revision {
		t.Errorf("%s: Revision: got %d, want %d", what, got.Revision, want.Revision)
	}
}

func testLinkPassword(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	newNamespace(t, s, "ns-1", "alpha")
	u1 := newUser(t, s, "u-1", "ns-1")
	u2 := newUser(t, s, "u-2", "ns-1")

	withHash := newLink(t, s, broker.Link{
		NamespaceID: "ns-1", Slot: 3, Identifier: "player-1", UserID: u1.ID,
		CreatedAt: at(time.Hour).In(jst), PasswordHash: takeoverHash("first"),
	})
	plain := newLink(t, s, broker.Link{
		NamespaceID: "ns-1", Slot: 1, Identifier: "device-1", UserID: u1.ID, CreatedAt: at(2 * time.Hour),
	})

	for _, l := range []broker.Link{withHash, plain} {
		what := fmt.Sprintf("slot %d", l.Slot)
		got, err := s.GetLink(ctx, l.NamespaceID, l.Slot, l.Identifier)
		ok(t, "GetLink "+what, err)
		checkLink(t, "GetLink "+what, got, l)
		checkLink(t, "GetUserLink "+what, getUserLink(t, s, l.UserID, l.Slot), l)
	}
	if got := getUserLink(t, s, u1.ID, plain.Slot); len(got.PasswordHash) != 0 {
		t.Errorf("link created without a password: got PasswordHash %x, want none", got.PasswordHash)
	}
	list, err := s.ListLinks(ctx, u1.ID)
	ok(t, "ListLinks", err)
	equal(t, "ListLinks", list, []broker.Link{plain, withHash})

	for _, miss := range []struct {
		user string
		slot int
	}{
		{u1.ID, 4},    // an empty slot of a user with links
		{u2.ID, 3},    // another user holds the slot
		{"nobody", 3}, // no such user
		{"U-1", 3},    // user IDs are exact
		{u1.ID, -3},   // no slot at all
		{u2.ID, plain.Slot},
	} {
		_, err := s.GetUserLink(ctx, miss.user, miss.slot)
		isErr(t, fmt.Sprintf("GetUserLink(%s, %d)", miss.user, miss.slot), err, broker.ErrNotFound)
	}
}

func testUpdateLinkPassword(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	newNamespace(t, s, "ns-1", "alpha")
	u1 := newUser(t, s, "u-1", "ns-1")
	u2 := newUser(t, s, "u-2", "ns-1")
	u3 := newUser(t, s, "u-3", "ns-1")
	l := newLink(t, s, broker.Link{
		NamespaceID: "ns-1", Slot: 3, Identifier: "player-1", UserID: u1.ID,
		CreatedAt: at(time.Hour), PasswordHash: takeoverHash("first"),
	})
	// Links that must not change: the user's other slot, another user's
	// link in the same slot.
	sibling := newLink(t, s, broker.Link{
		NamespaceID: "ns-1", Slot: 4, Identifier: "player-1", UserID: u1.ID, CreatedAt: at(time.Hour),
		PasswordHash: takeoverHash("sibling"),
	})
	other := newLink(t, s, broker.Link{
		NamespaceID: "ns-1", Slot: 3, Identifier: "player-2", UserID: u2.ID, CreatedAt: at(time.Hour),
		PasswordHash: takeoverHash("other"),
	})

	got, err := s.UpdateLinkPassword(ctx, u1.ID, 3, 1, takeoverHash("second"))
	ok(t, "UpdateLinkPassword(revision 1)", err)
	want := l
	want.PasswordHash, want.Revision = takeoverHash("second"), 2
	checkLink(t, "UpdateLinkPassword result", got, want)
	checkLink(t, "GetUserLink after UpdateLinkPassword", getUserLink(t, s, u1.ID, 3), want)
	stored, err := s.GetLink(ctx, "ns-1", 3, "player-1")
	ok(t, "GetLink", err)
	checkLink(t, "GetLink after UpdateLinkPassword", stored, want)

	// A writer that read revision 1, or one that names a revision not yet
	// reached, comes second.
	for _, rev := range []int64{1, 0, 3} {
		_, err := s.UpdateLinkPassword(ctx, u1.ID, 3, rev, takeoverHash(fmt.Sprintf("stale-%d", rev)))
		isErr(t, fmt.Sprintf("UpdateLinkPassword(revision %d, current 2)", rev), err, broker.ErrConflict)
		checkLink(t, fmt.Sprintf("link after the refused revision %d", rev), getUserLink(t, s, u1.ID, 3), want)
	}

	// The revision goes on growing, and a password can be cleared.
	got, err = s.UpdateLinkPassword(ctx, u1.ID, 3, 2, nil)
	ok(t, "UpdateLinkPassword(revision 2, no password)", err)
	want.PasswordHash, want.Revision = nil, 3
	checkLink(t, "UpdateLinkPassword(revision 2) result", got, want)
	checkLink(t, "GetUserLink after the second update", getUserLink(t, s, u1.ID, 3), want)

	for _, miss := range []struct {
		user string
		slot int
	}{{u1.ID, 5}, {u3.ID, 3}, {"nobody", 3}} {
		what := fmt.Sprintf("UpdateLinkPassword(%s, %d)", miss.user, miss.slot)
		_, err := s.UpdateLinkPassword(ctx, miss.user, miss.slot, 1, takeoverHash("ghost"))
		isErr(t, what, err, broker.ErrNotFound)
		_, err = s.GetUserLink(ctx, miss.user, miss.slot)
		isErr(t, what+": GetUserLink afterwards", err, broker.ErrNotFound)
	}

	checkLink(t, "the user's other link", getUserLink(t, s, u1.ID, 4), sibling)
	checkLink(t, "another user's link in the slot", getUserLink(t, s, u2.ID, 3), other)
}

// testUpdateLinkPasswordRace: many writers that all read revision 1 change
// the password at once; exactly one wins, and its hash is the one stored.
// Several rounds, each on a fresh link.
func testUpdateLinkPasswordRace(t *testing.T, s broker.Store) {
	const (
		n      = 20
		rounds = 5
	)
	ctx := caseCtx(t)
	newNamespace(t, s, "ns-1", "alpha")
	warmUp(t, s, n)
	for round := range rounds {
		u := newUser(t, s, fmt.Sprintf("user-%02d", round), "ns-1")
		l := newLink(t, s, broker.Link{
			NamespaceID: "ns-1", Slot: 3, Identifier: u.ID, UserID: u.ID, CreatedAt: t0,
			PasswordHash: takeoverHash("initial"),
		})
		pw := func(i int) []byte { return takeoverHash(fmt.Sprintf("round-%d-writer-%02d", round, i)) }
		got := make([]broker.Link, n)
		errs := race(n, func(i int) error {
			var err error
			got[i], err = s.UpdateLinkPassword(ctx, u.ID, 3, 1, pw(i))
			return err
		})
		what := fmt.Sprintf("round %d: UpdateLinkPassword", round)
		win := winner(t, what, errs, broker.ErrConflict)
		want := l
		want.PasswordHash, want.Revision = pw(win), 2
		checkLink(t, what+": winner's result", got[win], want)
		checkLink(t, what+": stored link", getUserLink(t, s, u.ID, 3), want)
	}
}

func testDeleteLinkWithAccount(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	newNamespace(t, s, "ns-1", "alpha")
	links := func(userID string) []broker.Link {
		t.Helper()
		got, err := s.ListLinks(ctx, userID)
		ok(t, "ListLinks "+userID, err)
		return got
	}

	// A GS2 account is a way in of its own: its user's last link may go.
	acct := newAccount(t, s, account("u-acct", "ns-1"))
	newLink(t, s, broker.Link{NamespaceID: "ns-1", Slot: 3, Identifier: "acct-takeover", UserID: acct.UserID, CreatedAt: at(time.Hour)})
	ok(t, "DeleteLink(last link of a user with an account)", s.DeleteLink(ctx, acct.UserID, 3, ""))
	if got := links(acct.UserID); len(got) != 0 {
		t.Errorf("links after deleting the last link of a user with an account: got %+v, want none", got)
	}
	_, err := s.GetLink(ctx, "ns-1", 3, "acct-takeover")
	isErr(t, "GetLink(deleted)", err, broker.ErrNotFound)
	_, err = s.GetUserLink(ctx, acct.UserID, 3)
	isErr(t, "GetUserLink(deleted)", err, broker.ErrNotFound)
	isErr(t, "DeleteLink(again)", s.DeleteLink(ctx, acct.UserID, 3, ""), broker.ErrNotFound)
	equal(t, "account after its links went", getAccount(t, s, "ns-1", acct.UserID), acct)

	// Two links and an account: both links may go.
	two := newAccount(t, s, account("u-acct-2", "ns-1"))
	newLink(t, s, broker.Link{NamespaceID: "ns-1", Slot: 1, Identifier: "two-1", UserID: two.UserID, CreatedAt: at(time.Hour)})
	newLink(t, s, broker.Link{NamespaceID: "ns-1", Slot: 2, Identifier: "two-2", UserID: two.UserID, CreatedAt: at(time.Hour)})
	ok(t, "DeleteLink(first of two, account)", s.DeleteLink(ctx, two.UserID, 1, ""))
	ok(t, "DeleteLink(second of two, account)", s.DeleteLink(ctx, two.UserID, 2, ""))
	if got := links(two.UserID); len(got) != 0 {
		t.Errorf("links after deleting both links of a user with an account: got %+v, want none", got)
	}

	// Without an account the last link still stays, even while another
	// user of the namespace has one.
	plain := newUser(t, s, "u-plain", "ns-1")
	last := newLink(t, s, broker.Link{NamespaceID: "ns-1", Slot: 3, Identifier: "plain-1", UserID: plain.ID, CreatedAt: at(time.Hour)})
	isErr(t, "DeleteLink(last link, no account)", s.DeleteLink(ctx, plain.ID, 3, ""), broker.ErrLastLink)
	equal(t, "links after refusing to delete the last", links(plain.ID), []broker.Link{last})
}

// ban is a ban of user released at release, created at t0.
func ban(userID, name string, release time.Time) broker.Ban {
	return broker.Ban{
		UserID: userID, Name: name, Reason: "reason for " + name + " — 理由",
		ReleaseAt: release, CreatedAt: t0.In(jst),
	}
}

func putBan(t *testing.T, s broker.Store, b broker.Ban) broker.Ban {
	t.Helper()
	ok(t, "PutBan "+b.UserID+"/"+b.Name, s.PutBan(caseCtx(t), b))
	return b
}

func listBans(t *testing.T, s broker.Store, userID string) []broker.Ban {
	t.Helper()
	got, err := s.ListBans(caseCtx(t), userID)
	ok(t, "ListBans "+userID, err)
	return got
}

// checkBans compares names (for a readable ordering failure) and then every
// field.
func checkBans(t *testing.T, what string, got, want []broker.Ban) {
	t.Helper()
	name := func(b broker.Ban) string { return b.Name }
	if g, w := ids(got, name), ids(want, name); !slices.Equal(g, w) {
		t.Errorf("%s: bans: got %q, want %q", what, g, w)
		return
	}
	equal(t, what, got, want)
}

func testBans(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	newNamespace(t, s, "ns-1", "alpha")
	u1 := newUser(t, s, "u-1", "ns-1")
	u2 := newUser(t, s, "u-2", "ns-1")
	u3 := newUser(t, s, "u-3", "ns-1")

	if got := listBans(t, s, u1.ID); len(got) != 0 {
		t.Fatalf("ListBans before any ban: got %+v", got)
	}
	// Inserted in neither release nor name order; "abuse" and "zeta" share
	// a release, so the name breaks the tie, and "alpha" comes last by
	// release though first by name.
	cheat := ban(u1.ID, "cheat", at(10*time.Hour).In(jst))
	zeta := ban(u1.ID, "zeta", at(5*time.Hour))
	alpha := ban(u1.ID, "alpha", at(20*time.Hour))
	abuse := ban(u1.ID, "abuse", at(5*time.Hour))
	abuse.Reason, abuse.CreatedAt = "", at(time.Minute)
	for _, b := range []broker.Ban{cheat, zeta, alpha, abuse} {
		putBan(t, s, b)
	}
	// Another user's ban of the same name.
	otherCheat := putBan(t, s, ban(u2.ID, "cheat", at(30*time.Hour)))

	checkBans(t, "ListBans", listBans(t, s, u1.ID), []broker.Ban{abuse, zeta, cheat, alpha})
	checkBans(t, "ListBans of another user", listBans(t, s, u2.ID), []broker.Ban{otherCheat})
	if got := listBans(t, s, u3.ID); len(got) != 0 {
		t.Errorf("ListBans of a user without bans: got %+v", got)
	}

	// Putting a ban of a taken name replaces it: one row, the new reason
	// and release, which moves it in the order.
	cheat2 := broker.Ban{UserID: u1.ID, Name: "cheat", Reason: "appeal denied", ReleaseAt: at(40 * time.Hour), CreatedAt: at(2 * time.Hour)}
	putBan(t, s, cheat2)
	checkBans(t, "ListBans after replacing a ban", listBans(t, s, u1.ID), []broker.Ban{abuse, zeta, alpha, cheat2})
	// And back to an earlier release: a replaced ban can be shortened.
	cheat3 := cheat2
	cheat3.ReleaseAt, cheat3.Reason = at(6*time.Hour), "reduced"
	putBan(t, s, cheat3)
	checkBans(t, "ListBans after shortening a ban", listBans(t, s, u1.ID), []broker.Ban{abuse, zeta, cheat3, alpha})
	checkBans(t, "other user's bans after the replacements", listBans(t, s, u2.ID), []broker.Ban{otherCheat})

	// Lifting one ban by name leaves the user's others and another user's
	// ban of the same name.
	n, err := s.DeleteBans(ctx, u1.ID, "cheat")
	ok(t, "DeleteBans(cheat)", err)
	if n != 1 {
		t.Errorf("DeleteBans(cheat): got %d, want 1", n)
	}
	checkBans(t, "ListBans after DeleteBans(cheat)", listBans(t, s, u1.ID), []broker.Ban{abuse, zeta, alpha})
	checkBans(t, "other user's bans after DeleteBans(cheat)", listBans(t, s, u2.ID), []broker.Ban{otherCheat})

	for _, c := range []struct{ user, name string }{
		{u1.ID, "cheat"},   // already lifted
		{u1.ID, "Abuse"},   // names are exact
		{u3.ID, "abuse"},   // another user's name
		{u3.ID, ""},        // a user without bans
		{"nobody", ""},     // no such user
		{"nobody", "zeta"}, // no such user, a name in use
	} {
		n, err := s.DeleteBans(ctx, c.user, c.name)
		ok(t, fmt.Sprintf("DeleteBans(%s, %q)", c.user, c.name), err)
		if n != 0 {
			t.Errorf("DeleteBans(%s, %q): got %d, want 0", c.user, c.name, n)
		}
	}
	checkBans(t, "ListBans after deleting nothing", listBans(t, s, u1.ID), []broker.Ban{abuse, zeta, alpha})

	// Every ban of the user.
	n, err = s.DeleteBans(ctx, u1.ID, "")
	ok(t, "DeleteBans(all)", err)
	if n != 3 {
		t.Errorf("DeleteBans(all): got %d, want 3", n)
	}
	if got := listBans(t, s, u1.ID); len(got) != 0 {
		t.Errorf("ListBans after DeleteBans(all): got %+v", got)
	}
	checkBans(t, "other user's bans after DeleteBans(all)", listBans(t, s, u2.ID), []broker.Ban{otherCheat})
	n, err = s.DeleteBans(ctx, u1.ID, "")
	ok(t, "DeleteBans(all, again)", err)
	if n != 0 {
		t.Errorf("DeleteBans(all, again): got %d, want 0", n)
	}

	// The name is free again.
	putBan(t, s, cheat)
	checkBans(t, "ListBans after banning again", listBans(t, s, u1.ID), []broker.Ban{cheat})
}

func testBanned(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	newNamespace(t, s, "ns-1", "alpha")
	u1 := newUser(t, s, "u-1", "ns-1")
	u2 := newUser(t, s, "u-2", "ns-1")
	u3 := newUser(t, s, "u-3", "ns-1")
	putBan(t, s, ban(u1.ID, "short", at(time.Hour)))
	putBan(t, s, ban(u1.ID, "long", at(10*time.Hour).In(jst)))
	putBan(t, s, ban(u2.ID, "longest", at(100*time.Hour)))

	check := func(userID string, now time.Time, want bool) {
		t.Helper()
		got, err := s.Banned(ctx, userID, now)
		ok(t, "Banned", err)
		if got != want {
			t.Errorf("Banned(%s, t0%+v): got %v, want %v", userID, now.Sub(t0), got, want)
		}
	}
	check(u1.ID, t0, true)
	check(u1.ID, at(time.Hour), true) // "short" is released, "long" holds
	check(u1.ID, at(5*time.Hour).In(jst), true)
	check(u1.ID, at(10*time.Hour-time.Second), true)
	check(u1.ID, at(10*time.Hour), false) // released at this instant
	check(u1.ID, at(11*time.Hour), false)
	check(u2.ID, at(50*time.Hour), true)
	check(u3.ID, t0, false) // others are banned, this user is not
	check("nobody", t0, false)

	// Shortening the long ban to the past lifts it.
	putBan(t, s, ban(u1.ID, "long", at(-time.Hour)))
	check(u1.ID, at(time.Hour), false)
	check(u1.ID, t0, true) // "short" still holds
	n, err := s.DeleteBans(ctx, u1.ID, "short")
	ok(t, "DeleteBans(short)", err)
	if n != 1 {
		t.Errorf("DeleteBans(short): got %d, want 1", n)
	}
	check(u1.ID, t0, false)
	check(u2.ID, t0, true)
}

func testBanBlocksCreateByLink(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	newNamespace(t, s, "ns-1", "alpha")
	u1 := newUser(t, s, "u-1", "ns-1")
	u2 := newUser(t, s, "u-2", "ns-1")
	newLink(t, s, broker.Link{NamespaceID: "ns-1", Slot: 3, Identifier: "player-1", UserID: u1.ID, CreatedAt: t0})
	newLink(t, s, broker.Link{NamespaceID: "ns-1", Slot: 3, Identifier: "player-2", UserID: u2.ID, CreatedAt: t0})
	// A released ban and an active one: the active one decides.
	putBan(t, s, ban(u1.ID, "old", at(30*time.Minute)))
	release := at(2 * time.Hour)
	putBan(t, s, ban(u1.ID, "cheat", release))

	login := func(name, identifier string, now time.Time) (broker.RefreshToken, broker.RefreshToken, error) {
		t.Helper()
		rt := refreshToken(name)
		rt.CreatedAt, rt.ExpiresAt = now, now.Add(90*24*time.Hour)
		got, err := s.CreateRefreshTokenByLink(ctx, 3, identifier, rt)
		return rt, got, err
	}

	for _, now := range []time.Time{at(time.Hour), at(2*time.Hour - time.Second), at(-time.Hour)} {
		rt, _, err := login(fmt.Sprintf("banned-%v", now.Sub(t0)), "player-1", now)
		isErr(t, fmt.Sprintf("CreateRefreshTokenByLink(banned user, t0%+v)", now.Sub(t0)), err, broker.ErrNotFound)
		_, err = s.GetRefreshToken(ctx, rt.Key, rt.Hash)
		isErr(t, "token of a banned login", err, broker.ErrNotFound)
	}

	// Another user's login is not held up by this user's ban.
	rt, got, err := login("other-user", "player-2", at(time.Hour))
	ok(t, "CreateRefreshTokenByLink(unbanned user)", err)
	rt.UserID = u2.ID
	equal(t, "CreateRefreshTokenByLink(unbanned user) result", got, rt)

	// At the release and after it, the banned user logs in again.
	for _, now := range []time.Time{release, at(3 * time.Hour)} {
		what := fmt.Sprintf("CreateRefreshTokenByLink(after release, t0%+v)", now.Sub(t0))
		rt, got, err := login(fmt.Sprintf("released-%v", now.Sub(t0)), "player-1", now)
		ok(t, what, err)
		rt.UserID = u1.ID
		equal(t, what+" result", got, rt)
		equal(t, what+": stored token", getToken(t, s, rt), rt)
	}
}

func testBanBlocksRotate(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	newNamespace(t, s, "ns-1", "alpha")
	newUser(t, s, "user-1", "ns-1") // refreshToken's user
	newUser(t, s, "user-2", "ns-1")
	old := createToken(t, s, refreshToken("banned-user"))
	otherRT := refreshToken("other-user")
	otherRT.UserID = "user-2"
	otherRT = createToken(t, s, otherRT)
	// A released ban and an active one: the active one decides.
	putBan(t, s, ban("user-1", "old", at(30*time.Minute)))
	release := at(2 * time.Hour)
	putBan(t, s, ban("user-1", "cheat", release))

	for _, now := range []time.Time{at(time.Hour), at(2*time.Hour - time.Second)} {
		what := fmt.Sprintf("RotateRefreshToken(banned user, t0%+v)", now.Sub(t0))
		r := rotation(old, "banned-next", now)
		_, err := s.RotateRefreshToken(ctx, r)
		isErr(t, what, err, broker.ErrNotFound)
		got := getToken(t, s, old)
		if !got.SpentAt.IsZero() {
			t.Errorf("%s: token spent at %v, want unspent", what, got.SpentAt)
		}
		equal(t, what+": token after refusal", got, old)
		notCurrent(t, s, what+": successor after refusal", r.Key, r.NewHash)
	}

	// Another user's token rotates while this user is banned.
	r := rotation(otherRT, "other-next", at(time.Hour))
	got, err := s.RotateRefreshToken(ctx, r)
	ok(t, "RotateRefreshToken(unbanned user)", err)
	equal(t, "RotateRefreshToken(unbanned user) result", got, successor(otherRT, r))

	// After the release the same rotation goes through.
	r = rotation(old, "banned-next", at(3*time.Hour))
	got, err = s.RotateRefreshToken(ctx, r)
	ok(t, "RotateRefreshToken(after release)", err)
	want := successor(old, r)
	equal(t, "RotateRefreshToken(after release) result", got, want)
	equal(t, "stored successor", getToken(t, s, want), want)
	equal(t, "spent token", getToken(t, s, old), spent(old, want, old.CreatedAt, r.Now))
}

func testPurgeBans(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	newNamespace(t, s, "ns-1", "alpha")
	u1 := newUser(t, s, "u-1", "ns-1")
	u2 := newUser(t, s, "u-2", "ns-1")
	now := at(10 * time.Hour)
	putBan(t, s, ban(u1.ID, "released", at(time.Hour)))
	active := putBan(t, s, ban(u1.ID, "active", at(20*time.Hour)))
	putBan(t, s, ban(u2.ID, "released", at(9*time.Hour)))
	// A token that expired too, so that the count is a sum over tables.
	expired := refreshToken("expired")
	expired.ExpiresAt = at(2 * time.Hour)
	createToken(t, s, expired)

	n, err := s.PurgeExpired(ctx, now)
	ok(t, "PurgeExpired", err)
	if n != 3 {
		t.Errorf("PurgeExpired: got %d rows, want 3 (2 bans, 1 refresh token)", n)
	}
	checkBans(t, "ListBans after PurgeExpired", listBans(t, s, u1.ID), []broker.Ban{active})
	if got := listBans(t, s, u2.ID); len(got) != 0 {
		t.Errorf("ListBans of a user whose only ban was released, after PurgeExpired: got %+v", got)
	}
	banned, err := s.Banned(ctx, u1.ID, now)
	ok(t, "Banned", err)
	if !banned {
		t.Errorf("Banned after PurgeExpired: got false, want true (the active ban stays)")
	}

	n, err = s.PurgeExpired(ctx, now)
	ok(t, "PurgeExpired(again)", err)
	if n != 0 {
		t.Errorf("second PurgeExpired: got %d rows, want 0", n)
	}
	checkBans(t, "ListBans after the second PurgeExpired", listBans(t, s, u1.ID), []broker.Ban{active})
}

// policyHash is the SHA-256 a policy is stored under.
func policyHash(doc string) []byte {
	h := sha256.Sum256([]byte(doc))
	return h[:]
}

// samePolicy compares documents without printing 600 KB on a failure.
func samePolicy(t *testing.T, what, got, want string) {
	t.Helper()
	if got == want {
		return
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	snip := func(s string) string { return s[i:min(len(s), i+40)] }
	t.Errorf("%s: got %d bytes, want %d; they differ at byte %d: got %q, want %q",
		what, len(got), len(want), i, snip(got), snip(want))
}

func testPolicies(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	// Non-ASCII text, CRLF, tabs and trailing white space all stay as
	// they are: the hash is of the exact bytes.
	small := "{\r\n\t\"Version\": \"2016-04-01\",\r\n\t\"Statements\": [{\"Effect\": \"Allow\", " +
		"\"Actions\": [\"Gs2Inbox:*\"], \"Resources\": [\"*\"], " +
		"\"Description\": \"プレイヤーの受信箱 — café 🎮 \\u00e9\"}]\r\n}\n \t"
	var b strings.Builder
	b.WriteString(`{"Version": "2016-04-01", "Statements": [`)
	for i := 0; b.Len() < 600<<10; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, `{"Effect": "Deny", "Actions": ["Gs2Account:Action%05d"], "Resources": ["grn:gs2:ap-northeast-1:owner:account:名前空間-%05d"]}`, i, i)
	}
	b.WriteString("]}")
	large := b.String()

	ok(t, "PutPolicy(small)", s.PutPolicy(ctx, policyHash(small), small, t0.In(jst)))
	ok(t, "PutPolicy(large)", s.PutPolicy(ctx, policyHash(large), large, at(time.Second)))
	for _, c := range []struct{ name, doc string }{{"small", small}, {"large", large}} {
		got, err := s.GetPolicy(ctx, policyHash(c.doc))
		ok(t, "GetPolicy("+c.name+")", err)
		samePolicy(t, "GetPolicy("+c.name+")", got, c.doc)
	}

	// Putting a hash again changes nothing, even with another document (a
	// caller never does that, but the first one stays).
	ok(t, "PutPolicy(small, again)", s.PutPolicy(ctx, policyHash(small), small, at(time.Hour)))
	ok(t, "PutPolicy(small's hash, other document)", s.PutPolicy(ctx, policyHash(small), `{"Statements": []}`, at(2*time.Hour)))
	got, err := s.GetPolicy(ctx, policyHash(small))
	ok(t, "GetPolicy(small) after PutPolicy again", err)
	samePolicy(t, "GetPolicy(small) after PutPolicy again", got, small)

	for _, c := range []struct {
		name string
		hash []byte
	}{
		{"unknown", policyHash("unknown")},
		{"prefix of a known hash", policyHash(small)[:16]},
		{"empty", nil},
	} {
		_, err := s.GetPolicy(ctx, c.hash)
		isErr(t, "GetPolicy("+c.name+")", err, broker.ErrNotFound)
	}
}

func testSetAccountPassword(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	newNamespace(t, s, "ns-1", "alpha")
	a := newAccount(t, s, account("u-1", "ns-1"))
	other := newAccount(t, s, account("u-2", "ns-1"))
	newUser(t, s, "u-plain", "ns-1") // a user without an account

	newHash := []byte("$2a$10$replaced/N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy")
	ok(t, "SetAccountPassword", s.SetAccountPassword(ctx, a.UserID, newHash))
	a.PasswordHash = newHash
	got := getAccount(t, s, "ns-1", a.UserID)
	sameBytes(t, "PasswordHash after SetAccountPassword", got.PasswordHash, newHash)
	equal(t, "GetAccount after SetAccountPassword", got, a)
	equal(t, "other account", getAccount(t, s, "ns-1", other.UserID), other)

	// Setting the same hash again is still a hit, not ErrNotFound.
	ok(t, "SetAccountPassword(same hash)", s.SetAccountPassword(ctx, a.UserID, newHash))
	equal(t, "GetAccount after the same hash again", getAccount(t, s, "ns-1", a.UserID), a)

	isErr(t, "SetAccountPassword(unknown user)", s.SetAccountPassword(ctx, "missing", newHash), broker.ErrNotFound)
	isErr(t, "SetAccountPassword(user without account)", s.SetAccountPassword(ctx, "u-plain", newHash), broker.ErrNotFound)
	_, err := s.GetAccount(ctx, "ns-1", "u-plain")
	isErr(t, "GetAccount(user without account) after SetAccountPassword", err, broker.ErrNotFound)
	equal(t, "other account after the refused sets", getAccount(t, s, "ns-1", other.UserID), other)
}

// testDeleteLinkByIdentifier: a delete naming an identifier removes the
// link only if the slot still holds that identifier.
func testDeleteLinkByIdentifier(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	newNamespace(t, s, "ns-1", "alpha")
	u := newUser(t, s, "u-1", "ns-1")
	newLink(t, s, broker.Link{NamespaceID: "ns-1", Slot: 1, Identifier: "keep", UserID: u.ID, CreatedAt: t0})
	newLink(t, s, broker.Link{NamespaceID: "ns-1", Slot: 2, Identifier: "new-device", UserID: u.ID, CreatedAt: t0})
	isErr(t, "DeleteLink(slot 2, an identifier it no longer holds)", s.DeleteLink(ctx, u.ID, 2, "old-device"), broker.ErrNotFound)
	if _, err := s.GetLink(ctx, "ns-1", 2, "new-device"); err != nil {
		t.Fatalf("the slot's link went with a delete naming another identifier: %v", err)
	}
	ok(t, "DeleteLink(slot 2, its identifier)", s.DeleteLink(ctx, u.ID, 2, "new-device"))
	isErr(t, "GetLink after the delete", func() error { _, err := s.GetLink(ctx, "ns-1", 2, "new-device"); return err }(), broker.ErrNotFound)
	isErr(t, "DeleteLink(last link, its identifier)", s.DeleteLink(ctx, u.ID, 1, "keep"), broker.ErrLastLink)
}
