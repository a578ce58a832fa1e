package broker_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/gs2"
	"github.com/bridgekeeper/bridgekeeper/broker/keys"
	"github.com/bridgekeeper/bridgekeeper/broker/store/sqlite"
	"github.com/bridgekeeper/bridgekeeper/internal/testdb"
)

// Hostile-input fuzz targets of access-token verification. Seeds are in
// testdata/fuzz/.

const fzIssuer = "http://fuzz.bridgekeeper.test"

// fzTokens is a broker on SQLite and the access tokens it issued.
type fzTokens struct {
	b      *broker.Broker
	auth   *gs2.Auth
	keys   *keys.Keyring
	issued map[string]bool
	// vars maps the placeholders of the seeds ({{client_token}},
	// {{client_header}}, {{client_payload}}, {{client_sig}}, the same for
	// user_ and federated_, {{id_token}}, {{kid}}) to their values.
	vars map[string]string
}

func newFzTokens(tb testing.TB) *fzTokens {
	tb.Helper()
	ctx := context.Background()
	path, err := sqlite.PathFromURL(testdb.SQLiteURL(tb))
	if err != nil {
		tb.Fatal(err)
	}
	store, err := sqlite.Open(ctx, path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	kek := make([]byte, keys.KEKSize)
	rand.Read(kek)
	secrets, err := keys.NewSecrets(kek)
	if err != nil {
		tb.Fatal(err)
	}
	keys := keys.NewKeyring(store, secrets, time.Now)
	if _, err := keys.EnsureActive(ctx, "ES256"); err != nil {
		tb.Fatal(err)
	}
	b := broker.New(broker.Config{Issuer: fzIssuer}, store, secrets, keys, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	c, _, err := broker.CreateClient(ctx, store, secrets, broker.ClientSpec{
		Namespace: "game", Name: "game server", Scopes: []string{"game"},
		Grants: []string{broker.GrantClientCredentials},
	}, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	client, err := b.IssueClientToken(ctx, c, c.Scopes, broker.Binding{})
	if err != nil {
		tb.Fatal(err)
	}
	auth := gs2.NewAuth(store, b, secrets, time.Now)
	user, err := auth.LoginUser(ctx, c, gs2.User{UserID: "fuzz-user", TimeOffset: 60})
	if err != nil {
		tb.Fatal(err)
	}
	fed, err := auth.Federate(ctx, c, "fuzz-user", gs2.User{UserID: "fuzz-federated"}, `{"Version":"2016-04-01","Statements":[`+
		`{"Effect":"Allow","Actions":["Gs2Account:*"],"Resources":["*"]},`+
		`{"Effect":"Deny","Actions":["Gs2Account:Delete*"],"Resources":["*"]}]}`)
	if err != nil {
		tb.Fatal(err)
	}
	// An ID token with the access token's claims: typ JWT, never an
	// access token.
	idToken, err := keys.SignIDToken(json.RawMessage(fzSegment(tb, user.AccessToken, 1)))
	if err != nil {
		tb.Fatal(err)
	}
	z := &fzTokens{b: b, auth: auth, keys: keys, issued: map[string]bool{}, vars: map[string]string{"{{id_token}}": idToken}}
	for name, tok := range map[string]string{"client": client.AccessToken, "user": user.AccessToken, "federated": fed.AccessToken} {
		z.issued[tok] = true
		parts := strings.Split(tok, ".")
		z.vars["{{"+name+"_token}}"] = tok
		z.vars["{{"+name+"_header}}"] = parts[0]
		z.vars["{{"+name+"_payload}}"] = parts[1]
		z.vars["{{"+name+"_sig}}"] = parts[2]
	}
	var h struct {
		Kid string `json:"kid"`
	}
	json.Unmarshal(fzSegment(tb, client.AccessToken, 0), &h)
	z.vars["{{kid}}"] = h.Kid
	return z
}

// fzSegment decodes part i of a compact JWS.
func fzSegment(tb testing.TB, token string, i int) []byte {
	tb.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[i])
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

func (z *fzTokens) expand(s string) string {
	if !strings.Contains(s, "{{") {
		return s
	}
	for k, v := range z.vars {
		s = strings.ReplaceAll(s, k, v)
	}
	return s
}

// FuzzVerifyAccessToken: broker.VerifyAccessToken (with keys.Keyring.Verify), Broker.VerifyAccess
// and Broker.Allowed on any string, and on mutations of real tokens. They
// must never accept anything but a token the broker issued, untouched: not
// even another spelling of it (white space, JSON serialization, lenient
// base64url).
func FuzzVerifyAccessToken(f *testing.F) {
	z := newFzTokens(f)
	// Mutations of real tokens; the testdata seeds make the same from
	// placeholders, this adds the ones that need computing.
	c := strings.Split(z.vars["{{client_token}}"], ".")
	u := strings.Split(z.vars["{{user_token}}"], ".")
	for _, s := range []string{
		z.vars["{{client_token}}"],
		z.vars["{{user_token}}"],
		z.vars["{{federated_token}}"],
		c[0] + "." + u[1] + "." + c[2], // another token's payload
		u[0] + "." + u[1] + "." + c[2], // another token's signature
		c[1] + "." + c[0] + "." + c[2], // header and payload swapped
		c[0] + "." + c[1] + "." + c[2][:len(c[2])-4],
		c[0] + "." + c[1] + ".",
		c[0] + "." + c[1],
		z.vars["{{id_token}}"],
	} {
		f.Add(s)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, token string) {
		token = z.expand(token)
		now := time.Now()
		issued := z.issued[token]
		if claims, err := broker.VerifyAccessToken(ctx, z.keys, token, fzIssuer, now); err == nil && !issued {
			t.Fatalf("VerifyAccessToken accepted a token the broker did not issue: %q (claims %+v)", token, claims)
		}
		if claims, err := z.b.VerifyAccess(ctx, token); err == nil && !issued {
			t.Fatalf("Broker.VerifyAccess accepted a token the broker did not issue: %q (claims %+v)", token, claims)
		}
		for _, q := range [][2]string{
			{"Gs2Account:GetAccount", "grn:gs2:ap-northeast-1:bridgekeeper:account:game:account:fuzz-federated"},
			{"Gs2Account:DeleteAccount", "*"},
		} {
			if ok, err := z.auth.Allowed(ctx, token, q[0], q[1]); (ok || err == nil) && !issued {
				t.Fatalf("Auth.Allowed(%q, %q) = %v, %v for a token the broker did not issue: %q", q[0], q[1], ok, err, token)
			}
		}
	})
}
