package web_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// tkoGRN is the takeOverId of (slot, identifier) in namespace ns.
func tkoGRN(ns string, slot int, identifier string) string {
	return "grn:gs2:ap-northeast-1:bridgekeeper:account:" + ns + ":takeOver:" + strconv.Itoa(slot) + ":" + identifier
}

// tkoJSON encodes a request body.
func tkoJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// tkoAs is hdr plus X-GS2-ACCESS-TOKEN (left out when access is "").
func tkoAs(hdr map[string]string, access string) map[string]string {
	h := make(map[string]string, len(hdr)+1)
	for k, v := range hdr {
		h[k] = v
	}
	if access != "" {
		h["X-GS2-ACCESS-TOKEN"] = access
	}
	return h
}

// tkoPlayer logs userID in through GS2-Auth's login (creating the user
// without an account on first sight) and returns the player's access token.
func (f *fixture) tkoPlayer(t *testing.T, hdr map[string]string, userID string) string {
	t.Helper()
	r := f.gs2Send(t, gs2Call{path: "/gs2/auth/login", body: tkoJSON(t, map[string]string{"userId": userID}), header: hdr})
	if r.Status != http.StatusOK || r.str("token") == "" || r.str("userId") != userID {
		t.Fatalf("login of %s: %d %s", userID, r.Status, r.Raw)
	}
	return r.str("token")
}

// tkoBase is the takeover collection of user ("me" or a user ID) in ns.
func tkoBase(ns, user string) string {
	return "/gs2/account/" + ns + "/account/" + user + "/takeover"
}

// tkoCreate is createTakeOver (user "me") or createTakeOverByUserId.
func (f *fixture) tkoCreate(t *testing.T, hdr map[string]string, ns, user, body string) response {
	t.Helper()
	return f.gs2Send(t, gs2Call{path: tkoBase(ns, user), body: body, header: hdr})
}

// tkoMustCreate creates a takeover with a password through the API.
func (f *fixture) tkoMustCreate(t *testing.T, hdr map[string]string, ns, user string, slot int, identifier, password string) map[string]any {
	t.Helper()
	r := f.tkoCreate(t, hdr, ns, user, tkoJSON(t, map[string]any{"type": slot, "userIdentifier": identifier, "password": password}))
	if r.Status != http.StatusOK {
		t.Fatalf("createTakeOver %d/%s: %d %s", slot, identifier, r.Status, r.Raw)
	}
	return item(t, r)
}

// tkoCheapHash is a bcrypt hash of password at the lowest cost. Under -race
// a hash at the broker's cost takes most of a second, so these tests make
// the passwords the API only checks (bcrypt reads the cost from the hash)
// in the store directly, hash through the API only what they test, and run
// in parallel with one another.
func tkoCheapHash(t *testing.T, password string) []byte {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// tkoLink puts a takeover link straight into the store: without a password
// (password ""), as upstream sign-ins and server_custom_id make them, or
// with one, as createTakeOver does.
func (f *fixture) tkoLink(t *testing.T, nsID, userID string, slot int, identifier, password string) {
	t.Helper()
	l := broker.Link{NamespaceID: nsID, Slot: slot, Identifier: identifier, UserID: userID, CreatedAt: f.Clock.Now(), Revision: 1}
	if password != "" {
		l.PasswordHash = tkoCheapHash(t, password)
	}
	if err := f.Store.CreateLink(t.Context(), l); err != nil {
		t.Fatalf("create link %d/%s: %v", slot, identifier, err)
	}
}

// tkoAccount makes a GS2 account with password in the store directly, as
// createAccount would, and returns its user ID.
func (f *fixture) tkoAccount(t *testing.T, nsID, password string) string {
	t.Helper()
	userID, now := uuid.NewString(), f.Clock.Now()
	err := f.Store.InTx(t.Context(), func(tx broker.Store) error {
		if err := tx.CreateUser(t.Context(), broker.User{ID: userID, NamespaceID: nsID, CreatedAt: now}); err != nil {
			return err
		}
		return tx.CreateAccount(t.Context(), broker.Account{UserID: userID, NamespaceID: nsID, PasswordHash: tkoCheapHash(t, password), CreatedAt: now})
	})
	if err != nil {
		t.Fatalf("create account: %v", err)
	}
	return userID
}

// tkoGet is getTakeOver / getTakeOverByUserId.
func (f *fixture) tkoGet(t *testing.T, hdr map[string]string, ns, user, slot string) response {
	t.Helper()
	return f.gs2Send(t, gs2Call{method: http.MethodGet, path: tkoBase(ns, user) + "/type/" + slot, header: hdr})
}

// tkoDo is doTakeOver.
func (f *fixture) tkoDo(t *testing.T, hdr map[string]string, ns, slot, identifier, password string) response {
	t.Helper()
	body := tkoJSON(t, map[string]string{"userIdentifier": identifier, "password": password})
	return f.gs2Send(t, gs2Call{path: "/gs2/account/" + ns + "/takeover/type/" + slot, body: body, header: hdr})
}

// tkoRefused checks a GS2 refusal and, when code is not "", its code.
func tkoRefused(t *testing.T, r response, status int, component, code string) gs2ErrorItem {
	t.Helper()
	it := checkGS2Error(t, r, status, component)
	if code != "" && it.Code != code {
		t.Errorf("code %q, want %q (%s)", it.Code, code, it.Message)
	}
	return it
}

// tkoWant checks a TakeOver item.
func tkoWant(t *testing.T, it map[string]any, ns, userID string, slot int, identifier string, revision int) {
	t.Helper()
	want := map[string]any{
		"takeOverId": tkoGRN(ns, slot, identifier), "userId": userID, "type": float64(slot),
		"userIdentifier": identifier, "revision": float64(revision),
	}
	for k, v := range want {
		if it[k] != v {
			t.Errorf("%s = %v, want %v (item %v)", k, it[k], v, it)
		}
	}
	if _, ok := it["password"]; ok {
		t.Errorf("the item has a password: %v", it)
	}
	if ms, ok := it["createdAt"].(float64); !ok || ms <= 0 {
		t.Errorf("createdAt %v", it["createdAt"])
	}
}

// tkoItems is the "items" array of a describe answer.
func tkoItems(t *testing.T, r response) []map[string]any {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("describe: %d %s", r.Status, r.Raw)
	}
	raw, ok := r.Body["items"].([]any)
	if !ok {
		t.Fatalf("no items: %s", r.Raw)
	}
	out := make([]map[string]any, len(raw))
	for i, v := range raw {
		out[i], _ = v.(map[string]any)
	}
	return out
}

func TestGS2CreateTakeOver(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		clientID, project := f.gs2Project(t, "game")
		hdr := trusted(clientID, project)
		nsID := mustNamespace(t, f, "game").ID
		userA := f.tkoAccount(t, nsID, "account-password-a")
		// The player signs in as GS2's SDKs do: authentication, then
		// loginBySignature.
		body, sig := f.gs2SignedPair(t, hdr, "game", userA, defaultKeyID, "account-password-a")
		login := f.gs2LoginBySignature(t, hdr, defaultKeyID, body, sig)
		if login.Status != http.StatusOK {
			t.Fatalf("loginBySignature: %d %s", login.Status, login.Raw)
		}
		me := tkoAs(hdr, login.str("token"))

		// createTakeOver, with type as a JSON string.
		const password = "correct horse battery staple"
		r := f.tkoCreate(t, me, "game", "me", `{"type":"0","userIdentifier":"a@example.com","password":"`+password+`","contextStack":null}`)
		if r.Status != http.StatusOK {
			t.Fatalf("createTakeOver: %d %s", r.Status, r.Raw)
		}
		if strings.Contains(r.Raw, "password") || strings.Contains(r.Raw, password) {
			t.Errorf("the answer mentions the password: %s", r.Raw)
		}
		created := item(t, r)
		tkoWant(t, created, "game", userA, 0, "a@example.com", 1)
		aboutNow(t, f, "createdAt", created["createdAt"])
		if e := wantAuditOf(t, f, broker.AuditLink, userA, "0:a@example.com"); strings.Contains(e.Detail, password) {
			t.Errorf("the audit event mentions the password: %+v", e)
		}

		// createTakeOverByUserId, in the highest slot, with the longest
		// identifier.
		long := strings.Repeat("x", 1023) + "é"
		r = f.tkoCreate(t, hdr, "game", userA, tkoJSON(t, map[string]any{"type": 1024, "userIdentifier": long, "password": "pw"}))
		if r.Status != http.StatusOK {
			t.Fatalf("createTakeOverByUserId: %d %s", r.Status, r.Raw)
		}
		if strings.Contains(r.Raw, "password") {
			t.Errorf("the answer mentions the password: %s", r.Raw)
		}
		tkoWant(t, item(t, r), "game", userA, 1024, long, 1)

		userB := f.tkoAccount(t, nsID, "account-password-b")
		otherID, otherProject := f.gs2Project(t, "other")
		otherPlayer := f.tkoPlayer(t, trusted(otherID, otherProject), "stranger")
		for _, tc := range []struct {
			name, user, body string
			header           map[string]string
			status           int
			component, field string // the refusal
		}{
			{"type -1", userB, `{"type":-1,"userIdentifier":"b","password":"pw"}`, hdr, http.StatusBadRequest, "takeOver", ""},
			{"type 1025", userB, `{"type":1025,"userIdentifier":"b","password":"pw"}`, hdr, http.StatusBadRequest, "takeOver", ""},
			{"type \"1025\"", userB, `{"type":"1025","userIdentifier":"b","password":"pw"}`, hdr, http.StatusBadRequest, "takeOver", ""},
			{"type not a number", userB, `{"type":"zero","userIdentifier":"b","password":"pw"}`, hdr, http.StatusBadRequest, "takeOver", "type"},
			{"no type", userB, `{"userIdentifier":"b","password":"pw"}`, hdr, http.StatusBadRequest, "takeOver", "type"},
			{"identifier of 1025 characters", userB, `{"type":6,"userIdentifier":"` + long + `x","password":"pw"}`, hdr, http.StatusBadRequest, "takeOver", ""},
			{"no identifier", userB, `{"type":6,"password":"pw"}`, hdr, http.StatusBadRequest, "takeOver", ""},
			{"no password", userB, `{"type":6,"userIdentifier":"b"}`, hdr, http.StatusBadRequest, "takeOver", ""},
			{"password null", userB, `{"type":6,"userIdentifier":"b","password":null}`, hdr, http.StatusBadRequest, "takeOver", ""},
			{"identifier taken in the slot by another user", userB, `{"type":0,"userIdentifier":"a@example.com","password":"pw"}`, hdr, http.StatusConflict, "takeOver", ""},
			{"slot already used by the user", userA, `{"type":0,"userIdentifier":"another","password":"pw"}`, hdr, http.StatusConflict, "takeOver", ""},
			{"unknown userId", uuid.NewString(), `{"type":6,"userIdentifier":"b","password":"pw"}`, hdr, http.StatusNotFound, "account", ""},
			{"user of another namespace", "stranger", `{"type":6,"userIdentifier":"b","password":"pw"}`, hdr, http.StatusNotFound, "account", ""},
			{"me without X-GS2-ACCESS-TOKEN", "me", `{"type":6,"userIdentifier":"b","password":"pw"}`, hdr, http.StatusUnauthorized, "accessToken", ""},
			{"me with the project token as access token", "me", `{"type":6,"userIdentifier":"b","password":"pw"}`, tkoAs(hdr, project), http.StatusUnauthorized, "accessToken", ""},
			{"me with a player token of another namespace", "me", `{"type":6,"userIdentifier":"b","password":"pw"}`, tkoAs(hdr, otherPlayer), http.StatusUnauthorized, "accessToken", ""},
			{"me with a garbage access token", "me", `{"type":6,"userIdentifier":"b","password":"pw"}`, tkoAs(hdr, "garbage"), http.StatusUnauthorized, "accessToken", ""},
			{"no project token", userB, `{"type":6,"userIdentifier":"b","password":"pw"}`, tkoAs(nil, login.str("token")), http.StatusUnauthorized, "accessToken", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := f.tkoCreate(t, tc.header, "game", tc.user, tc.body)
				it := tkoRefused(t, r, tc.status, tc.component, "")
				if tc.field != "" && !strings.Contains(it.Message, "."+tc.field+".error.") {
					t.Errorf("message %q does not name %s", it.Message, tc.field)
				}
			})
		}

		// The refused creations changed nothing: A still holds slot 0 with
		// its identifier, B has no takeover.
		tkoWant(t, item(t, f.tkoGet(t, hdr, "game", userA, "0")), "game", userA, 0, "a@example.com", 1)
		if its := tkoItems(t, f.gs2Send(t, gs2Call{method: http.MethodGet, path: tkoBase("game", userB), header: hdr})); len(its) != 0 {
			t.Errorf("B has takeovers: %v", its)
		}
		// The password set by createTakeOver is the one doTakeOver takes.
		if r := f.tkoDo(t, hdr, "game", "0", "a@example.com", password); r.Status != http.StatusOK || item(t, r)["userId"] != userA {
			t.Errorf("doTakeOver with the takeover's password: %d %s", r.Status, r.Raw)
		}
	})
}

func TestGS2DescribeTakeOvers(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		clientID, project := f.gs2Project(t, "game")
		hdr := trusted(clientID, project)
		nsID := mustNamespace(t, f, "game").ID
		me := tkoAs(hdr, f.tkoPlayer(t, hdr, "lister"))
		// 35 links in slots 0..34, stored out of order.
		for _, slot := range rand.New(rand.NewPCG(1, 2)).Perm(35) {
			f.tkoLink(t, nsID, "lister", slot, fmt.Sprintf("lister-%d", slot), "")
		}
		// Someone else's links never show.
		f.tkoPlayer(t, hdr, "neighbour")
		f.tkoLink(t, nsID, "neighbour", 0, "neighbour-0", "")
		f.tkoLink(t, nsID, "neighbour", 40, "neighbour-40", "")

		list := func(t *testing.T, header map[string]string, user, query string) response {
			t.Helper()
			return f.gs2Send(t, gs2Call{method: http.MethodGet, path: tkoBase("game", user) + query, header: header})
		}
		// slots lists the items' types, checking each item on the way.
		slots := func(t *testing.T, r response) []int {
			t.Helper()
			var out []int
			for _, it := range tkoItems(t, r) {
				slot := int(it["type"].(float64))
				tkoWant(t, it, "game", "lister", slot, fmt.Sprintf("lister-%d", slot), 1)
				out = append(out, slot)
			}
			return out
		}
		seq := func(from, to int) []int {
			var s []int
			for i := from; i < to; i++ {
				s = append(s, i)
			}
			return s
		}

		first := list(t, me, "me", "")
		token, _ := first.Body["nextPageToken"].(string)
		if token == "" {
			t.Fatalf("no nextPageToken after 30 of 35: %s", first.Raw)
		}
		for _, tc := range []struct {
			name, user, query string
			header            map[string]string
			want              []int
			next              bool
		}{
			{"me, default limit 30", "me", "", me, seq(0, 30), true},
			{"byUserId, default limit 30", "lister", "", hdr, seq(0, 30), true},
			{"limit and pageToken null", "me", "?limit=null&pageToken=null", me, seq(0, 30), true},
			{"limit 1", "lister", "?limit=1", hdr, []int{0}, true},
			{"limit 34", "lister", "?limit=34", hdr, seq(0, 34), true},
			{"limit 35", "lister", "?limit=35", hdr, seq(0, 35), false},
			{"limit 1000", "me", "?limit=1000", me, seq(0, 35), false},
			{"the next page", "me", "?pageToken=" + token, me, seq(30, 35), false},
			{"the next page, byUserId", "lister", "?limit=3&pageToken=" + token, hdr, seq(30, 33), true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := list(t, tc.header, tc.user, tc.query)
				if got := slots(t, r); fmt.Sprint(got) != fmt.Sprint(tc.want) {
					t.Errorf("slots %v, want %v", got, tc.want)
				}
				if _, ok := r.Body["nextPageToken"]; ok != tc.next {
					t.Errorf("nextPageToken present %v, want %v: %s", ok, tc.next, r.Raw)
				}
			})
		}

		// A user without takeovers lists none, as an empty array.
		f.tkoPlayer(t, hdr, "nobody")
		if r := list(t, hdr, "nobody", ""); r.Status != http.StatusOK || !strings.Contains(r.Raw, `"items":[]`) || r.Body["nextPageToken"] != nil {
			t.Errorf("no takeovers: %d %s", r.Status, r.Raw)
		}

		otherID, otherProject := f.gs2Project(t, "other")
		otherPlayer := f.tkoPlayer(t, trusted(otherID, otherProject), "stranger")
		for _, tc := range []struct {
			name, user, query string
			header            map[string]string
			status            int
			component, field  string
		}{
			{"limit 0", "me", "?limit=0", me, http.StatusBadRequest, "takeOver", "limit"},
			{"limit 1001", "lister", "?limit=1001", hdr, http.StatusBadRequest, "takeOver", "limit"},
			{"limit -1", "lister", "?limit=-1", hdr, http.StatusBadRequest, "takeOver", "limit"},
			{"limit not a number", "lister", "?limit=ten", hdr, http.StatusBadRequest, "takeOver", "limit"},
			{"garbage pageToken", "lister", "?pageToken=%21%21%21", hdr, http.StatusBadRequest, "takeOver", "pageToken"},
			{"unknown userId", uuid.NewString(), "", hdr, http.StatusNotFound, "account", ""},
			{"user of another namespace", "stranger", "", hdr, http.StatusNotFound, "account", ""},
			{"me without X-GS2-ACCESS-TOKEN", "me", "", hdr, http.StatusUnauthorized, "accessToken", ""},
			{"me with the project token", "me", "", tkoAs(hdr, project), http.StatusUnauthorized, "accessToken", ""},
			{"me with a player token of another namespace", "me", "", tkoAs(hdr, otherPlayer), http.StatusUnauthorized, "accessToken", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				it := tkoRefused(t, list(t, tc.header, tc.user, tc.query), tc.status, tc.component, "")
				if tc.field != "" && !strings.HasSuffix(it.Message, "."+tc.field+".error.invalid") {
					t.Errorf("message %q, want %s refused", it.Message, tc.field)
				}
			})
		}
	})
}

// TestGS2DescribeTakeOversPaging pages through 2,500 takeovers of three
// users (a user holds at most 1,025), made in the store directly: bcrypt at
// the API's cost would take minutes.
func TestGS2DescribeTakeOversPaging(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		clientID, project := f.gs2Project(t, "bulk")
		hdr := trusted(clientID, project)
		nsID := mustNamespace(t, f, "bulk").ID
		users := []string{uuid.NewString(), uuid.NewString(), uuid.NewString()}
		counts := []int{1025, 1025, 450}
		now := f.Clock.Now()
		rng := rand.New(rand.NewPCG(3, 4))
		err := f.Store.InTx(t.Context(), func(tx broker.Store) error {
			for u, user := range users {
				if err := tx.CreateUser(t.Context(), broker.User{ID: user, NamespaceID: nsID, CreatedAt: now}); err != nil {
					return err
				}
				for _, slot := range rng.Perm(counts[u]) {
					if err := tx.CreateLink(t.Context(), broker.Link{NamespaceID: nsID, Slot: slot,
						Identifier: fmt.Sprintf("%d-%d", u, slot), UserID: user, CreatedAt: now, Revision: 1}); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}

		for _, limit := range []int{100, 1000} {
			t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
				total := 0
				seen := map[string]bool{}
				for u, user := range users {
					next, pages := 0, 0 // the slot expected next
					token := ""
					for {
						pages++
						if pages > counts[u]/limit+2 {
							t.Fatalf("user %d: no end after %d pages", u, pages)
						}
						q := fmt.Sprintf("?limit=%d", limit)
						if token != "" {
							q += "&pageToken=" + token
						}
						r := f.gs2Send(t, gs2Call{method: http.MethodGet, path: tkoBase("bulk", user) + q, header: hdr})
						its := tkoItems(t, r)
						if want := min(limit, counts[u]-next); len(its) != want {
							t.Errorf("user %d page %d: %d items, want %d", u, pages, len(its), want)
						}
						for _, it := range its {
							id, _ := it["takeOverId"].(string)
							if seen[id] {
								t.Errorf("user %d: %s listed twice", u, id)
							}
							seen[id] = true
							if it["userId"] != user || it["type"] != float64(next) ||
								it["userIdentifier"] != fmt.Sprintf("%d-%d", u, next) || id != tkoGRN("bulk", next, fmt.Sprintf("%d-%d", u, next)) {
								t.Fatalf("user %d: item %v, want slot %d of %s", u, it, next, user)
							}
							next++
							total++
						}
						nt, more := r.Body["nextPageToken"]
						if !more {
							break
						}
						if token, _ = nt.(string); token == "" {
							t.Fatalf("nextPageToken %v", nt)
						}
						if next == counts[u] {
							t.Errorf("user %d: nextPageToken after the last takeover", u)
						}
					}
					if next != counts[u] {
						t.Errorf("user %d: listed %d takeovers, want %d", u, next, counts[u])
					}
					if want := (counts[u] + limit - 1) / limit; pages != want {
						t.Errorf("user %d: %d pages, want %d", u, pages, want)
					}
				}
				if total != 2500 || len(seen) != 2500 {
					t.Errorf("%d takeovers listed (%d distinct), want 2500", total, len(seen))
				}
			})
		}
	})
}

func TestGS2GetTakeOver(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		clientID, project := f.gs2Project(t, "game")
		hdr := trusted(clientID, project)
		me := tkoAs(hdr, f.tkoPlayer(t, hdr, "getter"))
		created := f.tkoMustCreate(t, me, "game", "me", 7, "getter@example.com", "pw-7")
		f.tkoPlayer(t, hdr, "someone")
		otherID, otherProject := f.gs2Project(t, "other")
		otherPlayer := f.tkoPlayer(t, trusted(otherID, otherProject), "stranger")
		for _, tc := range []struct {
			name, user, slot string
			header           map[string]string
			status           int
			component        string
		}{
			{"me", "me", "7", me, http.StatusOK, ""},
			{"byUserId", "getter", "7", hdr, http.StatusOK, ""},
			{"empty slot", "me", "8", me, http.StatusNotFound, "takeOver"},
			{"empty slot, byUserId", "getter", "0", hdr, http.StatusNotFound, "takeOver"},
			{"another user's slot", "someone", "7", hdr, http.StatusNotFound, "takeOver"},
			{"type null", "me", "null", me, http.StatusBadRequest, "takeOver"},
			{"type null, byUserId", "getter", "null", hdr, http.StatusBadRequest, "takeOver"},
			{"type 1025", "getter", "1025", hdr, http.StatusBadRequest, "takeOver"},
			{"type -1", "getter", "-1", hdr, http.StatusBadRequest, "takeOver"},
			{"me without X-GS2-ACCESS-TOKEN", "me", "7", hdr, http.StatusUnauthorized, "accessToken"},
			{"me with a player token of another namespace", "me", "7", tkoAs(hdr, otherPlayer), http.StatusUnauthorized, "accessToken"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := f.tkoGet(t, tc.header, "game", tc.user, tc.slot)
				if tc.status != http.StatusOK {
					tkoRefused(t, r, tc.status, tc.component, "")
					return
				}
				got := item(t, r)
				for _, k := range []string{"takeOverId", "userId", "type", "userIdentifier", "createdAt", "revision"} {
					if got[k] != created[k] {
						t.Errorf("%s = %v, createTakeOver said %v", k, got[k], created[k])
					}
				}
				tkoWant(t, got, "game", "getter", 7, "getter@example.com", 1)
				if strings.Contains(r.Raw, "password") || strings.Contains(r.Raw, "pw-7") {
					t.Errorf("getTakeOver mentions the password: %s", r.Raw)
				}
			})
		}
	})
}

func TestGS2UpdateTakeOver(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		clientID, project := f.gs2Project(t, "game")
		hdr := trusted(clientID, project)
		nsID := mustNamespace(t, f, "game").ID
		me := tkoAs(hdr, f.tkoPlayer(t, hdr, "updater"))
		f.tkoLink(t, nsID, "updater", 2, "updater@example.com", "old-pw")
		created := item(t, f.tkoGet(t, hdr, "game", "updater", "2"))
		// A link made by a sign-in has no password to update.
		f.tkoLink(t, nsID, "updater", 12, "custom-updater", "")
		update := func(t *testing.T, header map[string]string, user, slot, body string) response {
			t.Helper()
			return f.gs2Send(t, gs2Call{method: http.MethodPut, path: tkoBase("game", user) + "/type/" + slot, body: body, header: header})
		}

		t.Run("wrong old password", func(t *testing.T) {
			r := update(t, hdr, "updater", "2", `{"oldPassword":"not-it","password":"new-pw"}`)
			tkoRefused(t, r, http.StatusUnauthorized, "account", "account.password.invalid")
		})
		t.Run("no old password", func(t *testing.T) {
			r := update(t, me, "me", "2", `{"password":"new-pw"}`)
			tkoRefused(t, r, http.StatusUnauthorized, "account", "account.password.invalid")
		})
		t.Run("no new password", func(t *testing.T) {
			tkoRefused(t, update(t, me, "me", "2", `{"oldPassword":"old-pw"}`), http.StatusBadRequest, "takeOver", "")
		})
		t.Run("empty slot", func(t *testing.T) {
			tkoRefused(t, update(t, me, "me", "9", `{"oldPassword":"old-pw","password":"new-pw"}`), http.StatusNotFound, "takeOver", "")
		})
		t.Run("type null", func(t *testing.T) {
			tkoRefused(t, update(t, me, "me", "null", `{"oldPassword":"old-pw","password":"new-pw"}`), http.StatusBadRequest, "takeOver", "")
		})
		t.Run("me without X-GS2-ACCESS-TOKEN", func(t *testing.T) {
			tkoRefused(t, update(t, hdr, "me", "2", `{"oldPassword":"old-pw","password":"new-pw"}`), http.StatusUnauthorized, "accessToken", "")
		})
		t.Run("user of another namespace", func(t *testing.T) {
			otherID, otherProject := f.gs2Project(t, "other")
			otherHdr := trusted(otherID, otherProject)
			f.tkoPlayer(t, otherHdr, "stranger")
			f.tkoLink(t, mustNamespace(t, f, "other").ID, "stranger", 2, "stranger@example.com", "old-pw")
			tkoRefused(t, update(t, hdr, "stranger", "2", `{"oldPassword":"old-pw","password":"new-pw"}`), http.StatusNotFound, "takeOver", "")
		})
		for _, old := range []string{"", "custom-updater"} {
			t.Run(fmt.Sprintf("link without a password, oldPassword %q", old), func(t *testing.T) {
				r := update(t, hdr, "updater", "12", tkoJSON(t, map[string]string{"oldPassword": old, "password": "new-pw"}))
				tkoRefused(t, r, http.StatusUnauthorized, "account", "account.password.invalid")
			})
		}
		// None of that changed the password.
		if r := f.tkoGet(t, hdr, "game", "updater", "2"); item(t, r)["revision"] != float64(1) {
			t.Fatalf("revision after refused updates: %s", r.Raw)
		}

		// The right old password (me).
		r := update(t, me, "me", "2", `{"oldPassword":"old-pw","password":"new-pw"}`)
		if r.Status != http.StatusOK {
			t.Fatalf("updateTakeOver: %d %s", r.Status, r.Raw)
		}
		if strings.Contains(r.Raw, "password") {
			t.Errorf("the answer mentions a password: %s", r.Raw)
		}
		got := item(t, r)
		tkoWant(t, got, "game", "updater", 2, "updater@example.com", 2)
		if got["createdAt"] != created["createdAt"] {
			t.Errorf("createdAt %v, was %v", got["createdAt"], created["createdAt"])
		}
		if r := f.tkoGet(t, hdr, "game", "updater", "2"); item(t, r)["revision"] != float64(2) {
			t.Errorf("getTakeOver after the update: %s", r.Raw)
		}

		// byUserId, from the password me set.
		r = update(t, hdr, "updater", "2", `{"oldPassword":"new-pw","password":"newer-pw"}`)
		if r.Status != http.StatusOK {
			t.Fatalf("updateTakeOverByUserId: %d %s", r.Status, r.Raw)
		}
		tkoWant(t, item(t, r), "game", "updater", 2, "updater@example.com", 3)

		// doTakeOver takes the newest password, not the first one.
		tkoRefused(t, f.tkoDo(t, hdr, "game", "2", "updater@example.com", "old-pw"), http.StatusUnauthorized, "account", "account.password.invalid")
		if r := f.tkoDo(t, hdr, "game", "2", "updater@example.com", "newer-pw"); r.Status != http.StatusOK || item(t, r)["userId"] != "updater" {
			t.Errorf("doTakeOver with the new password: %d %s", r.Status, r.Raw)
		}
	})
}

func TestGS2DeleteTakeOver(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		id, secret := f.client(t, gameServer("game"))
		hdr := trusted(id, f.gs2ProjectToken(t, id, secret))
		nsID := mustNamespace(t, f, "game").ID
		userA := f.tkoAccount(t, nsID, "account-password")
		me := tkoAs(hdr, f.tkoPlayer(t, hdr, userA))
		const odd = "dir/sub@example.com"
		for slot, ident := range map[int]string{1: "one", 2: "two", 3: "three", 4: odd} {
			f.tkoLink(t, nsID, userA, slot, ident, "")
		}
		del := func(t *testing.T, header map[string]string, path string) response {
			t.Helper()
			return f.gs2Send(t, gs2Call{method: http.MethodDelete, path: path, header: header})
		}
		byIdentifier := func(slot, ident string) string {
			return "/gs2/account/game/takeover/type/" + slot + "/userIdentifier/" + ident
		}

		for _, tc := range []struct {
			name, path string
			header     map[string]string
			slot       int
			ident      string
		}{
			{"deleteTakeOver", tkoBase("game", "me") + "/type/1", me, 1, "one"},
			{"deleteTakeOverByUserId", tkoBase("game", userA) + "/type/2/takeover", hdr, 2, "two"},
			{"deleteTakeOverByUserIdentifier with / and @", byIdentifier("4", odd), hdr, 4, odd},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := del(t, tc.header, tc.path)
				if r.Status != http.StatusOK {
					t.Fatalf("%d %s", r.Status, r.Raw)
				}
				tkoWant(t, item(t, r), "game", userA, tc.slot, tc.ident, 1)
				tkoRefused(t, f.tkoGet(t, hdr, "game", userA, strconv.Itoa(tc.slot)), http.StatusNotFound, "takeOver", "")
				wantAuditOf(t, f, broker.AuditUnlink, userA, strconv.Itoa(tc.slot)+":"+tc.ident)
				// A second delete finds nothing.
				tkoRefused(t, del(t, tc.header, tc.path), http.StatusNotFound, "takeOver", "")
			})
		}
		t.Run("the account's last takeover", func(t *testing.T) {
			r := del(t, me, tkoBase("game", "me")+"/type/3")
			if r.Status != http.StatusOK {
				t.Fatalf("an account may lose its last takeover: %d %s", r.Status, r.Raw)
			}
			tkoWant(t, item(t, r), "game", userA, 3, "three", 1)
			if its := tkoItems(t, f.gs2Send(t, gs2Call{method: http.MethodGet, path: tkoBase("game", userA), header: hdr})); len(its) != 0 {
				t.Errorf("takeovers left: %v", its)
			}
			// The account still signs in by its password.
			if r := f.gs2Authenticate(t, hdr, "game", userA, defaultKeyID, "account-password"); r.Status != http.StatusOK {
				t.Errorf("authentication: %d %s", r.Status, r.Raw)
			}
		})

		// A user of GS2-Auth's login (no account) with one takeover.
		f.tkoPlayer(t, hdr, "login-user")
		f.tkoLink(t, nsID, "login-user", 5, "login-user@example.com", "")
		// A server_custom_id player: its link is its way in.
		custom := f.mustToken(t, id, secret, customID("player-9")).str("userId")
		otherID, otherProject := f.gs2Project(t, "other")
		otherHdr := trusted(otherID, otherProject)
		for _, tc := range []struct {
			name, path string
			header     map[string]string
			status     int
			component  string
		}{
			{"last link of a login user", tkoBase("game", "login-user") + "/type/5/takeover", hdr, http.StatusConflict, "takeOver"},
			{"last link of a login user, me", tkoBase("game", "me") + "/type/5", tkoAs(hdr, f.tkoPlayer(t, hdr, "login-user")), http.StatusConflict, "takeOver"},
			{"last link of a login user, by identifier", byIdentifier("5", "login-user@example.com"), hdr, http.StatusConflict, "takeOver"},
			{"last link of a server_custom_id user", tkoBase("game", custom) + "/type/3/takeover", hdr, http.StatusConflict, "takeOver"},
			{"last link of a server_custom_id user, by identifier", byIdentifier("3", "player-9"), hdr, http.StatusConflict, "takeOver"},
			{"unknown identifier", byIdentifier("5", "nobody@example.com"), hdr, http.StatusNotFound, "takeOver"},
			{"identifier of another namespace", "/gs2/account/other/takeover/type/5/userIdentifier/login-user@example.com", otherHdr, http.StatusNotFound, "takeOver"},
			{"another client's namespace", byIdentifier("5", "login-user@example.com"), otherHdr, http.StatusNotFound, "namespace"},
			{"type null", byIdentifier("null", "login-user@example.com"), hdr, http.StatusBadRequest, "takeOver"},
			{"type null, me", tkoBase("game", "me") + "/type/null", me, http.StatusBadRequest, "takeOver"},
			{"me without X-GS2-ACCESS-TOKEN", tkoBase("game", "me") + "/type/5", hdr, http.StatusUnauthorized, "accessToken"},
			{"no project token", byIdentifier("5", "login-user@example.com"), nil, http.StatusUnauthorized, "accessToken"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tkoRefused(t, del(t, tc.header, tc.path), tc.status, tc.component, "")
			})
		}
		// Nothing went: both still sign in by their links.
		tkoWant(t, item(t, f.tkoGet(t, hdr, "game", "login-user", "5")), "game", "login-user", 5, "login-user@example.com", 1)
		if u := f.mustToken(t, id, secret, customID("player-9")).str("userId"); u != custom {
			t.Errorf("server_custom_id player-9 is now %s, was %s", u, custom)
		}

		// With a second link, either may go, but then not the other.
		f.tkoLink(t, nsID, custom, 10, "spare", "")
		if r := del(t, hdr, tkoBase("game", custom)+"/type/10/takeover"); r.Status != http.StatusOK {
			t.Errorf("delete a second link: %d %s", r.Status, r.Raw)
		}
		tkoRefused(t, del(t, hdr, tkoBase("game", custom)+"/type/3/takeover"), http.StatusConflict, "takeOver", "")

		// Users without an account and two links each, both deleted at
		// once: one delete wins, the other finds the last link.
		const users = 5
		type result struct {
			user string
			r    response
		}
		results := make(chan result, 2*users)
		var paths []string
		for i := range users {
			user := fmt.Sprintf("racer-%d", i)
			f.tkoPlayer(t, hdr, user)
			f.tkoLink(t, nsID, user, 0, user+"-a", "")
			f.tkoLink(t, nsID, user, 1, user+"-b", "")
			paths = append(paths, tkoBase("game", user)+"/type/0/takeover", byIdentifier("1", user+"-b"))
		}
		for i, path := range paths {
			go func() {
				results <- result{fmt.Sprintf("racer-%d", i/2), f.gs2Send(t, gs2Call{method: http.MethodDelete, path: path, header: hdr})}
			}()
		}
		statuses := map[string][]int{}
		for range paths {
			res := <-results
			statuses[res.user] = append(statuses[res.user], res.r.Status)
			if res.r.Status != http.StatusOK && res.r.Status != http.StatusConflict {
				t.Errorf("concurrent delete of %s: %d %s", res.user, res.r.Status, res.r.Raw)
			}
		}
		for i := range users {
			user := fmt.Sprintf("racer-%d", i)
			ok := 0
			for _, s := range statuses[user] {
				if s == http.StatusOK {
					ok++
				}
			}
			its := tkoItems(t, f.gs2Send(t, gs2Call{method: http.MethodGet, path: tkoBase("game", user), header: hdr}))
			if ok != 1 || len(its) != 1 {
				t.Errorf("%s: statuses %v, %d links left; want one delete and one link", user, statuses[user], len(its))
			}
		}
	})
}

func TestGS2DoTakeOver(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		clientID, project := f.gs2Project(t, "game")
		hdr := trusted(clientID, project)
		nsID := mustNamespace(t, f, "game").ID
		const oldPassword = "the-old-device-account-password"
		userA := f.tkoAccount(t, nsID, oldPassword)
		f.tkoLink(t, nsID, userA, 0, "old-phone@example.com", "s3cret")
		before, err := f.Store.GetAccount(t.Context(), nsID, userA)
		if err != nil {
			t.Fatal(err)
		}
		otherID, otherProject := f.gs2Project(t, "other")

		for _, tc := range []struct {
			name, ns, slot, ident, password string
			header                          map[string]string
			status                          int
			component, code                 string
		}{
			{"wrong password", "game", "0", "old-phone@example.com", "s3cret!", hdr, http.StatusUnauthorized, "account", "account.password.invalid"},
			{"no password", "game", "0", "old-phone@example.com", "", hdr, http.StatusUnauthorized, "account", "account.password.invalid"},
			{"unknown identifier", "game", "0", "nobody@example.com", "s3cret", hdr, http.StatusUnauthorized, "account", "account.password.invalid"},
			{"another namespace", "other", "0", "old-phone@example.com", "s3cret", trusted(otherID, otherProject), http.StatusUnauthorized, "account", "account.password.invalid"},
			{"type null", "game", "null", "old-phone@example.com", "s3cret", hdr, http.StatusBadRequest, "takeOver", ""},
			{"type 1025", "game", "1025", "old-phone@example.com", "s3cret", hdr, http.StatusBadRequest, "takeOver", ""},
			{"no project token", "game", "0", "old-phone@example.com", "s3cret", nil, http.StatusUnauthorized, "accessToken", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tkoRefused(t, f.tkoDo(t, tc.header, tc.ns, tc.slot, tc.ident, tc.password), tc.status, tc.component, tc.code)
			})
		}
		// The refusals left the account's password alone.
		if after, err := f.Store.GetAccount(t.Context(), nsID, userA); err != nil || string(after.PasswordHash) != string(before.PasswordHash) {
			t.Fatalf("the account's password changed on refusals (err %v)", err)
		}

		r := f.tkoDo(t, hdr, "game", "0", "old-phone@example.com", "s3cret")
		if r.Status != http.StatusOK {
			t.Fatalf("doTakeOver: %d %s", r.Status, r.Raw)
		}
		got := item(t, r)
		newPassword, _ := got["password"].(string)
		if !accountPassword.MatchString(newPassword) || newPassword == oldPassword {
			t.Errorf("password %q, want a new 32 alphanumerics", newPassword)
		}
		if got["userId"] != userA || got["accountId"] != accountGRN("game", userA) || got["createdAt"] != float64(before.CreatedAt.UnixMilli()) {
			t.Errorf("item %v, want the account of %s", got, userA)
		}
		if got["banned"] != false {
			t.Errorf("banned %v", got["banned"])
		}
		// The new device holds the account; the old one's password is dead.
		if r := f.gs2Authenticate(t, hdr, "game", userA, defaultKeyID, newPassword); r.Status != http.StatusOK || item(t, r)["userId"] != userA {
			t.Errorf("authentication with the new password: %d %s", r.Status, r.Raw)
		}
		tkoRefused(t, f.gs2Authenticate(t, hdr, "game", userA, defaultKeyID, oldPassword), http.StatusUnauthorized, "account", "account.password.invalid")
		// The takeover itself stays.
		tkoWant(t, item(t, f.tkoGet(t, hdr, "game", userA, "0")), "game", userA, 0, "old-phone@example.com", 1)

		// A user without an account (GS2-Auth's login) gets one.
		f.tkoPlayer(t, hdr, "no-account")
		f.tkoLink(t, nsID, "no-account", 4, "no-account@example.com", "pw4")
		r = f.tkoDo(t, hdr, "game", "4", "no-account@example.com", "pw4")
		if r.Status != http.StatusOK {
			t.Fatalf("doTakeOver of a user without an account: %d %s", r.Status, r.Raw)
		}
		got = item(t, r)
		pw, _ := got["password"].(string)
		if got["userId"] != "no-account" || got["accountId"] != accountGRN("game", "no-account") || !accountPassword.MatchString(pw) {
			t.Errorf("item %v", got)
		}
		aboutNow(t, f, "createdAt", got["createdAt"])
		if r := f.gs2Send(t, gs2Call{method: http.MethodGet, path: "/gs2/account/game/account/no-account", header: hdr}); r.Status != http.StatusOK || item(t, r)["userId"] != "no-account" {
			t.Errorf("getAccount of the new account: %d %s", r.Status, r.Raw)
		}
	})
}
