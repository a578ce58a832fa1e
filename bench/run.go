package bench

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// run starts the servers, measures each selected scenario on the broker and
// on its limit, one side at a time (see measure), and prints the report.
func run(ctx context.Context, c runConfig, stdout, stderr io.Writer) (err error) {
	logDir, keepIf, err := newLogDir(stderr)
	if err != nil {
		return err
	}
	defer func() { keepIf(err) }()

	var cl *cluster
	if c.Postgres != "" {
		if cl, err = openCluster(ctx, c.Postgres); err != nil {
			return err
		}
		defer func() { err = errors.Join(err, cl.close()) }()
	}

	var procs []*proc
	defer func() { stopAll(procs) }()

	// A running server with the limit's client ID is a limit server
	// standing in for the broker (to test the benchmark itself); it needs
	// the limit's way of seeding refresh chains.
	broker := side{Name: "broker", BaseURL: strings.TrimRight(c.BrokerURL, "/"),
		ID: c.ClientID, Secret: c.ClientSecret, Limit: c.ClientID == LimitClientID}
	var brokerArgs []string
	if slices.ContainsFunc(c.selected(), func(sc scenario) bool { return sc.Key == "exchange" }) {
		if c.issuer, err = startIssuer(); err != nil {
			return err
		}
		defer c.issuer.close()
		cfg := filepath.Join(logDir, "providers.yaml")
		if err := os.WriteFile(cfg, []byte(c.issuer.providerConfig()), 0o600); err != nil {
			return err
		}
		brokerArgs = []string{"--config", cfg}
	}
	if c.BrokerBin != "" {
		dbURL, err := cl.createDB(ctx, "bk_bench_broker")
		if err != nil {
			return err
		}
		env := kekEnv()
		fmt.Fprintf(stderr, "bench: starting broker %s\n", c.BrokerBin)
		p, s, err := startBroker(ctx, c.BrokerBin, dbURL, env, logDir, brokerArgs...)
		if err != nil {
			return err
		}
		procs = append(procs, p)
		broker = s
	}

	self, err := c.selfExec()
	if err != nil {
		return err
	}
	limits := map[string]side{}
	for _, sc := range c.selected() {
		if _, ok := limits[sc.LimitKind]; ok {
			continue
		}
		if sc.LimitKind == "broker" { // the broker's own rate for another grant
			limits[sc.LimitKind] = broker
			continue
		}
		var dbURL string
		if sc.LimitKind == "durable" {
			if dbURL, err = cl.createDB(ctx, "bk_bench_limit"); err != nil {
				return err
			}
		}
		fmt.Fprintf(stderr, "bench: starting %s limit server\n", sc.LimitKind)
		p, base, err := startLimit(ctx, self, sc.LimitKind, dbURL, c.LimitPool, logDir)
		if err != nil {
			return err
		}
		procs = append(procs, p)
		limits[sc.LimitKind] = side{Name: "limit", BaseURL: base, ID: LimitClientID, Secret: LimitClientSecret, Limit: true}
	}

	rp := report{header: header(ctx, c, cl)}
	for _, sc := range c.selected() {
		r, err := measure(ctx, sc, broker, limits[sc.LimitKind], c, cl, stderr)
		if err != nil {
			return fmt.Errorf("%s: %w", sc.Name, err)
		}
		rp.results = append(rp.results, r)
	}

	if err := rp.writeText(stdout); err != nil {
		return err
	}
	if c.Markdown != "" {
		f, err := os.Create(c.Markdown)
		if err != nil {
			return err
		}
		if err := errors.Join(rp.writeMarkdown(f), f.Close()); err != nil {
			return fmt.Errorf("write %s: %w", c.Markdown, err)
		}
	}
	if n := rp.misses(); n > 0 {
		return fmt.Errorf("%w: %d target(s) not met", ErrTargetMissed, n)
	}
	return ctx.Err()
}

// measure runs one scenario on both sides in c.Rounds rounds of
// c.Duration/c.Rounds each, alternating broker-limit, limit-broker, ...: on a
// shared machine throughput drifts by several percent over a minute, and
// alternating cancels the part of that drift that would favour whichever
// side runs first. Each side keeps its own client and workers (so its
// connections and refresh chains) across its rounds.
func measure(ctx context.Context, sc scenario, broker, limit side, c runConfig, cl *cluster, stderr io.Writer) (result, error) {
	type prepared struct {
		s   side
		ws  []worker
		rec window
	}
	sides := []*prepared{{s: broker}, {s: limit}}
	for i, p := range sides {
		setup, newWorker := sc.setup, sc.worker
		if i == 1 && sc.limitWorker != nil {
			setup, newWorker = sc.limitSetup, sc.limitWorker
		}
		client := newHTTPClient(c.Concurrency)
		defer client.CloseIdleConnections()
		ep := p.s.endpoint(client)
		if setup != nil {
			if err := setup(ctx, ep, p.s, c); err != nil {
				return result{}, err
			}
		}
		ws, err := newWorkers(c.Concurrency, func(i int) (worker, error) { return newWorker(ctx, ep, p.s, i, c) })
		if err != nil {
			return result{}, err
		}
		p.ws = ws
	}
	lc := c.loadConfig
	lc.Duration = c.Duration / time.Duration(c.Rounds)
	for round := range c.Rounds {
		order := sides
		if round%2 == 1 {
			order = []*prepared{sides[1], sides[0]}
		}
		for _, p := range order {
			fmt.Fprintf(stderr, "bench: %s on %s, round %d/%d: %d workers, %v warm-up, %v measured\n",
				sc.Name, p.s.Name, round+1, c.Rounds, c.Concurrency, lc.Warmup, lc.Duration)
			if (sc.LimitKind == "durable" || sc.durable) && cl != nil {
				cl.checkpoint(ctx)
			}
			prepareRound(p.ws, lc)
			p.rec.add(runLoad(ctx, lc, p.ws))
			if err := ctx.Err(); err != nil {
				return result{}, err
			}
		}
	}
	return result{sc: sc, broker: sides[0].rec.summarize(), limit: sides[1].rec.summarize()}, nil
}

// header describes the run's conditions; numbers mean little without them.
func header(ctx context.Context, c runConfig, cl *cluster) []string {
	h := []string{
		"date: " + time.Now().UTC().Format(time.RFC3339),
		fmt.Sprintf("machine: %s/%s, %d CPUs, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version()),
	}
	if cl != nil {
		h = append(h, "postgres: "+cl.version(ctx))
	}
	if c.Replicas > 0 {
		h = append(h, fmt.Sprintf("load: %d workers, closed loop on loopback, spread evenly over the replicas; %v measured per replica count, after %v warm-up",
			c.Concurrency, c.Duration, c.Warmup))
	} else {
		h = append(h,
			fmt.Sprintf("load: %d workers, closed loop on loopback; per side %v measured in %d alternating rounds, each after %v warm-up",
				c.Concurrency, c.Duration, c.Rounds, c.Warmup),
			fmt.Sprintf("custom-ID users: %d; durable limit pool: %d connections", c.users(), c.LimitPool))
		if c.LimitStoresRefresh {
			h = append(h, "durable limit: stores a refresh token with each custom-ID login, as the broker does")
		}
	}
	if c.BrokerURL != "" {
		h = append(h, "broker: already running at "+c.BrokerURL)
	}
	return h
}

// kekEnv is the environment of a broker on a fresh database: a new random
// key-encryption key, which seals its first signing key.
func kekEnv() []string {
	kek := make([]byte, 32)
	rand.Read(kek)
	return []string{"BRIDGEKEEPER_KEY_ENCRYPTION_KEY=" + base64.StdEncoding.EncodeToString(kek)}
}

// newLogDir makes a directory for the servers' logs. keepIf, given the
// run's error, removes it, or keeps it and says where when the run failed
// other than by missing a target: logs are only worth keeping when
// something went wrong.
func newLogDir(stderr io.Writer) (dir string, keepIf func(error), err error) {
	dir, err = os.MkdirTemp("", "bridgekeeper-bench-")
	return dir, func(err error) {
		if err != nil && !errors.Is(err, ErrTargetMissed) {
			fmt.Fprintf(stderr, "bench: server logs kept in %s\n", dir)
			return
		}
		os.RemoveAll(dir)
	}, err
}

// stopAll stops the servers in reverse start order; deferred, before the
// databases are dropped.
func stopAll(procs []*proc) {
	for _, p := range slices.Backward(procs) {
		p.stop()
	}
}
