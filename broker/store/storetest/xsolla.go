package storetest

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// xsollaCases check what the Xsolla-style login needs of a store: user
// attributes and their read_only rule, nicknames, logouts and their effect
// on refreshes, and per-client rate limits.
func xsollaCases() []testCase {
	return []testCase{
		{name: "Attribute/PutList", run: testAttributes},
		{name: "Attribute/Refused", run: testAttributesRefused},
		{name: "Attribute/Bound", run: testAttributeBound},
		{name: "User/Nickname", run: testNickname},
		{name: "Client/RateLimit", run: testClientRateLimit},
		{name: "Logout/RoundTrip", run: testLogout},
		{name: "Logout/BlocksRotate", run: testLogoutBlocksRotate},
		{name: "Concurrency/PutAttributesWhole", run: testPutAttributesRace},
	}
}

func putAttributes(t *testing.T, s broker.Store, userID string, attrs ...broker.Attribute) {
	t.Helper()
	ok(t, fmt.Sprintf("PutAttributes %s (%d attributes)", userID, len(attrs)), s.PutAttributes(caseCtx(t), userID, attrs, broker.AttributeBound{}))
}

func listAttributes(t *testing.T, s broker.Store, userID string) []broker.Attribute {
	t.Helper()
	got, err := s.ListAttributes(caseCtx(t), userID)
	ok(t, "ListAttributes "+userID, err)
	return got
}

// checkAttributes compares keys (for a readable ordering failure) and then
// every field. The order is byte order of the keys, the only order both
// stores can agree on ([A-Za-z0-9_] sorts differently under a linguistic
// collation).
func checkAttributes(t *testing.T, what string, got, want []broker.Attribute) {
	t.Helper()
	key := func(a broker.Attribute) string { return a.Key }
	if g, w := ids(got, key), ids(want, key); !slices.Equal(g, w) {
		t.Errorf("%s: keys: got %q, want %q", what, g, w)
		return
	}
	equal(t, what, got, want)
}

// sortedAttributes returns attrs ordered by key, as ListAttributes must.
func sortedAttributes(attrs ...broker.Attribute) []broker.Attribute {
	out := slices.Clone(attrs)
	slices.SortFunc(out, func(a, b broker.Attribute) int { return strings.Compare(a.Key, b.Key) })
	return out
}

func testAttributes(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	newNamespace(t, s, "ns-1", "alpha")
	u1 := newUser(t, s, "u-1", "ns-1")
	u2 := newUser(t, s, "u-2", "ns-1")
	u3 := newUser(t, s, "u-3", "ns-1")

	if got := listAttributes(t, s, u1.ID); len(got) != 0 {
		t.Fatalf("ListAttributes before any PutAttributes: got %+v", got)
	}

	// Every kind of JSON value, both types and permissions, and keys that
	// are in neither insertion order nor case-insensitive order: byte
	// order puts digits, then upper case, then "_", then lower case.
	first := at(time.Hour).In(jst)
	level := broker.Attribute{Key: "level", Value: `42`, Type: "server", Permission: "public", UpdatedAt: first}
	zeta := broker.Attribute{Key: "Zeta", Value: `"プレイヤー — café 🎮 \u00e9"`, Type: "client", Permission: "private", UpdatedAt: first}
	alpha := broker.Attribute{Key: "alpha", Value: `{"guild": {"name": "Ωmega", "rank": 3}, "tags": []}`, Type: "client", Permission: "public", UpdatedAt: first}
	private := broker.Attribute{Key: "_private", Value: `null`, Type: "server", Permission: "private", UpdatedAt: first}
	a1 := broker.Attribute{Key: "a1", Value: `[1, "two", 3.5, true, null, {"k": "値"}]`, Type: "client", Permission: "private", UpdatedAt: first}
	lives := broker.Attribute{Key: "9lives", Value: `-1.5e3`, Type: "server", Permission: "public", ReadOnly: true, UpdatedAt: first}
	alpha2 := broker.Attribute{Key: "alpha_2", Value: `""`, Type: "client", Permission: "public", ReadOnly: true, UpdatedAt: first}
	putAttributes(t, s, u1.ID, level, zeta, alpha, private, a1, lives, alpha2)

	// Another user with some of the same keys, which must never change.
	o1 := broker.Attribute{Key: "level", Value: `1`, Type: "client", Permission: "private", UpdatedAt: at(time.Minute)}
	o2 := broker.Attribute{Key: "9lives", Value: `{"other": true}`, Type: "client", Permission: "private", UpdatedAt: at(time.Minute)}
	putAttributes(t, s, u2.ID, o1, o2)
	others := []broker.Attribute{o2, o1}

	want := []broker.Attribute{lives, zeta, private, a1, alpha, alpha2, level}
	checkAttributes(t, "ListAttributes", listAttributes(t, s, u1.ID), want)
	if got := sortedAttributes(want...); !slices.EqualFunc(got, want, func(a, b broker.Attribute) bool { return a.Key == b.Key }) {
		t.Fatalf("test bug: want is not in byte order: %q", ids(got, func(a broker.Attribute) string { return a.Key }))
	}
	checkAttributes(t, "ListAttributes of another user", listAttributes(t, s, u2.ID), others)
	if got := listAttributes(t, s, u3.ID); len(got) != 0 {
		t.Errorf("ListAttributes of a user without attributes: got %+v", got)
	}

	// One call replaces every field of non-read-only keys (level: all of
	// them; Zeta: and makes it read-only), adds a new key, and leaves the
	// read-only keys exactly as they were, UpdatedAt included, whether it
	// sends them as read-only or not. Keys it does not name stay.
	second := at(2 * time.Hour)
	level2 := broker.Attribute{Key: "level", Value: `43`, Type: "client", Permission: "private", UpdatedAt: second}
	zeta2 := broker.Attribute{Key: "Zeta", Value: `"новый"`, Type: "server", Permission: "public", ReadOnly: true, UpdatedAt: second}
	fresh := broker.Attribute{Key: "new_key", Value: `{"x": 1}`, Type: "server", Permission: "private", UpdatedAt: second}
	livesTry := broker.Attribute{Key: "9lives", Value: `0`, Type: "client", Permission: "private", ReadOnly: false, UpdatedAt: second}
	alpha2Try := broker.Attribute{Key: "alpha_2", Value: `"changed"`, Type: "server", Permission: "private", ReadOnly: true, UpdatedAt: second}
	putAttributes(t, s, u1.ID, livesTry, level2, fresh, zeta2, alpha2Try)
	want = []broker.Attribute{lives, zeta2, private, a1, alpha, alpha2, level2, fresh}
	checkAttributes(t, "ListAttributes after the second PutAttributes", listAttributes(t, s, u1.ID), want)
	checkAttributes(t, "other user's attributes after the second PutAttributes", listAttributes(t, s, u2.ID), others)

	// Zeta is read-only now; alpha is not, and can be made non-public.
	third := at(3 * time.Hour)
	zetaTry := broker.Attribute{Key: "Zeta", Value: `"third"`, Type: "client", Permission: "private", UpdatedAt: third}
	alpha3 := broker.Attribute{Key: "alpha", Value: `{}`, Type: "server", Permission: "private", UpdatedAt: third}
	putAttributes(t, s, u1.ID, zetaTry, alpha3)
	want = []broker.Attribute{lives, zeta2, private, a1, alpha3, alpha2, level2, fresh}
	checkAttributes(t, "ListAttributes after the third PutAttributes", listAttributes(t, s, u1.ID), want)

	// Nothing to put is no write at all.
	for _, c := range []struct {
		name  string
		attrs []broker.Attribute
	}{{"nil", nil}, {"empty", []broker.Attribute{}}} {
		ok(t, "PutAttributes("+c.name+")", s.PutAttributes(ctx, u1.ID, c.attrs, broker.AttributeBound{}))
		checkAttributes(t, "ListAttributes after PutAttributes("+c.name+")", listAttributes(t, s, u1.ID), want)
	}
	checkAttributes(t, "other user's attributes at the end", listAttributes(t, s, u2.ID), others)
}

// testAttributeBound: a put that would take the user over the bound, by
// count or by bytes, is ErrAttributesFull and stores nothing; replacing
// attributes within it is fine, and each user has a bound of their own.
func testAttributeBound(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	newNamespace(t, s, "ns-1", "alpha")
	u := newUser(t, s, "u-1", "ns-1")
	other := newUser(t, s, "u-2", "ns-1")
	attr := func(key, value string) broker.Attribute {
		return broker.Attribute{Key: key, Value: value, Type: "server", Permission: "public", UpdatedAt: t0}
	}
	bound := broker.AttributeBound{Count: 2, Bytes: 20} // keys and values, in bytes
	ok(t, "put within the bound", s.PutAttributes(ctx, u.ID, []broker.Attribute{attr("a", `"1"`), attr("b", `"2"`)}, bound))
	ok(t, "replace within the bound", s.PutAttributes(ctx, u.ID, []broker.Attribute{attr("a", `"é"`)}, bound))
	ok(t, "another user's attributes", s.PutAttributes(ctx, other.ID, []broker.Attribute{attr("a", `1`), attr("b", `2`)}, bound))
	want := listAttributes(t, s, u.ID)
	for _, c := range []struct {
		name  string
		attrs []broker.Attribute
	}{
		{"a third attribute", []broker.Attribute{attr("c", `3`)}},
		{"a value over the bytes", []broker.Attribute{attr("a", `"0123456789abcdef"`)}},
		{"multi-byte characters count as bytes", []broker.Attribute{attr("a", `"ééééééééé"`)}},
	} {
		if err := s.PutAttributes(ctx, u.ID, c.attrs, bound); !errors.Is(err, broker.ErrAttributesFull) {
			t.Errorf("should fail because of %s: got %v, want ErrAttributesFull", c.name, err)
		}
		checkAttributes(t, "attributes after "+c.name, listAttributes(t, s, u.ID), want)
	}
}

// testAttributesRefused: a PutAttributes that cannot be stored stores
// nothing, not the part of the list before the bad attribute.
func testAttributesRefused(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	newNamespace(t, s, "ns-1", "alpha")
	u := newUser(t, s, "u-1", "ns-1")

	// An unknown user: the foreign key refuses it, and no row is left behind.
	ghost := broker.Attribute{Key: "level", Value: `1`, Type: "client", Permission: "public", UpdatedAt: t0}
	failsNotDuplicate(t, "PutAttributes(unknown user)", s.PutAttributes(ctx, "nobody", []broker.Attribute{ghost}, broker.AttributeBound{}))
	got, err := s.ListAttributes(ctx, "nobody")
	if err != nil && !errors.Is(err, broker.ErrNotFound) {
		t.Errorf("ListAttributes(unknown user): got %v, want no attributes", err)
	} else if len(got) != 0 {
		t.Errorf("ListAttributes(unknown user) after the refused PutAttributes: got %+v, want none", got)
	}

	level := broker.Attribute{Key: "level", Value: `42`, Type: "server", Permission: "public", UpdatedAt: at(time.Hour)}
	alpha := broker.Attribute{Key: "alpha", Value: `"a"`, Type: "client", Permission: "private", UpdatedAt: at(time.Hour)}
	putAttributes(t, s, u.ID, level, alpha)
	want := []broker.Attribute{alpha, level}

	// Good attributes: an update of an existing key, a new key.
	later := at(2 * time.Hour)
	levelUpd := broker.Attribute{Key: "level", Value: `99`, Type: "client", Permission: "private", UpdatedAt: later}
	alphaUpd := broker.Attribute{Key: "alpha", Value: `"b"`, Type: "server", Permission: "public", UpdatedAt: later}
	fresh := broker.Attribute{Key: "fresh", Value: `true`, Type: "client", Permission: "public", UpdatedAt: later}
	for _, c := range []struct {
		name  string
		attrs []broker.Attribute
	}{
		{"attr_type admin, last", []broker.Attribute{levelUpd, fresh,
			{Key: "bad", Value: `1`, Type: "admin", Permission: "public", UpdatedAt: later}}},
		{"permission secret, first", []broker.Attribute{
			{Key: "bad", Value: `1`, Type: "client", Permission: "secret", UpdatedAt: later}, levelUpd, fresh}},
		{"attr_type admin on an existing key, in the middle", []broker.Attribute{fresh,
			{Key: "level", Value: `7`, Type: "admin", Permission: "public", UpdatedAt: later}, alphaUpd}},
		{"empty attr_type", []broker.Attribute{alphaUpd, fresh,
			{Key: "bad", Value: `1`, Permission: "public", UpdatedAt: later}}},
	} {
		what := "PutAttributes(" + c.name + ")"
		failsNotDuplicate(t, what, s.PutAttributes(ctx, u.ID, c.attrs, broker.AttributeBound{}))
		checkAttributes(t, "ListAttributes after the refused "+what, listAttributes(t, s, u.ID), want)
	}

	// The same good attributes on their own go through.
	putAttributes(t, s, u.ID, levelUpd, fresh, alphaUpd)
	checkAttributes(t, "ListAttributes after the good PutAttributes", listAttributes(t, s, u.ID),
		[]broker.Attribute{alphaUpd, fresh, levelUpd})
}

func getUser(t *testing.T, s broker.Store, id string) broker.User {
	t.Helper()
	u, err := s.GetUser(caseCtx(t), id)
	ok(t, "GetUser "+id, err)
	return u
}

func testNickname(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	newNamespace(t, s, "ns-1", "alpha")
	u := newUser(t, s, "u-1", "ns-1")
	other := newUser(t, s, "u-2", "ns-1")

	// A user never given a nickname has none (the column is NULL).
	equal(t, "GetUser of a new user", getUser(t, s, u.ID), u)
	if got := getUser(t, s, u.ID).Nickname; got != "" {
		t.Errorf("Nickname of a new user: got %q, want none", got)
	}

	// 255 characters, most of them several bytes long.
	long := strings.Repeat("ニ", 200) + strings.Repeat("é", 50) + "🎮 x!Z"
	if n := utf8.RuneCountInString(long); n != 255 {
		t.Fatalf("test bug: nickname has %d characters, want 255", n)
	}
	for _, nick := range []string{long, "Ωmega_Player", "Ωmega_Player", ""} {
		what := fmt.Sprintf("SetNickname(%.20q…)", nick)
		ok(t, what, s.SetNickname(ctx, u.ID, nick))
		u.Nickname = nick
		equal(t, "GetUser after "+what, getUser(t, s, u.ID), u)
		if got := getUser(t, s, u.ID).Nickname; got != nick {
			t.Errorf("Nickname after %s: got %q, want %q", what, got, nick)
		}
		equal(t, "other user after "+what, getUser(t, s, other.ID), other)
	}
	ok(t, "SetNickname(again)", s.SetNickname(ctx, u.ID, "player"))
	u.Nickname = "player"
	equal(t, "GetUser after SetNickname(again)", getUser(t, s, u.ID), u)

	isErr(t, "SetNickname(unknown user)", s.SetNickname(ctx, "nobody", "ghost"), broker.ErrNotFound)
	isErr(t, "SetNickname(user IDs are exact)", s.SetNickname(ctx, "U-1", "ghost"), broker.ErrNotFound)
	_, err := s.GetUser(ctx, "nobody")
	isErr(t, "GetUser(unknown user) after SetNickname", err, broker.ErrNotFound)
	equal(t, "GetUser after the refused SetNickname", getUser(t, s, u.ID), u)
}

func testClientRateLimit(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	newNamespace(t, s, "ns-1", "alpha")
	limits := []float64{0, 2.5, 1000, 0.1}
	clients := make([]broker.Client, len(limits))
	for i, limit := range limits {
		c := confidentialClient(fmt.Sprintf("c-%d", i), "ns-1")
		c.CreatedAt = at(time.Duration(i) * time.Second)
		c.RateLimit = limit
		ok(t, "CreateClient "+c.ID, s.CreateClient(ctx, c))
		clients[i] = c
	}
	check := func(what string) {
		t.Helper()
		for _, c := range clients {
			got, err := s.GetClient(ctx, c.ID)
			ok(t, "GetClient "+c.ID, err)
			if got.RateLimit != c.RateLimit {
				t.Errorf("%s: GetClient %s: RateLimit: got %v, want %v", what, c.ID, got.RateLimit, c.RateLimit)
			}
			equal(t, what+": GetClient "+c.ID, got, c)
		}
		list, err := s.ListClients(ctx)
		ok(t, "ListClients", err)
		equal(t, what+": ListClients", list, clients)
	}
	check("after CreateClient")

	// Each limit moves to another: to and from 0 (unlimited) included.
	for i := range clients {
		clients[i].RateLimit = limits[(i+1)%len(limits)]
		clients[i].UpdatedAt = at(time.Hour)
	}
	for _, c := range clients {
		ok(t, "UpdateClient "+c.ID, s.UpdateClient(ctx, c))
	}
	check("after UpdateClient")
}

// logout is a user's last logout as UserLogout reports it.
type logout struct {
	At      time.Time
	KeepJTI string
}

func userLogout(t *testing.T, s broker.Store, userID string) logout {
	t.Helper()
	at, keep, err := s.UserLogout(caseCtx(t), userID)
	ok(t, "UserLogout "+userID, err)
	return logout{at, keep}
}

func testLogout(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	newNamespace(t, s, "ns-1", "alpha")
	u1 := newUser(t, s, "u-1", "ns-1")
	u2 := newUser(t, s, "u-2", "ns-1")

	for _, id := range []string{u1.ID, u2.ID, "nobody"} {
		_, _, err := s.UserLogout(ctx, id)
		isErr(t, "UserLogout("+id+") before any logout", err, broker.ErrNotFound)
	}

	first := logout{at(time.Hour).In(jst), "jti-first"}
	ok(t, "LogoutUser(first)", s.LogoutUser(ctx, u1.ID, first.At, first.KeepJTI))
	equal(t, "UserLogout after the first LogoutUser", userLogout(t, s, u1.ID), first)

	// A later logout replaces both the time and the kept token.
	second := logout{at(2 * time.Hour), "jti-second-" + strings.Repeat("x", 64)}
	ok(t, "LogoutUser(second)", s.LogoutUser(ctx, u1.ID, second.At, second.KeepJTI))
	equal(t, "UserLogout after the second LogoutUser", userLogout(t, s, u1.ID), second)
	// And a logout that keeps no token.
	third := logout{at(3 * time.Hour), ""}
	ok(t, "LogoutUser(third, no kept token)", s.LogoutUser(ctx, u1.ID, third.At, third.KeepJTI))
	equal(t, "UserLogout after the third LogoutUser", userLogout(t, s, u1.ID), third)

	_, _, err := s.UserLogout(ctx, u2.ID)
	isErr(t, "UserLogout(other user) after u-1's logouts", err, broker.ErrNotFound)
	other := logout{at(time.Minute), "jti-other"}
	ok(t, "LogoutUser(other user)", s.LogoutUser(ctx, u2.ID, other.At, other.KeepJTI))
	equal(t, "UserLogout(other user)", userLogout(t, s, u2.ID), other)
	equal(t, "UserLogout(u-1) after the other user's logout", userLogout(t, s, u1.ID), third)
}

// testLogoutBlocksRotate: a logout at L refuses the user's refresh tokens
// created at or before L, and no others.
func testLogoutBlocksRotate(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	newNamespace(t, s, "ns-1", "alpha")
	newUser(t, s, "user-1", "ns-1") // refreshToken's user
	newUser(t, s, "user-2", "ns-1")
	logoutAt := at(time.Hour)

	token := func(name string, created time.Time) broker.RefreshToken {
		rt := refreshToken(name)
		rt.CreatedAt = created
		return createToken(t, s, rt)
	}
	before := token("before", t0.In(jst))
	exact := token("exact", logoutAt.In(jst))
	justAfter := token("just-after", logoutAt.Add(time.Millisecond))
	after := token("after", logoutAt.Add(30*time.Minute))
	otherRT := refreshToken("other-user")
	otherRT.UserID = "user-2"
	otherRT = createToken(t, s, otherRT)

	ok(t, "LogoutUser", s.LogoutUser(ctx, "user-1", logoutAt.In(jst), "jti-kept"))

	refused := func(what string, old broker.RefreshToken, now time.Time) {
		t.Helper()
		r := rotation(old, old.FamilyID+"-next-"+now.Sub(t0).String(), now)
		_, err := s.RotateRefreshToken(ctx, r)
		isErr(t, what, err, broker.ErrNotFound)
		got := getToken(t, s, old)
		if !got.SpentAt.IsZero() {
			t.Errorf("%s: token spent at %v, want unspent", what, got.SpentAt)
		}
		if got.FamilyRevoked {
			t.Errorf("%s: token's family revoked, want not: a logout revokes no family", what)
		}
		equal(t, what+": token after refusal", got, old)
		notCurrent(t, s, what+": successor after refusal", r.Key, r.NewHash)
		revoked, err := s.FamilyRevoked(ctx, old.FamilyID)
		ok(t, what+": FamilyRevoked", err)
		if revoked {
			t.Errorf("%s: FamilyRevoked: got true, want false", what)
		}
	}
	rotates := func(what string, old broker.RefreshToken, now time.Time) broker.RefreshToken {
		t.Helper()
		r := rotation(old, old.FamilyID+"-next-"+now.Sub(t0).String(), now)
		got, err := s.RotateRefreshToken(ctx, r)
		ok(t, what, err)
		want := successor(old, r)
		equal(t, what+": result", got, want)
		equal(t, what+": stored successor", getToken(t, s, want), want)
		equal(t, what+": spent token", getToken(t, s, old), spent(old, want, old.CreatedAt, r.Now))
		return want
	}

	now := at(90 * time.Minute)
	refused("RotateRefreshToken(created before the logout)", before, now)
	refused("RotateRefreshToken(created at the logout)", exact, now)
	// A refusal is for good, not until some later time.
	refused("RotateRefreshToken(created before the logout, a day later)", before, at(25*time.Hour))
	next := rotates("RotateRefreshToken(created 1ms after the logout)", justAfter, now)
	rotates("RotateRefreshToken(other user)", otherRT, now)

	// A second logout replaces the first: tokens created up to it stop,
	// the successor just issued included, and a token created after it
	// still rotates.
	second := at(2 * time.Hour)
	ok(t, "LogoutUser(second)", s.LogoutUser(ctx, "user-1", second, "jti-kept-2"))
	equal(t, "UserLogout after the second LogoutUser", userLogout(t, s, "user-1"), logout{second, "jti-kept-2"})
	refused("RotateRefreshToken(created between the logouts)", after, at(3*time.Hour))
	refused("RotateRefreshToken(successor issued between the logouts)", next, at(3*time.Hour))
	refused("RotateRefreshToken(created before both logouts)", before, at(3*time.Hour))
	late := token("late", second.Add(time.Second))
	rotates("RotateRefreshToken(created after the second logout)", late, at(3*time.Hour))
}

// testPutAttributesRace: writers putting the same keys at once, each with
// values of its own in every field, leave each key as one writer wrote it
// — no attribute mixes fields of two writers, and since each call is one
// atomic write the whole list is one writer's — and never touch a
// read-only key. Round 0 races on inserts, later rounds on updates.
//
// Every call must succeed, as in concurrency.go: PostgreSQL's upserts of
// keys in one order queue on row locks, and SQLite's writes share one
// connection, so neither has a reason to report ErrConflict here.
func testPutAttributesRace(t *testing.T, s broker.Store) {
	const (
		n      = 20
		rounds = 5
	)
	ctx := caseCtx(t)
	newNamespace(t, s, "ns-1", "alpha")
	u := newUser(t, s, "u-1", "ns-1")
	other := newUser(t, s, "u-2", "ns-1")
	otherAttrs := []broker.Attribute{{Key: "k2", Value: `"other"`, Type: "client", Permission: "public", UpdatedAt: t0}}
	putAttributes(t, s, other.ID, otherAttrs...)
	warmUp(t, s, n)

	keys := []string{"k0", "k1", "k2", "k3", "k4", "k5"}
	locked := broker.Attribute{Key: "k3", Value: `"locked"`, Type: "server", Permission: "private", ReadOnly: true, UpdatedAt: t0}
	types, perms := []string{"client", "server"}, []string{"private", "public"}
	for round := range rounds {
		attr := func(i int, key string) broker.Attribute {
			return broker.Attribute{
				Key:        key,
				Value:      fmt.Sprintf(`{"round": %d, "writer": %d, "key": %q}`, round, i, key),
				Type:       types[i%2],
				Permission: perms[(i/2)%2],
				UpdatedAt:  at(time.Duration(round*100+i+1) * time.Second),
			}
		}
		lists := make([][]broker.Attribute, n)
		for i := range lists {
			for _, k := range keys {
				lists[i] = append(lists[i], attr(i, k))
			}
		}
		if round == 1 {
			// From round 1 on, k3 is read-only: every writer sends it,
			// none may change it.
			putAttributes(t, s, u.ID, locked)
		}
		errs := race(n, func(i int) error { return s.PutAttributes(ctx, u.ID, lists[i], broker.AttributeBound{}) })
		what := fmt.Sprintf("round %d: PutAttributes", round)
		for i, err := range errs {
			ok(t, fmt.Sprintf("%s: writer %d", what, i), err)
		}

		got := listAttributes(t, s, u.ID)
		key := func(a broker.Attribute) string { return a.Key }
		if g := ids(got, key); !slices.Equal(g, keys) {
			t.Fatalf("%s: keys after the race: got %q, want %q", what, g, keys)
		}
		writers := map[int]bool{}
		for j, a := range got {
			if round >= 1 && a.Key == locked.Key {
				equal(t, what+": read-only attribute after the race", a, locked)
				continue
			}
			w := slices.IndexFunc(lists, func(l []broker.Attribute) bool { return sameAttribute(l[j], a) })
			if w < 0 {
				t.Errorf("%s: attribute %s is no writer's version (fields mixed from several writers?): %+v", what, a.Key, a)
				continue
			}
			writers[w] = true
		}
		if len(writers) > 1 {
			t.Errorf("%s: the keys come from writers %v, want one writer's whole list", what, slices.Sorted(maps.Keys(writers)))
		}
	}
	checkAttributes(t, "other user's attributes after the races", listAttributes(t, s, other.ID), otherAttrs)
}

// sameAttribute reports whether a and b agree up to canon.
func sameAttribute(a, b broker.Attribute) bool {
	a, b = canon(a), canon(b)
	return a.Key == b.Key && a.Value == b.Value && a.Type == b.Type && a.Permission == b.Permission &&
		a.ReadOnly == b.ReadOnly && a.UpdatedAt.Equal(b.UpdatedAt)
}
