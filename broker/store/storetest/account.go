package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

func accountCases() []testCase {
	return []testCase{
		{name: "Account/RoundTrip", run: testAccountRoundTrip},
		{name: "Account/Missing", run: testAccountMissing},
		{name: "Account/Duplicate", run: testAccountDuplicate},
		{name: "Account/RequiresUser", run: testAccountRequiresUser},
		{name: "Account/Paging", run: testAccountPaging},
	}
}

// account uses every field but LastAuthenticatedAt, which starts zero.
func account(userID, nsID string) broker.Account {
	return broker.Account{
		UserID:       userID,
		NamespaceID:  nsID,
		PasswordHash: []byte("$2a$10$" + userID + "/N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"),
		TimeOffset:   -3600,
		CreatedAt:    at(time.Minute).In(jst),
	}
}

// newAccount creates the account's user and the account, as callers do: in
// one transaction.
func newAccount(t *testing.T, s broker.Store, a broker.Account) broker.Account {
	t.Helper()
	ctx := caseCtx(t)
	ok(t, "InTx(CreateUser, CreateAccount "+a.UserID+")", s.InTx(ctx, func(tx broker.Store) error {
		if err := tx.CreateUser(ctx, broker.User{ID: a.UserID, NamespaceID: a.NamespaceID, CreatedAt: a.CreatedAt}); err != nil {
			return err
		}
		return tx.CreateAccount(ctx, a)
	}))
	return a
}

func getAccount(t *testing.T, s broker.Store, nsID, userID string) broker.Account {
	t.Helper()
	a, err := s.GetAccount(caseCtx(t), nsID, userID)
	ok(t, "GetAccount "+userID, err)
	return a
}

func testAccountRoundTrip(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	newNamespace(t, s, "ns-1", "alpha")
	a := newAccount(t, s, account("7d0e9f7a-1c1b-4e55-8f00-3b7b8c9d0e1f", "ns-1"))
	got := getAccount(t, s, "ns-1", a.UserID)
	equal(t, "GetAccount (never authenticated)", got, a)
	if !got.LastAuthenticatedAt.IsZero() {
		t.Errorf("LastAuthenticatedAt of a new account: got %v, want zero", got.LastAuthenticatedAt)
	}

	ok(t, "TouchAccount", s.TouchAccount(ctx, a.UserID, at(time.Hour).In(jst)))
	a.LastAuthenticatedAt = at(time.Hour)
	equal(t, "GetAccount after TouchAccount", getAccount(t, s, "ns-1", a.UserID), a)
	ok(t, "TouchAccount(again)", s.TouchAccount(ctx, a.UserID, at(2*time.Hour)))
	a.LastAuthenticatedAt = at(2 * time.Hour)
	equal(t, "GetAccount after the second TouchAccount", getAccount(t, s, "ns-1", a.UserID), a)

	list, err := s.ListAccounts(ctx, "ns-1", "", 10)
	ok(t, "ListAccounts", err)
	equal(t, "ListAccounts", list, []broker.Account{a})

	// An account created already authenticated keeps that time too.
	b := account("u-2", "ns-1")
	b.LastAuthenticatedAt, b.TimeOffset = at(3*time.Hour).In(jst), 0
	newAccount(t, s, b)
	equal(t, "GetAccount (created authenticated)", getAccount(t, s, "ns-1", b.UserID), b)
}

func testAccountMissing(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	newNamespace(t, s, "ns-1", "alpha")
	newNamespace(t, s, "ns-2", "beta")
	a := newAccount(t, s, account("u-1", "ns-1"))
	newUser(t, s, "u-plain", "ns-1") // a user without an account

	for _, miss := range []struct{ ns, user string }{
		{"ns-2", a.UserID}, {"nowhere", a.UserID}, {"ns-1", "missing"}, {"ns-1", "U-1"}, {"ns-1", "u-plain"}, {"ns-1", ""},
	} {
		_, err := s.GetAccount(ctx, miss.ns, miss.user)
		isErr(t, fmt.Sprintf("GetAccount(%q, %q)", miss.ns, miss.user), err, broker.ErrNotFound)
	}
	list, err := s.ListAccounts(ctx, "ns-2", "", 10)
	ok(t, "ListAccounts(another namespace)", err)
	if len(list) != 0 {
		t.Errorf("ListAccounts of another namespace: got %+v", list)
	}

	isErr(t, "TouchAccount(unknown user)", s.TouchAccount(ctx, "missing", at(time.Hour)), broker.ErrNotFound)
	isErr(t, "TouchAccount(user without account)", s.TouchAccount(ctx, "u-plain", at(time.Hour)), broker.ErrNotFound)
	_, err = s.GetAccount(ctx, "ns-1", "u-plain")
	isErr(t, "GetAccount(user without account, after TouchAccount)", err, broker.ErrNotFound)
	equal(t, "GetAccount after the refused touches", getAccount(t, s, "ns-1", a.UserID), a)
}

func testAccountDuplicate(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	newNamespace(t, s, "ns-1", "alpha")
	a := newAccount(t, s, account("u-1", "ns-1"))
	other := a
	other.PasswordHash, other.TimeOffset, other.CreatedAt = []byte("other-hash"), 7, at(time.Hour)
	isErr(t, "CreateAccount(duplicate)", s.CreateAccount(ctx, other), broker.ErrAlreadyExists)
	equal(t, "GetAccount after the refused duplicate", getAccount(t, s, "ns-1", a.UserID), a)
}

func testAccountRequiresUser(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	newNamespace(t, s, "ns-1", "alpha")
	newNamespace(t, s, "ns-2", "beta")
	failsNotDuplicate(t, "CreateAccount(no such user)", s.CreateAccount(ctx, account("u-missing", "ns-1")))
	_, err := s.GetAccount(ctx, "ns-1", "u-missing")
	isErr(t, "GetAccount(refused)", err, broker.ErrNotFound)

	// The account's namespace must be its user's.
	newUser(t, s, "u-1", "ns-1")
	failsNotDuplicate(t, "CreateAccount(user of another namespace)", s.CreateAccount(ctx, account("u-1", "ns-2")))
	_, err = s.GetAccount(ctx, "ns-2", "u-1")
	isErr(t, "GetAccount(refused, other namespace)", err, broker.ErrNotFound)
	_, err = s.GetAccount(ctx, "ns-1", "u-1")
	isErr(t, "GetAccount(refused, user's namespace)", err, broker.ErrNotFound)

	// A failed CreateAccount inside InTx fails the caller's transaction as a
	// whole when returned: the user row goes too.
	err = s.InTx(ctx, func(tx broker.Store) error {
		if err := tx.CreateUser(ctx, broker.User{ID: "u-2", NamespaceID: "ns-1", CreatedAt: t0}); err != nil {
			return err
		}
		return tx.CreateAccount(ctx, account("u-2", "ns-2"))
	})
	failsNotDuplicate(t, "InTx(CreateUser, CreateAccount in another namespace)", err)
	_, err = s.GetUser(ctx, "u-2")
	isErr(t, "GetUser after the rolled-back InTx", err, broker.ErrNotFound)
}

// testAccountPaging pages through 2,500 accounts 1,000 at a time. Another
// namespace's accounts sit between them in user ID order (and before and
// after all of them), and the accounts are created out of order.
func testAccountPaging(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	newNamespace(t, s, "ns-1", "alpha")
	newNamespace(t, s, "ns-2", "beta")
	const n = 2500
	var want, others []broker.Account
	for i := range n {
		a := account(fmt.Sprintf("acct-%05d", 2*i+1), "ns-1")
		a.TimeOffset, a.CreatedAt = i, at(time.Duration(i)*time.Second)
		if i%3 == 0 {
			a.LastAuthenticatedAt = at(time.Duration(i) * time.Hour)
		}
		want = append(want, a)
	}
	for _, id := range []string{"acct-00000", "acct-00002", "acct-02500", "acct-04998", "acct-05000", "acct-99999", "a", "b"} {
		others = append(others, account(id, "ns-2"))
	}
	err := s.InTx(ctx, func(tx broker.Store) error {
		for i := range n {
			a := want[(i*7919)%n] // 7919 is prime to n: a permutation
			if err := tx.CreateUser(ctx, broker.User{ID: a.UserID, NamespaceID: a.NamespaceID, CreatedAt: a.CreatedAt}); err != nil {
				return err
			}
			if err := tx.CreateAccount(ctx, a); err != nil {
				return err
			}
		}
		for _, a := range others {
			if err := tx.CreateUser(ctx, broker.User{ID: a.UserID, NamespaceID: a.NamespaceID, CreatedAt: a.CreatedAt}); err != nil {
				return err
			}
			if err := tx.CreateAccount(ctx, a); err != nil {
				return err
			}
		}
		return nil
	})
	ok(t, "InTx(create accounts)", err)

	var got []broker.Account
	after := ""
	for i, size := range []int{1000, 1000, 500, 0} {
		page, err := s.ListAccounts(ctx, "ns-1", after, 1000)
		ok(t, fmt.Sprintf("ListAccounts page %d", i+1), err)
		if len(page) != size {
			t.Fatalf("ListAccounts page %d after %q: got %d accounts, want %d", i+1, after, len(page), size)
		}
		if size > 0 {
			after = page[len(page)-1].UserID
		}
		got = append(got, page...)
	}
	gotIDs := ids(got, func(a broker.Account) string { return a.UserID })
	wantIDs := ids(want, func(a broker.Account) string { return a.UserID })
	if !slices.Equal(gotIDs, wantIDs) {
		t.Fatalf("ListAccounts pages: IDs not exactly the namespace's in order (overlap, gap or intruder)")
	}
	equal(t, "ListAccounts pages", got, want)

	// afterUserID need not be an account of the namespace.
	page, err := s.ListAccounts(ctx, "ns-1", "acct-02500", 2)
	ok(t, "ListAccounts(after another namespace's ID)", err)
	equal(t, "ListAccounts(after another namespace's ID)", page, want[1250:1252])
	page, err = s.ListAccounts(ctx, "ns-1", "acct-00002", 1)
	ok(t, "ListAccounts(limit 1)", err)
	equal(t, "ListAccounts(limit 1)", page, want[1:2])

	page, err = s.ListAccounts(ctx, "ns-2", "", 1000)
	ok(t, "ListAccounts(ns-2)", err)
	wantOthers := slices.Clone(others)
	slices.SortFunc(wantOthers, func(a, b broker.Account) int { return strings.Compare(a.UserID, b.UserID) })
	equal(t, "ListAccounts(ns-2)", page, wantOthers)
}
