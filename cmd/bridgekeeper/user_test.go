package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/internal/proctest"
)

// TestUserBanUnban: ban and unban through the real binary land in the
// store that every login path checks.
func TestUserBanUnban(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s store) {
		ctx := context.Background()
		db := s.newURL(t)
		mustBK(t, nil, "namespace", "create", "game", "--database", db)
		mustBK(t, nil, "namespace", "create", "other", "--database", db)
		st, err := openStore(ctx, db, mustExist)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		ns, err := st.GetNamespaceByName(ctx, "game")
		if err != nil {
			t.Fatal(err)
		}
		if err := st.CreateUser(ctx, broker.User{ID: "player-1", NamespaceID: ns.ID, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		bans := func() []broker.Ban {
			t.Helper()
			bs, err := st.ListBans(ctx, "player-1")
			if err != nil {
				t.Fatal(err)
			}
			return bs
		}

		until := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
		r := mustBK(t, nil, "user", "ban", "--database", db, "--namespace", "game", "--user", "player-1",
			"--name", "cheating", "--reason", "speed hack", "--until", until.Format(time.RFC3339))
		if !strings.Contains(r.stdout, "player-1 banned (ban cheating)") {
			t.Errorf("stdout %q", r.stdout)
		}
		// Unix milliseconds work too, and no --name makes a UUID-named ban.
		untilMS := until.Add(time.Hour).UnixMilli()
		mustBK(t, nil, "user", "ban", "--database", db, "--namespace", "game", "--user", "player-1",
			"--reason", "chat abuse", "--until", strconv.FormatInt(untilMS, 10))
		got := bans()
		if len(got) != 2 || got[0].Name != "cheating" || got[0].Reason != "speed hack" || !got[0].ReleaseAt.Equal(until) ||
			len(got[1].Name) != 36 || got[1].ReleaseAt.UnixMilli() != untilMS {
			t.Fatalf("bans after two bans: %+v", got)
		}
		banned, err := st.Banned(ctx, "player-1", time.Now())
		if err != nil || !banned {
			t.Fatalf("Banned = %v, %v; want true", banned, err)
		}

		r = mustBK(t, nil, "user", "unban", "--database", db, "--namespace", "game", "--user", "player-1", "--name", "cheating")
		if !strings.Contains(r.stdout, "1 ban(s) lifted") || len(bans()) != 1 {
			t.Errorf("unban --name: %q, bans %+v", r.stdout, bans())
		}
		r = mustBK(t, nil, "user", "unban", "--database", db, "--namespace", "game", "--user", "player-1")
		if !strings.Contains(r.stdout, "1 ban(s) lifted") || len(bans()) != 0 {
			t.Errorf("unban all: %q, bans %+v", r.stdout, bans())
		}

		for _, tc := range []struct {
			name string
			args []string
			want string
		}{
			{"release in the past", []string{"ban", "--namespace", "game", "--user", "player-1", "--until", "2020-01-01T00:00:00Z"}, "future"},
			{"no release", []string{"ban", "--namespace", "game", "--user", "player-1"}, "--until"},
			{"release not a time", []string{"ban", "--namespace", "game", "--user", "player-1", "--until", "tomorrow"}, "RFC 3339"},
			{"unknown user", []string{"ban", "--namespace", "game", "--user", "nobody", "--until", until.Format(time.RFC3339)}, "not found"},
			{"user of another namespace", []string{"ban", "--namespace", "other", "--user", "player-1", "--until", until.Format(time.RFC3339)}, "not found"},
			{"unknown namespace", []string{"unban", "--namespace", "nope", "--user", "player-1"}, "not found"},
			{"no user", []string{"unban", "--namespace", "game"}, "--user"},
			{"reason too long", []string{"ban", "--namespace", "game", "--user", "player-1", "--reason", strings.Repeat("x", 257), "--until", until.Format(time.RFC3339)}, "reason"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				args := append([]string{"user"}, tc.args...)
				if r := bk(t, nil, append(args, "--database", db)...); r.code == 0 || !strings.Contains(r.stderr, tc.want) {
					t.Errorf("want a non-zero exit naming %q; got %v", tc.want, r)
				}
			})
		}
		if len(bans()) != 0 {
			t.Errorf("refused bans were stored: %+v", bans())
		}
	})
	if r := bk(t, nil, "user", "suspend"); r.code == 0 || !strings.Contains(r.stderr, "ban, unban") {
		t.Errorf("unknown subcommand: %v", r)
	}
}

// TestNamespacesFromConfig: serve creates the namespaces its configuration
// lists, once, beside those made by `namespace create`.
func TestNamespacesFromConfig(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s store) {
		db := s.newURL(t)
		mustBK(t, nil, "namespace", "create", "existing", "--database", db)
		cfg := filepath.Join(t.TempDir(), "bk.yaml")
		if err := os.WriteFile(cfg, []byte("namespaces: [existing, from-config]\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		env := []string{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY=" + proctest.NewKEK()}
		for range 2 { // a restart finds them there
			srv := startServe(t, db, env, "--config", cfg)
			if code, _ := srv.stop(t, syscall.SIGTERM, 10*time.Second); code != 0 {
				t.Fatalf("serve exited %d", code)
			}
		}
		st, err := openStore(context.Background(), db, mustExist)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		for _, name := range []string{"existing", "from-config"} {
			if _, err := st.GetNamespaceByName(context.Background(), name); err != nil {
				t.Errorf("namespace %s: %v", name, err)
			}
		}
	})
}
