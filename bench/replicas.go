package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// replicaRun is one scenario measured on the first n of the replicas, with
// what PostgreSQL and the brokers spent on it.
type replicaRun struct {
	sc  scenario
	n   int
	sum Summary
	// commits is PostgreSQL's committed transactions per second, and
	// pgCores and brokerCores the CPU each used, in cores (NaN: unknown).
	commits, pgCores, brokerCores float64
}

// replicaScenarios are the scenarios --replicas measures: the three plain
// grants, or the one --only names.
func (c runConfig) replicaScenarios() []scenario {
	if c.Only != "" {
		return c.selected()
	}
	return slices.DeleteFunc(scenarios(), func(sc scenario) bool { return sc.LimitKind == "broker" })
}

// runReplicas is --replicas N (issue 15 item 6): N broker processes on one
// database, and each scenario measured on 1, 2, ... N of them with the
// workers spread evenly, for how far one primary goes. No limit servers:
// the question is how the total grows with replicas, not how close one
// broker comes to its limit.
func runReplicas(ctx context.Context, c runConfig, stdout, stderr io.Writer) (err error) {
	logDir, keepIf, err := newLogDir(stderr)
	if err != nil {
		return err
	}
	defer func() { keepIf(err) }()
	cl, err := openCluster(ctx, c.Postgres)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, cl.close()) }()
	dbURL, err := cl.createDB(ctx, "bk_bench_replicas")
	if err != nil {
		return err
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		return err
	}
	dbName := strings.TrimPrefix(u.Path, "/")
	env := kekEnv()

	var procs []*proc
	defer func() { stopAll(procs) }()
	var bases []string
	for i := range c.Replicas {
		fmt.Fprintf(stderr, "bench: starting broker %d of %d\n", i+1, c.Replicas)
		p, base, err := startServe(ctx, "broker-"+strconv.Itoa(i+1), c.BrokerBin, dbURL, env, logDir)
		if err != nil {
			return err
		}
		procs, bases = append(procs, p), append(bases, base)
	}
	creds, err := createBrokerClient(ctx, c.BrokerBin, dbURL, env)
	if err != nil {
		return err
	}
	sides := make([]side, len(bases))
	for i, base := range bases {
		sides[i] = side{Name: "broker-" + strconv.Itoa(i+1), BaseURL: base, ID: creds.ClientID, Secret: creds.ClientSecret}
	}

	var runs []replicaRun
	for _, sc := range c.replicaScenarios() {
		if sc.setup != nil {
			client := newHTTPClient(c.Concurrency)
			err := sc.setup(ctx, sides[0].endpoint(client), sides[0], c)
			client.CloseIdleConnections()
			if err != nil {
				return fmt.Errorf("%s: %w", sc.Name, err)
			}
		}
		for n := 1; n <= len(sides); n++ {
			fmt.Fprintf(stderr, "bench: %s on %d replica(s): %d workers, %v warm-up, %v measured\n", sc.Name, n, c.Concurrency, c.Warmup, c.Duration)
			r, err := measureReplicas(ctx, sc, sides[:n], procs[:n], c, cl, dbName)
			if err != nil {
				return fmt.Errorf("%s on %d replicas: %w", sc.Name, n, err)
			}
			runs = append(runs, r)
		}
	}

	header := append(header(ctx, c, cl), fmt.Sprintf("replicas: up to %d broker processes on one database; worker i calls replica i mod n", c.Replicas))
	table := replicaTable(runs)
	if err := writeText(stdout, header, table); err != nil {
		return err
	}
	if c.Markdown != "" {
		f, err := os.Create(c.Markdown)
		if err != nil {
			return err
		}
		if err := errors.Join(writeMarkdown(f, header, table), f.Close()); err != nil {
			return fmt.Errorf("write %s: %w", c.Markdown, err)
		}
	}
	return ctx.Err()
}

// measureReplicas runs sc's workers spread over sides, and samples
// PostgreSQL's commits and everyone's CPU time around the measured window
// (after the warm-up, so that the connections the brokers open for it are
// counted too).
func measureReplicas(ctx context.Context, sc scenario, sides []side, procs []*proc, c runConfig, cl *cluster, database string) (replicaRun, error) {
	client := newHTTPClient(c.Concurrency)
	defer client.CloseIdleConnections()
	eps := make([]*endpoint, len(sides))
	for i, s := range sides {
		eps[i] = s.endpoint(client)
	}
	ws, err := newWorkers(c.Concurrency, func(i int) (worker, error) {
		return sc.worker(ctx, eps[i%len(sides)], sides[i%len(sides)], i, c)
	})
	if err != nil {
		return replicaRun{}, err
	}
	if sc.LimitKind == "durable" || sc.durable {
		cl.checkpoint(ctx)
	}
	lc := c.loadConfig
	prepareRound(ws, lc)
	runLoad(ctx, loadConfig{Concurrency: lc.Concurrency, Warmup: lc.Warmup}, ws)
	before, err := sampleUse(ctx, cl, database, procs)
	if err != nil {
		return replicaRun{}, err
	}
	start := time.Now()
	w := runLoad(ctx, loadConfig{Concurrency: lc.Concurrency, Duration: lc.Duration}, ws)
	after, err := sampleUse(ctx, cl, database, procs)
	if err != nil {
		return replicaRun{}, err
	}
	secs := time.Since(start).Seconds()
	return replicaRun{sc: sc, n: len(sides), sum: w.summarize(),
		commits:     float64(after.commits-before.commits) / secs,
		pgCores:     cores(before.pg, after.pg, secs),
		brokerCores: cores(before.brokers, after.brokers, secs)}, nil
}

func replicaTable(runs []replicaRun) [][]string {
	t := [][]string{{"scenario", "replicas", "rps", "rps/replica", "p99", "PG commits/s", "PG CPU (cores)", "broker CPU (cores)", "errors"}}
	for _, r := range runs {
		errs := strconv.Itoa(r.sum.Errors)
		if r.sum.Errors > 0 {
			errs += " (first: " + oneLine(r.sum.FirstError) + ")"
		}
		t = append(t, []string{r.sc.Name, strconv.Itoa(r.n), fmt.Sprintf("%.0f", r.sum.RPS()), fmt.Sprintf("%.0f", r.sum.RPS()/float64(r.n)),
			fmtDur(r.sum.P99), fmt.Sprintf("%.0f", r.commits), fmtCores(r.pgCores), fmtCores(r.brokerCores), errs})
	}
	return t
}

func fmtCores(c float64) string {
	if math.IsNaN(c) {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", c)
}

// cores is the CPU time between two samples of clock ticks, per second of
// wall time; NaN when either sample is unknown.
func cores(before, after map[int]int64, secs float64) float64 {
	if before == nil || after == nil {
		return math.NaN()
	}
	var ticks int64
	for pid, t := range after {
		// A process that came and went between the samples is missed;
		// backends and brokers live through the window.
		if b, ok := before[pid]; ok {
			ticks += t - b
		}
	}
	return float64(ticks) / clockTicks / secs
}

// use is what the database and the brokers had spent at one moment.
type use struct {
	commits     int64
	pg, brokers map[int]int64 // CPU clock ticks by pid; nil: unknown
}

// sampleUse reads the commit count of database (from PostgreSQL's
// statistics, which each backend reports at most once a second: a window
// of a few seconds under-counts) and the CPU time of PostgreSQL's
// processes (database's backends, the auxiliary processes and the
// postmaster) and of the brokers.
func sampleUse(ctx context.Context, cl *cluster, database string, procs []*proc) (use, error) {
	var u use
	// Only the brokers' database and the cluster's own processes: the
	// cluster may be make test's, whose other databases come and go.
	if err := cl.conn.QueryRow(ctx, `SELECT xact_commit FROM pg_stat_database WHERE datname = $1`, database).Scan(&u.commits); err != nil {
		return u, fmt.Errorf("read commits: %w", err)
	}
	rows, err := cl.conn.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = $1 OR backend_type <> 'client backend'`, database)
	if err != nil {
		return u, fmt.Errorf("list PostgreSQL processes: %w", err)
	}
	var pids []int
	for rows.Next() {
		var pid int
		if err := rows.Scan(&pid); err != nil {
			return u, err
		}
		pids = append(pids, pid)
	}
	if err := rows.Err(); err != nil {
		return u, err
	}
	if len(pids) > 0 {
		if ppid, err := parentPID(pids[0]); err == nil {
			pids = append(pids, ppid)
		}
	}
	u.pg = cpuTicks(pids)
	brokers := make([]int, len(procs))
	for i, p := range procs {
		brokers[i] = p.cmd.Process.Pid
	}
	u.brokers = cpuTicks(brokers)
	return u, nil
}
