package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"sync"
	"time"
)

// Session and sign-in lifetimes and bounds.
const (
	// idleTimeout ends a session nobody used for that long: a console
	// left open on a shared desk.
	idleTimeout = 30 * time.Minute
	// maxLifetime ends every session after a working day, however busy.
	maxLifetime = 12 * time.Hour
	// loginTTL is the time staff may spend at the upstream; the broker's
	// own authorization request lives as long (broker.AuthRequestTTL).
	loginTTL = 10 * time.Minute
	// maxPending bounds the sign-ins under way: anyone can start one, so
	// without a bound a flood of starts would grow memory.
	maxPending = 1000
	// maxSessions bounds the signed-in sessions; only admins make them,
	// so the bound is far above any staff's size.
	maxSessions = 10_000
)

// sessions are the console's signed-in staff and the sign-ins under way.
// They live in this process's memory only: a restart signs staff out, and
// behind a load balancer the admin listener needs sticky sessions. In
// exchange nothing a browser holds is worth anything once the session
// ends here (sign-out, timeout), and no key is needed to seal cookies.
//
// Both maps are keyed by the SHA-256 of the random value the browser's
// cookie holds, so that a lookup compares hashes, never the values.
type sessions struct {
	now func() time.Time

	mu      sync.Mutex
	active  map[[32]byte]*session
	pending map[[32]byte]pendingLogin
}

type session struct {
	actorID string // console:<provider>:<subject>
	csrf    string
	created time.Time
	seen    time.Time
	flash   *flash
}

// flash is the outcome of the last action, shown once on the next page.
type flash struct {
	Error bool
	Text  string
	// Secret is a new client secret, shown this once and then forgotten.
	Secret string
}

// pendingLogin is a sign-in under way: the provider staff chose and the
// PKCE verifier of the code the broker will return.
type pendingLogin struct {
	provider, verifier string
	expires            time.Time
}

// current is a session as a request sees it.
type current struct {
	key     [32]byte
	actorID string
	csrf    string
}

func newSessions(now func() time.Time) *sessions {
	return &sessions{now: now, active: map[[32]byte]*session{}, pending: map[[32]byte]pendingLogin{}}
}

func key(value string) [32]byte { return sha256.Sum256([]byte(value)) }

// random is 256 bits from crypto/rand, base64url: session IDs, states,
// PKCE verifiers (43 characters, RFC 7636 §4.1) and CSRF tokens.
func random() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}

// start begins a session for actorID and returns the value of its cookie;
// false when the sessions are full even of live ones.
func (s *sessions) start(actorID string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if len(s.active) >= maxSessions {
		for k, ss := range s.active {
			if !ss.live(now) {
				delete(s.active, k)
			}
		}
		if len(s.active) >= maxSessions {
			return "", false
		}
	}
	id := random()
	s.active[key(id)] = &session{actorID: actorID, csrf: random(), created: now, seen: now}
	return id, true
}

func (ss *session) live(now time.Time) bool {
	return now.Sub(ss.seen) < idleTimeout && now.Sub(ss.created) < maxLifetime
}

// get finds the live session of a cookie's value and marks it used; an
// expired one is dropped.
func (s *sessions) get(id string) (current, bool) {
	if id == "" {
		return current{}, false
	}
	k := key(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.active[k]
	if !ok {
		return current{}, false
	}
	now := s.now()
	if !ss.live(now) {
		delete(s.active, k)
		return current{}, false
	}
	ss.seen = now
	return current{key: k, actorID: ss.actorID, csrf: ss.csrf}, true
}

// end signs a session out.
func (s *sessions) end(k [32]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.active, k)
}

// setFlash keeps the outcome to show on the session's next page.
func (s *sessions) setFlash(k [32]byte, f flash) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss, ok := s.active[k]; ok {
		ss.flash = &f
	}
}

// takeFlash returns the outcome to show, once.
func (s *sessions) takeFlash(k [32]byte) *flash {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.active[k]
	if !ok {
		return nil
	}
	f := ss.flash
	ss.flash = nil
	return f
}

// startLogin records a sign-in at provider and returns its state (the
// value of the browser's sign-in cookie, and the state of the
// authorization request) and PKCE verifier; false when too many sign-ins
// are under way.
func (s *sessions) startLogin(provider string) (state, verifier string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if len(s.pending) >= maxPending {
		for k, p := range s.pending {
			if !now.Before(p.expires) {
				delete(s.pending, k)
			}
		}
		if len(s.pending) >= maxPending {
			return "", "", false
		}
	}
	state, verifier = random(), random()
	s.pending[key(state)] = pendingLogin{provider: provider, verifier: verifier, expires: now.Add(loginTTL)}
	return state, verifier, true
}

// takeLogin consumes the sign-in of state: once, before it expires. The
// state came back in the URL and must equal the one in the browser's
// cookie (cookieState), so that a sign-in started in one browser cannot
// be finished in another (login CSRF).
func (s *sessions) takeLogin(state, cookieState string) (pendingLogin, bool) {
	if state == "" || subtle.ConstantTimeCompare([]byte(state), []byte(cookieState)) != 1 {
		return pendingLogin{}, false
	}
	k := key(state)
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pending[k]
	delete(s.pending, k)
	if !ok || !s.now().Before(p.expires) {
		return pendingLogin{}, false
	}
	return p, true
}

// checkCSRF reports, in constant time, whether a form's token is the
// session's.
func (c current) checkCSRF(token string) bool {
	return c.csrf != "" && subtle.ConstantTimeCompare([]byte(c.csrf), []byte(token)) == 1
}
