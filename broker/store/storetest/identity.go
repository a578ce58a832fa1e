package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

func identityCases() []testCase {
	return []testCase{
		{name: "Namespace/RoundTrip", run: testNamespaceRoundTrip},
		{name: "Namespace/Duplicates", run: testNamespaceDuplicates},
		{name: "Client/RoundTrip", run: testClientRoundTrip},
		{name: "Client/Missing", run: testClientMissing},
		{name: "Client/Duplicate", run: testClientDuplicate},
		{name: "Client/UnknownNamespace", run: testClientUnknownNamespace},
		{name: "Client/ListOrder", run: testClientList},
		{name: "Client/Update", run: testClientUpdate},
		{name: "Client/Delete", run: testClientDelete},
		{name: "User/RoundTrip", run: testUserRoundTrip},
		{name: "Link/RoundTrip", run: testLinkRoundTrip},
		{name: "Link/Conflicts", run: testLinkConflicts},
		{name: "Link/Delete", run: testLinkDelete},
	}
}

func newNamespace(t *testing.T, s broker.Store, id, name string) broker.Namespace {
	t.Helper()
	ns := broker.Namespace{ID: id, Name: name, CreatedAt: t0.In(jst)}
	ok(t, "CreateNamespace "+id, s.CreateNamespace(caseCtx(t), ns))
	return ns
}

func newUser(t *testing.T, s broker.Store, id, nsID string) broker.User {
	t.Helper()
	u := broker.User{ID: id, NamespaceID: nsID, CreatedAt: at(time.Minute)}
	ok(t, "CreateUser "+id, s.CreateUser(caseCtx(t), u))
	return u
}

// confidentialClient uses every field, with several values in each list.
func confidentialClient(id, nsID string) broker.Client {
	return broker.Client{
		ID:          id,
		NamespaceID: nsID,
		Name:        "Game server 1",
		SecretHash:  hash("secret-" + id),
		Grants: []string{
			"client_credentials", "refresh_token",
			"urn:bridgekeeper:params:oauth:grant-type:server_custom_id",
		},
		Scopes:       []string{"openid", "gs2"},
		RedirectURIs: []string{"https://game.example/cb", "com.example.game:/oauth"},
		AccessTTL:    15 * time.Minute,
		RefreshTTL:   90 * 24 * time.Hour,
		CustomIDSlot: 7,
		RateLimit:    12.5,
		// Both key sources and DPoP, which the broker would not combine:
		// the store keeps what it is given.
		JWKS:        `{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`,
		JWKSURI:     "https://game.example/jwks.json",
		RequireDPoP: true,
		Resources:   []string{"https://matchmaking.example/", "https://inventory.example/api"},
		CreatedAt:   t0.In(jst),
		UpdatedAt:   at(time.Second),
	}
}

// publicClient leaves the secret and two lists empty and uses the top slot.
func publicClient(id, nsID string) broker.Client {
	return broker.Client{
		ID:           id,
		NamespaceID:  nsID,
		Name:         "Mobile app",
		Public:       true,
		Grants:       []string{"authorization_code"},
		AccessTTL:    time.Hour,
		RefreshTTL:   24 * time.Hour,
		CustomIDSlot: broker.MaxSlot,
		CreatedAt:    at(2 * time.Second),
		UpdatedAt:    at(2 * time.Second),
	}
}

func testNamespaceRoundTrip(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	ns := newNamespace(t, s, "0f8c5a52-6a43-4a8e-9d59-1f0c2f3e4b5a", "alpha")
	newNamespace(t, s, "ns-beta", "beta")

	got, err := s.GetNamespace(ctx, ns.ID)
	ok(t, "GetNamespace", err)
	equal(t, "GetNamespace", got, ns)
	got, err = s.GetNamespaceByName(ctx, "alpha")
	ok(t, "GetNamespaceByName", err)
	equal(t, "GetNamespaceByName", got, ns)

	_, err = s.GetNamespace(ctx, "missing")
	isErr(t, "GetNamespace(missing)", err, broker.ErrNotFound)
	_, err = s.GetNamespaceByName(ctx, "gamma")
	isErr(t, "GetNamespaceByName(missing)", err, broker.ErrNotFound)
}

func testNamespaceDuplicates(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	ns := newNamespace(t, s, "ns-1", "alpha")

	err := s.CreateNamespace(ctx, broker.Namespace{ID: "ns-1", Name: "other", CreatedAt: t0})
	isErr(t, "CreateNamespace(same ID)", err, broker.ErrAlreadyExists)
	err = s.CreateNamespace(ctx, broker.Namespace{ID: "ns-2", Name: "alpha", CreatedAt: t0})
	isErr(t, "CreateNamespace(same name)", err, broker.ErrAlreadyExists)

	got, err := s.GetNamespaceByName(ctx, "alpha")
	ok(t, "GetNamespaceByName", err)
	equal(t, "namespace after refused duplicates", got, ns)
	_, err = s.GetNamespace(ctx, "ns-2")
	isErr(t, "GetNamespace(refused)", err, broker.ErrNotFound)
	_, err = s.GetNamespaceByName(ctx, "other")
	isErr(t, "GetNamespaceByName(refused)", err, broker.ErrNotFound)
}

func testClientRoundTrip(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	newNamespace(t, s, "ns-1", "alpha")
	for _, c := range []broker.Client{confidentialClient("conf", "ns-1"), publicClient("pub", "ns-1")} {
		ok(t, "CreateClient "+c.ID, s.CreateClient(ctx, c))
		got, err := s.GetClient(ctx, c.ID)
		ok(t, "GetClient "+c.ID, err)
		equal(t, "GetClient "+c.ID, got, c)
	}
	// canon cannot tell these apart from their zero values, so check them
	// outright: a list that comes back as [""] or a lost flag is a bug.
	got, err := s.GetClient(ctx, "pub")
	ok(t, "GetClient pub", err)
	if !got.Public || len(got.SecretHash) != 0 || len(got.Scopes) != 0 || len(got.RedirectURIs) != 0 {
		t.Errorf("public client: got Public=%v SecretHash=%x Scopes=%q RedirectURIs=%q, want true and empty",
			got.Public, got.SecretHash, got.Scopes, got.RedirectURIs)
	}
}

func testClientMissing(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	newNamespace(t, s, "ns-1", "alpha")
	_, err := s.GetClient(ctx, "missing")
	isErr(t, "GetClient(missing)", err, broker.ErrNotFound)
	err = s.UpdateClient(ctx, confidentialClient("missing", "ns-1"))
	isErr(t, "UpdateClient(missing)", err, broker.ErrNotFound)
	err = s.DeleteClient(ctx, "missing")
	isErr(t, "DeleteClient(missing)", err, broker.ErrNotFound)
	_, err = s.GetClient(ctx, "missing")
	isErr(t, "GetClient after UpdateClient(missing)", err, broker.ErrNotFound)
}

func testClientDuplicate(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	newNamespace(t, s, "ns-1", "alpha")
	c := confidentialClient("c1", "ns-1")
	ok(t, "CreateClient", s.CreateClient(ctx, c))
	dup := publicClient("c1", "ns-1")
	isErr(t, "CreateClient(duplicate)", s.CreateClient(ctx, dup), broker.ErrAlreadyExists)
	got, err := s.GetClient(ctx, "c1")
	ok(t, "GetClient", err)
	equal(t, "client after refused duplicate", got, c)
}

func testClientUnknownNamespace(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	failsNotDuplicate(t, "CreateClient(unknown namespace)", s.CreateClient(ctx, confidentialClient("c1", "nowhere")))
	_, err := s.GetClient(ctx, "c1")
	isErr(t, "GetClient after refused create", err, broker.ErrNotFound)
}

func testClientList(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	got, err := s.ListClients(ctx)
	ok(t, "ListClients(empty)", err)
	if len(got) != 0 {
		t.Fatalf("ListClients on an empty store: got %d clients", len(got))
	}

	newNamespace(t, s, "ns-1", "alpha")
	newNamespace(t, s, "ns-2", "beta")
	// Inserted out of order; "a" and "b" share a CreatedAt, so ID breaks the tie.
	late := confidentialClient("c-late", "ns-1")
	late.CreatedAt = at(time.Hour)
	first := publicClient("c-first", "ns-2")
	first.CreatedAt = at(-time.Hour)
	b := confidentialClient("b", "ns-2")
	a := publicClient("a", "ns-1")
	a.CreatedAt = b.CreatedAt
	for _, c := range []broker.Client{late, b, first, a} {
		ok(t, "CreateClient "+c.ID, s.CreateClient(ctx, c))
	}
	want := []broker.Client{first, a, b, late}
	got, err = s.ListClients(ctx)
	ok(t, "ListClients", err)
	clientID := func(c broker.Client) string { return c.ID }
	if g, w := ids(got, clientID), ids(want, clientID); !slices.Equal(g, w) {
		t.Fatalf("ListClients order: got %q, want %q", g, w)
	}
	equal(t, "ListClients", got, want)
}

func testClientUpdate(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	newNamespace(t, s, "ns-1", "alpha")
	newNamespace(t, s, "ns-2", "beta")
	orig := confidentialClient("c1", "ns-1")
	ok(t, "CreateClient", s.CreateClient(ctx, orig))
	other := confidentialClient("c2", "ns-1")
	ok(t, "CreateClient c2", s.CreateClient(ctx, other))

	// Every mutable field changes, including to NULL and to empty lists.
	upd := broker.Client{
		ID:           "c1",
		NamespaceID:  "ns-2",         // ignored: a client never changes tenant
		CreatedAt:    at(-time.Hour), // ignored: creation time is history
		Name:         "Renamed",
		Public:       true,
		Grants:       []string{"authorization_code", "refresh_token"},
		Scopes:       []string{"gs2"},
		AccessTTL:    5 * time.Minute,
		RefreshTTL:   30 * 24 * time.Hour,
		CustomIDSlot: 0,
		UpdatedAt:    at(48 * time.Hour),
	}
	ok(t, "UpdateClient", s.UpdateClient(ctx, upd))
	want := upd
	want.NamespaceID, want.CreatedAt = orig.NamespaceID, orig.CreatedAt
	got, err := s.GetClient(ctx, "c1")
	ok(t, "GetClient", err)
	equal(t, "GetClient after UpdateClient (ID, NamespaceID, CreatedAt fixed)", got, want)
	if len(got.SecretHash) != 0 || len(got.RedirectURIs) != 0 {
		t.Errorf("UpdateClient kept SecretHash=%x RedirectURIs=%q, want both cleared", got.SecretHash, got.RedirectURIs)
	}

	// And back again, from NULL to values.
	ok(t, "UpdateClient back", s.UpdateClient(ctx, orig))
	got, err = s.GetClient(ctx, "c1")
	ok(t, "GetClient", err)
	equal(t, "GetClient after second UpdateClient", got, orig)

	got, err = s.GetClient(ctx, "c2")
	ok(t, "GetClient c2", err)
	equal(t, "untouched client", got, other)
}

func testClientDelete(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	newNamespace(t, s, "ns-1", "alpha")
	gone, kept := confidentialClient("gone", "ns-1"), publicClient("kept", "ns-1")
	ok(t, "CreateClient gone", s.CreateClient(ctx, gone))
	ok(t, "CreateClient kept", s.CreateClient(ctx, kept))

	ok(t, "DeleteClient", s.DeleteClient(ctx, "gone"))
	_, err := s.GetClient(ctx, "gone")
	isErr(t, "GetClient(deleted)", err, broker.ErrNotFound)
	isErr(t, "DeleteClient(again)", s.DeleteClient(ctx, "gone"), broker.ErrNotFound)
	isErr(t, "UpdateClient(deleted)", s.UpdateClient(ctx, gone), broker.ErrNotFound)

	list, err := s.ListClients(ctx)
	ok(t, "ListClients", err)
	equal(t, "ListClients after delete", list, []broker.Client{kept})
	// The ID is free again.
	ok(t, "CreateClient(reused ID)", s.CreateClient(ctx, gone))
}

func testUserRoundTrip(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	newNamespace(t, s, "ns-1", "alpha")
	u := broker.User{ID: "7d0e9f7a-1c1b-4e55-8f00-3b7b8c9d0e1f", NamespaceID: "ns-1", CreatedAt: at(time.Minute).In(jst)}
	ok(t, "CreateUser", s.CreateUser(ctx, u))
	got, err := s.GetUser(ctx, u.ID)
	ok(t, "GetUser", err)
	equal(t, "GetUser", got, u)

	_, err = s.GetUser(ctx, "missing")
	isErr(t, "GetUser(missing)", err, broker.ErrNotFound)
	isErr(t, "CreateUser(duplicate)",
		s.CreateUser(ctx, broker.User{ID: u.ID, NamespaceID: "ns-1", CreatedAt: t0}), broker.ErrAlreadyExists)
	failsNotDuplicate(t, "CreateUser(unknown namespace)",
		s.CreateUser(ctx, broker.User{ID: "u-2", NamespaceID: "nowhere", CreatedAt: t0}))
	_, err = s.GetUser(ctx, "u-2")
	isErr(t, "GetUser(refused)", err, broker.ErrNotFound)
}

func testLinkRoundTrip(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	newNamespace(t, s, "ns-1", "alpha")
	u1 := newUser(t, s, "u-1", "ns-1")
	u2 := newUser(t, s, "u-2", "ns-1")

	// Inserted in neither slot nor identifier order; the longest identifier
	// is 1024 characters but 2048 bytes, which the schema must accept.
	links := []broker.Link{
		{NamespaceID: "ns-1", Slot: 3, Identifier: "player-1", UserID: u1.ID, CreatedAt: at(time.Hour).In(jst), Revision: 1},
		{NamespaceID: "ns-1", Slot: broker.MaxSlot, Identifier: strings.Repeat("é", broker.MaxIdentifierLen), UserID: u1.ID, CreatedAt: at(2 * time.Hour), Revision: 1},
		{NamespaceID: "ns-1", Slot: broker.MinSlot, Identifier: "zz-device", UserID: u1.ID, CreatedAt: at(3 * time.Hour), Revision: 1},
	}
	for _, l := range links {
		ok(t, fmt.Sprintf("CreateLink slot %d", l.Slot), s.CreateLink(ctx, l))
	}
	for _, l := range links {
		got, err := s.GetLink(ctx, l.NamespaceID, l.Slot, l.Identifier)
		ok(t, "GetLink", err)
		equal(t, "GetLink", got, l)
	}

	list, err := s.ListLinks(ctx, u1.ID)
	ok(t, "ListLinks", err)
	equal(t, "ListLinks (ordered by slot)", list, []broker.Link{links[2], links[0], links[1]})
	list, err = s.ListLinks(ctx, u2.ID)
	ok(t, "ListLinks(no links)", err)
	if len(list) != 0 {
		t.Errorf("ListLinks of a user without links: got %+v", list)
	}

	for _, miss := range []struct {
		ns         string
		slot       int
		identifier string
	}{
		{"ns-2", 3, "player-1"},
		{"ns-1", 4, "player-1"},
		{"ns-1", 3, "player-2"},
		{"ns-1", 3, "Player-1"},
	} {
		_, err := s.GetLink(ctx, miss.ns, miss.slot, miss.identifier)
		isErr(t, "GetLink("+miss.ns+", "+miss.identifier+")", err, broker.ErrNotFound)
	}
}

func testLinkConflicts(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	newNamespace(t, s, "ns-1", "alpha")
	newNamespace(t, s, "ns-2", "beta")
	u1 := newUser(t, s, "u-1", "ns-1")
	u2 := newUser(t, s, "u-2", "ns-1")
	u3 := newUser(t, s, "u-3", "ns-2")
	taken := broker.Link{NamespaceID: "ns-1", Slot: 3, Identifier: "player-1", UserID: u1.ID, CreatedAt: t0, Revision: 1}
	ok(t, "CreateLink", s.CreateLink(ctx, taken))

	steal := taken
	steal.UserID = u2.ID
	isErr(t, "CreateLink(same namespace, slot, identifier)", s.CreateLink(ctx, steal), broker.ErrAlreadyExists)
	second := taken
	second.Identifier = "player-1-alt"
	isErr(t, "CreateLink(second link in the user's slot)", s.CreateLink(ctx, second), broker.ErrAlreadyExists)
	failsNotDuplicate(t, "CreateLink(unknown user)",
		s.CreateLink(ctx, broker.Link{NamespaceID: "ns-1", Slot: 9, Identifier: "ghost", UserID: "nobody", CreatedAt: t0}))

	// Uniqueness is per (namespace, slot, identifier), not per identifier.
	otherSlot := steal
	otherSlot.Slot = 4
	ok(t, "CreateLink(same identifier, other slot)", s.CreateLink(ctx, otherSlot))
	otherNS := taken
	otherNS.NamespaceID, otherNS.UserID = "ns-2", u3.ID
	ok(t, "CreateLink(same slot and identifier, other namespace)", s.CreateLink(ctx, otherNS))

	got, err := s.GetLink(ctx, "ns-1", 3, "player-1")
	ok(t, "GetLink", err)
	equal(t, "GetLink after refused duplicates", got, taken)
	_, err = s.GetLink(ctx, "ns-1", 3, "player-1-alt")
	isErr(t, "GetLink(refused)", err, broker.ErrNotFound)
	list, err := s.ListLinks(ctx, u1.ID)
	ok(t, "ListLinks", err)
	equal(t, "ListLinks u-1", list, []broker.Link{taken})
	list, err = s.ListLinks(ctx, u2.ID)
	ok(t, "ListLinks", err)
	equal(t, "ListLinks u-2", list, []broker.Link{otherSlot})
}

func testLinkDelete(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	newNamespace(t, s, "ns-1", "alpha")
	u1 := newUser(t, s, "u-1", "ns-1")
	u2 := newUser(t, s, "u-2", "ns-1")
	u3 := newUser(t, s, "u-3", "ns-1")
	mk := func(slot int, identifier, userID string) broker.Link {
		l := broker.Link{NamespaceID: "ns-1", Slot: slot, Identifier: identifier, UserID: userID, CreatedAt: at(time.Hour), Revision: 1}
		ok(t, "CreateLink", s.CreateLink(ctx, l))
		return l
	}
	low, mid, high := mk(broker.MinSlot, "device-1", u1.ID), mk(3, "player-1", u1.ID), mk(broker.MaxSlot, "steam-1", u1.ID)
	// Another user in the same slot, who must be untouched.
	other := mk(3, "player-2", u2.ID)
	links := func(userID string) []broker.Link {
		t.Helper()
		got, err := s.ListLinks(ctx, userID)
		ok(t, "ListLinks", err)
		return got
	}

	ok(t, "DeleteLink(slot 3)", s.DeleteLink(ctx, u1.ID, 3, ""))
	equal(t, "links after DeleteLink(slot 3)", links(u1.ID), []broker.Link{low, high})
	_, err := s.GetLink(ctx, "ns-1", 3, mid.Identifier)
	isErr(t, "GetLink(deleted)", err, broker.ErrNotFound)
	equal(t, "other user's links", links(u2.ID), []broker.Link{other})

	isErr(t, "DeleteLink(slot 3 again)", s.DeleteLink(ctx, u1.ID, 3, ""), broker.ErrNotFound)
	isErr(t, "DeleteLink(slot never linked)", s.DeleteLink(ctx, u1.ID, 5, ""), broker.ErrNotFound)
	isErr(t, "DeleteLink(unknown user)", s.DeleteLink(ctx, "nobody", 3, ""), broker.ErrNotFound)
	isErr(t, "DeleteLink(user without links)", s.DeleteLink(ctx, u3.ID, 3, ""), broker.ErrNotFound)
	// An empty slot is ErrNotFound even for a user down to one link.
	isErr(t, "DeleteLink(empty slot, one link left)", s.DeleteLink(ctx, u2.ID, 4, ""), broker.ErrNotFound)

	ok(t, "DeleteLink(slot 0)", s.DeleteLink(ctx, u1.ID, broker.MinSlot, ""))
	isErr(t, "DeleteLink(last link)", s.DeleteLink(ctx, u1.ID, broker.MaxSlot, ""), broker.ErrLastLink)
	equal(t, "links after refusing to delete the last", links(u1.ID), []broker.Link{high})
	got, err := s.GetLink(ctx, "ns-1", broker.MaxSlot, high.Identifier)
	ok(t, "GetLink(last link)", err)
	equal(t, "last link", got, high)
	isErr(t, "DeleteLink(other user's last link)", s.DeleteLink(ctx, u2.ID, 3, ""), broker.ErrLastLink)
	equal(t, "other user's links", links(u2.ID), []broker.Link{other})

	// The deleted link's identifier and the user's slot are free again.
	ok(t, "CreateLink(deleted link again)", s.CreateLink(ctx, mid))
	equal(t, "links after relinking", links(u1.ID), []broker.Link{mid, high})
}
