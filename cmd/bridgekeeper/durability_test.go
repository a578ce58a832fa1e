package main

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/internal/proctest"
)

// TestSQLiteOutsideReadersLoseNothing is a new user's first afternoon: the
// broker serves logins and refreshes while they look at the live database
// with Debian's sqlite3 shell and take a .backup; then the machine dies
// (kill -9). Every refresh token issued must still work after the restart,
// and the backup must be a sound database.
func TestSQLiteOutsideReadersLoseNothing(t *testing.T) {
	t.Parallel()
	shell, err := exec.LookPath("sqlite3")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("sqlite3 shell: %v (make test installs it)", err)
		}
		t.Skipf("sqlite3 shell: %v", err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "bk.db")
	db := "sqlite://" + path
	env := []string{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY=" + proctest.NewKEK()}
	srv := startServe(t, db, env)
	c := createClient(t, env, "--database", db, "--namespace", "game", "--name", "server",
		"--grant", "server_custom_id", "--grant", "refresh_token")

	// The shell reads and backs up for as long as the load runs.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var shellErrs []string
	var runs atomic.Int32
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			args := []string{path, "select count(*) from users"}
			if i%5 == 4 {
				args = []string{path, fmt.Sprintf(".backup %s", filepath.Join(dir, "backup.db"))}
			}
			if out, err := exec.Command(shell, args...).CombinedOutput(); err != nil {
				shellErrs = append(shellErrs, fmt.Sprintf("sqlite3 %q: %v: %s", args[1], err, out))
			}
			runs.Add(1)
			time.Sleep(20 * time.Millisecond)
		}
	}()

	// latest holds each session's newest refresh token. The load goes on
	// until the shell has read and backed up several times during it.
	const players = 20
	latest := map[string]string{}
	for round := 0; round < 3 || runs.Load() < 15; round++ {
		for i := range players {
			player := fmt.Sprintf("player-%d", i)
			form := url.Values{"grant_type": {"server_custom_id"}, "server_custom_id": {player}}
			if round > 0 {
				form = url.Values{"grant_type": {"refresh_token"}, "refresh_token": {latest[player]}}
			}
			tr := token(t, srv.URL, c.ClientID, c.ClientSecret, form)
			if tr.status != http.StatusOK {
				t.Fatalf("round %d, %s: %d %s", round, player, tr.status, tr.raw)
			}
			latest[player] = refreshOf(t, tr)
		}
	}
	close(stop)
	wg.Wait()
	for _, e := range shellErrs {
		t.Error(e)
	}

	if err := srv.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-srv.done
	srv = startServe(t, db, env)
	for player, rt := range latest {
		tr := token(t, srv.URL, c.ClientID, c.ClientSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
		if tr.status != http.StatusOK {
			t.Errorf("%s's last refresh token before kill -9: %d %s", player, tr.status, tr.raw)
		}
	}
	backup := filepath.Join(dir, "backup.db")
	out, err := exec.Command(shell, backup, "pragma integrity_check; select count(*) > 0 from users").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok\n1" {
		t.Errorf("the .backup taken under load: want integrity ok and players in it, got %q (%v)", out, err)
	}
}

// TestWrongKEKRefusedBeforeWriting: a command given a key-encryption key that
// did not seal the database refuses before it changes anything, so that the
// next serve with the right key still starts and its clients still work.
func TestWrongKEKRefusedBeforeWriting(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s store) {
		db := s.newURL(t)
		right := []string{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY=" + proctest.NewKEK()}
		wrongKEK := proctest.NewKEK()
		wrong := []string{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY=" + wrongKEK}
		c := createClient(t, right, "--database", db, "--namespace", "game", "--name", "n", "--grant", "client_credentials")
		for _, args := range [][]string{
			{"key", "rotate", "--database", db},
			{"client", "create", "--database", db, "--namespace", "game", "--name", "bad", "--grant", "client_credentials"},
			{"client", "update", "--database", db, "--client-id", c.ClientID, "--rotate-secret"},
		} {
			r := bk(t, wrong, args...)
			if r.code == 0 || !strings.Contains(r.stderr, "key-encryption key") || strings.Contains(r.stderr+r.stdout, wrongKEK) {
				t.Errorf("with the wrong KEK: want a non-zero exit saying the key-encryption key is wrong (without it); got %v", r)
			}
		}
		if ids := listedIDs(listClients(t, db)); len(ids) != 1 || ids[0] != c.ClientID {
			t.Errorf("clients after the refused commands: want only %s, got %v", c.ClientID, ids)
		}
		srv := startServe(t, db, right)
		if tr := clientCredentials(t, srv.URL, c.ClientID, c.ClientSecret); tr.status != http.StatusOK {
			t.Errorf("the first client after the refused commands: %d %s", tr.status, tr.raw)
		}
	})
}

// TestMissingDatabaseIsAnError: only migrate and serve create the embedded
// database. Any other command run against a missing file says which path it
// looked at and leaves nothing behind.
func TestMissingDatabaseIsAnError(t *testing.T) {
	t.Parallel()
	env := []string{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY=" + proctest.NewKEK()}
	for _, args := range [][]string{
		{"client", "create", "--namespace", "game", "--name", "n", "--grant", "client_credentials"},
		{"client", "list"},
		{"client", "update", "--client-id", "c1", "--name", "x"},
		{"client", "delete", "--client-id", "c1"},
		{"namespace", "create", "game"},
		{"user", "unban", "--namespace", "game", "--user", "u1", "--name", "b"},
		{"key", "rotate"},
	} {
		t.Run(strings.Join(args[:2], " "), func(t *testing.T) {
			dir := t.TempDir()
			want := filepath.Join(dir, "bridgekeeper.db")
			r := bk(t, env, append(args, "--data-dir", dir)...)
			if r.code == 0 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "does not exist") {
				t.Errorf("want a non-zero exit saying %s does not exist; got %v", want, r)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("the command left %d files in the data directory", len(entries))
			}
		})
	}
}
