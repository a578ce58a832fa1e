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
	if len(events) != 1 || !strings.Contains(events[0].Target, target) {
		t.Fatalf("%s events of user %s: %+v, want one on %q", typ, user, events, target)
	}
	return wantLogged(t, f, events[0])
}

// wantAuditOf is wantAudit where the user has other events of the type:
// one of them must be on exactly target.
func wantAuditOf(t *testing.T, f *fixture, typ, user, target string) broker.AuditEvent {
	t.Helper()
	events, err := f.Store.ListAudit(context.Background(), broker.AuditQuery{UserID: user, Type: typ, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if e.Target == target {
			return wantLogged(t, f, e)
		}
	}
	t.Fatalf("%s events of user %s: %+v, want one on %q", typ, user, events, target)
	return broker.AuditEvent{}
}

// wantLogged checks that e was logged as a structured "audit" line.
func wantLogged(t *testing.T, f *fixture, e broker.AuditEvent) broker.AuditEvent {
	t.Helper()
	typ := e.Type
	if !strings.Contains(f.Logs.String(), `"msg":"audit","event":"`+typ+`","id":"`+e.ID+`"`) {
		t.Errorf("the %s event %s was not logged", typ, e.ID)
	}
	return e
}
