package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// TestOperatorCommands: the CLI's read and support commands on a player
// with two sessions, through the real binary, on both stores.
func TestOperatorCommands(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s store) {
		ctx := context.Background()
		db := s.newURL(t)
		mustBK(t, nil, "namespace", "create", "game", "--database", db)
		st, err := openStore(ctx, db, mustExist)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		ns, err := st.GetNamespaceByName(ctx, "game")
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(st.CreateUser(ctx, broker.User{ID: "player-1", NamespaceID: ns.ID, CreatedAt: now}))
		must(st.SetNickname(ctx, "player-1", "Hero"))
		must(st.CreateLink(ctx, broker.Link{NamespaceID: ns.ID, Slot: 100, Identifier: "76561198000000001", UserID: "player-1", CreatedAt: now}))
		for i, family := range []string{"family-a", "family-b"} {
			must(st.CreateRefreshToken(ctx, broker.RefreshToken{Key: []byte(family), Hash: broker.TokenHash(family), FamilyID: family, ClientID: "game-server",
				UserID: "player-1", NamespaceID: ns.ID, CreatedAt: now.Add(time.Duration(i) * time.Second), ExpiresAt: now.Add(time.Hour)}))
		}
		jsonOut := func(args ...string) any {
			t.Helper()
			r := mustBK(t, nil, append(args, "--database", db, "--output", "json")...)
			var v any
			if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
				t.Fatalf("%v: not JSON: %v\n%s", args, err, r.stdout)
			}
			return v
		}

		found := jsonOut("user", "find", "--slot", "100", "--identifier", "76561198000000001").([]any)
		if len(found) != 1 || found[0].(map[string]any)["user_id"] != "player-1" {
			t.Errorf("user find by link: %v", found)
		}
		if byNick := jsonOut("user", "find", "--nickname", "He").([]any); len(byNick) != 1 {
			t.Errorf("user find by nickname: %v", byNick)
		}
		shown := jsonOut("user", "show", "--user", "player-1").(map[string]any)
		if links, _ := shown["links"].([]any); len(links) != 1 || shown["nickname"] != "Hero" {
			t.Errorf("user show: %v", shown)
		}
		sessions := jsonOut("user", "sessions", "--user", "player-1").([]any)
		if len(sessions) != 2 || sessions[0].(map[string]any)["session_id"] != "family-b" {
			t.Fatalf("user sessions: %v", sessions)
		}
		r := mustBK(t, nil, "user", "revoke", "--database", db, "--user", "player-1", "--session", "family-b")
		if !strings.Contains(r.stdout, "revoked session family-b of user player-1") {
			t.Errorf("user revoke: %q", r.stdout)
		}
		if revoked, err := st.FamilyRevoked(ctx, "family-b"); err != nil || !revoked {
			t.Errorf("family-b revoked = %v, %v", revoked, err)
		}
		if left := jsonOut("user", "sessions", "--user", "player-1").([]any); len(left) != 1 {
			t.Errorf("sessions after revoke: %v", left)
		}
		events := jsonOut("audit", "--user", "player-1").([]any)
		if len(events) != 1 || events[0].(map[string]any)["type"] != broker.AuditSessionRevoke || events[0].(map[string]any)["actor"] != "cli" {
			t.Errorf("audit: %v", events)
		}
		text := mustBK(t, nil, "audit", "--database", db, "--type", broker.AuditSessionRevoke).stdout
		if !strings.Contains(text, "family-b") || !strings.HasPrefix(text, "AT") {
			t.Errorf("audit text: %q", text)
		}

		list := jsonOut("namespace", "list").([]any)
		if len(list) != 1 || list[0].(map[string]any)["name"] != "game" {
			t.Errorf("namespace list: %v", list)
		}
		if got := jsonOut("namespace", "show", "game").(map[string]any); got["id"] != ns.ID {
			t.Errorf("namespace show: %v", got)
		}

		for _, tc := range []struct {
			name string
			args []string
			want string
		}{
			{"the namespace does not exist", []string{"namespace", "show", "nope"}, "namespace nope not found"},
			{"the user does not exist", []string{"user", "show", "--user", "nobody"}, "player nobody not found"},
			{"the client does not exist", []string{"client", "show", "--client-id", "nobody"}, "client nobody not found"},
			{"revoke names no session", []string{"user", "revoke", "--user", "player-1"}, "give --session ID or --all"},
			{"the session is not the user's", []string{"user", "revoke", "--user", "player-1", "--session", "family-x"}, "session family-x not found"},
			{"find has nothing to find by", []string{"user", "find"}, "give --slot and --identifier, or --nickname"},
			{"the slot is out of range", []string{"user", "find", "--slot", "2000", "--identifier", "x"}, "slot: slot must be 0..1024"},
			{"the audit type is unknown", []string{"audit", "--type", "nonsense"}, "type: type must be one of"},
			{"since is not a time", []string{"audit", "--since", "yesterday"}, `--since: "yesterday" is not an RFC 3339 time`},
		} {
			t.Run("should fail because "+tc.name, func(t *testing.T) {
				r := bk(t, nil, append(tc.args, "--database", db)...)
				if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
					t.Errorf("exit %d, stderr %q; want failure with %q", r.code, r.stderr, tc.want)
				}
			})
		}
		// Every command that changes something answers --output json too.
		if got := jsonOut("namespace", "create", "season-2").(map[string]any); got["name"] != "season-2" || got["id"] == "" {
			t.Errorf("namespace create --output json: %v", got)
		}
		ban := jsonOut("user", "ban", "--namespace", "game", "--user", "player-1", "--name", "x", "--until", "2030-01-01T00:00:00Z").(map[string]any)
		if ban["name"] != "x" || ban["release_at"] != "2030-01-01T00:00:00Z" {
			t.Errorf("user ban --output json: %v", ban)
		}
		if got := jsonOut("user", "unban", "--namespace", "game", "--user", "player-1", "--name", "x").(map[string]any); got["lifted"] != float64(1) {
			t.Errorf("user unban --output json: %v", got)
		}
		mustBK(t, nil, "user", "revoke", "--database", db, "--user", "player-1", "--all")
		if left := jsonOut("user", "sessions", "--user", "player-1").([]any); len(left) != 0 {
			t.Errorf("sessions after revoke --all: %v", left)
		}
	})
}
