package sqlite

import "testing"

func TestPathFromURL(t *testing.T) {
	for _, c := range []struct {
		url, want string
		wantErr   bool
	}{
		{url: "sqlite:///var/lib/bk/bk.db", want: "/var/lib/bk/bk.db"},
		{url: "sqlite://relative.db", want: "relative.db"},
		{url: "sqlite://data/bridgekeeper.db", want: "data/bridgekeeper.db"},
		{url: "SQLite:///tmp/a.db", want: "/tmp/a.db"},
		{url: "sqlite:///tmp/with%20space.db", want: "/tmp/with space.db"},
		{url: "sqlite://", wantErr: true},
		{url: "sqlite:///", wantErr: true},
		{url: "sqlite:///tmp/a.db?mode=ro", wantErr: true},
		{url: "sqlite:///tmp/a.db#x", wantErr: true},
		{url: "sqlite:///tmp/%zz.db", wantErr: true},
		{url: "postgres://localhost/db", wantErr: true},
		{url: "/tmp/a.db", wantErr: true},
	} {
		got, err := PathFromURL(c.url)
		switch {
		case c.wantErr && err == nil:
			t.Errorf("PathFromURL(%q) = %q, want an error", c.url, got)
		case !c.wantErr && err != nil:
			t.Errorf("PathFromURL(%q): %v", c.url, err)
		case got != c.want:
			t.Errorf("PathFromURL(%q) = %q, want %q", c.url, got, c.want)
		}
	}
}
