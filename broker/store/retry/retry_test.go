package retry

import (
	"context"
	"errors"
	"testing"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

func TestTx(t *testing.T) {
	driver := errors.New("SQLITE_BUSY")
	other := errors.New("syntax error")
	for _, tc := range []struct {
		name      string
		fails     []error // what each attempt returns, then nil
		wantCalls int
		wantErr   error // nil: success
		wantBusy  bool
	}{
		{"should succeed at once", nil, 1, nil, false},
		{"should succeed after busy attempts", []error{Busy(driver), Busy(driver)}, 3, nil, false},
		{"should stop after Attempts because it stays busy", []error{Busy(driver), Busy(driver), Busy(driver), Busy(driver)}, Attempts, broker.ErrUnavailable, true},
		{"should not retry because the error is not busy", []error{other}, 1, other, false},
		{"should not turn a conflict into unavailable", []error{broker.ErrConflict}, 1, broker.ErrConflict, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			err := Tx(t.Context(), func() error {
				calls++
				if calls <= len(tc.fails) {
					return tc.fails[calls-1]
				}
				return nil
			})
			if calls != tc.wantCalls {
				t.Errorf("fn ran %d times, want %d", calls, tc.wantCalls)
			}
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
			if IsBusy(err) != tc.wantBusy {
				t.Errorf("IsBusy(%v) = %v, want %v", err, IsBusy(err), tc.wantBusy)
			}
			if tc.wantBusy && !errors.Is(err, driver) {
				t.Errorf("the driver's error is not in the chain: %v", err)
			}
		})
	}
}

func TestTxStopsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	calls := 0
	err := Tx(ctx, func() error {
		calls++
		cancel()
		return Busy(errors.New("busy"))
	})
	if calls != 1 || !errors.Is(err, context.Canceled) || !errors.Is(err, broker.ErrUnavailable) {
		t.Errorf("after cancel: %d calls, err %v; want 1 call, canceled and unavailable", calls, err)
	}
}
