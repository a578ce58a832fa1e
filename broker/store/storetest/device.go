package storetest

import (
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

func deviceCases() []testCase {
	return []testCase{
		{name: "Device/RoundTrip", run: testDeviceRoundTrip},
		{name: "Device/Decide", run: testDeviceDecide},
		{name: "Device/IssueOnce", run: testDeviceIssueOnce},
		{name: "Device/IssueRace", run: testDeviceIssueRace},
		{name: "PurgeExpired/Device", run: testPurgeDevice},
	}
}

// deviceCode is a pending code that expires ten minutes after t0.
func deviceCode(name string) broker.DeviceCode {
	return broker.DeviceCode{
		DeviceHash: hash("device-" + name), UserHash: hash("user-" + name),
		ClientID: "client-1", NamespaceID: "ns-1", Scope: "openid game", Resource: "https://matchmaking.example/",
		Status: broker.DevicePending, Interval: 5 * time.Second,
		CreatedAt: t0.In(jst), ExpiresAt: at(10 * time.Minute),
	}
}

func newDeviceCode(t *testing.T, s broker.Store, d broker.DeviceCode) broker.DeviceCode {
	t.Helper()
	ok(t, "CreateDeviceCode", s.CreateDeviceCode(caseCtx(t), d))
	return d
}

func testDeviceRoundTrip(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	d := newDeviceCode(t, s, deviceCode("a"))
	got, err := s.GetDeviceCode(ctx, d.DeviceHash)
	ok(t, "GetDeviceCode", err)
	equal(t, "by device code", got, d)
	got, err = s.GetDeviceCodeByUser(ctx, d.UserHash)
	ok(t, "GetDeviceCodeByUser", err)
	equal(t, "by user code", got, d)

	ok(t, "PollDeviceCode", s.PollDeviceCode(ctx, d.DeviceHash, at(time.Minute), 10*time.Second))
	d.LastPollAt, d.Interval = at(time.Minute), 10*time.Second
	got, err = s.GetDeviceCode(ctx, d.DeviceHash)
	ok(t, "GetDeviceCode after a poll", err)
	equal(t, "after a poll", got, d)

	// Another code with the same user code: the user code must stay unique.
	dup := deviceCode("b")
	dup.UserHash = d.UserHash
	isErr(t, "CreateDeviceCode(user code taken)", s.CreateDeviceCode(ctx, dup), broker.ErrAlreadyExists)
	_, err = s.GetDeviceCode(ctx, hash("device-unknown"))
	isErr(t, "GetDeviceCode(unknown)", err, broker.ErrNotFound)
	isErr(t, "PollDeviceCode(unknown)", s.PollDeviceCode(ctx, hash("device-unknown"), at(time.Minute), time.Second), broker.ErrNotFound)
}

func testDeviceDecide(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	d := newDeviceCode(t, s, deviceCode("approve"))
	ok(t, "DecideDeviceCode", s.DecideDeviceCode(ctx, d.UserHash, broker.DeviceApproved, "u-1", at(time.Minute), at(2*time.Minute)))
	d.Status, d.UserID, d.AuthTime = broker.DeviceApproved, "u-1", at(time.Minute)
	got, err := s.GetDeviceCode(ctx, d.DeviceHash)
	ok(t, "GetDeviceCode", err)
	equal(t, "approved", got, d)
	// Decided once: a second decision, of either kind, finds nothing.
	isErr(t, "DecideDeviceCode(again)", s.DecideDeviceCode(ctx, d.UserHash, broker.DeviceDenied, "u-2", at(time.Minute), at(2*time.Minute)), broker.ErrNotFound)

	expired := newDeviceCode(t, s, deviceCode("late"))
	isErr(t, "DecideDeviceCode(expired)", s.DecideDeviceCode(ctx, expired.UserHash, broker.DeviceApproved, "u-1", at(time.Hour), at(time.Hour)), broker.ErrNotFound)
	denied := newDeviceCode(t, s, deviceCode("deny"))
	ok(t, "DecideDeviceCode(deny)", s.DecideDeviceCode(ctx, denied.UserHash, broker.DeviceDenied, "", at(time.Minute), at(time.Minute)))
	isErr(t, "IssueDeviceCode(denied)", s.IssueDeviceCode(ctx, denied.DeviceHash), broker.ErrNotFound)
}

func testDeviceIssueOnce(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	d := newDeviceCode(t, s, deviceCode("issue"))
	isErr(t, "IssueDeviceCode(pending)", s.IssueDeviceCode(ctx, d.DeviceHash), broker.ErrNotFound)
	ok(t, "DecideDeviceCode", s.DecideDeviceCode(ctx, d.UserHash, broker.DeviceApproved, "u-1", at(time.Minute), at(time.Minute)))
	ok(t, "IssueDeviceCode", s.IssueDeviceCode(ctx, d.DeviceHash))
	isErr(t, "IssueDeviceCode(again)", s.IssueDeviceCode(ctx, d.DeviceHash), broker.ErrNotFound)
	got, err := s.GetDeviceCode(ctx, d.DeviceHash)
	ok(t, "GetDeviceCode", err)
	if got.Status != broker.DeviceIssued {
		t.Errorf("status %q, want %q", got.Status, broker.DeviceIssued)
	}
}

// testDeviceIssueRace: of concurrent polls of an approved code, one spends it.
func testDeviceIssueRace(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	const n = 8
	warmUp(t, s, n)
	d := newDeviceCode(t, s, deviceCode("race"))
	ok(t, "DecideDeviceCode", s.DecideDeviceCode(ctx, d.UserHash, broker.DeviceApproved, "u-1", at(time.Minute), at(time.Minute)))
	errs := race(n, func(int) error { return s.IssueDeviceCode(ctx, d.DeviceHash) })
	winner(t, "IssueDeviceCode", errs, broker.ErrNotFound)
}

func testPurgeDevice(t *testing.T, s broker.Store) {
	ctx := caseCtx(t)
	gone := deviceCode("gone")
	gone.ExpiresAt = at(time.Minute)
	newDeviceCode(t, s, gone)
	live := newDeviceCode(t, s, deviceCode("live"))
	n, err := s.PurgeExpired(ctx, at(5*time.Minute))
	ok(t, "PurgeExpired", err)
	if n != 1 {
		t.Errorf("PurgeExpired: %d rows, want 1", n)
	}
	_, err = s.GetDeviceCode(ctx, gone.DeviceHash)
	isErr(t, "GetDeviceCode(purged)", err, broker.ErrNotFound)
	_, err = s.GetDeviceCode(ctx, live.DeviceHash)
	ok(t, "GetDeviceCode(live)", err)
}
