package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/keys"
)

func tokenCases() []testCase {
	return []testCase{
		{name: "Refresh/RoundTrip", run: testRefreshRoundTrip},
		{name: "Refresh/CreateByLink", run: testCreateByLink},
		{name: "Refresh/Rotate", run: testRotate},
		{name: "Refresh/RotateRefused", run: testRotateRefused},
		{name: "Refresh/RotateSpendsProof", run: testRotateSpendsProof},
		{name: "Refresh/RevokeFamily", run: testRevokeFamily},
		{name: "AccessToken/Revoke", run: testRevokeAccessToken},
		{name: "Key/CreateList", run: testKeys},
		{name: "Key/Retire", run: testRetireKey},
		{name: "PurgeExpired", run: testPurgeExpired},
		{name: "PurgeExpired/RevocationNeverShortened", run: testRevocationNeverShortened},
		{name: "Once/UseOnce", run: testUseOnce},
		{name: "Once/Race", run: testUseOnceRace},
		{name: "PingClose", run: testPingClose, closes: true},
	}
}

// refreshToken is a fresh token of its own family, valid for 90 days from t0.
// Its row key is not its hash, so that a store that mixes the two fails.
func refreshToken(name string) broker.RefreshToken {
	return broker.RefreshToken{
		Key:         hash("row-" + name)[:16],
		Hash:        hash(name),
		FamilyID:    "family-" + name,
		ClientID:    "client-1",
		UserID:      "user-1",
		NamespaceID: "ns-1",
		Scope:       "openid gs2",
		TimeOffset:  3600,
		Resource:    "https://matchmaking.example/",
		CreatedAt:   t0.In(jst),
		ExpiresAt:   at(90 * 24 * time.Hour),
	}
}

func createToken(t *testing.T, s broker.Store, rt broker.RefreshToken) broker.RefreshToken {
	t.Helper()
	ok(t, "CreateRefreshToken", s.CreateRefreshToken(caseCtx(t), rt))
	return rt
}

// rotation spends old at now for its own client, with a 90-day successor.
func rotation(old broker.RefreshToken, newName string, now time.Time) broker.Rotation {
	return broker.Rotation{
		Key:       old.Key,
		OldHash:   old.Hash,
		NewHash:   hash(newName),
		ClientID:  old.ClientID,
		Now:       now,
		ExpiresAt: now.Add(90 * 24 * time.Hour),
	}
}

// successor is what a rotation of old must produce.
func successor(old broker.RefreshToken, r broker.Rotation) broker.RefreshToken {
	return broker.RefreshToken{
		Key:         r.Key,
		Hash:        r.NewHash,
		FamilyID:    old.FamilyID,
		ClientID:    old.ClientID,
		UserID:      old.UserID,
		NamespaceID: old.NamespaceID,
		Scope:       old.Scope,
		TimeOffset:  old.TimeOffset,
		Resource:    old.Resource,
		JKT:         old.JKT,
		CreatedAt:   r.Now,
		ExpiresAt:   r.ExpiresAt,
	}
}

// getToken is how the store reports token rt of its family.
func getToken(t *testing.T, s broker.Store, rt broker.RefreshToken) broker.RefreshToken {
	t.Helper()
	got, err := s.GetRefreshToken(caseCtx(t), rt.Key, rt.Hash)
	ok(t, "GetRefreshToken", err)
	return got
}

// spent is how the store reports tok once its family has moved past it:
// spent at spentAt (the family's start for a token older than the one
// just replaced), created, as far as is known, at the family's start, and
// expiring with the family's current token cur.
func spent(tok, cur broker.RefreshToken, started, spentAt time.Time) broker.RefreshToken {
	tok.CreatedAt, tok.SpentAt, tok.ExpiresAt = started, spentAt, cur.ExpiresAt
	return tok
}

// notCurrent checks that hash is not the current token of the family kept
// under key: what a refused rotation must leave.
func notCurrent(t *testing.T, s broker.Store, what string, key, hash []byte) {
	t.Helper()
	got, err := s.GetRefreshToken(caseCtx(t), key, hash)
	if err == nil && got.SpentAt.IsZero() {
		t.Errorf("%s: %x is the current token of its family", what, hash)
	}
}

func testRefreshRoundTrip(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	a := createToken(t, s, refreshToken("a"))
	b := refreshToken("b")
	b.TimeOffset, b.Scope = -7200, ""
	createToken(t, s, b)

	equal(t, "GetRefreshToken a", getToken(t, s, a), a)
	equal(t, "GetRefreshToken b", getToken(t, s, b), b)
	_, err := s.GetRefreshToken(ctx, []byte("row-missing"), hash("missing"))
	isErr(t, "GetRefreshToken(missing)", err, broker.ErrNotFound)
	_, err = s.GetRefreshToken(ctx, a.Hash, a.Hash)
	isErr(t, "GetRefreshToken(a's hash as the key)", err, broker.ErrNotFound)

	dup := refreshToken("c")
	dup.Key = a.Key
	isErr(t, "CreateRefreshToken(same key)", s.CreateRefreshToken(ctx, dup), broker.ErrAlreadyExists)
	equal(t, "token after refused duplicate", getToken(t, s, a), a)
}

func testCreateByLink(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	newNamespace(t, s, "ns-1", "alpha")
	newNamespace(t, s, "ns-2", "beta")
	u := newUser(t, s, "u-1", "ns-1")
	ok(t, "CreateLink", s.CreateLink(ctx, broker.Link{NamespaceID: "ns-1", Slot: 3, Identifier: "player-1", UserID: u.ID, CreatedAt: t0}))

	rt := refreshToken("by-link")
	rt.UserID = "ignored: the link names the user"
	got, err := s.CreateRefreshTokenByLink(ctx, 3, "player-1", rt)
	ok(t, "CreateRefreshTokenByLink", err)
	want := rt
	want.UserID = u.ID
	equal(t, "CreateRefreshTokenByLink result", got, want)
	equal(t, "stored token", getToken(t, s, rt), want)

	for _, miss := range []struct {
		ns, identifier string
		slot           int
	}{{"ns-1", "player-2", 3}, {"ns-1", "player-1", 4}, {"ns-2", "player-1", 3}} {
		m := refreshToken("miss-" + miss.ns + miss.identifier)
		m.NamespaceID = miss.ns
		_, err := s.CreateRefreshTokenByLink(ctx, miss.slot, miss.identifier, m)
		isErr(t, "CreateRefreshTokenByLink(no link)", err, broker.ErrNotFound)
		_, err = s.GetRefreshToken(ctx, m.Key, m.Hash)
		isErr(t, "token of a refused create", err, broker.ErrNotFound)
	}
}

func testRotate(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	old := refreshToken("gen-0")
	old.TimeOffset, old.JKT = -300, "dpop-key-1"
	createToken(t, s, old)
	unrelated := createToken(t, s, refreshToken("unrelated"))

	r1 := rotation(old, "gen-1", at(time.Hour))
	r1.JKT = old.JKT
	next, err := s.RotateRefreshToken(ctx, r1)
	ok(t, "RotateRefreshToken", err)
	want1 := successor(old, r1)
	equal(t, "RotateRefreshToken result", next, want1)
	equal(t, "stored successor", getToken(t, s, want1), want1)
	equal(t, "spent token", getToken(t, s, old), spent(old, want1, old.CreatedAt, r1.Now))

	// The successor rotates in turn and stays in the family.
	r2 := rotation(next, "gen-2", at(2*time.Hour))
	r2.JKT = old.JKT
	next2, err := s.RotateRefreshToken(ctx, r2)
	ok(t, "RotateRefreshToken(successor)", err)
	want2 := successor(old, r2)
	equal(t, "second successor", next2, want2)
	equal(t, "spent successor", getToken(t, s, want1), spent(want1, want2, old.CreatedAt, r2.Now))
	equal(t, "first token after second rotation", getToken(t, s, old), spent(old, want2, old.CreatedAt, old.CreatedAt))
	equal(t, "unrelated token", getToken(t, s, unrelated), unrelated)
}

func testRotateRefused(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	for _, c := range []struct {
		name string
		// setup creates the token and returns the rotation that must fail
		// and the token as it must stay.
		setup func(name string) (broker.Rotation, broker.RefreshToken)
	}{
		{"unknown token", func(name string) (broker.Rotation, broker.RefreshToken) {
			return rotation(refreshToken(name), name+"-next", at(time.Hour)), broker.RefreshToken{}
		}},
		{"spent", func(name string) (broker.Rotation, broker.RefreshToken) {
			rt := createToken(t, s, refreshToken(name))
			first := rotation(rt, name+"-first", at(time.Hour))
			cur, err := s.RotateRefreshToken(ctx, first)
			ok(t, "first rotation", err)
			return rotation(rt, name+"-next", at(2*time.Hour)), spent(rt, cur, rt.CreatedAt, first.Now)
		}},
		{"expired", func(name string) (broker.Rotation, broker.RefreshToken) {
			rt := createToken(t, s, refreshToken(name))
			return rotation(rt, name+"-next", rt.ExpiresAt.Add(time.Second)), rt
		}},
		{"expiring this instant", func(name string) (broker.Rotation, broker.RefreshToken) {
			rt := createToken(t, s, refreshToken(name))
			return rotation(rt, name+"-next", rt.ExpiresAt), rt
		}},
		{"other client", func(name string) (broker.Rotation, broker.RefreshToken) {
			rt := createToken(t, s, refreshToken(name))
			r := rotation(rt, name+"-next", at(time.Hour))
			r.ClientID = "client-2"
			return r, rt
		}},
		{"bound to another DPoP key", func(name string) (broker.Rotation, broker.RefreshToken) {
			rt := refreshToken(name)
			rt.JKT = "dpop-key-1"
			createToken(t, s, rt)
			r := rotation(rt, name+"-next", at(time.Hour))
			r.JKT = "dpop-key-2"
			return r, rt
		}},
		{"bound to a DPoP key, and no proof", func(name string) (broker.Rotation, broker.RefreshToken) {
			rt := refreshToken(name)
			rt.JKT = "dpop-key-1"
			createToken(t, s, rt)
			return rotation(rt, name+"-next", at(time.Hour)), rt
		}},
		{"family revoked", func(name string) (broker.Rotation, broker.RefreshToken) {
			rt := createToken(t, s, refreshToken(name))
			ok(t, "RevokeFamily", s.RevokeFamily(ctx, rt.FamilyID, rt.Key, at(time.Minute), rt.ExpiresAt))
			rt.FamilyRevoked = true
			return rotation(rt, name+"-next", at(time.Hour)), rt
		}},
		{"family revoked after a rotation", func(name string) (broker.Rotation, broker.RefreshToken) {
			rt := createToken(t, s, refreshToken(name))
			next, err := s.RotateRefreshToken(ctx, rotation(rt, name+"-2", at(time.Minute)))
			ok(t, "RotateRefreshToken", err)
			ok(t, "RevokeFamily", s.RevokeFamily(ctx, rt.FamilyID, rt.Key, at(2*time.Minute), rt.ExpiresAt))
			next.FamilyRevoked = true
			return rotation(next, name+"-next", at(time.Hour)), next
		}},
	} {
		name := "refused-" + c.name
		r, want := c.setup(name)
		_, err := s.RotateRefreshToken(ctx, r)
		isErr(t, "RotateRefreshToken("+c.name+")", err, broker.ErrNotFound)
		if want.Hash != nil {
			equal(t, c.name+": token after refusal", getToken(t, s, want), want)
		}
		notCurrent(t, s, c.name+": successor after refusal", r.Key, r.NewHash)
	}
}

// testRotateSpendsProof: a rotation with a proof spends it with the
// successor, in the same record UseOnce keeps; a proof spent before, there
// or by UseOnce, fails the rotation and leaves the token unspent.
func testRotateSpendsProof(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	old := createToken(t, s, refreshToken("proof-0"))
	until := time.Now().Add(time.Hour) // UseOnce keeps the database's time
	r1 := rotation(old, "proof-1", at(time.Hour))
	r1.Proof = broker.Once{Key: "jkt:proof-a", Until: until}
	next, err := s.RotateRefreshToken(ctx, r1)
	ok(t, "RotateRefreshToken(fresh proof)", err)
	first, err := s.UseOnce(ctx, r1.Proof.Key, until)
	ok(t, "UseOnce", err)
	if first {
		t.Errorf("UseOnce of the proof a rotation spent: first = true, want false")
	}

	ok(t, "UseOnce(proof-b)", func() error { _, err := s.UseOnce(ctx, "jkt:proof-b", until); return err }())
	for _, key := range []string{"jkt:proof-a", "jkt:proof-b"} {
		r := rotation(next, "proof-2-"+key, at(2*time.Hour))
		r.Proof = broker.Once{Key: key, Until: until}
		_, err = s.RotateRefreshToken(ctx, r)
		isErr(t, "RotateRefreshToken(spent proof "+key+")", err, broker.ErrProofReplayed)
		equal(t, "token after a replayed proof", getToken(t, s, next), next)
		notCurrent(t, s, "successor after a replayed proof", r.Key, r.NewHash)
	}
	r2 := rotation(next, "proof-2", at(2*time.Hour))
	r2.Proof = broker.Once{Key: "jkt:proof-c", Until: until}
	_, err = s.RotateRefreshToken(ctx, r2)
	ok(t, "RotateRefreshToken(fresh proof after refusals)", err)
}

func testRevokeFamily(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	a := createToken(t, s, refreshToken("a"))
	r := rotation(a, "a2", at(time.Hour))
	a2, err := s.RotateRefreshToken(ctx, r)
	ok(t, "RotateRefreshToken", err)
	other := createToken(t, s, refreshToken("other"))

	revoked, err := s.FamilyRevoked(ctx, a.FamilyID)
	ok(t, "FamilyRevoked", err)
	if revoked {
		t.Fatalf("FamilyRevoked before RevokeFamily: got true")
	}
	ok(t, "RevokeFamily", s.RevokeFamily(ctx, a.FamilyID, a.Key, at(2*time.Hour), at(91*24*time.Hour)))
	ok(t, "RevokeFamily(again)", s.RevokeFamily(ctx, a.FamilyID, a.Key, at(3*time.Hour), at(91*24*time.Hour)))
	ok(t, "RevokeFamily(no tokens)", s.RevokeFamily(ctx, "family-empty", nil, at(2*time.Hour), at(time.Hour*3)))

	for _, c := range []struct {
		family string
		want   bool
	}{{a.FamilyID, true}, {"family-empty", true}, {other.FamilyID, false}, {"family-unknown", false}} {
		got, err := s.FamilyRevoked(ctx, c.family)
		ok(t, "FamilyRevoked", err)
		if got != c.want {
			t.Errorf("FamilyRevoked(%s): got %v, want %v", c.family, got, c.want)
		}
	}
	a.FamilyRevoked, a2.FamilyRevoked = true, true
	equal(t, "spent token of the revoked family", getToken(t, s, a), spent(a, a2, a.CreatedAt, r.Now))
	equal(t, "live token of the revoked family", getToken(t, s, a2), a2)
	equal(t, "token of another family", getToken(t, s, other), other)
}

func testRevokeAccessToken(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	check := func(jti string, want bool) {
		t.Helper()
		got, err := s.AccessTokenRevoked(ctx, jti)
		ok(t, "AccessTokenRevoked", err)
		if got != want {
			t.Errorf("AccessTokenRevoked(%s): got %v, want %v", jti, got, want)
		}
	}
	check("jti-1", false)
	ok(t, "RevokeAccessToken", s.RevokeAccessToken(ctx, "jti-1", at(time.Hour)))
	ok(t, "RevokeAccessToken(again)", s.RevokeAccessToken(ctx, "jti-1", at(time.Hour)))
	check("jti-1", true)
	check("jti-2", false)
}

func signingKey(id string, created time.Time) keys.SigningKey {
	return keys.SigningKey{ID: id, Alg: "ES256", Sealed: hash("sealed-" + id), CreatedAt: created}
}

func testKeys(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	got, err := s.ListKeys(ctx)
	ok(t, "ListKeys(empty)", err)
	if len(got) != 0 {
		t.Fatalf("ListKeys on an empty store: got %d keys", len(got))
	}
	// Inserted out of order; "a" and "b" share a CreatedAt, so ID breaks the tie.
	late := signingKey("k-late", at(time.Hour))
	late.Alg, late.ActivatesAt = "EdDSA", at(2*time.Hour).In(jst) // scheduled: published before it signs
	first := signingKey("k-first", t0.In(jst))
	first.Alg = "RS256"
	b := signingKey("b", at(30*time.Minute))
	a := signingKey("a", at(30*time.Minute))
	for _, k := range []keys.SigningKey{late, b, first, a} {
		ok(t, "CreateKey "+k.ID, s.CreateKey(ctx, k))
	}
	want := []keys.SigningKey{first, a, b, late}
	got, err = s.ListKeys(ctx)
	ok(t, "ListKeys", err)
	keyID := func(k keys.SigningKey) string { return k.ID }
	if g, w := ids(got, keyID), ids(want, keyID); !slices.Equal(g, w) {
		t.Fatalf("ListKeys order: got %q, want %q", g, w)
	}
	equal(t, "ListKeys", got, want)

	isErr(t, "CreateKey(duplicate)", s.CreateKey(ctx, signingKey("a", t0)), broker.ErrAlreadyExists)
}

func testRetireKey(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	old, cur := signingKey("old", t0), signingKey("cur", at(time.Hour))
	ok(t, "CreateKey", s.CreateKey(ctx, old))
	ok(t, "CreateKey", s.CreateKey(ctx, cur))

	ok(t, "RetireKey", s.RetireKey(ctx, "old", at(2*time.Hour).In(jst), at(26*time.Hour)))
	isErr(t, "RetireKey(already retired)", s.RetireKey(ctx, "old", at(3*time.Hour), at(27*time.Hour)), broker.ErrNotFound)
	isErr(t, "RetireKey(missing)", s.RetireKey(ctx, "missing", at(3*time.Hour), at(27*time.Hour)), broker.ErrNotFound)

	old.RetiredAt, old.PublishUntil = at(2*time.Hour), at(26*time.Hour)
	got, err := s.ListKeys(ctx)
	ok(t, "ListKeys", err)
	equal(t, "ListKeys after RetireKey", got, []keys.SigningKey{old, cur})
}

func testPurgeExpired(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	now := at(10 * time.Hour)
	mk := func(name string, expires time.Duration) broker.RefreshToken {
		rt := refreshToken(name)
		rt.ExpiresAt = at(expires)
		return createToken(t, s, rt)
	}
	spend := func(rt broker.RefreshToken, next string, when, expires time.Duration) (broker.RefreshToken, broker.RefreshToken) {
		r := rotation(rt, next, at(when))
		r.ExpiresAt = at(expires)
		succ, err := s.RotateRefreshToken(ctx, r)
		ok(t, "RotateRefreshToken", err)
		return spent(rt, succ, rt.CreatedAt, r.Now), succ
	}
	// Expired: one spent, its unspent successor. Live: one spent, its successor.
	deadSpent, deadNext := spend(mk("dead", time.Hour), "dead-next", 30*time.Minute, 2*time.Hour)
	liveSpent, liveNext := spend(mk("live", 20*time.Hour), "live-next", 5*time.Hour, 30*time.Hour)
	ok(t, "RevokeFamily", s.RevokeFamily(ctx, "family-old", nil, t0, at(5*time.Hour)))
	ok(t, "RevokeFamily", s.RevokeFamily(ctx, "family-recent", nil, t0, at(15*time.Hour)))
	ok(t, "RevokeAccessToken", s.RevokeAccessToken(ctx, "jti-old", at(time.Hour)))
	ok(t, "RevokeAccessToken", s.RevokeAccessToken(ctx, "jti-recent", at(11*time.Hour)))

	n, err := s.PurgeExpired(ctx, now)
	ok(t, "PurgeExpired", err)
	if n != 3 {
		t.Errorf("PurgeExpired: got %d rows, want 3 (1 refresh-token family, 1 revoked family, 1 access token)", n)
	}
	for _, rt := range []broker.RefreshToken{deadSpent, deadNext} {
		_, err := s.GetRefreshToken(ctx, rt.Key, rt.Hash)
		isErr(t, "GetRefreshToken(purged)", err, broker.ErrNotFound)
	}
	equal(t, "live spent token", getToken(t, s, liveSpent), liveSpent)
	equal(t, "live token", getToken(t, s, liveNext), liveNext)
	for _, c := range []struct {
		what string
		get  func() (bool, error)
		want bool
	}{
		{"FamilyRevoked(family-old)", func() (bool, error) { return s.FamilyRevoked(ctx, "family-old") }, false},
		{"FamilyRevoked(family-recent)", func() (bool, error) { return s.FamilyRevoked(ctx, "family-recent") }, true},
		{"AccessTokenRevoked(jti-old)", func() (bool, error) { return s.AccessTokenRevoked(ctx, "jti-old") }, false},
		{"AccessTokenRevoked(jti-recent)", func() (bool, error) { return s.AccessTokenRevoked(ctx, "jti-recent") }, true},
	} {
		got, err := c.get()
		ok(t, c.what, err)
		if got != c.want {
			t.Errorf("%s after PurgeExpired: got %v, want %v", c.what, got, c.want)
		}
	}

	n, err = s.PurgeExpired(ctx, now)
	ok(t, "PurgeExpired(again)", err)
	if n != 0 {
		t.Errorf("second PurgeExpired: got %d rows, want 0", n)
	}
}

// testRevocationNeverShortened: revoking a family again may extend how long
// the record is kept, never shorten it — a shorter second `until` must not
// let the first one's tokens come back.
func testRevocationNeverShortened(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	ok(t, "RevokeFamily", s.RevokeFamily(ctx, "extended", nil, t0, at(time.Hour)))
	ok(t, "RevokeFamily", s.RevokeFamily(ctx, "extended", nil, at(30*time.Minute), at(3*time.Hour)))
	ok(t, "RevokeFamily", s.RevokeFamily(ctx, "not-shortened", nil, t0, at(3*time.Hour)))
	ok(t, "RevokeFamily", s.RevokeFamily(ctx, "not-shortened", nil, at(time.Hour), at(2*time.Hour)))

	_, err := s.PurgeExpired(ctx, at(150*time.Minute))
	ok(t, "PurgeExpired", err)
	for _, f := range []string{"extended", "not-shortened"} {
		got, err := s.FamilyRevoked(ctx, f)
		ok(t, "FamilyRevoked", err)
		if !got {
			t.Errorf("FamilyRevoked(%s) after purge inside the longest `until`: got false", f)
		}
	}
}

func testPingClose(t *testing.T, s broker.Store) {
	ok(t, "Ping", s.Ping(caseCtx(t)))
	ok(t, "Close", s.Close())
	if err := s.Ping(caseCtx(t)); err == nil {
		t.Errorf("Ping after Close: got nil, want an error")
	}
}

// testUseOnce: a key is used once until it expires, then once again; keys
// are independent; PurgeExpired removes expired ones. UseOnce keeps time by
// the database's clock, so the times here are around now, not t0.
func testUseOnce(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	now := time.Now()
	use := func(key string, until time.Time, want bool) {
		t.Helper()
		first, err := s.UseOnce(ctx, key, until)
		ok(t, "UseOnce "+key, err)
		if first != want {
			t.Errorf("UseOnce(%q) first = %v, want %v", key, first, want)
		}
	}
	use("jkt:jti-1", now.Add(time.Hour), true)
	use("jkt:jti-1", now.Add(time.Hour), false)
	use("jkt:jti-2", now.Add(time.Hour), true)
	use("other-jkt:jti-1", now.Add(time.Hour), true)
	// An expired record no longer holds the key.
	use("jkt:stale", now.Add(-time.Minute), true)
	use("jkt:stale", now.Add(time.Hour), true)
	use("jkt:stale", now.Add(time.Hour), false)
	use("jkt:gone", now.Add(-time.Minute), true)
	n, err := s.PurgeExpired(ctx, now)
	ok(t, "PurgeExpired", err)
	if n != 1 {
		t.Errorf("PurgeExpired: %d rows, want 1 (the expired one-time key)", n)
	}
	use("jkt:jti-1", now.Add(time.Hour), false)
}

// testUseOnceRace: of concurrent first uses of one key, exactly one wins.
func testUseOnceRace(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	const n = 8
	warmUp(t, s, n)
	wins := make([]bool, n)
	until := time.Now().Add(time.Hour) // one value's, as a replay's is
	errs := race(n, func(i int) error {
		first, err := s.UseOnce(ctx, "jkt:raced", until)
		wins[i] = first
		return err
	})
	won := 0
	for i, err := range errs {
		ok(t, "UseOnce", err)
		if wins[i] {
			won++
		}
	}
	if won != 1 {
		t.Errorf("%d of %d concurrent UseOnce calls of one key were first, want 1", won, n)
	}
}
