package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/keys"
)

func txCases() []testCase {
	return []testCase{
		{name: "InTx/Commit", run: testInTxCommit},
		{name: "InTx/RollbackEveryWrite", run: testInTxRollback},
		{name: "InTx/RollbackOnSentinel", run: testInTxSentinel},
	}
}

func testInTxCommit(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	ns := broker.Namespace{ID: "ns-1", Name: "alpha", CreatedAt: t0}
	c := confidentialClient("c1", "ns-1")
	old := createToken(t, s, refreshToken("old"))
	r := rotation(old, "new", at(time.Hour))
	var next broker.RefreshToken
	err := s.InTx(ctx, func(tx broker.Store) error {
		if err := tx.CreateNamespace(ctx, ns); err != nil {
			return err
		}
		if err := tx.CreateClient(ctx, c); err != nil {
			return err
		}
		// The transaction reads its own writes.
		got, err := tx.GetClient(ctx, c.ID)
		if err != nil {
			return err
		}
		equal(t, "GetClient inside InTx", got, c)
		next, err = tx.RotateRefreshToken(ctx, r)
		return err
	})
	ok(t, "InTx", err)

	gotNS, err := s.GetNamespace(ctx, ns.ID)
	ok(t, "GetNamespace after commit", err)
	equal(t, "namespace after commit", gotNS, ns)
	gotC, err := s.GetClient(ctx, c.ID)
	ok(t, "GetClient after commit", err)
	equal(t, "client after commit", gotC, c)
	equal(t, "successor after commit", getToken(t, s, next), next)
	equal(t, "spent token after commit", getToken(t, s, old), spent(old, next, old.CreatedAt, r.Now))
}

// snapshot is everything testInTxRollback's transaction touches.
type snapshot struct {
	Namespace2, User2, Fresh, Successor bool // present? (the successor: current?)
	Clients                             []broker.Client
	Links                               []broker.Link
	Old                                 broker.RefreshToken
	FamilyRevoked                       bool
	Keys                                []keys.SigningKey
	JTINew, JTIExpired                  bool
	Accounts                            []broker.Account
}

func takeSnapshot(t *testing.T, s broker.Store, old, fresh broker.RefreshToken, succ []byte) snapshot {
	t.Helper()
	ctx := caseCtx(t)
	present := func(what string, err error) bool {
		t.Helper()
		if errors.Is(err, broker.ErrNotFound) {
			return false
		}
		ok(t, what, err)
		return true
	}
	var sn snapshot
	_, err := s.GetNamespace(ctx, "ns-2")
	sn.Namespace2 = present("GetNamespace", err)
	_, err = s.GetUser(ctx, "u-2")
	sn.User2 = present("GetUser", err)
	_, err = s.GetRefreshToken(ctx, fresh.Key, fresh.Hash)
	sn.Fresh = present("GetRefreshToken", err)
	next, err := s.GetRefreshToken(ctx, old.Key, succ)
	sn.Successor = present("GetRefreshToken", err) && next.SpentAt.IsZero()
	sn.Clients, err = s.ListClients(ctx)
	ok(t, "ListClients", err)
	sn.Links, err = s.ListLinks(ctx, "u-1")
	ok(t, "ListLinks", err)
	sn.Old = getToken(t, s, old)
	sn.FamilyRevoked, err = s.FamilyRevoked(ctx, "family-x")
	ok(t, "FamilyRevoked", err)
	sn.Keys, err = s.ListKeys(ctx)
	ok(t, "ListKeys", err)
	sn.JTINew, err = s.AccessTokenRevoked(ctx, "jti-new")
	ok(t, "AccessTokenRevoked", err)
	sn.JTIExpired, err = s.AccessTokenRevoked(ctx, "jti-expired")
	ok(t, "AccessTokenRevoked", err)
	sn.Accounts, err = s.ListAccounts(ctx, "ns-1", "", 10)
	ok(t, "ListAccounts", err)
	return sn
}

// testInTxRollback calls every write method on the transaction's Store, then
// fails: none of the writes may survive, which is how the suite checks that
// each method really runs on the transaction and not beside it.
func testInTxRollback(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	newNamespace(t, s, "ns-1", "alpha")
	kept := confidentialClient("c-kept", "ns-1")
	doomed := publicClient("c-doomed", "ns-1")
	ok(t, "CreateClient", s.CreateClient(ctx, kept))
	ok(t, "CreateClient", s.CreateClient(ctx, doomed))
	newUser(t, s, "u-1", "ns-1")
	ok(t, "CreateAccount", s.CreateAccount(ctx, account("u-1", "ns-1")))
	for _, slot := range []int{2, 4} {
		ok(t, "CreateLink", s.CreateLink(ctx, broker.Link{
			NamespaceID: "ns-1", Slot: slot, Identifier: fmt.Sprintf("p-%d", slot), UserID: "u-1", CreatedAt: t0,
		}))
	}
	pending, doomedReq := authRequest("pending"), authRequest("doomed")
	ok(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, pending))
	code, doomedCode := authCode("fresh"), authCode("doomed")
	code.ExpiresAt, doomedCode.ExpiresAt = at(time.Hour), at(time.Hour)
	createCode(t, s, code)
	old := createToken(t, s, refreshToken("old"))
	fresh := refreshToken("fresh")
	r := rotation(old, "successor", at(time.Hour))
	ok(t, "CreateKey", s.CreateKey(ctx, signingKey("k1", t0)))
	ok(t, "RevokeAccessToken", s.RevokeAccessToken(ctx, "jti-expired", t0))

	before := takeSnapshot(t, s, old, fresh, r.NewHash)
	if !before.JTIExpired || before.Successor || before.Fresh || before.Namespace2 || before.User2 ||
		len(before.Clients) != 2 || len(before.Keys) != 1 || len(before.Links) != 2 ||
		len(before.Accounts) != 1 || !before.Accounts[0].LastAuthenticatedAt.IsZero() {
		t.Fatalf("unexpected starting state: %+v", before)
	}

	boom := errors.New("boom")
	err := s.InTx(ctx, func(tx broker.Store) error {
		renamed := kept
		renamed.Name, renamed.UpdatedAt = "Renamed", at(time.Hour)
		type step struct {
			what string
			err  error
		}
		steps := []step{
			{"CreateNamespace", tx.CreateNamespace(ctx, broker.Namespace{ID: "ns-2", Name: "beta", CreatedAt: t0})},
			{"CreateClient", tx.CreateClient(ctx, confidentialClient("c-new", "ns-1"))},
			{"UpdateClient", tx.UpdateClient(ctx, renamed)},
			{"DeleteClient", tx.DeleteClient(ctx, doomed.ID)},
			{"CreateUser", tx.CreateUser(ctx, broker.User{ID: "u-2", NamespaceID: "ns-1", CreatedAt: t0})},
			{"CreateAccount", tx.CreateAccount(ctx, account("u-2", "ns-1"))},
			{"TouchAccount", tx.TouchAccount(ctx, "u-1", at(time.Hour))},
			{"CreateLink", tx.CreateLink(ctx, broker.Link{NamespaceID: "ns-1", Slot: 1, Identifier: "p", UserID: "u-1", CreatedAt: t0})},
			{"DeleteLink", tx.DeleteLink(ctx, "u-1", 2, "")},
			{"CreateAuthRequest", tx.CreateAuthRequest(ctx, doomedReq)},
			{"CreateCode", tx.CreateCode(ctx, doomedCode)},
			{"CreateRefreshToken", tx.CreateRefreshToken(ctx, fresh)},
			{"RevokeFamily", tx.RevokeFamily(ctx, "family-x", nil, t0, at(time.Hour))},
			{"CreateKey", tx.CreateKey(ctx, signingKey("k2", t0))},
			{"RetireKey", tx.RetireKey(ctx, "k1", t0, at(time.Hour))},
			{"RevokeAccessToken", tx.RevokeAccessToken(ctx, "jti-new", at(time.Hour))},
		}
		_, err := tx.RotateRefreshToken(ctx, r)
		steps = append(steps, step{"RotateRefreshToken", err})
		_, err = tx.ConsumeAuthRequest(ctx, pending.Hash, at(time.Second))
		steps = append(steps, step{"ConsumeAuthRequest", err})
		_, err = tx.ConsumeCode(ctx, code.Hash, at(time.Second), "family-doomed", codeKeep)
		steps = append(steps, step{"ConsumeCode", err})
		n, err := tx.PurgeExpired(ctx, at(time.Minute))
		steps = append(steps, step{"PurgeExpired", err})
		for _, st := range steps {
			if st.err != nil {
				t.Errorf("%s inside InTx: %v", st.what, st.err)
			}
		}
		if n != 1 {
			t.Errorf("PurgeExpired inside InTx: got %d rows, want 1", n)
		}
		// Everything is visible inside the transaction before it fails.
		inside := takeSnapshot(t, tx, old, fresh, r.NewHash)
		// Consumed inside: a second consume already sees it.
		_, err = tx.ConsumeAuthRequest(ctx, pending.Hash, at(time.Second))
		isErr(t, "ConsumeAuthRequest(again) inside InTx", err, broker.ErrNotFound)
		_, err = tx.ConsumeCode(ctx, code.Hash, at(2*time.Second), "family-doomed-2", codeKeep)
		isErr(t, "ConsumeCode(again) inside InTx", err, broker.ErrConflict)
		if !inside.Namespace2 || !inside.User2 || !inside.Successor || !inside.Fresh || !inside.FamilyRevoked ||
			!inside.JTINew || inside.JTIExpired || len(inside.Keys) != 2 || len(inside.Links) != 2 ||
			inside.Old.SpentAt.IsZero() || inside.Keys[0].RetiredAt.IsZero() || len(inside.Clients) != 2 ||
			len(inside.Accounts) != 2 || inside.Accounts[0].LastAuthenticatedAt.IsZero() {
			t.Errorf("writes not visible inside InTx: %+v", inside)
		}
		return boom
	})
	if err != boom { // "returned as is": identity, not merely errors.Is
		t.Errorf("InTx: got error %v, want fn's error returned as is", err)
	}
	isErr(t, "InTx", err, boom)

	after := takeSnapshot(t, s, old, fresh, r.NewHash)
	equal(t, "state after rollback", after, before)

	// Single-use rows cannot be read without being used, so they are checked
	// last: what was consumed inside is unconsumed, what was created is not.
	gotReq, err := s.ConsumeAuthRequest(ctx, pending.Hash, at(time.Second))
	ok(t, "ConsumeAuthRequest(consumed in the rolled-back InTx)", err)
	equal(t, "auth request after rollback", gotReq, pending)
	_, err = s.ConsumeAuthRequest(ctx, doomedReq.Hash, at(time.Second))
	isErr(t, "ConsumeAuthRequest(created in the rolled-back InTx)", err, broker.ErrNotFound)
	gotCode, err := s.ConsumeCode(ctx, code.Hash, at(3*time.Second), "family-after", codeKeep)
	ok(t, "ConsumeCode(used in the rolled-back InTx)", err)
	code.UsedAt, code.FamilyID, code.ExpiresAt = at(3*time.Second), "family-after", codeKeep
	equal(t, "code after rollback", gotCode, code)
	_, err = s.ConsumeCode(ctx, doomedCode.Hash, at(time.Second), "family-after", codeKeep)
	isErr(t, "ConsumeCode(created in the rolled-back InTx)", err, broker.ErrNotFound)
}

// testInTxSentinel: a store error that fn passes on keeps its identity, and
// the writes before it are undone.
func testInTxSentinel(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	newNamespace(t, s, "ns-1", "alpha")
	err := s.InTx(ctx, func(tx broker.Store) error {
		if err := tx.CreateUser(ctx, broker.User{ID: "u-1", NamespaceID: "ns-1", CreatedAt: t0}); err != nil {
			return err
		}
		return tx.CreateNamespace(ctx, broker.Namespace{ID: "ns-2", Name: "alpha", CreatedAt: t0})
	})
	isErr(t, "InTx(duplicate namespace)", err, broker.ErrAlreadyExists)
	_, err = s.GetUser(ctx, "u-1")
	isErr(t, "GetUser after rollback", err, broker.ErrNotFound)

	// The store is usable afterwards.
	ok(t, "CreateUser after rollback", s.CreateUser(ctx, broker.User{ID: "u-1", NamespaceID: "ns-1", CreatedAt: t0}))
}
