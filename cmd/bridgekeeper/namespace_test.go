package main

import (
	"strings"
	"testing"

	"github.com/bridgekeeper/bridgekeeper/internal/proctest"
)

func TestNamespaceCreate(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s store) {
		db := s.newURL(t)
		r := mustBK(t, nil, "namespace", "create", "mygame", "--database", db)
		if !strings.Contains(r.stdout, "namespace mygame created") {
			t.Errorf("stdout: %q", r.stdout)
		}
		// The name is taken now; a client in it shares the namespace.
		if r := bk(t, nil, "namespace", "create", "mygame", "--database", db); r.code == 0 || !strings.Contains(r.stderr, "already exists") {
			t.Errorf("second create: %v", r)
		}
		env := []string{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY=" + proctest.NewKEK()}
		createClient(t, env, "--database", db, "--namespace", "mygame", "--name", "n", "--grant", "client_credentials")
		ls := listClients(t, db)
		if len(ls) != 1 || !strings.Contains(mustBK(t, nil, "client", "list", "--database", db).stdout, ls[0].ClientID) {
			t.Fatalf("clients: %+v", ls)
		}
	})
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no name", []string{"namespace", "create"}, "name comes first"},
		{"flag instead of a name", []string{"namespace", "create", "--database", "sqlite:///tmp/x.db"}, "name comes first"},
		{"a slash in the name", []string{"namespace", "create", "a/b", "--database", migratedSQLite(t)}, "namespace"},
		{"unknown subcommand", []string{"namespace", "delete", "x"}, "delete"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := bk(t, nil, tc.args...); r.code == 0 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("want a non-zero exit naming %q; got %v", tc.want, r)
			}
		})
	}
}
