package broker_test

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/keys"
	"github.com/bridgekeeper/bridgekeeper/broker/store/sqlite"
	"github.com/bridgekeeper/bridgekeeper/internal/testdb"
)

// countingStore is a real SQLite store that counts client lookups.
type countingStore struct {
	broker.Store
	lookups atomic.Int64
}

func (s *countingStore) GetClient(ctx context.Context, id string) (broker.Client, error) {
	s.lookups.Add(1)
	return s.Store.GetClient(ctx, id)
}

func newClientBroker(tb testing.TB) (*broker.Broker, *countingStore, string, string) {
	tb.Helper()
	path, err := sqlite.PathFromURL(testdb.SQLiteURL(tb))
	if err != nil {
		tb.Fatal(err)
	}
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	kek := make([]byte, keys.KEKSize)
	rand.Read(kek)
	secrets, err := keys.NewSecrets(kek)
	if err != nil {
		tb.Fatal(err)
	}
	store := &countingStore{Store: s}
	b := broker.New(broker.Config{Issuer: "http://clients.test"}, store, secrets, keys.NewKeyring(s, secrets, time.Now), time.Now,
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	c, secret, err := broker.CreateClient(context.Background(), s, secrets, broker.ClientSpec{
		Namespace: "ns", Name: "server", Grants: []string{broker.GrantClientCredentials}}, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	return b, store, c.ID, secret
}

// TestAuthenticateClientSameAnswer: an unknown client ID and a wrong secret
// get one answer, and an unknown ID repeated is answered from memory as a
// known one is, so neither the answer nor its timing tells whether a
// client exists (issue 11 item 5).
func TestAuthenticateClientSameAnswer(t *testing.T) {
	t.Parallel()
	b, store, id, secret := newClientBroker(t)
	ctx := context.Background()
	_, wrong := b.AuthenticateClient(ctx, id, "bks_wrong")
	_, unknown := b.AuthenticateClient(ctx, "00000000-0000-4000-8000-000000000000", "bks_wrong")
	_, malformed := b.AuthenticateClient(ctx, "bad\x00id", "bks_wrong")
	if wrong == nil || unknown == nil || malformed == nil {
		t.Fatalf("refusals: wrong %v, unknown %v, malformed %v", wrong, unknown, malformed)
	}
	if wrong.Error() != unknown.Error() || wrong.Error() != malformed.Error() {
		t.Errorf("the answers differ: wrong secret %q, unknown client %q, malformed ID %q", wrong, unknown, malformed)
	}
	if _, err := b.AuthenticateClient(ctx, id, secret); err != nil {
		t.Fatalf("the right secret: %v", err)
	}
	before := store.lookups.Load()
	for range 100 {
		b.AuthenticateClient(ctx, id, "bks_wrong")
		b.AuthenticateClient(ctx, "00000000-0000-4000-8000-000000000001", "bks_wrong")
	}
	// One lookup of the unknown ID; the known one is cached already.
	if n := store.lookups.Load() - before; n != 1 {
		t.Errorf("200 checks read the store %d times, want 1: an unknown ID is slower than a known one", n)
	}
}

// BenchmarkAuthenticateClient compares a wrong secret for a known client
// with any secret for an unknown one: the two should cost the same.
func BenchmarkAuthenticateClient(b *testing.B) {
	br, _, id, _ := newClientBroker(b)
	ctx := context.Background()
	for _, bc := range []struct{ name, id string }{
		{"known-wrong-secret", id},
		{"unknown-client", "00000000-0000-4000-8000-000000000002"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := br.AuthenticateClient(ctx, bc.id, "bks_wrong-secret-of-the-usual-length-0123456789"); err == nil {
					b.Fatal("accepted")
				}
			}
		})
	}
}
