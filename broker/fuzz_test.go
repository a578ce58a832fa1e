package broker_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/store/sqlite"
	"github.com/bridgekeeper/bridgekeeper/internal/testdb"
)

// Hostile-input fuzz targets of the broker's pure checks: access-token
// verification and GS2 policy documents. Seeds are in testdata/fuzz/.

const fzIssuer = "http://fuzz.bridgekeeper.test"

// fzTokens is a broker on SQLite and the access tokens it issued.
type fzTokens struct {
	b      *broker.Broker
	keys   *broker.Keyring
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
	kek := make([]byte, broker.KEKSize)
	rand.Read(kek)
	secrets, err := broker.NewSecrets(kek)
	if err != nil {
		tb.Fatal(err)
	}
	keys := broker.NewKeyring(store, secrets, time.Now)
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
	client, err := b.IssueClientToken(ctx, c, c.Scopes)
	if err != nil {
		tb.Fatal(err)
	}
	user, err := b.LoginUser(ctx, c, broker.GS2User{UserID: "fuzz-user", TimeOffset: 60})
	if err != nil {
		tb.Fatal(err)
	}
	fed, err := b.Federate(ctx, c, "fuzz-user", broker.GS2User{UserID: "fuzz-federated"}, `{"Version":"2016-04-01","Statements":[`+
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
	z := &fzTokens{b: b, keys: keys, issued: map[string]bool{}, vars: map[string]string{"{{id_token}}": idToken}}
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

// FuzzVerifyAccessToken: Keyring.VerifyAccessToken, Broker.VerifyAccess
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
		if claims, err := z.keys.VerifyAccessToken(ctx, token, fzIssuer, now); err == nil && !issued {
			t.Fatalf("Keyring.VerifyAccessToken accepted a token the broker did not issue: %q (claims %+v)", token, claims)
		}
		if claims, err := z.b.VerifyAccess(ctx, token); err == nil && !issued {
			t.Fatalf("Broker.VerifyAccess accepted a token the broker did not issue: %q (claims %+v)", token, claims)
		}
		for _, q := range [][2]string{
			{"Gs2Account:GetAccount", "grn:gs2:ap-northeast-1:bridgekeeper:account:game:account:fuzz-federated"},
			{"Gs2Account:DeleteAccount", "*"},
		} {
			if ok, err := z.b.Allowed(ctx, token, q[0], q[1]); (ok || err == nil) && !issued {
				t.Fatalf("Broker.Allowed(%q, %q) = %v, %v for a token the broker did not issue: %q", q[0], q[1], ok, err, token)
			}
		}
	})
}

// refMatch is wildcardMatch's reference, for valid UTF-8: '*' is any run
// of characters, everything else itself.
func refMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile(`(?s)\A` + strings.Join(parts, `.*`) + `\z`).MatchString(s)
}

// refAllows is Policy.Allows's reference: an explicit deny wins, else an
// allow is needed.
func refAllows(p broker.Policy, action, resource string) bool {
	allowed := false
	for _, st := range p.Statements {
		matches := func(patterns []string, s string) bool {
			for _, pat := range patterns {
				if refMatch(pat, s) {
					return true
				}
			}
			return false
		}
		if matches(st.Actions, action) && matches(st.Resources, resource) {
			if st.Effect == "Deny" {
				return false
			}
			allowed = true
		}
	}
	return allowed
}

// FuzzPolicy: ParsePolicy on any document, and Allows on what it accepts.
// Properties: no panic; a parsed policy is valid (version, effects,
// non-empty lists) and survives a round trip through JSON with the same
// answers; Allows agrees with a regexp reference on UTF-8 input; a Deny of
// "*" on "*", added anywhere, makes Allows false.
func FuzzPolicy(f *testing.F) {
	f.Add([]byte(`{"Version":"2016-04-01","Statements":[{"Effect":"Allow","Actions":["Gs2Account:*"],"Resources":["*"]}]}`),
		"Gs2Account:GetAccount", "grn:gs2:ap-northeast-1:owner:account:game:account:u1")
	f.Fuzz(func(t *testing.T, doc []byte, action, resource string) {
		p, err := broker.ParsePolicy(doc)
		if err != nil {
			return
		}
		if p.Version != broker.PolicyVersion || len(p.Statements) == 0 {
			t.Fatalf("accepted an invalid policy: %+v", p)
		}
		for i, st := range p.Statements {
			if (st.Effect != "Allow" && st.Effect != "Deny") || len(st.Actions) == 0 || len(st.Resources) == 0 {
				t.Fatalf("accepted an invalid statement %d: %+v", i, st)
			}
		}
		got := p.Allows(action, resource)
		if again := p.Allows(action, resource); again != got {
			t.Fatalf("Allows(%q, %q) is %v, then %v", action, resource, got, again)
		}
		if got && len(doc) > broker.MaxPolicyLen {
			t.Fatal("a policy over the length limit allows")
		}
		// Round trip: what the broker stores and reparses means the same.
		re, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		p2, err := broker.ParsePolicy(re)
		if err != nil {
			t.Fatalf("the re-encoded policy %s is refused: %v", re, err)
		}
		if p2.Allows(action, resource) != got {
			t.Fatalf("the re-encoded policy %s answers %v, the original %v", re, !got, got)
		}
		if utf8.ValidString(action) && utf8.ValidString(resource) && len(re) < 64<<10 {
			if want := refAllows(p, action, resource); got != want {
				t.Fatalf("Allows(%q, %q) = %v, the reference says %v; policy %s", action, resource, got, want, re)
			}
		}
		deny := broker.Statement{Effect: "Deny", Actions: []string{"*"}, Resources: []string{"*"}}
		for _, sts := range [][]broker.Statement{
			append([]broker.Statement{deny}, p.Statements...),
			append(append([]broker.Statement{}, p.Statements...), deny),
		} {
			if (broker.Policy{Version: p.Version, Statements: sts}).Allows(action, resource) {
				t.Fatalf("Allows(%q, %q) despite a Deny of * on *; policy %s", action, resource, re)
			}
		}
		// A Deny of * on * in the document itself.
		for _, st := range p.Statements {
			if st.Effect == "Deny" && contains(st.Actions, "*") && contains(st.Resources, "*") && got {
				t.Fatalf("Allows(%q, %q) with a Deny of * on * in %s", action, resource, re)
			}
		}
	})
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
