package sqlite_test

import (
	"testing"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/store/sqlite"
	"github.com/bridgekeeper/bridgekeeper/broker/store/storetest"
	"github.com/bridgekeeper/bridgekeeper/internal/testdb"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) broker.Store {
		// Each case has a database file of its own, a copy of one migrated
		// once (migrating from nothing is TestOpen's).
		t.Parallel()
		path, err := sqlite.PathFromURL(testdb.SQLiteURL(t))
		if err != nil {
			t.Fatal(err)
		}
		s, err := sqlite.Open(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
