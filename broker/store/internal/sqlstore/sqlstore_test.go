package sqlstore

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/keys"
	"github.com/bridgekeeper/bridgekeeper/broker/store/retry"
)

func TestErrorsWrap(t *testing.T) {
	driver := errors.New("driver says no")
	for _, tc := range []struct {
		name       string
		kind       Kind
		want       error // a sentinel in the chain; nil: none
		keepDriver bool
		busy       bool
	}{
		{"should be not found without the driver's error", NoRows, broker.ErrNotFound, false, false},
		{"should be already exists", Duplicate, broker.ErrAlreadyExists, true, false},
		{"should be busy and unavailable", Busy, broker.ErrUnavailable, true, true},
		{"should be unavailable", Unavailable, broker.ErrUnavailable, true, false},
		{"should keep another error as it is", Other, nil, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := Errors{Backend: "db", Classify: func(error) Kind { return tc.kind }}
			err := e.Wrap("get thing", driver)
			if !strings.HasPrefix(err.Error(), "db: get thing: ") {
				t.Errorf("message %q lacks the backend and op", err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.want)
			}
			for _, s := range []error{broker.ErrNotFound, broker.ErrAlreadyExists, broker.ErrUnavailable, broker.ErrConflict} {
				if s != tc.want && errors.Is(err, s) {
					t.Errorf("%v is also %v", err, s)
				}
			}
			if errors.Is(err, driver) != tc.keepDriver {
				t.Errorf("driver error in the chain: %v, want %v", errors.Is(err, driver), tc.keepDriver)
			}
			if retry.IsBusy(err) != tc.busy {
				t.Errorf("retry.IsBusy = %v, want %v", retry.IsBusy(err), tc.busy)
			}
		})
	}
	e := Errors{Backend: "db", Classify: func(error) Kind { t.Fatal("classified nil"); return Other }}
	if err := e.Wrap("op", nil); err != nil {
		t.Errorf("Wrap(nil) = %v", err)
	}
}

func TestErrorsAffectedOne(t *testing.T) {
	e := Errors{Backend: "db", Classify: func(error) Kind { return Duplicate }}
	for _, tc := range []struct {
		name     string
		affected int64
		err      error
		want     error
	}{
		{"should succeed because a row changed", 1, nil, nil},
		{"should be not found because no row changed", 0, nil, broker.ErrNotFound},
		{"should wrap the statement's error", 0, errors.New("dup"), broker.ErrAlreadyExists},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := e.AffectedOne("update thing", tc.affected, tc.err)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("AffectedOne = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestLists(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      []string
		want    string
		wantErr bool
	}{
		{"should join items with spaces", []string{"a", "b:c"}, "a b:c", false},
		{"should join nothing as empty", nil, "", false},
		{"should refuse an empty item", []string{"a", ""}, "", true},
		{"should refuse an item with a space", []string{"a b"}, "", true},
		{"should refuse an item with a tab", []string{"a\tb"}, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := JoinList("scope", tc.in)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("JoinList(%q) = %q, %v", tc.in, got, err)
			}
			if err == nil && !reflect.DeepEqual(SplitList(got), tc.in) {
				t.Errorf("SplitList(%q) = %q, want %q", got, SplitList(got), tc.in)
			}
		})
	}
	if _, _, _, _, err := ClientLists(broker.Client{Grants: []string{"x"}, RedirectURIs: []string{"https://a/ b"}}); err == nil ||
		!strings.Contains(err.Error(), "redirect URI") {
		t.Errorf("ClientLists with a bad redirect URI: %v", err)
	}
}

// plainTimes keeps a time.Time as it is, so that fakeRow can hand ...Args
// back to Scan....
type plainTimes struct{}

func (plainTimes) Arg(t time.Time) any       { return t }
func (plainTimes) Dest(t *time.Time) any     { return t }
func (plainTimes) NullDest(t *time.Time) any { return t }

// fakeRow is a row whose columns are the values given, assigned as
// database/sql would: NULL into a pointer or slice is nil, a value into a
// pointer is allocated.
type fakeRow []any

func (r fakeRow) Scan(dest ...any) error {
	if len(dest) != len(r) {
		return fmt.Errorf("%d destinations for %d columns", len(dest), len(r))
	}
	for i, d := range dest {
		dv := reflect.ValueOf(d).Elem()
		if r[i] == nil {
			dv.SetZero()
			continue
		}
		v := reflect.ValueOf(r[i])
		if dv.Kind() == reflect.Pointer {
			p := reflect.New(dv.Type().Elem())
			p.Elem().Set(v.Convert(dv.Type().Elem()))
			dv.Set(p)
			continue
		}
		dv.Set(v.Convert(dv.Type()))
	}
	return nil
}

// TestCodecRoundTrip checks that each ...Args and Scan... agree with each
// other on the order of the column list: what goes in comes back.
func TestCodecRoundTrip(t *testing.T) {
	c := Codec{Times: plainTimes{}}
	t0 := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	t1 := t0.Add(time.Hour)
	for _, tc := range []struct {
		name    string
		in      any
		scan    func(Row) (any, error)
		columns string
	}{
		{"namespace", broker.Namespace{ID: "n", Name: "alpha", CreatedAt: t0},
			func(r Row) (any, error) { return c.ScanNamespace(r) }, NamespaceColumns},
		{"client", broker.Client{ID: "c", NamespaceID: "n", Name: "app", SecretHash: []byte{1}, Public: false,
			Grants: []string{"authorization_code", "refresh_token"}, Scopes: []string{"openid"}, RedirectURIs: []string{"https://a/cb"},
			AccessTTL: time.Minute, RefreshTTL: time.Hour, CustomIDSlot: 3, RateLimit: 2.5, NoCreateUsers: true,
			JWKS: `{"keys":[]}`, JWKSURI: "https://a/jwks", RequireDPoP: true, Resources: []string{"https://api.example/"},
			CreatedAt: t0, UpdatedAt: t1},
			func(r Row) (any, error) { return c.ScanClient(r) }, ClientColumns},
		{"public client", broker.Client{ID: "c", NamespaceID: "n", Public: true, CreatedAt: t0, UpdatedAt: t0},
			func(r Row) (any, error) { return c.ScanClient(r) }, ClientColumns},
		{"user", broker.User{ID: "u", NamespaceID: "n", CreatedAt: t0},
			func(r Row) (any, error) { return c.ScanUser(r) }, UserColumns},
		{"link", broker.Link{NamespaceID: "n", Slot: 2, Identifier: "id", UserID: "u", CreatedAt: t0, PasswordHash: []byte("h"), Revision: 1},
			func(r Row) (any, error) { return c.ScanLink(r) }, LinkColumns},
		{"account", broker.Account{UserID: "u", NamespaceID: "n", PasswordHash: []byte("h"), TimeOffset: -60, CreatedAt: t0},
			func(r Row) (any, error) { return c.ScanAccount(r) }, AccountColumns},
		{"auth request", broker.AuthRequest{Hash: []byte{1}, ClientID: "c", NamespaceID: "n", RedirectURI: "https://a/cb", Scope: "openid",
			State: "s", CodeChallenge: "cc", Nonce: "no", Provider: "p", LinkUserID: "u", Resource: "https://api.example/", DeviceCode: "ab", CreatedAt: t0, ExpiresAt: t1},
			func(r Row) (any, error) { return c.ScanAuthRequest(r) }, AuthRequestColumns},
		{"auth code", broker.AuthCode{Hash: []byte{1}, ClientID: "c", NamespaceID: "n", UserID: "u", RedirectURI: "https://a/cb",
			Scope: "openid", Nonce: "no", CodeChallenge: "cc", AuthTime: t0, CreatedAt: t0, ExpiresAt: t1, UsedAt: t1, FamilyID: "f",
			Resource: "https://api.example/"},
			func(r Row) (any, error) { return c.ScanAuthCode(r) }, AuthCodeColumns},
		{"refresh token", broker.RefreshToken{Key: []byte{9}, Hash: []byte{1}, FamilyID: "f", ClientID: "c", UserID: "u", NamespaceID: "n",
			Scope: "openid", TimeOffset: 30, Resource: "https://api.example/", JKT: "thumb", CreatedAt: t0, ExpiresAt: t1, FamilyRevoked: true},
			func(r Row) (any, error) { return c.ScanRefreshToken(r, []byte{1}) }, RefreshTokenColumns},
		{"device code", broker.DeviceCode{DeviceHash: []byte{1}, UserHash: []byte{2}, ClientID: "c", NamespaceID: "n", Scope: "openid",
			Resource: "https://api.example/", Status: broker.DeviceApproved, UserID: "u", AuthTime: t0, Interval: 5 * time.Second,
			LastPollAt: t1, CreatedAt: t0, ExpiresAt: t1},
			func(r Row) (any, error) { return c.ScanDeviceCode(r) }, DeviceCodeColumns},
		{"pending device code", broker.DeviceCode{DeviceHash: []byte{1}, UserHash: []byte{2}, Status: broker.DevicePending,
			Interval: 5 * time.Second, CreatedAt: t0, ExpiresAt: t1},
			func(r Row) (any, error) { return c.ScanDeviceCode(r) }, DeviceCodeColumns},
		{"signing key", keys.SigningKey{ID: "k", Alg: "ES256", Sealed: []byte{1}, CreatedAt: t0, RetiredAt: t1, PublishUntil: t1, ActivatesAt: t1},
			func(r Row) (any, error) { return c.ScanSigningKey(r) }, SigningKeyColumns},
		{"ban", broker.Ban{UserID: "u", Name: "cheat", Reason: "r", ReleaseAt: t1, CreatedAt: t0},
			func(r Row) (any, error) { return c.ScanBan(r) }, BanColumns},
	} {
		t.Run("should give back a "+tc.name, func(t *testing.T) {
			var row fakeRow
			switch m := tc.in.(type) {
			case broker.Namespace:
				row = c.NamespaceArgs(m)
			case broker.Client:
				args, err := c.ClientArgs(m)
				if err != nil {
					t.Fatal(err)
				}
				row = args
			case broker.User:
				row = append(c.UserArgs(m), nil) // no nickname yet
			case broker.Link:
				row = append(c.LinkArgs(m), int64(1)) // the INSERT sets revision 1
			case broker.Account:
				row = c.AccountArgs(m)
			case broker.AuthRequest:
				row = c.AuthRequestArgs(m)
			case broker.AuthCode:
				row = c.AuthCodeArgs(m)
			case broker.RefreshToken:
				row = append(c.RefreshTokenArgs(m), m.FamilyRevoked)
			case keys.SigningKey:
				row = c.SigningKeyArgs(m)
			case broker.Ban:
				row = c.BanArgs(m)
			case broker.DeviceCode:
				row = c.DeviceCodeArgs(m)
			}
			if n := len(strings.Split(tc.columns, ",")); len(row) < n {
				t.Fatalf("%d arguments for %d columns", len(row), n)
			}
			got, err := tc.scan(row)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.in) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, tc.in)
			}
		})
	}
}

// TestScanRefreshTokenViews: a family's row read for each token it knows.
func TestScanRefreshTokenViews(t *testing.T) {
	c := Codec{Times: plainTimes{}}
	started := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	rotated, t2, expires := started.Add(time.Hour), started.Add(2*time.Hour), started.Add(24*time.Hour)
	row := fakeRow{[]byte("key"), []byte("cur"), []byte("prev"), "f", "c", "u", "n", "openid",
		0, "", "", t2, started, expires, rotated, false}
	for _, tc := range []struct {
		name             string
		hash             string
		created, spentAt time.Time
	}{
		{"the current token is unspent, created at the last rotation", "cur", t2, time.Time{}},
		{"the token it replaced was spent at the last rotation", "prev", started, rotated},
		{"an older token was spent, as far as is known, at the start", "older", started, started},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.ScanRefreshToken(row, []byte(tc.hash))
			if err != nil {
				t.Fatal(err)
			}
			if string(got.Key) != "key" || string(got.Hash) != tc.hash || !got.CreatedAt.Equal(tc.created) ||
				!got.SpentAt.Equal(tc.spentAt) || !got.ExpiresAt.Equal(expires) {
				t.Fatalf("view of %s = %+v; want created %v, spent %v", tc.hash, got, tc.created, tc.spentAt)
			}
		})
	}
}

func TestScanUserNickname(t *testing.T) {
	c := Codec{Times: plainTimes{}}
	u, err := c.ScanUser(fakeRow{"u", "n", time.Time{}, "nick"})
	if err != nil || u.Nickname != "nick" {
		t.Errorf("ScanUser = %+v, %v; want nickname nick", u, err)
	}
}

func TestScanAttribute(t *testing.T) {
	c := Codec{Times: plainTimes{}}
	at := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	want := broker.Attribute{Key: "k", Value: `"v"`, Type: "client", Permission: "public", ReadOnly: true, UpdatedAt: at}
	got, err := c.ScanAttribute(fakeRow{"k", `"v"`, "client", "public", true, at})
	if err != nil || got != want {
		t.Errorf("ScanAttribute = %+v, %v; want %+v", got, err, want)
	}
}
