package main

import (
	"encoding/json"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/bridgekeeper/bridgekeeper/internal/proctest"
)

// decodeOneObject checks that out is exactly one JSON object (and nothing
// else but white space) and returns its members.
func decodeOneObject(t *testing.T, out string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil || obj == nil {
		t.Fatalf("stdout %q: want one JSON object: %v", out, err)
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); err != io.EOF {
		t.Fatalf("stdout %q: want exactly one JSON object, found more (%s, %v)", out, extra, err)
	}
	return obj
}

func TestClientCreateListDelete(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s store) {
		db := s.newURL(t)
		env := []string{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY=" + proctest.NewKEK()}

		tests := []struct {
			name       string
			args       []string
			wantSecret bool
			wantPublic bool
			wantGrants []string
			wantScopes []string
		}{
			{
				name:       "confidential",
				args:       []string{"--namespace", "ns1", "--name", "game server", "--grant", "client_credentials", "--grant", "server_custom_id", "--grant", "refresh_token", "--scope", "game profile"},
				wantSecret: true,
				wantGrants: []string{"client_credentials", "urn:bridgekeeper:params:oauth:grant-type:server_custom_id", "refresh_token"},
				wantScopes: []string{"game", "profile"},
			},
			{
				name:       "confidential in an existing namespace",
				args:       []string{"--namespace", "ns1", "--name", "second", "--grant", "client_credentials", "--access-ttl", "10m", "--refresh-ttl", "48h"},
				wantSecret: true,
				wantGrants: []string{"client_credentials"},
			},
			{
				name:       "public",
				args:       []string{"--namespace", "ns2", "--name", "game client", "--public", "--grant", "authorization_code", "--grant", "refresh_token", "--redirect-uri", "https://game.example/cb", "--redirect-uri", "com.example.game:/cb", "--scope", "game"},
				wantPublic: true,
				wantGrants: []string{"authorization_code", "refresh_token"},
				wantScopes: []string{"game"},
			},
		}
		var ids []string
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				r := mustBK(t, env, append([]string{"client", "create", "--output", "json", "--database", db}, tc.args...)...)
				obj := decodeOneObject(t, r.stdout)
				id, _ := obj["client_id"].(string)
				if id == "" {
					t.Fatalf("no client_id in %v", obj)
				}
				// Both members always: a script's jq -r .client_secret
				// reads "" for a public client, not "null".
				secret, hasSecret := obj["client_secret"].(string)
				switch {
				case !hasSecret:
					t.Errorf("client_secret %v: want a string member, \"\" when there is no secret", obj["client_secret"])
				case tc.wantSecret && len(secret) < 43:
					t.Errorf("client_secret %q: want a string of at least 43 characters", secret)
				case !tc.wantSecret && secret != "":
					t.Errorf("public client: want client_secret \"\", got %q", secret)
				}
				for k := range obj {
					if k != "client_id" && k != "client_secret" {
						t.Errorf("unexpected member %q in %v", k, obj)
					}
				}
				if tc.wantSecret && strings.Contains(r.stderr, secret) {
					t.Errorf("the secret also went to stderr: %q", r.stderr)
				}
				ids = append(ids, id)

				ls := listClients(t, db)
				i := slices.IndexFunc(ls, func(l listed) bool { return l.ClientID == id })
				if i < 0 {
					t.Fatalf("client list does not show %s: %v", id, listedIDs(ls))
				}
				l := ls[i]
				if l.Public != tc.wantPublic || !slices.Equal(l.Grants, tc.wantGrants) || !slices.Equal(l.Scopes, tc.wantScopes) || l.NamespaceID == "" {
					t.Errorf("client list shows %+v; want public=%v grants=%v scopes=%v and a namespace", l, tc.wantPublic, tc.wantGrants, tc.wantScopes)
				}
			})
		}
		if t.Failed() || len(ids) != len(tests) {
			return
		}

		ls := listClients(t, db)
		if got := listedIDs(ls); len(got) != len(ids) {
			t.Fatalf("client list: %v, want exactly %v", got, ids)
		}
		// Both ns1 clients share one namespace; ns2 is another.
		if ls[0].NamespaceID != ls[1].NamespaceID || ls[0].NamespaceID == ls[2].NamespaceID {
			t.Errorf("namespaces: %s %s %s; want the first two equal and the third different", ls[0].NamespaceID, ls[1].NamespaceID, ls[2].NamespaceID)
		}

		// The text form lists them too.
		text := mustBK(t, nil, "client", "list", "--database", db)
		for _, id := range ids {
			if !strings.Contains(text.stdout, id) {
				t.Errorf("client list (text) does not show %s:\n%s", id, text.stdout)
			}
		}

		// delete removes exactly the one named.
		mustBK(t, nil, "client", "delete", "--database", db, "--client-id", ids[0])
		got := listedIDs(listClients(t, db))
		if slices.Contains(got, ids[0]) || !slices.Equal(got, ids[1:]) {
			t.Errorf("after deleting %s client list shows %v, want %v", ids[0], got, ids[1:])
		}
		// Deleting it again, or a client that never existed, fails.
		for _, id := range []string{ids[0], "00000000-0000-0000-0000-000000000000"} {
			if r := bk(t, nil, "client", "delete", "--database", db, "--client-id", id); r.code == 0 {
				t.Errorf("deleting absent client %s: want a non-zero exit; got %v", id, r)
			}
		}
	})
}

func TestClientCreateOutputText(t *testing.T) {
	t.Parallel()
	db := migratedSQLite(t)
	r := mustBK(t, []string{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY=" + proctest.NewKEK()},
		"client", "create", "--database", db, "--namespace", "ns", "--name", "n", "--grant", "client_credentials")
	ls := listClients(t, db)
	if len(ls) != 1 || !strings.Contains(r.stdout, "client_id:") || !strings.Contains(r.stdout, ls[0].ClientID) || !strings.Contains(r.stdout, "client_secret:") {
		t.Errorf("text output should name the client and its secret; got %v (list: %v)", r, listedIDs(ls))
	}
}

func TestClientCreateBadInput(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s store) {
		db := s.newURL(t)
		env := []string{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY=" + proctest.NewKEK()}
		base := []string{"client", "create", "--output", "json", "--database", db}
		cc := []string{"--namespace", "ns", "--name", "n", "--grant", "client_credentials"}

		tests := []struct {
			name string
			args []string
			want []string // each must appear in stderr
		}{
			{"unknown grant", []string{"--namespace", "ns", "--name", "n", "--grant", "password"}, []string{"grant", `"password"`}},
			{"public client with client_credentials", []string{"--namespace", "ns", "--name", "n", "--public", "--grant", "client_credentials"}, []string{"grant", "public", "client_credentials"}},
			{"public client with server_custom_id", []string{"--namespace", "ns", "--name", "n", "--public", "--grant", "server_custom_id"}, []string{"grant", "public"}},
			{"no namespace", []string{"--name", "n", "--grant", "client_credentials"}, []string{"namespace"}},
			{"no name", []string{"--namespace", "ns", "--grant", "client_credentials"}, []string{"name:"}},
			{"no grant", []string{"--namespace", "ns", "--name", "n"}, []string{"grant"}},
			{"bad scope", []string{"--namespace", "ns", "--name", "n", "--grant", "client_credentials", "--scope", `a"b`}, []string{"scope"}},
			{"sub-second access ttl", []string{"--namespace", "ns", "--name", "n", "--grant", "client_credentials", "--access-ttl", "500ms"}, []string{"access-ttl"}},
			{"negative refresh ttl", []string{"--namespace", "ns", "--name", "n", "--grant", "refresh_token", "--grant", "client_credentials", "--refresh-ttl", "-1h"}, []string{"refresh-ttl"}},
			// An explicit 0s must not silently become the 1h default.
			{"zero access ttl", []string{"--namespace", "ns", "--name", "n", "--grant", "client_credentials", "--access-ttl", "0s"}, []string{"access-ttl"}},
			{"zero refresh ttl", []string{"--namespace", "ns", "--name", "n", "--grant", "refresh_token", "--grant", "client_credentials", "--refresh-ttl", "0s"}, []string{"refresh-ttl"}},
			{"bad custom-id slot", []string{"--namespace", "ns", "--name", "n", "--grant", "server_custom_id", "--custom-id-slot", "-5"}, []string{"custom-id-slot"}},
			{"unknown output", []string{"--namespace", "ns", "--name", "n", "--grant", "client_credentials", "--output", "yaml"}, []string{"output"}},
			{"unknown flag", []string{"--namespace", "ns", "--name", "n", "--grant", "client_credentials", "--colour"}, []string{"colour"}},
			{"jwks file missing", append(slices.Clone(cc), "--jwks", t.TempDir()+"/none.json"), []string{"jwks"}},
			{"jwks not a key set", append(slices.Clone(cc), "--jwks", writeFile(t, "junk.json", `{"keys":"no"}`)), []string{"jwks"}},
			{"jwks with a private key", append(slices.Clone(cc), "--jwks", writeFile(t, "private.json", privateJWKS)), []string{"jwks"}},
			{"jwks and jwks-uri", append(slices.Clone(cc), "--jwks", writeFile(t, "public.json", publicJWKS), "--jwks-uri", "https://game.example/jwks"), []string{"jwks", "not both"}},
			{"jwks-uri in clear off loopback", append(slices.Clone(cc), "--jwks-uri", "http://game.example/jwks"), []string{"jwks-uri", "https"}},
			{"public client with keys", []string{"--namespace", "ns", "--name", "n", "--public", "--grant", "authorization_code", "--jwks-uri", "https://game.example/jwks"}, []string{"jwks", "public"}},
			{"relative resource", append(slices.Clone(cc), "--resource", "/api"), []string{"resource", `"/api"`}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				args := append(slices.Clone(base), tc.args...)
				r := bk(t, env, args...)
				if r.code == 0 {
					t.Fatalf("want a non-zero exit; got %v", r)
				}
				for _, w := range tc.want {
					if !strings.Contains(r.stderr, w) {
						t.Errorf("stderr does not name %q:\n%s", w, r.stderr)
					}
				}
				if strings.TrimSpace(r.stdout) != "" {
					t.Errorf("a failed create printed to stdout: %q", r.stdout)
				}
			})
		}
		if ls := listClients(t, db); len(ls) != 0 {
			t.Errorf("failed creates left clients behind: %v", listedIDs(ls))
		}
		// A private_key_jwt client gets no secret.
		r := mustBK(t, env, append(slices.Clone(base), append(slices.Clone(cc), "--jwks", writeFile(t, "keys.json", publicJWKS),
			"--require-dpop", "--resource", "https://matchmaking.example/")...)...)
		var c created
		if err := json.Unmarshal([]byte(r.stdout), &c); err != nil || c.ClientID == "" || c.ClientSecret != "" {
			t.Errorf("private_key_jwt client: %v %+v", err, c)
		}
	})
}

// A P-256 key, public and with its private part, as JWK Sets.
const (
	publicJWKS  = `{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","use":"sig","alg":"ES256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`
	privateJWKS = `{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}]}`
)

func TestClientListBadOutput(t *testing.T) {
	t.Parallel()
	r := bk(t, nil, "client", "list", "--database", sqliteURL(t), "--output", "yaml")
	if r.code == 0 {
		t.Fatalf("client list accepted --output yaml:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "output") {
		t.Errorf("want an error naming output; got %v", r)
	}
}

func TestClientDeleteNeedsClientID(t *testing.T) {
	t.Parallel()
	r := bk(t, nil, "client", "delete", "--database", sqliteURL(t))
	if r.code == 0 || !strings.Contains(r.stderr, "client-id") {
		t.Errorf("client delete without --client-id: want a non-zero exit naming client-id; got %v", r)
	}
}

func TestUnknownCommands(t *testing.T) {
	t.Parallel()
	db := sqliteURL(t)
	tests := []struct {
		args []string
		want string
	}{
		{nil, "no command"},
		{[]string{"migrate", "--database", db, "stray"}, "stray"},
		{[]string{"client", "list", "--database", db, "--output", "json", "extra"}, "extra"},
		{[]string{"frobnicate"}, "frobnicate"},
		{[]string{"client", "rename"}, "rename"},
		{[]string{"client"}, "client"},
		{[]string{"key", "delete"}, "delete"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args[:min(2, len(tc.args))], " "), func(t *testing.T) {
			r := bk(t, nil, tc.args...)
			if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("want a non-zero exit naming %q; got %v", tc.want, r)
			}
		})
	}
}
