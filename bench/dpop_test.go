package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/bridgekeeper/bridgekeeper/dpop"
	"github.com/bridgekeeper/bridgekeeper/internal/replaytest"
)

// newProofVerifier is the broker's own DPoP verifier (package dpop) with an
// in-memory replay record, so that the tests check the load generator's
// proofs with the code the broker checks them with.
func newProofVerifier(t testing.TB) *dpop.Verifier {
	v, err := dpop.New(dpop.Config{Replay: &replaytest.Memory{}})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// dpopServer is a token endpoint that does what the DPoP scenario relies on
// the broker for: it verifies a request's proof, if any, with package dpop,
// binds the refresh tokens of a login with a proof to the proof's key (as
// the broker does for a public client), rotates them only for a proof by
// that key, and answers token_type DPoP to a request with a proof. It
// ignores client credentials.
type dpopServer struct {
	t      testing.TB
	v      *dpop.Verifier
	issuer string
	// bearerOnly makes it ignore DPoP headers, as a broker without DPoP
	// support would.
	bearerOnly bool

	mu     sync.Mutex
	tokens map[string]string // refresh token -> the key it is bound to, "" for none
	proofs map[string]int    // proofs verified per key
	plain  int               // requests without a proof
}

func newDPoPServer(t testing.TB) (*dpopServer, *httptest.Server) {
	s := &dpopServer{t: t, v: newProofVerifier(t), tokens: map[string]string{}, proofs: map[string]int{}}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	s.issuer = srv.URL
	return s, srv
}

func (s *dpopServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fail := func(code, desc string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
	}
	if r.Method != http.MethodPost || r.URL.Path != "/oauth2/token" || r.ParseForm() != nil {
		fail("invalid_request", "not a token request")
		return
	}
	var jkt string
	if proof := r.Header.Get("DPoP"); proof != "" && !s.bearerOnly {
		p, err := s.v.Verify(r.Context(), proof, r.Method, s.issuer+r.URL.Path, "")
		if err != nil {
			fail("invalid_dpop_proof", err.Error())
			return
		}
		jkt = p.JKT
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if jkt != "" {
		s.proofs[jkt]++
	} else {
		s.plain++
	}
	switch r.PostForm.Get("grant_type") {
	case grantServerCustomID:
	case grantRefreshToken:
		bound, ok := s.tokens[r.PostForm.Get("refresh_token")]
		switch {
		case !ok:
			fail("invalid_grant", "refresh token is invalid or spent")
			return
		case bound != jkt:
			fail("invalid_dpop_proof", "refresh token is bound to another key (or none)")
			return
		}
		delete(s.tokens, r.PostForm.Get("refresh_token"))
	default:
		fail("unsupported_grant_type", r.PostForm.Get("grant_type"))
		return
	}
	next := rand.Text()
	s.tokens[next] = jkt
	typ := "Bearer"
	if jkt != "" {
		typ = tokenTypeDPoP
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"access_token": "at", "token_type": typ, "expires_in": 3600, "refresh_token": next})
}

func TestDPoPRefreshWorker(t *testing.T) {
	ctx := context.Background()
	fake, srv := newDPoPServer(t)
	s := side{Name: "broker", BaseURL: srv.URL, ID: "c", Secret: "s"}
	ep := s.endpoint(srv.Client())
	const rounds = 20
	var keys []string
	for i := range 2 {
		w, err := newDPoPRefreshWorker(ctx, ep, s, i, runConfig{})
		if err != nil {
			t.Fatal(err)
		}
		for range rounds {
			if err := w.do(ctx); err != nil {
				t.Fatalf("worker %d: %v", i, err)
			}
		}
		keys = append(keys, w.(*dpopRefreshWorker).p.prefix)
	}
	// Every request carried a proof the broker's verifier accepted (so no
	// jti twice) and each worker kept one key: the seeding login and each
	// rotation of a chain bound to it.
	if fake.plain != 0 || len(fake.proofs) != 2 {
		t.Fatalf("%d requests without a proof; proofs per key %v, want two keys", fake.plain, fake.proofs)
	}
	for k, n := range fake.proofs {
		if n != rounds+1 {
			t.Errorf("key %s: %d proofs, want %d", k, n, rounds+1)
		}
	}
	if keys[0] == keys[1] {
		t.Error("two workers share a jti prefix")
	}
}

func TestDPoPRefreshWorkerWantsDPoPTokens(t *testing.T) {
	fake, srv := newDPoPServer(t)
	fake.bearerOnly = true
	s := side{Name: "broker", BaseURL: srv.URL, ID: "c", Secret: "s"}
	_, err := newDPoPRefreshWorker(context.Background(), s.endpoint(srv.Client()), s, 0, runConfig{})
	if err == nil || !strings.Contains(err.Error(), `token_type "Bearer"`) {
		t.Errorf("a broker that ignores DPoP: error %v, want one naming token_type Bearer", err)
	}
	// A limit server standing in for the broker answers Bearer, and that
	// is all it can do.
	s.Limit = true
	if _, err := newDPoPRefreshWorker(context.Background(), s.endpoint(srv.Client()), s, 0, runConfig{}); err != nil {
		t.Errorf("limit stand-in: %v", err)
	}
}

// TestMainDPoPRefresh runs the DPoP scenario end to end against dpopServer
// as an already running broker: no PostgreSQL is needed, since the limit
// side is the same server's plain rotation.
func TestMainDPoPRefresh(t *testing.T) {
	fake, srv := newDPoPServer(t)
	var stdout, stderr bytes.Buffer
	args := append([]string{"--broker-url", srv.URL, "--client-id", "bench-test", "--client-secret", "s",
		"--only", "dpop-refresh"}, quick...)
	err := Main(context.Background(), args, &stdout, &stderr)
	out := stdout.String() + stderr.String()
	checkReport(t, err, out, "refresh_token (DPoP) / refresh_token")
	if !strings.Contains(stdout.String(), "rps >= 0.85 x limit") {
		t.Errorf("no 0.85 target in the report:\n%s", out)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	// Four workers with a key each on the DPoP side, and the plain side's
	// rotations without proofs.
	if len(fake.proofs) != 4 || fake.plain == 0 {
		t.Errorf("proofs per key %v and %d plain requests; want four keys and some plain", fake.proofs, fake.plain)
	}
}

// BenchmarkDPoPProof is the load generator's cost per request of the DPoP
// scenario beyond the plain rotation's, on the machine's CPUs; its verify
// half is the broker's check without the replay insert.
func BenchmarkDPoPProof(b *testing.B) {
	const htu = "http://127.0.0.1:8080/oauth2/token"
	p, err := newProver(htu)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("sign", func(b *testing.B) {
		for b.Loop() {
			if _, err := p.proof(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("verify", func(b *testing.B) {
		v := newProofVerifier(b)
		proofs := make([]string, b.N)
		for i := range proofs {
			proofs[i], _ = p.proof()
		}
		b.ResetTimer()
		for i := range b.N {
			if _, err := v.Verify(context.Background(), proofs[i], http.MethodPost, htu, ""); err != nil {
				b.Fatal(err)
			}
		}
	})
}
