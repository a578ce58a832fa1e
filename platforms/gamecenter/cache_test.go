package gamecenter_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/platforms"
	"github.com/bridgekeeper/bridgekeeper/platforms/gamecenter"
	"github.com/bridgekeeper/bridgekeeper/platforms/gamecenter/gamecentertest"
	"github.com/bridgekeeper/bridgekeeper/platforms/platformtest"
)

func TestVerifyFetchesTheCertificateOnceForManyVerifications(t *testing.T) {
	f := newFixture(t)
	v, err := gamecenter.New(f.config())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		p := fmt.Sprintf("T:_player%02d", i)
		id, err := v.Verify(t.Context(), platforms.Request{Token: f.srv.Sign(p, bundle, f.now), TokenType: platforms.TokenTypeGameCenter})
		if err != nil || id.UserID != p {
			t.Fatalf("Verify #%d = %q, %v; want %q", i, id.UserID, err, p)
		}
	}
	if got := f.srv.Fetches(); got != 1 {
		t.Errorf("the key server got %d requests for 20 verifications, want 1", got)
	}
}

func TestVerifyFetchesOnceForConcurrentVerifications(t *testing.T) {
	f := newFixture(t)
	v, err := gamecenter.New(f.config())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var failed atomic.Int32
	for i := range 16 {
		token := f.srv.Sign(fmt.Sprintf("T:_player%02d", i), bundle, f.now)
		wg.Go(func() {
			if _, err := v.Verify(t.Context(), platforms.Request{Token: token}); err != nil {
				t.Errorf("Verify: %v", err)
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	if got := f.srv.Fetches(); got != 1 {
		t.Errorf("the key server got %d requests for 16 concurrent verifications, want 1", got)
	}
}

// A certificate is kept a day at most, and never past its NotAfter; a
// cached one is checked again on every use.
func TestVerifyCacheExpiry(t *testing.T) {
	f := newFixture(t)
	start := f.now
	v, err := gamecenter.New(f.config()) // the clock reads f.now
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name        string
		at          time.Duration // after start
		wantFetches int
		wantDesc    string // "" for success
	}{
		{"the first verification fetches", 0, 1, ""},
		{"an hour later the certificate comes from the cache", time.Hour, 1, ""},
		{"a day later it is fetched again", 24*time.Hour + time.Second, 2, ""},
		{"and kept again", 25 * time.Hour, 2, ""},
		{"should fail because the cached certificate has expired, and it is not kept", gamecentertest.LeafLifetime + time.Second, 3, "certificate has expired"},
		{"should fail again, fetched again", gamecentertest.LeafLifetime + 2*time.Second, 4, "certificate has expired"},
	}
	for _, s := range steps {
		f.now = start.Add(s.at)
		token := f.items(gamecentertest.Good).JSON()
		id, err := v.Verify(t.Context(), platforms.Request{Token: token})
		if s.wantDesc == "" {
			if err != nil {
				t.Fatalf("%s: Verify: %v", s.name, err)
			}
		} else {
			wantRefusal(t, id, err, broker.KindInvalid, s.wantDesc, token)
		}
		if got := f.srv.Fetches(); got != s.wantFetches {
			t.Errorf("%s: %d fetches, want %d", s.name, got, s.wantFetches)
		}
	}
}

// A failed fetch is not cached: the next verification asks again, and
// succeeds once the server is back.
func TestVerifyRetriesAfterAnOutage(t *testing.T) {
	f := newFixture(t)
	v, err := gamecenter.New(f.config())
	if err != nil {
		t.Fatal(err)
	}
	token := f.items(gamecentertest.Good).JSON()
	f.srv.SetOutage(platformtest.Failing)
	id, err := v.Verify(t.Context(), platforms.Request{Token: token})
	wantRefusal(t, id, err, broker.KindUnavailable, "gamecenter is unavailable", token)
	f.srv.SetOutage(platformtest.Up)
	if _, err := v.Verify(t.Context(), platforms.Request{Token: token}); err != nil {
		t.Fatalf("Verify after the outage: %v", err)
	}
	if got := f.srv.Fetches(); got != 2 {
		t.Errorf("%d fetches, want 2", got)
	}
}
