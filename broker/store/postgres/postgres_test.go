package postgres_test

import (
	"testing"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/store/postgres"
	"github.com/bridgekeeper/bridgekeeper/broker/store/storetest"
	"github.com/bridgekeeper/bridgekeeper/internal/testdb"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) broker.Store {
		// Each case has a database of its own.
		t.Parallel()
		s, err := postgres.Open(t.Context(), testdb.Postgres(t))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
