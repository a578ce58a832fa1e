package bench

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/bridgekeeper/bridgekeeper/dpop"
	"github.com/bridgekeeper/bridgekeeper/internal/replaytest"
)

// selfEnv makes the test binary play the processes the benchmark starts:
// `<test binary> bench limit-server ...` is routed to Main (the tests pass
// --self-args bench), and `serve` and `client create` are a fake broker,
// so the whole orchestration runs before the real broker exists.
const selfEnv = "BRIDGEKEEPER_BENCH_TEST_SELF"

func TestMain(m *testing.M) {
	if os.Getenv(selfEnv) == "1" && len(os.Args) > 1 {
		var err error
		switch os.Args[1] {
		case "bench":
			err = Main(context.Background(), os.Args[2:], os.Stdout, os.Stderr)
		case "serve", "client":
			err = fakeBroker(os.Args[1:])
		default:
			err = fmt.Errorf("test binary: unexpected arguments %q", os.Args[1:])
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// fakeBroker implements the two broker commands the benchmark uses, with the
// limit servers' handlers standing in for the broker's, and checks the
// arguments and the key-encryption key it is given.
func fakeBroker(args []string) error {
	kek, err := base64.StdEncoding.DecodeString(os.Getenv("BRIDGEKEEPER_KEY_ENCRYPTION_KEY"))
	if err != nil || len(kek) != 32 {
		return fmt.Errorf("fake broker: BRIDGEKEEPER_KEY_ENCRYPTION_KEY is not 32 bytes of base64 (%v)", err)
	}
	if args[0] == "client" {
		fs := flag.NewFlagSet("client create", flag.ContinueOnError)
		db := fs.String("database", "", "")
		ns := fs.String("namespace", "", "")
		fs.String("name", "", "")
		out := fs.String("output", "", "")
		var grants []string
		fs.Func("grant", "", func(g string) error { grants = append(grants, g); return nil })
		if len(args) < 2 || args[1] != "create" {
			return fmt.Errorf("fake broker: want client create, got %q", args)
		}
		if err := fs.Parse(args[2:]); err != nil {
			return err
		}
		slices.Sort(grants)
		if *db == "" || *ns != "bench" || *out != "json" ||
			!slices.Equal(grants, []string{"client_credentials", "refresh_token", "server_custom_id", grantExchange}) {
			return fmt.Errorf("fake broker: client create %q", args)
		}
		_, err := fmt.Printf(`{"client_id":%q,"client_secret":%q}`+"\n", LimitClientID, LimitClientSecret)
		return err
	}

	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", "", "")
	db := fs.String("database", "", "")
	issuer := fs.String("issuer", "", "")
	config := fs.String("config", "", "")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	// The exchange scenario names its ID-token issuer in a config file.
	if *config != "" {
		if b, err := os.ReadFile(*config); err != nil || !strings.Contains(string(b), "type: id_token") {
			return fmt.Errorf("fake broker: config %s: %v %q", *config, err, b)
		}
	}
	if *issuer != "http://"+*addr {
		return fmt.Errorf("fake broker: issuer %q does not name --addr %q", *issuer, *addr)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	pool, err := openPool(ctx, *db, 4)
	if err != nil {
		return err
	}
	defer pool.Close()
	cfg := LimitConfig{Issuer: *issuer}
	cpu, err := NewLimitCPU(cfg)
	if err != nil {
		return err
	}
	durable, err := NewLimitDurable(ctx, pool, cfg)
	if err != nil {
		return err
	}
	proofs, err := dpop.New(dpop.Config{Replay: &replaytest.Memory{}})
	if err != nil {
		return err
	}
	grant := func(w http.ResponseWriter, r *http.Request) {
		if r.FormValue("grant_type") == grantClientCredentials {
			cpu.ServeHTTP(w, r)
			return
		}
		// The real broker always returns a refresh token on login. A token
		// exchange stands in as a custom-ID login of (part of) the token:
		// the fake checks no signature.
		r.PostForm.Set(paramIssueRefresh, "1")
		if tok := r.PostForm.Get("subject_token"); r.PostForm.Get("grant_type") == grantExchange && len(tok) > 64 {
			r.PostForm.Set("grant_type", grantServerCustomID)
			r.PostForm.Set(paramServerCustomID, tok[len(tok)-64:])
		}
		durable.ServeHTTP(w, r)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proof := r.Header.Get("DPoP")
		if proof == "" {
			grant(w, r)
			return
		}
		// A DPoP proof is checked by the broker's own verifier, for the URL
		// the broker's issuer names, and the answer is a DPoP token; binding
		// the refresh tokens is left out.
		w.Header().Set("Content-Type", "application/json")
		if _, err := proofs.Verify(r.Context(), proof, r.Method, *issuer+r.URL.Path, ""); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"error": "invalid_dpop_proof", "error_description": err.Error()})
			return
		}
		rec := httptest.NewRecorder()
		grant(rec, r)
		body := rec.Body.Bytes()
		if rec.Code == http.StatusOK {
			var answer map[string]any
			if err := json.Unmarshal(body, &answer); err != nil {
				w.WriteHeader(http.StatusInternalServerError)
				return
			}
			answer["token_type"] = tokenTypeDPoP
			body, _ = json.Marshal(answer)
		}
		w.WriteHeader(rec.Code)
		w.Write(body)
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h}
	go func() { <-ctx.Done(); srv.Close() }()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// quick is a short run: enough requests to exercise every path.
// --self-args: the test binary routes "bench ..." to Main (TestMain).
var quick = []string{"--self-args", "bench", "--warmup", "50ms", "--duration", "300ms", "--concurrency", "4", "--users", "20"}

// checkReport checks that a run finished (meeting its targets or not) and
// printed a row per side of each scenario with no errors.
func checkReport(t *testing.T, err error, out string, scenarios ...string) {
	t.Helper()
	if err != nil && !errors.Is(err, ErrTargetMissed) {
		t.Fatalf("Main: %v\n%s", err, out)
	}
	if strings.Contains(out, "ERRORS") {
		t.Errorf("run had errors:\n%s", out)
	}
	for _, sc := range scenarios {
		for _, s := range []string{"broker", "limit"} {
			if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sc) + `\s+` + s + `\s`).MatchString(out) {
				t.Errorf("no %s row for %s:\n%s", s, sc, out)
			}
		}
	}
}

func TestMainRejectsBadFlags(t *testing.T) {
	var stderr bytes.Buffer
	err := Main(context.Background(), []string{"--only", "nope", "--concurrency", "0"}, &bytes.Buffer{}, &stderr)
	if err == nil {
		t.Fatal("Main accepted bad flags")
	}
	for _, want := range []string{"--broker-bin", "--only", "--concurrency"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not report %s", err, want)
		}
	}
}

// TestMainWithLimitStandIn runs the client_credentials scenario with an
// in-process LimitCPU as the "broker" and the limit server as a separate
// process, which needs no PostgreSQL.
func TestMainWithLimitStandIn(t *testing.T) {
	t.Setenv(selfEnv, "1")
	l, err := NewLimitCPU(LimitConfig{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(l)
	defer srv.Close()
	md := filepath.Join(t.TempDir(), "bench.md")
	var stdout, stderr bytes.Buffer
	args := append([]string{"--broker-url", srv.URL, "--only", "cc", "--markdown", md}, quick...)
	err = Main(context.Background(), args, &stdout, &stderr)
	checkReport(t, err, stdout.String()+stderr.String(), "client_credentials")
	b, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "| client_credentials | broker |") ||
		!strings.Contains(string(b), "| client_credentials | rps >= 0.80 x limit |") {
		t.Errorf("markdown:\n%s", b)
	}
}

// TestMainWithFakeBroker runs the whole orchestration: databases, a broker
// process started with a fresh KEK, client creation, both limit servers and
// every scenario.
func TestMainWithFakeBroker(t *testing.T) {
	stdout, stderr, err := runWithFakeBroker(t)
	checkReport(t, err, stdout.String()+stderr.String(), "client_credentials", "refresh_token", "server_custom_id",
		"refresh_token (DPoP) / refresh_token")
}

// runWithFakeBroker runs Main quickly, with the test binary as the broker
// (a fake, see TestMain) on the test cluster, and extra flags.
func runWithFakeBroker(t *testing.T, extra ...string) (stdout, stderr *bytes.Buffer, err error) {
	t.Helper()
	admin := testPostgres(t)
	t.Setenv(selfEnv, "1")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr = &bytes.Buffer{}, &bytes.Buffer{}
	args := append(append([]string{"--broker-bin", self, "--postgres", admin}, extra...), quick...)
	return stdout, stderr, Main(context.Background(), args, stdout, stderr)
}

// TestMainReplicas runs --replicas 2 on fake brokers sharing one database:
// a row per replica count, every request answered and, on Linux, the CPU
// each side used. Refresh is the scenario that writes.
func TestMainReplicas(t *testing.T) {
	stdout, stderr, err := runWithFakeBroker(t, "--replicas", "2", "--only", "refresh")
	if err != nil {
		t.Fatalf("Main: %v\n%s%s", err, stdout, stderr)
	}
	cpu := `\d+\.\d\d`
	if runtime.GOOS != "linux" {
		cpu = `n/a`
	}
	for _, n := range []string{"1", "2"} {
		// scenario, replicas, rps, rps/replica, p99, commits/s, PG CPU, broker
		// CPU, errors. Backends report commits at most once a second, so a
		// 700 ms window may count none; never fewer than none.
		row := `(?m)^refresh_token\s+` + n + `\s+[1-9]\d*\s+\d+\s+\S+\s+\d+\s+` + cpu + `\s+` + cpu + `\s+0\s*$`
		if !regexp.MustCompile(row).MatchString(stdout.String()) {
			t.Errorf("no row for refresh_token on %s replica(s) with requests, CPU and no errors:\n%s", n, stdout)
		}
	}
}

// Without --only, --replicas measures the three plain grants, not the
// scenarios measured against the broker's own rate for another grant.
func TestReplicaScenarios(t *testing.T) {
	var keys []string
	for _, sc := range (runConfig{}).replicaScenarios() {
		keys = append(keys, sc.Key)
	}
	if want := []string{"cc", "refresh", "customid"}; !slices.Equal(keys, want) {
		t.Errorf("replicaScenarios() = %v, want %v", keys, want)
	}
}
