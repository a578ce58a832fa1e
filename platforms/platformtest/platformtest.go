// Package platformtest holds what the fake platforms (steamtest,
// oauth2tokentest, gamecentertest) and the verifiers' tests share: a
// switch that makes a fake fail or hang on demand, and the checks every
// verifier's refusals must pass.
package platformtest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/platforms"
)

// Outage is how a fake platform fails, for outage tests.
type Outage int

const (
	// Up answers normally.
	Up Outage = iota
	// Failing answers 500 to every request.
	Failing
	// Hanging answers nothing until the caller gives up or the test ends.
	Hanging
)

// Faults stands in front of a fake platform's handler: it counts the
// requests and fails them as its Outage says. It is safe for concurrent
// use.
type Faults struct {
	fail    func(http.ResponseWriter) // the platform's own 500
	release chan struct{}

	mu     sync.Mutex
	outage Outage
	paths  map[string]int // requests by path
}

// Serve starts h on loopback (over TLS when tls) behind new Faults; fail
// writes the platform's 500 (a plain one when nil). The server is closed
// when t ends.
func Serve(t testing.TB, tls bool, fail func(http.ResponseWriter), h http.HandlerFunc) (*httptest.Server, *Faults) {
	t.Helper()
	if fail == nil {
		fail = func(w http.ResponseWriter) {
			http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		}
	}
	f := &Faults{fail: fail, release: make(chan struct{}), paths: map[string]int{}}
	handler := f.wrap(h)
	srv := httptest.NewUnstartedServer(handler)
	if tls {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(func() {
		close(f.release) // let hanging requests go, or Close would wait for them
		srv.Close()
	})
	return srv, f
}

// Set switches how the fake fails; Up restores it.
func (f *Faults) Set(o Outage) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.outage = o
}

// Requests is how many requests the fake has received, failed ones too.
func (f *Faults) Requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.paths {
		n += c
	}
	return n
}

// RequestsTo is how many requests for path the fake has received, failed
// ones too.
func (f *Faults) RequestsTo(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.paths[path]
}

func (f *Faults) wrap(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.paths[r.URL.Path]++
		outage := f.outage
		f.mu.Unlock()
		switch outage {
		case Failing:
			f.fail(w)
		case Hanging:
			select {
			case <-r.Context().Done():
			case <-f.release:
			}
			// Returning would answer 200 with no body, and a client whose
			// timeout closes the connection may still read that answer
			// (net/http uses a response that races the cancellation):
			// the verifier would then refuse an unparsable key instead of
			// reporting the outage. Abort, so that nothing is answered.
			panic(http.ErrAbortHandler)
		default:
			h(w, r)
		}
	}
}

// WantRefusal checks that a verifier refused: err is of kind; desc is in
// its safe description when the credential was refused (the caller is
// shown why) and anywhere in its text for an outage (the detail is for the
// log); a refused credential is blamed on subject_token; no identity came
// with it; and neither the error's text nor its description quotes any of
// secrets (those shorter than 5 characters are too common to judge).
func WantRefusal(t testing.TB, id platforms.Identity, err error, kind broker.Kind, desc string, secrets ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("Verify accepted the credential as %q; want a refusal (%v) saying %q", id.UserID, kind, desc)
	}
	if got := broker.KindOf(err); got != kind {
		t.Errorf("KindOf = %v, want %v (%v)", got, kind, err)
	}
	e := broker.Refusal(err)
	switch {
	case kind == broker.KindInvalid && (e == nil || !strings.Contains(e.Description, desc)):
		t.Errorf("error %q; want a description holding %q", err, desc)
	case !strings.Contains(err.Error(), desc):
		t.Errorf("error %q does not say %q", err, desc)
	}
	if kind == broker.KindInvalid && e != nil && e.Field != "subject_token" {
		t.Errorf("Field = %q, want subject_token", e.Field)
	}
	if id != (platforms.Identity{}) {
		t.Errorf("identity %+v along with the error", id)
	}
	texts := []string{err.Error()}
	if e != nil {
		texts = append(texts, e.Description)
	}
	for _, text := range texts {
		for _, s := range secrets {
			if len(s) > 4 && strings.Contains(text, s) {
				t.Errorf("error %q quotes the secret %q", text, s)
			}
		}
	}
}

// WantUser checks that a verifier accepted the credential as user.
func WantUser(t testing.TB, id platforms.Identity, err error, user string) {
	t.Helper()
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if id.UserID != user {
		t.Fatalf("UserID = %q, want %q", id.UserID, user)
	}
}
