package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// testCase is one conformance check. closes marks a case that closes the
// store itself, so Run must not close it a second time.
type testCase struct {
	name   string
	run    func(t *testing.T, s broker.Store)
	closes bool
}

// Run runs every conformance case, each in its own subtest against a store
// made by newStore. newStore must return an empty store with the schema
// applied; Run closes it when the subtest ends.
func Run(t *testing.T, newStore func(t *testing.T) broker.Store) {
	t.Helper()
	var cases []testCase
	cases = append(cases, identityCases()...)
	cases = append(cases, tokenCases()...)
	cases = append(cases, authCases()...)
	cases = append(cases, deviceCases()...)
	cases = append(cases, accountCases()...)
	cases = append(cases, txCases()...)
	cases = append(cases, concurrencyCases()...)
	cases = append(cases, gs2Cases()...)
	cases = append(cases, xsollaCases()...)
	cases = append(cases, operatorCases()...)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newStore(t)
			if !c.closes {
				t.Cleanup(func() {
					if err := s.Close(); err != nil {
						t.Errorf("Close: %v", err)
					}
				})
			}
			c.run(t, s)
		})
	}
}

// caseTimeout bounds each case, so that a deadlock — say, a transaction's fn
// waiting for a pool connection that the transaction itself holds — fails the
// case instead of hanging the test binary.
const caseTimeout = time.Minute

// caseCtx is the context every store call in a case runs under.
func caseCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), caseTimeout)
	t.Cleanup(cancel)
	return ctx
}

// t0 is the suite's clock. Its sub-millisecond part is deliberate: stores
// keep milliseconds (SQLite) or microseconds (PostgreSQL), and every
// comparison truncates to the millisecond, so a store that rounds where it
// should truncate — or drops more than that — fails. Every other instant is
// t0 plus whole seconds, which keeps the sub-millisecond part identical.
var t0 = time.Date(2031, time.March, 14, 15, 9, 26, 535897932, time.UTC)

// jst is a non-UTC zone for inputs: a store must keep the instant, not the
// wall clock.
var jst = time.FixedZone("JST", 9*60*60)

func at(d time.Duration) time.Time { return t0.Add(d) }

// hash stands in for the SHA-256 of an opaque refresh token.
func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

var timeType = reflect.TypeFor[time.Time]()

// canon returns v with every time truncated to the millisecond in UTC and
// every empty slice nil: the precision and the NULL-versus-empty distinction
// that the contract does not promise to keep.
func canon[T any](v T) T {
	rv := reflect.ValueOf(&v).Elem()
	canonValue(rv)
	return v
}

func canonValue(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == timeType {
			tm := v.Interface().(time.Time)
			v.Set(reflect.ValueOf(tm.Truncate(time.Millisecond).UTC()))
			return
		}
		for i := range v.NumField() {
			canonValue(v.Field(i))
		}
	case reflect.Slice:
		if v.Len() == 0 {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		if v.Type().Elem().Kind() != reflect.Struct {
			return
		}
		// Copy first: the caller's backing array must not change under it.
		cp := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(cp, v)
		for i := range cp.Len() {
			canonValue(cp.Index(i))
		}
		v.Set(cp)
	}
}

// equal fails the test unless got and want agree up to canon.
func equal[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if g, w := canon(got), canon(want); !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, g, w)
	}
}

// ok stops the test on an unexpected error.
func ok(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: unexpected error: %v", what, err)
	}
}

// isErr fails the test unless err wraps want.
func isErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got error %v, want %v", what, err, want)
	}
}

// failsNotDuplicate checks a write that breaks a reference or check
// constraint: it must fail, and must not be reported as a duplicate, which
// callers treat as "someone else got there first".
func failsNotDuplicate(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: succeeded, want an error", what)
	} else if errors.Is(err, broker.ErrAlreadyExists) {
		t.Errorf("%s: got %v, want an error other than ErrAlreadyExists", what, err)
	}
}

func sameBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s: got %x, want %x", what, got, want)
	}
}

// ids lists the IDs of xs in order, for readable ordering failures.
func ids[T any](xs []T, id func(T) string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = id(x)
	}
	return out
}
