package main

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/bridgekeeper/bridgekeeper/internal/proctest"
)

// TestCommandHelp: asked for help, a command group prints its usage,
// naming each subcommand, on stdout and exits 0; without a subcommand, or
// with one it lacks, it prints the same usage on stderr and fails.
func TestCommandHelp(t *testing.T) {
	t.Parallel()
	groups := map[string][]string{
		"client":    {"create", "list", "update", "delete"},
		"namespace": {"create"},
		"user":      {"ban", "unban"},
		"key":       {"rotate"},
	}
	top := []string{"serve", "migrate", "client", "namespace", "user", "key"}

	for _, tc := range []struct {
		args []string
		want []string // on stdout
	}{
		{[]string{"--help"}, top},
		{[]string{"-h"}, top},
		{[]string{"help"}, top},
		{[]string{"client", "--help"}, groups["client"]},
		{[]string{"client", "-h"}, groups["client"]},
		{[]string{"client", "help"}, groups["client"]},
		{[]string{"help", "client"}, groups["client"]},
		{[]string{"namespace", "--help"}, groups["namespace"]},
		{[]string{"user", "--help"}, groups["user"]},
		{[]string{"key", "--help"}, groups["key"]},
		{[]string{"help", "key"}, groups["key"]},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := bk(t, nil, tc.args...)
			if r.code != 0 {
				t.Fatalf("want exit 0; got %v", r)
			}
			if !strings.Contains(r.stdout, "usage: bridgekeeper") {
				t.Errorf("stdout is no usage:\n%s", r.stdout)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stdout, "\n  "+w+" ") {
					t.Errorf("the usage does not list %q:\n%s", w, r.stdout)
				}
			}
			if strings.Contains(r.stderr, "unknown") {
				t.Errorf("stderr: %q", r.stderr)
			}
		})
	}

	// A subcommand's own -h lists its flags, and that is no failure either.
	for _, args := range [][]string{
		{"client", "create", "--help"}, {"client", "list", "-h"}, {"namespace", "create", "--help"},
		{"namespace", "create", "mygame", "-h"}, {"user", "ban", "-h"}, {"key", "rotate", "-h"}, {"help", "serve"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			if r := bk(t, nil, args...); r.code != 0 || !strings.Contains(r.stderr, "-database") {
				t.Errorf("want exit 0 and the flags on stderr; got %v", r)
			}
		})
	}

	for _, tc := range []struct {
		name  string
		args  []string
		group string
		want  string
	}{
		{"should fail because client has no subcommand rename", []string{"client", "rename"}, "client", `unknown subcommand "rename"`},
		{"should fail because a subcommand is needed", []string{"client"}, "client", "no subcommand"},
		{"should fail because flags do not name a subcommand", []string{"client", "--database", "x"}, "client", `unknown subcommand "--database"`},
		{"should fail because namespace has no delete", []string{"namespace", "delete", "x"}, "namespace", `unknown subcommand "delete"`},
		{"should fail because user has no list", []string{"user", "list"}, "user", `unknown subcommand "list"`},
		{"should fail because key has no delete", []string{"key", "delete"}, "key", `unknown subcommand "delete"`},
		{"should fail because help names no command", []string{"help", "frobnicate"}, "", `unknown command "frobnicate"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := bk(t, nil, tc.args...)
			if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("want a non-zero exit naming %q; got %v", tc.want, r)
			}
			if r.stdout != "" {
				t.Errorf("a failed command printed its usage to stdout: %q", r.stdout)
			}
			for _, sub := range groups[tc.group] {
				if !strings.Contains(r.stderr, "\n  "+sub+" ") {
					t.Errorf("stderr does not list the subcommand %q:\n%s", sub, r.stderr)
				}
			}
		})
	}
}

// TestClientListShowsSettings: client list shows every client's settings,
// as an aligned table and, with --output json, every setting but the
// secret's hash; client create and update always print both credential
// members.
func TestClientListShowsSettings(t *testing.T) {
	t.Parallel()
	db := migratedSQLite(t)
	env := []string{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY=" + proctest.NewKEK()}
	server := createClient(t, env, "--database", db, "--namespace", "game-a", "--name", "game server",
		"--grant", "client_credentials", "--grant", "server_custom_id", "--scope", "game profile",
		"--access-ttl", "10m", "--refresh-ttl", "48h", "--custom-id-slot", "7", "--rate-limit", "2.5",
		"--resource", "https://matchmaking.example/", "--require-dpop")
	console := createClient(t, env, "--database", db, "--namespace", "game-b", "--name", "console", "--public",
		"--grant", "authorization_code", "--grant", "refresh_token", "--redirect-uri", "https://game.example/cb",
		"--redirect-uri", "com.example.game:/cb", "--access-ttl", "90m")
	keyed := createClient(t, env, "--database", db, "--namespace", "game-a", "--name", "leaderboard",
		"--grant", "client_credentials", "--jwks-uri", "https://leaderboard.example/jwks.json")
	if server.ClientSecret == "" || console.ClientSecret != "" || keyed.ClientSecret != "" {
		t.Fatalf("secrets: %+v %+v %+v; want one for the confidential client only", server, console, keyed)
	}

	// An update without --rotate-secret has no secret to show: "", as create.
	r := mustBK(t, env, "client", "update", "--database", db, "--client-id", console.ClientID, "--name", "console game", "--output", "json")
	if obj := decodeOneObject(t, r.stdout); !reflect.DeepEqual(obj, map[string]any{"client_id": console.ClientID, "client_secret": ""}) {
		t.Errorf("client update --output json: %v; want client_id and client_secret \"\"", obj)
	}

	want := map[string]map[string]any{
		server.ClientID: {
			"namespace": "game-a", "name": "game server", "public": false, "auth_method": "client_secret",
			"grants": []any{"client_credentials", "urn:bridgekeeper:params:oauth:grant-type:server_custom_id"},
			"scopes": []any{"game", "profile"}, "redirect_uris": []any{}, "access_ttl": "10m", "refresh_ttl": "48h",
			"custom_id_slot": 7.0, "rate_limit": 2.5, "no_create_users": false, "require_dpop": true,
			"resources": []any{"https://matchmaking.example/"}, "jwks_uri": "", "jwks": nil,
		},
		console.ClientID: {
			"namespace": "game-b", "name": "console game", "public": true, "auth_method": "none",
			"grants": []any{"authorization_code", "refresh_token"}, "scopes": []any{},
			"redirect_uris": []any{"https://game.example/cb", "com.example.game:/cb"}, "access_ttl": "1h30m",
			"refresh_ttl": "2160h", "custom_id_slot": 3.0, "rate_limit": 0.0, "no_create_users": false,
			"require_dpop": false, "resources": []any{}, "jwks_uri": "", "jwks": nil,
		},
		keyed.ClientID: {
			"namespace": "game-a", "name": "leaderboard", "public": false, "auth_method": "private_key_jwt",
			"grants": []any{"client_credentials"}, "scopes": []any{}, "redirect_uris": []any{}, "access_ttl": "1h",
			"refresh_ttl": "2160h", "custom_id_slot": 3.0, "rate_limit": 0.0, "no_create_users": false,
			"require_dpop": false, "resources": []any{}, "jwks_uri": "https://leaderboard.example/jwks.json", "jwks": nil,
		},
	}
	// Beside those: the IDs and times, which the test does not choose.
	varying := []string{"client_id", "namespace_id", "created_at", "updated_at"}

	r = mustBK(t, nil, "client", "list", "--database", db, "--output", "json")
	var listed []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &listed); err != nil || len(listed) != len(want) {
		t.Fatalf("client list --output json: %v, %d clients; want %d\n%s", err, len(listed), len(want), r.stdout)
	}
	namespaceIDs := map[string]any{}
	for _, got := range listed {
		id, _ := got["client_id"].(string)
		w, ok := want[id]
		if !ok {
			t.Errorf("unexpected client %v", got)
			continue
		}
		for _, k := range varying {
			if s, _ := got[k].(string); s == "" {
				t.Errorf("%s: %s is %v; want a value", w["name"], k, got[k])
			}
		}
		if prev, ok := namespaceIDs[w["namespace"].(string)]; ok && prev != got["namespace_id"] {
			t.Errorf("%s: namespace_id %v; the other client of %s has %v", w["name"], got["namespace_id"], w["namespace"], prev)
		}
		namespaceIDs[w["namespace"].(string)] = got["namespace_id"]
		shown := maps.Clone(got)
		for _, k := range varying {
			delete(shown, k)
		}
		if !reflect.DeepEqual(shown, w) {
			t.Errorf("client list --output json shows %s as\n%v\nwant\n%v", w["name"], shown, w)
		}
	}

	// The table: a header and a line per client, each value starting
	// under its column's heading.
	text := mustBK(t, nil, "client", "list", "--database", db).stdout
	lines := nonEmptyLines(text)
	if len(lines) != 1+len(want) {
		t.Fatalf("client list: %d lines; want a header and %d clients:\n%s", len(lines), len(want), text)
	}
	columns := []string{"CLIENT ID", "NAMESPACE", "NAME", "AUTH", "GRANTS", "SCOPES", "REDIRECT URIS",
		"ACCESS TTL", "REFRESH TTL", "CUSTOM-ID SLOT", "RATE LIMIT"}
	rows := map[string][]string{
		server.ClientID: {server.ClientID, "game-a", "game server", "client_secret", "client_credentials,server_custom_id",
			"game profile", "-", "10m", "48h", "7", "2.5/s"},
		console.ClientID: {console.ClientID, "game-b", "console game", "none", "authorization_code,refresh_token",
			"-", "https://game.example/cb com.example.game:/cb", "1h30m", "2160h", "3", "unlimited"},
		keyed.ClientID: {keyed.ClientID, "game-a", "leaderboard", "private_key_jwt", "client_credentials",
			"-", "-", "1h", "2160h", "3", "unlimited"},
	}
	// Each heading is looked for after the one before ("NAME" is also in
	// "NAMESPACE").
	at := make([]int, len(columns))
	for i, from := 0, 0; i < len(columns); i++ {
		j := strings.Index(lines[0][from:], columns[i])
		if j < 0 {
			t.Fatalf("client list header %q: want the columns %q in order", lines[0], columns)
		}
		at[i], from = from+j, from+j+len(columns[i])
	}
	for _, line := range lines[1:] {
		id, _, _ := strings.Cut(line, " ")
		row, ok := rows[id]
		if !ok {
			t.Errorf("client list: unexpected line %q", line)
			continue
		}
		for i, v := range row {
			end := len(line)
			if i+1 < len(at) {
				end = min(at[i+1], len(line))
			}
			if at[i] >= len(line) || strings.TrimSpace(line[at[i]:end]) != v {
				t.Errorf("client list: column %s of %q is not %q", columns[i], line, v)
			}
		}
	}
	if ids := slices.Sorted(maps.Keys(rows)); len(ids) != len(lines)-1 {
		t.Errorf("client list shows %d clients; want %v", len(lines)-1, ids)
	}
}
