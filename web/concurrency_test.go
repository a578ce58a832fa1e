package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// TestGS2LoginConcurrentFirstSight: 100 concurrent GS2 logins of a user ID
// the broker has never seen make one user.
func TestGS2LoginConcurrentFirstSight(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		clientID, project := f.gs2Project(t, "game")
		got := parallel(t, 100, func() response {
			return f.gs2Send(t, gs2Call{path: "/gs2/auth/login", body: `{"userId":"brand-new"}`, header: trusted(clientID, project)})
		})
		for _, r := range got {
			if r.Status != http.StatusOK || r.str("userId") != "brand-new" {
				t.Fatalf("concurrent first login: %d %s", r.Status, r.Raw)
			}
		}
		u, err := f.Store.GetUser(context.Background(), "brand-new")
		if err != nil || u.NamespaceID == "" {
			t.Fatalf("the user: %+v, %v", u, err)
		}
	})
}

// TestTakeOverConcurrentWrites: concurrent takeover writes for one slot —
// creates of one (slot, userIdentifier) by different players, and password
// updates of one takeover — end with one winner; every other writer gets a
// clear refusal (409, or 401 for an update that came after the winner and
// so holds an old password), never a 5xx and never a second winner.
func TestTakeOverConcurrentWrites(t *testing.T) {
	t.Parallel()
	const writers = 10
	eachStore(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		clientID, project := f.gs2Project(t, "game")
		hdr := trusted(clientID, project)
		ns, err := f.Store.GetNamespaceByName(ctx, "game")
		if err != nil {
			t.Fatal(err)
		}
		users := make([]string, writers)
		for i := range users {
			users[i] = "writer-" + string(rune('a'+i))
			if err := f.Store.CreateUser(ctx, broker.User{ID: users[i], NamespaceID: ns.ID, CreatedAt: f.Clock.Now()}); err != nil {
				t.Fatal(err)
			}
		}

		i := make(chan int, writers)
		for n := range writers {
			i <- n
		}
		created := parallel(t, writers, func() response {
			u := users[<-i]
			return f.gs2Send(t, gs2Call{path: "/gs2/account/game/account/" + u + "/takeover", header: hdr,
				body: `{"type":5,"userIdentifier":"contested@example.com","password":"pw-` + u + `"}`})
		})
		wins, winner := 0, ""
		for _, r := range created {
			switch r.Status {
			case http.StatusOK:
				wins, winner = wins+1, item(t, r)["userId"].(string)
			case http.StatusConflict:
			default:
				t.Errorf("concurrent createTakeOver: %d %s", r.Status, r.Raw)
			}
		}
		l, err := f.Store.GetLink(ctx, ns.ID, 5, "contested@example.com")
		if wins != 1 || err != nil || l.UserID != winner {
			t.Fatalf("%d creates won (winner %q); the stored link is %+v, %v", wins, winner, l, err)
		}

		updated := parallel(t, writers, func() response {
			return f.gs2Send(t, gs2Call{method: http.MethodPut, path: "/gs2/account/game/account/" + winner + "/takeover/type/5",
				header: hdr, body: `{"oldPassword":"pw-` + winner + `","password":"new-` + strings.Repeat("x", 8) + `"}`})
		})
		wins = 0
		for _, r := range updated {
			switch r.Status {
			case http.StatusOK:
				wins++
			case http.StatusConflict, http.StatusUnauthorized:
			default:
				t.Errorf("concurrent updateTakeOver: %d %s", r.Status, r.Raw)
			}
		}
		l, err = f.Store.GetLink(ctx, ns.ID, 5, "contested@example.com")
		if wins != 1 || err != nil || l.Revision != 2 || bcrypt.CompareHashAndPassword(l.PasswordHash, []byte("new-xxxxxxxx")) != nil {
			t.Fatalf("%d updates won; the link is at revision %d (%v), want exactly one update (revision 2)", wins, l.Revision, err)
		}
	})
}
