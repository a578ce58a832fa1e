package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

func authCases() []testCase {
	return []testCase{
		{name: "AuthRequest/RoundTrip", run: testAuthRequestRoundTrip},
		{name: "AuthRequest/Expired", run: testAuthRequestExpired},
		{name: "AuthRequest/Duplicate", run: testAuthRequestDuplicate},
		{name: "Code/Consume", run: testCodeConsume},
		{name: "Code/ConsumeRefused", run: testCodeConsumeRefused},
		{name: "Code/Duplicate", run: testCodeDuplicate},
		{name: "PurgeExpired/Auth", run: testPurgeExpiredAuth},
	}
}

// authRequest uses every field; it expires ten minutes after t0.
func authRequest(name string) broker.AuthRequest {
	return broker.AuthRequest{
		Hash:          hash("request-" + name),
		ClientID:      "client-1",
		NamespaceID:   "ns-1",
		RedirectURI:   "com.example.game:/oauth?from=" + name,
		Scope:         "openid gs2",
		State:         "state of " + name + " — ünïcode & spaces",
		CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		Nonce:         "nonce-" + name,
		Provider:      "google",
		LinkUserID:    "u-1",
		Resource:      "https://matchmaking.example/",
		DeviceCode:    "0a1b2c",
		CreatedAt:     t0.In(jst),
		ExpiresAt:     at(10 * time.Minute),
	}
}

// authCode is an unused code that uses every other field; it expires a
// minute after t0.
func authCode(name string) broker.AuthCode {
	return broker.AuthCode{
		Hash:          hash("code-" + name),
		ClientID:      "client-1",
		NamespaceID:   "ns-1",
		UserID:        "u-1",
		RedirectURI:   "https://game.example/cb",
		Scope:         "openid gs2",
		Nonce:         "nonce-" + name,
		CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		AuthTime:      at(-30 * time.Second).In(jst),
		CreatedAt:     t0,
		ExpiresAt:     at(time.Minute),
		Resource:      "https://matchmaking.example/",
	}
}

func createCode(t *testing.T, s broker.Store, c broker.AuthCode) broker.AuthCode {
	t.Helper()
	ok(t, "CreateCode", s.CreateCode(caseCtx(t), c))
	return c
}

func testAuthRequestRoundTrip(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	full := authRequest("full")
	// A plain sign-in: no PKCE, no nonce, not linking.
	bare := authRequest("bare")
	bare.CodeChallenge, bare.Nonce, bare.LinkUserID, bare.Scope = "", "", "", ""
	other := authRequest("other")
	for _, r := range []broker.AuthRequest{full, bare, other} {
		ok(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, r))
	}

	for _, r := range []broker.AuthRequest{full, bare} {
		got, err := s.ConsumeAuthRequest(ctx, r.Hash, at(time.Minute))
		ok(t, "ConsumeAuthRequest "+r.State, err)
		equal(t, "ConsumeAuthRequest", got, r)
		// Single use: the state comes back from the upstream once.
		_, err = s.ConsumeAuthRequest(ctx, r.Hash, at(2*time.Minute))
		isErr(t, "ConsumeAuthRequest(again)", err, broker.ErrNotFound)
	}
	_, err := s.ConsumeAuthRequest(ctx, hash("request-missing"), at(time.Minute))
	isErr(t, "ConsumeAuthRequest(unknown)", err, broker.ErrNotFound)

	got, err := s.ConsumeAuthRequest(ctx, other.Hash, at(time.Minute))
	ok(t, "ConsumeAuthRequest(untouched request)", err)
	equal(t, "untouched request", got, other)
}

func testAuthRequestExpired(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	r := authRequest("r")
	ok(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, r))
	_, err := s.ConsumeAuthRequest(ctx, r.Hash, r.ExpiresAt.Add(time.Hour))
	isErr(t, "ConsumeAuthRequest(expired)", err, broker.ErrNotFound)
	_, err = s.ConsumeAuthRequest(ctx, r.Hash, r.ExpiresAt)
	isErr(t, "ConsumeAuthRequest(expiring this instant)", err, broker.ErrNotFound)

	// Expiry is judged at now, not by the wall clock: t0 is years away.
	live := authRequest("live")
	ok(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, live))
	got, err := s.ConsumeAuthRequest(ctx, live.Hash, live.ExpiresAt.Add(-time.Second))
	ok(t, "ConsumeAuthRequest(a second before expiry)", err)
	equal(t, "ConsumeAuthRequest", got, live)
}

func testAuthRequestDuplicate(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	r := authRequest("r")
	ok(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, r))
	dup := authRequest("dup")
	dup.Hash = r.Hash
	isErr(t, "CreateAuthRequest(same hash)", s.CreateAuthRequest(ctx, dup), broker.ErrAlreadyExists)
	got, err := s.ConsumeAuthRequest(ctx, r.Hash, at(time.Minute))
	ok(t, "ConsumeAuthRequest", err)
	equal(t, "request after refused duplicate", got, r)
}

func testCodeConsume(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	c := createCode(t, s, authCode("c"))
	// No PKCE and no nonce: the empty strings must survive.
	bare := authCode("bare")
	bare.Nonce, bare.CodeChallenge = "", ""
	createCode(t, s, bare)

	now := at(10 * time.Second).In(jst)
	got, err := s.ConsumeCode(ctx, c.Hash, now, "family-1", codeKeep)
	ok(t, "ConsumeCode", err)
	used := c
	used.UsedAt, used.FamilyID, used.ExpiresAt = now, "family-1", codeKeep
	equal(t, "ConsumeCode", got, used)

	// A replay gets the stored code back, with the first exchange's family
	// and time, so that the broker can revoke what it issued.
	for i, when := range []time.Time{at(20 * time.Second), now} {
		got, err = s.ConsumeCode(ctx, c.Hash, when, "family-2", codeKeep)
		isErr(t, "ConsumeCode(replay)", err, broker.ErrConflict)
		equal(t, fmt.Sprintf("code returned with ErrConflict (replay %d)", i+1), got, used)
	}

	got, err = s.ConsumeCode(ctx, bare.Hash, at(30*time.Second), "family-3", codeKeep)
	ok(t, "ConsumeCode(other code)", err)
	bare.UsedAt, bare.FamilyID, bare.ExpiresAt = at(30*time.Second), "family-3", codeKeep
	equal(t, "ConsumeCode(other code)", got, bare)
}

func testCodeConsumeRefused(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	_, err := s.ConsumeCode(ctx, hash("code-missing"), t0, "family-x", codeKeep)
	isErr(t, "ConsumeCode(unknown)", err, broker.ErrNotFound)

	c := createCode(t, s, authCode("expired"))
	_, err = s.ConsumeCode(ctx, c.Hash, c.ExpiresAt.Add(time.Second), "family-x", codeKeep)
	isErr(t, "ConsumeCode(expired)", err, broker.ErrNotFound)
	_, err = s.ConsumeCode(ctx, c.Hash, c.ExpiresAt, "family-x", codeKeep)
	isErr(t, "ConsumeCode(expiring this instant)", err, broker.ErrNotFound)

	// A used code is kept until keepUntil, the end of its family's life: a
	// replay after the code's own expiry is still a replay, with the family
	// to revoke; only after keepUntil is it gone.
	u := createCode(t, s, authCode("used"))
	keep := u.ExpiresAt.Add(time.Hour)
	_, err = s.ConsumeCode(ctx, u.Hash, at(time.Second), "family-u", keep)
	ok(t, "ConsumeCode", err)
	got, err := s.ConsumeCode(ctx, u.Hash, u.ExpiresAt.Add(time.Second), "family-y", codeKeep)
	isErr(t, "ConsumeCode(used, replayed after the code's expiry)", err, broker.ErrConflict)
	if got.FamilyID != "family-u" {
		t.Errorf("ConsumeCode(used, replayed after the code's expiry): family %q, want family-u", got.FamilyID)
	}
	_, err = s.ConsumeCode(ctx, u.Hash, keep, "family-y", codeKeep)
	isErr(t, "ConsumeCode(used, after keepUntil)", err, broker.ErrNotFound)
}

// codeKeep is the keepUntil of codes whose keeping the case does not test.
var codeKeep = at(72 * time.Hour)

func testCodeDuplicate(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	c := createCode(t, s, authCode("c"))
	dup := authCode("dup")
	dup.Hash = c.Hash
	isErr(t, "CreateCode(same hash)", s.CreateCode(ctx, dup), broker.ErrAlreadyExists)
	got, err := s.ConsumeCode(ctx, c.Hash, at(time.Second), "family-1", codeKeep)
	ok(t, "ConsumeCode", err)
	c.UsedAt, c.FamilyID, c.ExpiresAt = at(time.Second), "family-1", codeKeep
	equal(t, "code after refused duplicate", got, c)
}

// testPurgeExpiredAuth: requests and codes go once expired, used or not, and
// live ones stay, a used one still recognised as used.
func testPurgeExpiredAuth(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	now := at(time.Hour)
	req := func(name string, expires time.Duration) broker.AuthRequest {
		r := authRequest(name)
		r.ExpiresAt = at(expires)
		ok(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, r))
		return r
	}
	code := func(name string, expires time.Duration) broker.AuthCode {
		c := authCode(name)
		c.ExpiresAt = at(expires)
		return createCode(t, s, c)
	}
	deadReq, liveReq := req("dead", 30*time.Minute), req("live", 2*time.Hour)
	deadCode, deadUsed := code("dead", 30*time.Minute), code("dead-used", 30*time.Minute)
	liveCode, liveUsed := code("live", 2*time.Hour), code("live-used", 2*time.Hour)
	for _, c := range []broker.AuthCode{deadUsed, liveUsed} {
		_, err := s.ConsumeCode(ctx, c.Hash, at(time.Minute), "family-"+c.Nonce, c.ExpiresAt)
		ok(t, "ConsumeCode", err)
	}
	liveUsed.UsedAt, liveUsed.FamilyID = at(time.Minute), "family-"+liveUsed.Nonce

	n, err := s.PurgeExpired(ctx, now)
	ok(t, "PurgeExpired", err)
	if n != 3 {
		t.Errorf("PurgeExpired: got %d rows, want 3 (1 request, 2 codes)", n)
	}
	n, err = s.PurgeExpired(ctx, now)
	ok(t, "PurgeExpired(again)", err)
	if n != 0 {
		t.Errorf("second PurgeExpired: got %d rows, want 0", n)
	}

	// Consuming at t0 would succeed if the rows were still there.
	_, err = s.ConsumeAuthRequest(ctx, deadReq.Hash, t0)
	isErr(t, "ConsumeAuthRequest(purged)", err, broker.ErrNotFound)
	for _, c := range []broker.AuthCode{deadCode, deadUsed} {
		_, err = s.ConsumeCode(ctx, c.Hash, t0, "family-z", codeKeep)
		isErr(t, "ConsumeCode(purged)", err, broker.ErrNotFound)
	}
	got, err := s.ConsumeAuthRequest(ctx, liveReq.Hash, now)
	ok(t, "ConsumeAuthRequest(live)", err)
	equal(t, "live request", got, liveReq)
	gotCode, err := s.ConsumeCode(ctx, liveCode.Hash, now, "family-live", codeKeep)
	ok(t, "ConsumeCode(live)", err)
	liveCode.UsedAt, liveCode.FamilyID, liveCode.ExpiresAt = now, "family-live", codeKeep
	equal(t, "live code", gotCode, liveCode)
	gotCode, err = s.ConsumeCode(ctx, liveUsed.Hash, now, "family-replay", codeKeep)
	isErr(t, "ConsumeCode(live, used)", err, broker.ErrConflict)
	equal(t, "live used code", gotCode, liveUsed)
}
