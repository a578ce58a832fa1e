package web_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// defaultKeyID is the GS2 key every broker holds.
const defaultKeyID = "grn:gs2:ap-northeast-1:bridgekeeper:key:default:key:default"

var accountPassword = regexp.MustCompile(`^[A-Za-z0-9]{32}$`)

// accountGRN is the accountId of userID in namespace ns.
func accountGRN(ns, userID string) string {
	return "grn:gs2:ap-northeast-1:bridgekeeper:account:" + ns + ":account:" + userID
}

// item is the "item" object of a GS2 answer.
func item(t *testing.T, r response) map[string]any {
	t.Helper()
	it, ok := r.Body["item"].(map[string]any)
	if !ok {
		t.Fatalf("no item: %d %s", r.Status, r.Raw)
	}
	return it
}

// gs2CreateAccount is createAccount in ns that must succeed; it returns the
// item (with its password).
func (f *fixture) gs2CreateAccount(t *testing.T, hdr map[string]string, ns string) map[string]any {
	t.Helper()
	r := f.gs2Send(t, gs2Call{path: "/gs2/account/" + ns + "/account", body: `{"contextStack":null}`, header: hdr})
	if r.Status != http.StatusOK {
		t.Fatalf("createAccount: %d %s", r.Status, r.Raw)
	}
	return item(t, r)
}

// gs2Authenticate is authentication of userID in ns with keyID and password.
func (f *fixture) gs2Authenticate(t *testing.T, hdr map[string]string, ns, userID, keyID, password string) response {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"keyId": keyID, "password": password})
	return f.gs2Send(t, gs2Call{method: http.MethodPut, path: "/gs2/account/" + ns + "/account/" + userID, body: string(body), header: hdr})
}

// gs2SignedPair authenticates and returns the body/signature pair.
func (f *fixture) gs2SignedPair(t *testing.T, hdr map[string]string, ns, userID, keyID, password string) (string, string) {
	t.Helper()
	r := f.gs2Authenticate(t, hdr, ns, userID, keyID, password)
	if r.Status != http.StatusOK || r.str("body") == "" || r.str("signature") == "" {
		t.Fatalf("authentication: %d %s", r.Status, r.Raw)
	}
	return r.str("body"), r.str("signature")
}

func (f *fixture) gs2LoginBySignature(t *testing.T, hdr map[string]string, keyID, body, signature string) response {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"keyId": keyID, "body": body, "signature": signature})
	return f.gs2Send(t, gs2Call{path: "/gs2/auth/login/signed", body: string(b), header: hdr})
}

// aboutNow checks a Unix-ms timestamp against the fixture's clock.
func aboutNow(t *testing.T, f *fixture, name string, v any) {
	t.Helper()
	ms, ok := v.(float64)
	now := f.Clock.Now().UnixMilli()
	if !ok || ms < float64(now-5000) || ms > float64(now+5000) {
		t.Errorf("%s %v, want about %d (Unix ms)", name, v, now)
	}
}

func TestGS2CreateAccount(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		clientID, project := f.gs2Project(t, "game")
		hdr := trusted(clientID, project)
		a := f.gs2CreateAccount(t, hdr, "game")
		userID, _ := a["userId"].(string)
		if u, err := uuid.Parse(userID); err != nil || u.String() != userID {
			t.Errorf("userId %q is not a UUID: %v", userID, err)
		}
		if pw, _ := a["password"].(string); !accountPassword.MatchString(pw) {
			t.Errorf("password %q is not 32 alphanumerics", pw)
		}
		if a["accountId"] != accountGRN("game", userID) {
			t.Errorf("accountId %v, want %s", a["accountId"], accountGRN("game", userID))
		}
		aboutNow(t, f, "createdAt", a["createdAt"])
		if bs, ok := a["banStatuses"].([]any); !ok || len(bs) != 0 || a["banned"] != false {
			t.Errorf("banStatuses %v, banned %v", a["banStatuses"], a["banned"])
		}
		if _, ok := a["lastAuthenticatedAt"]; ok {
			t.Errorf("lastAuthenticatedAt %v before any authentication", a["lastAuthenticatedAt"])
		}
		// Two accounts never share a user ID or a password.
		b := f.gs2CreateAccount(t, hdr, "game")
		if b["userId"] == a["userId"] || b["password"] == a["password"] {
			t.Errorf("two accounts alike: %v and %v", a, b)
		}
		// Only the store's bcrypt hash of the password is kept.
		stored, err := f.Store.GetAccount(t.Context(), mustNamespace(t, f, "game").ID, userID)
		if err != nil {
			t.Fatal(err)
		}
		if bcrypt.CompareHashAndPassword(stored.PasswordHash, []byte(a["password"].(string))) != nil {
			t.Errorf("stored hash %q does not match the password", stored.PasswordHash)
		}

		f.gs2Project(t, "other")
		for _, tc := range []struct {
			name, ns string
			header   map[string]string
			status   int
			comp     string
		}{
			{"another client's namespace", "other", hdr, http.StatusNotFound, "namespace"},
			{"unknown namespace", "nowhere", hdr, http.StatusNotFound, "namespace"},
			{"no project token", "game", nil, http.StatusUnauthorized, "accessToken"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := f.gs2Send(t, gs2Call{path: "/gs2/account/" + tc.ns + "/account", header: tc.header})
				checkGS2Error(t, r, tc.status, tc.comp)
			})
		}
	})
}

func mustNamespace(t *testing.T, f *fixture, name string) broker.Namespace {
	t.Helper()
	ns, err := f.Store.GetNamespaceByName(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

func TestGS2GetAccount(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		clientID, project := f.gs2Project(t, "game")
		hdr := trusted(clientID, project)
		a := f.gs2CreateAccount(t, hdr, "game")
		userID := a["userId"].(string)
		otherID, otherProject := f.gs2Project(t, "other")
		elsewhere := f.gs2CreateAccount(t, trusted(otherID, otherProject), "other")["userId"].(string)
		for _, tc := range []struct {
			name, ns, userID string
			header           map[string]string
			status           int
			comp             string
		}{
			{"own account", "game", userID, hdr, http.StatusOK, ""},
			{"unknown userId", "game", uuid.NewString(), hdr, http.StatusNotFound, "account"},
			{"userId null", "game", "null", hdr, http.StatusNotFound, "account"},
			{"account of another namespace", "game", elsewhere, hdr, http.StatusNotFound, "account"},
			{"another client's namespace", "other", elsewhere, hdr, http.StatusNotFound, "namespace"},
			{"no project token", "game", userID, nil, http.StatusUnauthorized, "accessToken"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := f.gs2Send(t, gs2Call{method: http.MethodGet, path: "/gs2/account/" + tc.ns + "/account/" + tc.userID, header: tc.header})
				if tc.status != http.StatusOK {
					checkGS2Error(t, r, tc.status, tc.comp)
					return
				}
				if r.Status != http.StatusOK {
					t.Fatalf("%d %s", r.Status, r.Raw)
				}
				got := item(t, r)
				if _, ok := got["password"]; ok || strings.Contains(r.Raw, a["password"].(string)) {
					t.Errorf("getAccount returned the password: %s", r.Raw)
				}
				for _, k := range []string{"userId", "accountId", "createdAt", "timeOffset", "banned"} {
					if got[k] != a[k] {
						t.Errorf("%s %v, createAccount said %v", k, got[k], a[k])
					}
				}
			})
		}
	})
}

func TestGS2Authentication(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		clientID, project := f.gs2Project(t, "game")
		hdr := trusted(clientID, project)
		a := f.gs2CreateAccount(t, hdr, "game")
		userID, password := a["userId"].(string), a["password"].(string)
		otherID, otherProject := f.gs2Project(t, "other")
		b := f.gs2CreateAccount(t, trusted(otherID, otherProject), "other")
		wrong := []byte(password)
		wrong[0] ^= 1
		for _, tc := range []struct {
			name, ns, userID, keyID, password string
			header                            map[string]string
			status                            int
			comp, code                        string
		}{
			{"right password", "game", userID, defaultKeyID, password, hdr, http.StatusOK, "", ""},
			{"right password, keyId absent", "game", userID, "", password, hdr, http.StatusOK, "", ""},
			{"wrong password", "game", userID, defaultKeyID, string(wrong), hdr, http.StatusUnauthorized, "account", "account.password.invalid"},
			{"no password", "game", userID, defaultKeyID, "", hdr, http.StatusUnauthorized, "account", "account.password.invalid"},
			{"unknown userId", "game", uuid.NewString(), defaultKeyID, password, hdr, http.StatusNotFound, "account", ""},
			{"account of another namespace", "game", b["userId"].(string), defaultKeyID, b["password"].(string), hdr, http.StatusNotFound, "account", ""},
			{"another client's namespace", "other", b["userId"].(string), defaultKeyID, b["password"].(string), hdr, http.StatusNotFound, "namespace", ""},
			{"no project token", "game", userID, defaultKeyID, password, nil, http.StatusUnauthorized, "accessToken", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := f.gs2Authenticate(t, tc.header, tc.ns, tc.userID, tc.keyID, tc.password)
				if tc.status != http.StatusOK {
					it := checkGS2Error(t, r, tc.status, tc.comp)
					if tc.code != "" && it.Code != tc.code {
						t.Errorf("code %q, want %q", it.Code, tc.code)
					}
					return
				}
				if r.Status != http.StatusOK || r.str("body") == "" || r.str("signature") == "" {
					t.Fatalf("%d %s", r.Status, r.Raw)
				}
				if bs, ok := r.Body["banStatuses"].([]any); !ok || len(bs) != 0 {
					t.Errorf("banStatuses %v", r.Body["banStatuses"])
				}
				got := item(t, r)
				if got["userId"] != userID || got["accountId"] != accountGRN("game", userID) {
					t.Errorf("item %v", got)
				}
				if _, ok := got["password"]; ok {
					t.Errorf("authentication returned the password: %s", r.Raw)
				}
				aboutNow(t, f, "lastAuthenticatedAt", got["lastAuthenticatedAt"])
				// getAccount sees the authentication too.
				g := f.gs2Send(t, gs2Call{method: http.MethodGet, path: "/gs2/account/game/account/" + userID, header: hdr})
				aboutNow(t, f, "getAccount lastAuthenticatedAt", item(t, g)["lastAuthenticatedAt"])
			})
		}
	})
}

// tamper changes one character of s at i.
func tamper(s string, i int) string {
	b := []byte(s)
	if b[i] == 'A' {
		b[i] = 'B'
	} else if b[i] == '9' {
		b[i] = '1'
	} else if b[i] >= '0' && b[i] <= '8' {
		b[i]++
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func TestGS2LoginBySignature(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		clientID, project := f.gs2Project(t, "game")
		hdr := trusted(clientID, project)
		a := f.gs2CreateAccount(t, hdr, "game")
		userID, password := a["userId"].(string), a["password"].(string)
		body, sig := f.gs2SignedPair(t, hdr, "game", userID, defaultKeyID, password)
		const otherKey = "grn:gs2:ap-northeast-1:bridgekeeper:key:game:key:other"
		// A later authentication signs another body (a later iat).
		f.Clock.Advance(time.Second)
		_, otherSig := f.gs2SignedPair(t, hdr, "game", userID, defaultKeyID, password)
		if r := f.gs2Authenticate(t, hdr, "game", userID, otherKey, password); r.Status != http.StatusNotFound {
			t.Errorf("authentication with a key the broker does not hold: %d %s", r.Status, r.Raw)
		}
		otherID, otherProject := f.gs2Project(t, "other")
		exp := strings.Index(body, `"exp":`)
		if exp < 0 {
			t.Fatalf("body %q has no exp to tamper with", body)
		}
		for _, tc := range []struct {
			name, keyID, body, sig string
			header                 map[string]string
			status                 int
		}{
			{"the pair", defaultKeyID, body, sig, hdr, http.StatusOK},
			{"the pair, keyId absent", "", body, sig, hdr, http.StatusOK},
			{"body tampered (expiry)", defaultKeyID, tamper(body, exp+len(`"exp":`)), sig, hdr, http.StatusUnauthorized},
			{"body tampered (first character)", defaultKeyID, " " + body[1:], sig, hdr, http.StatusUnauthorized},
			{"signature tampered", defaultKeyID, body, tamper(sig, 0), hdr, http.StatusUnauthorized},
			{"signature of another body", defaultKeyID, body, otherSig, hdr, http.StatusUnauthorized},
			{"pair used with a keyId the broker does not hold", otherKey, body, sig, hdr, http.StatusNotFound},
			{"empty signature", defaultKeyID, body, "", hdr, http.StatusUnauthorized},
			{"garbage", defaultKeyID, "garbage", "garbage", hdr, http.StatusUnauthorized},
			{"pair used by another namespace's client", defaultKeyID, body, sig, trusted(otherID, otherProject), http.StatusUnauthorized},
			{"no project token", defaultKeyID, body, sig, nil, http.StatusUnauthorized},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := f.gs2LoginBySignature(t, tc.header, tc.keyID, tc.body, tc.sig)
				if tc.status == http.StatusNotFound {
					checkGS2Error(t, r, tc.status, "key")
					return
				}
				if tc.status != http.StatusOK {
					checkGS2Error(t, r, tc.status, "accessToken")
					return
				}
				if r.Status != http.StatusOK || r.str("token") == "" {
					t.Fatalf("%d %s", r.Status, r.Raw)
				}
				c := jwtPayload(t, r.str("token"))
				if r.str("userId") != userID || c["userId"] != userID || c["sub"] != userID {
					t.Errorf("answer %s, claims %v", r.Raw, c)
				}
				exp, _ := r.Body["expire"].(float64)
				if want := f.Clock.Now().Add(time.Hour).UnixMilli(); exp < float64(want-5000) || exp > float64(want+5000) {
					t.Errorf("expire %v, want about %d (Unix ms)", exp, want)
				}
			})
		}
	})
}

// TestGS2SignedPairExpires: a body/signature pair lives an hour.
func TestGS2SignedPairExpires(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		id, secret := f.client(t, gameServer("game"))
		hdr := trusted(id, f.gs2ProjectToken(t, id, secret))
		a := f.gs2CreateAccount(t, hdr, "game")
		body, sig := f.gs2SignedPair(t, hdr, "game", a["userId"].(string), defaultKeyID, a["password"].(string))
		f.Clock.Advance(59 * time.Minute)
		hdr = trusted(id, f.gs2ProjectToken(t, id, secret))
		if r := f.gs2LoginBySignature(t, hdr, defaultKeyID, body, sig); r.Status != http.StatusOK {
			t.Fatalf("59 minutes on: %d %s", r.Status, r.Raw)
		}
		f.Clock.Advance(2 * time.Minute)
		hdr = trusted(id, f.gs2ProjectToken(t, id, secret)) // the old project token expired too
		checkGS2Error(t, f.gs2LoginBySignature(t, hdr, defaultKeyID, body, sig), http.StatusUnauthorized, "accessToken")
	})
}

// TestGS2DescribeAccounts pages through 2,500 accounts (made in the store
// directly: bcrypt at the API's cost would take minutes under -race).
func TestGS2DescribeAccounts(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		clientID, project := f.gs2Project(t, "bulk")
		hdr := trusted(clientID, project)
		ns := mustNamespace(t, f, "bulk")
		hash, err := bcrypt.GenerateFromPassword([]byte("anything"), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		const total = 2500
		want := make(map[string]bool, total)
		now := f.Clock.Now()
		err = f.Store.InTx(t.Context(), func(tx broker.Store) error {
			for range total {
				id := uuid.NewString()
				want[id] = true
				if err := tx.CreateUser(t.Context(), broker.User{ID: id, NamespaceID: ns.ID, CreatedAt: now}); err != nil {
					return err
				}
				if err := tx.CreateAccount(t.Context(), broker.Account{UserID: id, NamespaceID: ns.ID, PasswordHash: hash, CreatedAt: now}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// Another namespace's accounts never show.
		otherID, otherProject := f.gs2Project(t, "other")
		f.gs2CreateAccount(t, trusted(otherID, otherProject), "other")

		list := func(t *testing.T, query string, header map[string]string) response {
			t.Helper()
			return f.gs2Send(t, gs2Call{method: http.MethodGet, path: "/gs2/account/bulk/account" + query, header: header})
		}
		items := func(t *testing.T, r response) []map[string]any {
			t.Helper()
			if r.Status != http.StatusOK {
				t.Fatalf("%d %s", r.Status, r.Raw)
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

		t.Run("pages of 1000", func(t *testing.T) {
			seen := map[string]bool{}
			var sizes []int
			token := ""
			for page := 0; ; page++ {
				if page > 5 {
					t.Fatalf("no end after %d pages", page)
				}
				q := "?limit=1000"
				if token != "" {
					q += "&pageToken=" + token
				}
				r := list(t, q, hdr)
				its := items(t, r)
				sizes = append(sizes, len(its))
				for _, it := range its {
					id, _ := it["userId"].(string)
					if seen[id] {
						t.Errorf("page %d: %s again", page, id)
					}
					seen[id] = true
					if !want[id] {
						t.Errorf("page %d: %s is not one of the namespace's accounts", page, id)
					}
					if _, ok := it["password"]; ok {
						t.Errorf("describeAccounts returned a password: %v", it)
					}
					if it["accountId"] != accountGRN("bulk", id) {
						t.Errorf("accountId %v", it["accountId"])
					}
				}
				next, present := r.Body["nextPageToken"]
				if !present {
					break
				}
				if token, _ = next.(string); token == "" {
					t.Fatalf("nextPageToken %v", next)
				}
			}
			if fmt.Sprint(sizes) != "[1000 1000 500]" {
				t.Errorf("page sizes %v, want [1000 1000 500]", sizes)
			}
			if len(seen) != total {
				t.Errorf("%d distinct accounts listed, want %d", len(seen), total)
			}
		})

		first := items(t, list(t, "", hdr))
		for _, tc := range []struct {
			name, query string
			header      map[string]string
			status, n   int
			next        bool
			field       string // the refused field
		}{
			{"default limit 30", "", hdr, http.StatusOK, 30, true, ""},
			{"null limit and pageToken", "?limit=null&pageToken=null", hdr, http.StatusOK, 30, true, ""},
			{"empty limit", "?limit=", hdr, http.StatusOK, 30, true, ""},
			{"limit 1", "?limit=1", hdr, http.StatusOK, 1, true, ""},
			{"limit 1000", "?limit=1000", hdr, http.StatusOK, 1000, true, ""},
			{"limit 0", "?limit=0", hdr, http.StatusBadRequest, 0, false, "limit"},
			{"limit 1001", "?limit=1001", hdr, http.StatusBadRequest, 0, false, "limit"},
			{"limit -1", "?limit=-1", hdr, http.StatusBadRequest, 0, false, "limit"},
			{"limit not a number", "?limit=ten", hdr, http.StatusBadRequest, 0, false, "limit"},
			{"garbage pageToken", "?pageToken=%21%21%21", hdr, http.StatusBadRequest, 0, false, "pageToken"},
			{"no project token", "", nil, http.StatusUnauthorized, 0, false, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := list(t, tc.query, tc.header)
				if tc.status == http.StatusUnauthorized {
					checkGS2Error(t, r, tc.status, "accessToken")
					return
				}
				if tc.status != http.StatusOK {
					it := checkGS2Error(t, r, tc.status, "account")
					if !strings.HasSuffix(it.Message, "."+tc.field+".error.invalid") {
						t.Errorf("message %q, want the %s refused", it.Message, tc.field)
					}
					return
				}
				its := items(t, r)
				if len(its) != tc.n {
					t.Errorf("%d items, want %d", len(its), tc.n)
				}
				if _, ok := r.Body["nextPageToken"]; ok != tc.next {
					t.Errorf("nextPageToken present %v, want %v", ok, tc.next)
				}
				if len(its) > 0 && its[0]["userId"] != first[0]["userId"] {
					t.Errorf("first item %v, want %v (the first page)", its[0]["userId"], first[0]["userId"])
				}
			})
		}
	})
}

// TestGS2DescribeAccountsEmpty: a namespace without accounts lists none,
// as an empty array.
func TestGS2DescribeAccountsEmpty(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, f *fixture) {
		clientID, project := f.gs2Project(t, "game")
		r := f.gs2Send(t, gs2Call{method: http.MethodGet, path: "/gs2/account/game/account", header: trusted(clientID, project)})
		if r.Status != http.StatusOK || !strings.Contains(r.Raw, `"items":[]`) || r.Body["nextPageToken"] != nil {
			t.Fatalf("%d %s", r.Status, r.Raw)
		}
	})
}
