package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

func operatorCases() []testCase {
	return []testCase{
		{name: "Audit/AppendList", run: testAuditAppendList},
		{name: "Audit/Paging", run: testAuditPaging},
		{name: "Audit/CommitsWithItsAction", run: testAuditInTx},
		{name: "Audit/Purge", run: testAuditPurge},
		{name: "Operator/ListNamespaces", run: testListNamespaces},
		{name: "Operator/PageClients", run: testPageClients},
		{name: "Operator/FindLinks", run: testFindLinks},
		{name: "Operator/FindUsersByNickname", run: testFindUsersByNickname},
		{name: "Operator/ListSessions", run: testListSessions},
	}
}

func auditEvent(id, typ, ns, user string, when time.Time) broker.AuditEvent {
	return broker.AuditEvent{ID: id, At: when, Type: typ, Actor: "client:admin", Address: "192.0.2.7",
		NamespaceID: ns, UserID: user, Target: "target-" + id, Detail: "detail of " + id}
}

func appendAudit(t *testing.T, s broker.Store, events ...broker.AuditEvent) {
	t.Helper()
	for _, e := range events {
		ok(t, "AppendAudit "+e.ID, s.AppendAudit(caseCtx(t), e))
	}
}

func listAudit(t *testing.T, s broker.Store, q broker.AuditQuery) []broker.AuditEvent {
	t.Helper()
	if q.Limit == 0 {
		q.Limit = 100
	}
	out, err := s.ListAudit(caseCtx(t), q)
	ok(t, "ListAudit", err)
	return out
}

// testAuditAppendList: events come back whole, newest first, and each
// filter selects only its events.
func testAuditAppendList(t *testing.T, s broker.Store) {
	e1 := auditEvent("e1", broker.AuditBan, "ns-1", "user-1", at(time.Minute).In(jst))
	e2 := auditEvent("e2", broker.AuditUnban, "ns-1", "user-1", at(2*time.Minute))
	e3 := auditEvent("e3", broker.AuditBan, "ns-2", "user-2", at(3*time.Minute))
	e4 := auditEvent("e4", broker.AuditClientCreate, "ns-1", "", at(4*time.Minute))
	appendAudit(t, s, e1, e2, e3, e4)
	for _, c := range []struct {
		name string
		q    broker.AuditQuery
		want []broker.AuditEvent
	}{
		{"all", broker.AuditQuery{}, []broker.AuditEvent{e4, e3, e2, e1}},
		{"user", broker.AuditQuery{UserID: "user-1"}, []broker.AuditEvent{e2, e1}},
		{"type", broker.AuditQuery{Type: broker.AuditBan}, []broker.AuditEvent{e3, e1}},
		{"namespace", broker.AuditQuery{NamespaceID: "ns-1"}, []broker.AuditEvent{e4, e2, e1}},
		{"since", broker.AuditQuery{Since: at(2 * time.Minute)}, []broker.AuditEvent{e4, e3, e2}},
		{"all filters", broker.AuditQuery{NamespaceID: "ns-1", UserID: "user-1", Type: broker.AuditUnban, Since: at(time.Minute)}, []broker.AuditEvent{e2}},
		{"nothing", broker.AuditQuery{UserID: "user-3"}, nil},
		{"limit", broker.AuditQuery{Limit: 1}, []broker.AuditEvent{e4}},
	} {
		equal(t, "ListAudit("+c.name+")", listAudit(t, s, c.q), c.want)
	}
	isErr(t, "AppendAudit(taken ID)", s.AppendAudit(caseCtx(t), e1), broker.ErrAlreadyExists)
}

// testAuditPaging: pages continue from the last event of the page before,
// events of one instant included, and together list every event once.
func testAuditPaging(t *testing.T, s broker.Store) {
	var want []broker.AuditEvent
	for _, id := range []string{"p5", "p4", "p3", "p2", "p1"} {
		// p3 and p4 share an instant: the ID breaks the tie.
		when := at(time.Duration(id[1]-'0') * time.Second)
		if id == "p4" {
			when = at(3 * time.Second)
		}
		want = append(want, auditEvent(id, broker.AuditLink, "ns-1", "user-1", when))
	}
	appendAudit(t, s, want...)
	var got []broker.AuditEvent
	q := broker.AuditQuery{Limit: 2}
	for range 5 {
		page := listAudit(t, s, q)
		got = append(got, page...)
		if len(page) < q.Limit {
			break
		}
		last := page[len(page)-1]
		q.BeforeAt, q.BeforeID = last.At, last.ID
	}
	equal(t, "every page", got, want)
}

// testAuditInTx: an event appended in a transaction that fails is gone
// with it; one that commits stays.
func testAuditInTx(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	failed := errors.New("the action failed")
	err := s.InTx(ctx, func(tx broker.Store) error {
		ok(t, "AppendAudit in tx", tx.AppendAudit(ctx, auditEvent("rolled-back", broker.AuditBan, "ns-1", "user-1", at(0))))
		return failed
	})
	isErr(t, "InTx", err, failed)
	kept := auditEvent("committed", broker.AuditBan, "ns-1", "user-1", at(0))
	ok(t, "InTx", s.InTx(ctx, func(tx broker.Store) error { return tx.AppendAudit(ctx, kept) }))
	equal(t, "events after both", listAudit(t, s, broker.AuditQuery{}), []broker.AuditEvent{kept})
}

func testAuditPurge(t *testing.T, s broker.Store) {
	old := auditEvent("old", broker.AuditBan, "ns-1", "user-1", at(time.Minute))
	edge := auditEvent("edge", broker.AuditBan, "ns-1", "user-1", at(2*time.Minute))
	appendAudit(t, s, old, edge)
	n, err := s.PurgeAudit(caseCtx(t), at(2*time.Minute))
	ok(t, "PurgeAudit", err)
	if n != 1 {
		t.Errorf("PurgeAudit removed %d events, want 1", n)
	}
	equal(t, "events after the purge", listAudit(t, s, broker.AuditQuery{}), []broker.AuditEvent{edge})
}

func testListNamespaces(t *testing.T, s broker.Store) {
	b := newNamespace(t, s, "ns-b", "beta")
	a := newNamespace(t, s, "ns-a", "alpha")
	c := newNamespace(t, s, "ns-c", "gamma")
	ctx := caseCtx(t)
	first, err := s.ListNamespaces(ctx, "", 2)
	ok(t, "ListNamespaces", err)
	equal(t, "first page", first, []broker.Namespace{a, b})
	rest, err := s.ListNamespaces(ctx, "beta", 2)
	ok(t, "ListNamespaces(after beta)", err)
	equal(t, "second page", rest, []broker.Namespace{c})
}

func testPageClients(t *testing.T, s broker.Store) {
	newNamespace(t, s, "ns-1", "one")
	newNamespace(t, s, "ns-2", "two")
	ctx := caseCtx(t)
	var want []broker.Client
	for _, c := range []broker.Client{confidentialClient("c-2", "ns-1"), publicClient("c-1", "ns-1"), confidentialClient("c-3", "ns-2")} {
		ok(t, "CreateClient "+c.ID, s.CreateClient(ctx, c))
		want = append(want, c)
	}
	all, err := s.PageClients(ctx, "", "", 10)
	ok(t, "PageClients", err)
	equal(t, "every client by ID", all, []broker.Client{want[1], want[0], want[2]})
	page, err := s.PageClients(ctx, "ns-1", "c-1", 10)
	ok(t, "PageClients(ns-1, after c-1)", err)
	equal(t, "ns-1 after c-1", page, []broker.Client{want[0]})
}

func testFindLinks(t *testing.T, s broker.Store) {
	newNamespace(t, s, "ns-1", "one")
	newNamespace(t, s, "ns-2", "two")
	u1, u2 := newUser(t, s, "user-1", "ns-1"), newUser(t, s, "user-2", "ns-2")
	l1 := newLink(t, s, broker.Link{NamespaceID: "ns-1", Slot: 100, Identifier: "76561198000000001", UserID: u1.ID, CreatedAt: at(0)})
	l2 := newLink(t, s, broker.Link{NamespaceID: "ns-2", Slot: 100, Identifier: "76561198000000001", UserID: u2.ID, CreatedAt: at(0)})
	newLink(t, s, broker.Link{NamespaceID: "ns-1", Slot: 101, Identifier: "76561198000000001-other", UserID: u1.ID, CreatedAt: at(0)})
	ctx := caseCtx(t)
	for _, c := range []struct {
		name, ns, identifier string
		slot                 int
		want                 []broker.Link
	}{
		{"every namespace", "", "76561198000000001", 100, []broker.Link{l1, l2}},
		{"one namespace", "ns-2", "76561198000000001", 100, []broker.Link{l2}},
		{"other slot", "", "76561198000000001", 101, nil},
		{"unknown", "", "nobody", 100, nil},
	} {
		got, err := s.FindLinks(ctx, c.ns, c.slot, c.identifier)
		ok(t, "FindLinks("+c.name+")", err)
		equal(t, "FindLinks("+c.name+")", got, c.want)
	}
}

func testFindUsersByNickname(t *testing.T, s broker.Store) {
	newNamespace(t, s, "ns-1", "one")
	newNamespace(t, s, "ns-2", "two")
	ctx := caseCtx(t)
	users := map[string]broker.User{}
	for _, u := range []struct{ id, ns, nick string }{
		{"u-1", "ns-1", "Hero_1"}, {"u-2", "ns-1", "Hero%2"}, {"u-3", "ns-1", "hero3"},
		{"u-4", "ns-2", "Hero_4"}, {"u-5", "ns-1", "HeroX"}, {"u-6", "ns-1", ""},
	} {
		users[u.id] = newUser(t, s, u.id, u.ns)
		if u.nick != "" {
			ok(t, "SetNickname", s.SetNickname(ctx, u.id, u.nick))
			v := users[u.id]
			v.Nickname = u.nick
			users[u.id] = v
		}
	}
	for _, c := range []struct {
		name, ns, prefix, after string
		limit                   int
		want                    []string
	}{
		{"prefix, every namespace", "", "Hero", "", 10, []string{"u-1", "u-2", "u-4", "u-5"}},
		{"case-sensitive", "ns-1", "hero", "", 10, []string{"u-3"}},
		{"underscore is literal", "", "Hero_", "", 10, []string{"u-1", "u-4"}},
		{"percent is literal", "", "Hero%", "", 10, []string{"u-2"}},
		{"one namespace, paged", "ns-1", "Hero", "u-1", 1, []string{"u-2"}},
		{"no match", "", "Villain", "", 10, nil},
	} {
		got, err := s.FindUsersByNickname(ctx, c.ns, c.prefix, c.after, c.limit)
		ok(t, "FindUsersByNickname("+c.name+")", err)
		var want []broker.User
		for _, id := range c.want {
			want = append(want, users[id])
		}
		equal(t, "FindUsersByNickname("+c.name+")", got, want)
	}
}

// testListSessions: a session is a family with a live token; spent
// predecessors date its start; revoked, expired, logged-out and other
// users' families are not listed.
func testListSessions(t *testing.T, s broker.Store) {
	newNamespace(t, s, "ns-1", "one")
	newUser(t, s, "user-1", "ns-1")
	newUser(t, s, "user-2", "ns-1")
	ctx := caseCtx(t)
	now := at(3 * time.Hour)
	token := func(name, family, user string, created time.Time, jkt string) broker.RefreshToken {
		rt := refreshToken(name)
		rt.FamilyID, rt.UserID, rt.CreatedAt, rt.ExpiresAt, rt.JKT = family, user, created, created.Add(24*time.Hour), jkt
		return createToken(t, s, rt)
	}
	// A rotated family: its first token spent, the successor live.
	first := token("rotated-0", "rotated", "user-1", at(time.Hour), "")
	r := rotation(first, "rotated-1", at(2*time.Hour))
	r.ExpiresAt = at(26 * time.Hour)
	_, err := s.RotateRefreshToken(ctx, r)
	ok(t, "RotateRefreshToken", err)
	bound := token("bound-0", "bound", "user-1", at(90*time.Minute), "dpop-key")
	// Not sessions:
	revoked := token("revoked-0", "revoked", "user-1", at(time.Hour), "")
	ok(t, "RevokeFamily", s.RevokeFamily(ctx, revoked.FamilyID, revoked.Key, at(time.Hour), at(48*time.Hour)))
	expired := refreshToken("expired-0")
	expired.FamilyID, expired.UserID, expired.CreatedAt, expired.ExpiresAt = "expired", "user-1", at(0), at(time.Hour)
	createToken(t, s, expired)
	token("other-0", "other", "user-2", at(time.Hour), "")

	want := []broker.Session{
		{Key: first.Key, FamilyID: "rotated", ClientID: first.ClientID, CreatedAt: at(time.Hour), LastUsedAt: at(2 * time.Hour), ExpiresAt: at(26 * time.Hour)},
		{Key: bound.Key, FamilyID: "bound", ClientID: first.ClientID, CreatedAt: at(90 * time.Minute), LastUsedAt: at(90 * time.Minute), ExpiresAt: at(90*time.Minute + 24*time.Hour), Bound: true},
	}
	got, err := s.ListSessions(ctx, "user-1", now)
	ok(t, "ListSessions", err)
	equal(t, "sessions", got, want)

	// A logout at 100 minutes ends the bound family (created before it);
	// the rotated family's live token is newer and stays.
	ok(t, "LogoutUser", s.LogoutUser(ctx, "user-1", at(100*time.Minute), ""))
	got, err = s.ListSessions(ctx, "user-1", now)
	ok(t, "ListSessions after logout", err)
	equal(t, "sessions after logout", got, want[:1])
}
