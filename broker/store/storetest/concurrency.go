package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

func concurrencyCases() []testCase {
	return []testCase{
		{name: "Concurrency/RotateOnce", run: testRotateRace},
		{name: "Concurrency/LinkOnce", run: testLinkRace},
		{name: "Concurrency/ConsumeCodeOnce", run: testConsumeCodeRace},
		{name: "Concurrency/DeleteLinkKeepsOne", run: testDeleteLinkRace},
	}
}

// race runs fn(i) for i in [0, n) on n goroutines released together, and
// returns each call's error.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// warmUp makes n calls at once a few times over, so that a pooled store has
// n connections open before a race: otherwise the racers queue for new
// connections, run one after the other, and a race that depends on their
// statements overlapping goes untested.
func warmUp(t *testing.T, s broker.Store, n int) {
	t.Helper()
	ctx := caseCtx(t)
	for range 5 {
		for i, err := range race(n, func(int) error { return s.Ping(ctx) }) {
			ok(t, fmt.Sprintf("warm-up Ping %d", i), err)
		}
	}
}

// winner checks that exactly one call succeeded and every other one failed
// with loserErr, and returns the index of the one that succeeded.
func winner(t *testing.T, what string, errs []error, loserErr error) int {
	t.Helper()
	win := -1
	for i, err := range errs {
		switch {
		case err == nil && win >= 0:
			t.Errorf("%s: calls %d and %d both succeeded", what, win, i)
		case err == nil:
			win = i
		case !errors.Is(err, loserErr):
			t.Errorf("%s: call %d: got %v, want %v", what, i, err, loserErr)
		}
	}
	if win < 0 {
		t.Fatalf("%s: no call succeeded", what)
	}
	return win
}

// testRotateRace: a client retrying one refresh token from many connections
// gets exactly one successor; the others see the token as already spent.
func testRotateRace(t *testing.T, s broker.Store) {
	const n = 50
	ctx := caseCtx(t)
	old := createToken(t, s, refreshToken("contested"))
	now := at(time.Hour)
	rots := make([]broker.Rotation, n)
	got := make([]broker.RefreshToken, n)
	for i := range rots {
		rots[i] = rotation(old, fmt.Sprintf("successor-%d", i), now)
	}
	errs := race(n, func(i int) error {
		var err error
		got[i], err = s.RotateRefreshToken(ctx, rots[i])
		return err
	})
	win := winner(t, "RotateRefreshToken", errs, broker.ErrNotFound)
	equal(t, "winning successor", got[win], successor(old, rots[win]))

	for i, r := range rots {
		if i != win {
			notCurrent(t, s, fmt.Sprintf("successor %d of a losing rotation", i), r.Key, r.NewHash)
		}
	}
	equal(t, "winning successor, stored", getToken(t, s, got[win]), got[win])
	equal(t, "contested token", getToken(t, s, old), spent(old, got[win], old.CreatedAt, now))
}

// testLinkRace: concurrent sign-ups claiming one takeover identifier, each in
// its own transaction, leave exactly one user linked and no orphans.
func testLinkRace(t *testing.T, s broker.Store) {
	const n = 20
	ctx := caseCtx(t)
	newNamespace(t, s, "ns-1", "alpha")
	userID := func(i int) string { return fmt.Sprintf("user-%02d", i) }
	errs := race(n, func(i int) error {
		return s.InTx(ctx, func(tx broker.Store) error {
			if err := tx.CreateUser(ctx, broker.User{ID: userID(i), NamespaceID: "ns-1", CreatedAt: t0}); err != nil {
				return err
			}
			return tx.CreateLink(ctx, broker.Link{
				NamespaceID: "ns-1", Slot: 5, Identifier: "contested", UserID: userID(i), CreatedAt: t0,
			})
		})
	})
	win := winner(t, "InTx{CreateUser; CreateLink}", errs, broker.ErrAlreadyExists)

	l, err := s.GetLink(ctx, "ns-1", 5, "contested")
	ok(t, "GetLink", err)
	if l.UserID != userID(win) {
		t.Errorf("GetLink: got user %s, want the winner %s", l.UserID, userID(win))
	}
	for i := range n {
		_, err := s.GetUser(ctx, userID(i))
		switch {
		case i == win:
			ok(t, "GetUser(winner)", err)
		case !errors.Is(err, broker.ErrNotFound):
			t.Errorf("GetUser(%s) of a rolled-back sign-up: got %v, want ErrNotFound", userID(i), err)
		}
	}
}

// testConsumeCodeRace: a code exchanged from many connections at once starts
// exactly one token family; every other exchange is told it is a replay and
// is given the winner's family and time, even one whose statement began
// before the winner committed. Several rounds, each on a fresh code.
func testConsumeCodeRace(t *testing.T, s broker.Store) {
	const (
		n      = 20
		rounds = 5
	)
	ctx := caseCtx(t)
	warmUp(t, s, n)
	for round := range rounds {
		c := authCode(fmt.Sprintf("contested-%d", round))
		c.ExpiresAt = at(time.Hour)
		createCode(t, s, c)
		now := func(i int) time.Time { return at(time.Duration(i+1) * time.Second) }
		family := func(i int) string { return fmt.Sprintf("family-%d-%02d", round, i) }
		got := make([]broker.AuthCode, n)
		errs := race(n, func(i int) error {
			var err error
			got[i], err = s.ConsumeCode(ctx, c.Hash, now(i), family(i), codeKeep)
			return err
		})
		what := fmt.Sprintf("round %d: ConsumeCode", round)
		win := winner(t, what, errs, broker.ErrConflict)
		want := c
		want.UsedAt, want.FamilyID, want.ExpiresAt = now(win), family(win), codeKeep
		for i := range n {
			equal(t, fmt.Sprintf("%s: code returned to exchange %d (winner %d)", what, i, win), got[i], want)
		}
		replay, err := s.ConsumeCode(ctx, c.Hash, at(time.Minute), "family-late", codeKeep)
		isErr(t, what+" after the race", err, broker.ErrConflict)
		equal(t, what+": code after the race", replay, want)
	}
}

// testDeleteLinkRace: a user with two links deletes both at once, from two
// connections; the one that comes second must see the first and refuse, so
// the user is never left without a way to sign in.
func testDeleteLinkRace(t *testing.T, s broker.Store) {
	const rounds = 20
	ctx := caseCtx(t)
	newNamespace(t, s, "ns-1", "alpha")
	warmUp(t, s, 2)
	for round := range rounds {
		u := newUser(t, s, fmt.Sprintf("user-%02d", round), "ns-1")
		links := make([]broker.Link, 2)
		for i := range links {
			links[i] = broker.Link{
				NamespaceID: "ns-1", Slot: i + 1, Identifier: fmt.Sprintf("%s-%d", u.ID, i), UserID: u.ID, CreatedAt: t0, Revision: 1,
			}
			ok(t, "CreateLink", s.CreateLink(ctx, links[i]))
		}
		errs := race(len(links), func(i int) error { return s.DeleteLink(ctx, u.ID, links[i].Slot, "") })
		what := fmt.Sprintf("round %d: DeleteLink", round)
		win := winner(t, what, errs, broker.ErrLastLink)
		left, err := s.ListLinks(ctx, u.ID)
		ok(t, "ListLinks", err)
		equal(t, what+": links left", left, []broker.Link{links[1-win]})
	}
}
