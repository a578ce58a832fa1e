package web_test

import (
	"context"
	"strings"
	"testing"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// wantAudit checks that the trail holds exactly one event of typ about
// user whose target starts with target, and that it was logged as a
// structured "audit" line: the security events the broker records itself
// (issue 14 item 3).
func wantAudit(t *testing.T, f *fixture, typ, user, target string) broker.AuditEvent {
	t.Helper()
	events, err := f.Store.ListAudit(context.Background(), broker.AuditQuery{UserID: user, Type: typ, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || !strings.HasPrefix(events[0].Target, target) {
		t.Fatalf("%s events of user %s: %+v, want one on %q", typ, user, events, target)
	}
	e := events[0]
	if !strings.Contains(f.Logs.String(), `"msg":"audit","event":"`+typ+`","id":"`+e.ID+`"`) {
		t.Errorf("the %s event %s was not logged", typ, e.ID)
	}
	return e
}
