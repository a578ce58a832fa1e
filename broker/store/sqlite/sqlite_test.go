package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/store/sqlite"
	"github.com/bridgekeeper/bridgekeeper/broker/store/storetest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) broker.Store {
		s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "bk.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
