package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrTargetMissed is returned by Main when a run completed but at least one
// target was missed or a side answered with errors, so `make bench` fails.
var ErrTargetMissed = errors.New("benchmark targets missed")

// runConfig is Main's parsed flags.
type runConfig struct {
	loadConfig
	BrokerBin    string
	BrokerURL    string
	ClientID     string
	ClientSecret string
	Postgres     string
	Only         string
	Markdown     string
	Users        int
	LimitPool    int
	// LimitStoresRefresh has the durable limit store a refresh token with
	// each measured custom-ID login too, as the broker does: the same
	// answer, where the default limit only upserts the user.
	LimitStoresRefresh bool
	Rounds             int
	Replicas           int
	SelfArgs           string
	// issuer is the ID-token issuer of the exchange scenario, started by run.
	issuer *issuer
}

// users is how many custom-ID users to create: at least one per worker, so
// that no two workers log in the same user at once.
func (c runConfig) users() int { return max(c.Users, c.Concurrency) }

// selected returns the scenarios --only picks, in run order.
func (c runConfig) selected() []scenario {
	var out []scenario
	for _, sc := range scenarios() {
		if c.Only == "" || c.Only == sc.Key {
			out = append(out, sc)
		}
	}
	return out
}

// validate reports every problem at once.
func (c runConfig) validate() error {
	var errs []error
	if (c.BrokerBin == "") == (c.BrokerURL == "") {
		errs = append(errs, errors.New("give exactly one of --broker-bin and --broker-url"))
	}
	if c.BrokerURL != "" && (c.ClientID == "" || c.ClientSecret == "") {
		errs = append(errs, errors.New("--broker-url needs --client-id and --client-secret"))
	}
	if !slices.Contains([]string{"", "cc", "refresh", "customid", "exchange", "dpop-refresh"}, c.Only) {
		errs = append(errs, fmt.Errorf("--only must be cc, refresh, customid, exchange or dpop-refresh, not %q", c.Only))
	}
	if c.BrokerURL != "" && (c.Only == "" || c.Only == "exchange") {
		errs = append(errs, errors.New("the exchange scenario needs --broker-bin (the broker must trust the benchmark's ID-token issuer); pick another with --only"))
	}
	needPG := c.BrokerBin != ""
	for _, sc := range c.selected() {
		needPG = needPG || sc.LimitKind == "durable"
	}
	if needPG && c.Postgres == "" {
		errs = append(errs, errors.New("--postgres is required to run the broker or the durable limit"))
	}
	if c.Duration <= 0 || c.Warmup < 0 {
		errs = append(errs, errors.New("--duration must be positive and --warmup not negative"))
	}
	if c.Replicas < 0 || c.Replicas > 0 && (c.BrokerBin == "" || c.Only == "exchange") {
		errs = append(errs, errors.New("--replicas needs --broker-bin, a positive count, and a scenario other than exchange"))
	}
	if c.Concurrency < 1 || c.LimitPool < 1 || c.Rounds < 1 {
		errs = append(errs, errors.New("--concurrency, --limit-pool and --rounds must be at least 1"))
	}
	return errors.Join(errs...)
}

// Main runs the benchmark; args are those of `bridgekeeper-bench`. It
// returns ErrTargetMissed (wrapped) when the run completed but missed a
// target. `limit-server ...` as the first argument runs a limit server
// instead: that is how Main starts its limit servers as separate processes.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "limit-server" {
		return limitServerMain(ctx, args[1:], stderr)
	}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c runConfig
	fs.StringVar(&c.BrokerBin, "broker-bin", "", "bridgekeeper `binary` to run as the broker")
	fs.StringVar(&c.BrokerURL, "broker-url", "", "benchmark an already running broker at this base `URL` instead of starting one")
	fs.StringVar(&c.ClientID, "client-id", LimitClientID, "client_id for --broker-url; the limit servers' by default, so that one can stand in")
	fs.StringVar(&c.ClientSecret, "client-secret", LimitClientSecret, "client_secret for --broker-url")
	fs.StringVar(&c.Postgres, "postgres", "", "admin `URL` of a throwaway PostgreSQL cluster; one fresh database per side is created and dropped")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "measured time per side and scenario, split over the rounds")
	fs.DurationVar(&c.Warmup, "warmup", 2*time.Second, "unmeasured load before each round")
	fs.IntVar(&c.Replicas, "replicas", 0, "measure each scenario on 1, 2, ... `N` broker processes sharing one database, instead of broker against limit")
	fs.IntVar(&c.Rounds, "rounds", 2, "alternating rounds per side (broker, limit, limit, broker, ...)")
	fs.IntVar(&c.Concurrency, "concurrency", 64, "concurrent workers, each with its own keep-alive connection")
	fs.StringVar(&c.Only, "only", "", "run one scenario: cc, refresh, customid, exchange or dpop-refresh")
	fs.StringVar(&c.Markdown, "markdown", "", "also write the report as markdown to this `file`")
	fs.IntVar(&c.Users, "users", 1000, "custom-ID users created before the customid scenario")
	fs.IntVar(&c.LimitPool, "limit-pool", 32, "PostgreSQL connections of the durable limit server")
	fs.BoolVar(&c.LimitStoresRefresh, "limit-stores-refresh", false, "the durable limit stores a refresh token with each measured custom-ID login, as the broker does (default: it only upserts the user)")
	fs.StringVar(&c.SelfArgs, "self-args", "", "internal: arguments that select this subcommand when the benchmark re-executes its own binary")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if err := c.validate(); err != nil {
		return err
	}
	if c.Replicas > 0 {
		return runReplicas(ctx, c, stdout, stderr)
	}
	return run(ctx, c, stdout, stderr)
}

// limitServerMain serves one limit server until SIGTERM, SIGINT or ctx ends.
func limitServerMain(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("limit-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kind := fs.String("kind", "cpu", "cpu or durable")
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	pgURL := fs.String("postgres-url", "", "database URL (durable only)")
	poolSize := fs.Int("pool", 32, "PostgreSQL connections (durable only)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	logger := log.New(stderr, "limit-"+*kind+": ", log.LstdFlags)
	cfg := LimitConfig{Issuer: "http://" + ln.Addr().String(), Log: logger}
	var h http.Handler
	switch *kind {
	case "cpu":
		if h, err = NewLimitCPU(cfg); err != nil {
			return err
		}
	case "durable":
		pool, err := openPool(ctx, *pgURL, *poolSize)
		if err != nil {
			return err
		}
		defer pool.Close()
		if h, err = NewLimitDurable(ctx, pool, cfg); err != nil {
			return err
		}
	default:
		return fmt.Errorf("--kind must be cpu or durable, not %q", *kind)
	}

	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: logger}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	logger.Printf("listening on %s", cfg.Issuer)
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutCtx)
}

// openPool connects a pool of up to size connections. pgxpool's default
// (four on a 2-core machine) would make the limit wait for connections
// rather than for PostgreSQL, and a limit must be the best the machine does:
// on a 2-core machine with 64 workers, 4 connections gave about 40% of the
// throughput of 32 (most likely because fewer commits then share each WAL
// flush); 32 and 64 were alike, and 32 leaves room
// under PostgreSQL's default max_connections of 100 for the broker's pool.
func openPool(ctx context.Context, dbURL string, size int) (*pgxpool.Pool, error) {
	if dbURL == "" {
		return nil, errors.New("--postgres-url is required for --kind durable")
	}
	pc, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", err)
	}
	pc.MaxConns = int32(size)
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", redact(dbURL), err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to %s: %w", redact(dbURL), err)
	}
	return pool, nil
}

// selfExec is this binary and the --self-args that reach Main again when it
// is re-executed to start a limit server.
func (c runConfig) selfExec() (selfExec, error) {
	bin, err := os.Executable()
	if err != nil {
		return selfExec{}, fmt.Errorf("find own binary to start limit servers: %w", err)
	}
	return selfExec{bin: bin, prefix: strings.Fields(c.SelfArgs)}, nil
}
