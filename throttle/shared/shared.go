package shared

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bridgekeeper/bridgekeeper/throttle"
)

// Store is the buckets every replica shares, and the roll of replicas
// (Redis is one). Each call may fail; the Limiter then answers on its own.
type Store interface {
	// Allow takes a token from key's bucket if it holds one, else says
	// how long until one is there.
	Allow(ctx context.Context, key string, perSecond float64, burst int) (bool, time.Duration, error)
	// Wait says how long until key's bucket holds a token, taking none.
	Wait(ctx context.Context, key string, perSecond float64, burst int) (time.Duration, error)
	// Beat records replica id as live for ttl and counts the live replicas.
	Beat(ctx context.Context, id string, ttl time.Duration) (int, error)
	// Leave takes replica id off the roll.
	Leave(ctx context.Context, id string) error
}

// Local is the buckets of this replica alone (throttle.Keyed), which
// answer while the store is out of reach.
type Local interface {
	Allow(ctx context.Context, key string, perSecond float64, burst int) (bool, time.Duration)
	Wait(ctx context.Context, key string, perSecond float64, burst int) time.Duration
}

// Defaults of Config.
const (
	// DefaultTimeout bounds a request's call to the store: a few round
	// trips on a LAN, and short enough that a store which stopped
	// answering costs the requests that meet it no more than this.
	DefaultTimeout = 100 * time.Millisecond
	// DefaultBeat is how often a replica says it lives and, while the
	// store is out of reach, tries it again.
	DefaultBeat = time.Second
)

// rollBeats is how many beats a replica may miss before the others stop
// counting it.
const rollBeats = 3

// Config configures a Limiter.
type Config struct {
	Store Store
	// Local is the fallback (nil: a throttle.Keyed of its own); Log hears
	// of the store going and coming back (nil: nobody).
	Local Local
	Log   *slog.Logger
	// Timeout bounds each call a request makes to the store (0:
	// DefaultTimeout); Beat is the replica's heartbeat (0: DefaultBeat).
	Timeout, Beat time.Duration
}

// Limiter is a grants.Limiter whose buckets are in a store every replica
// shares. When the store fails a call, or does not answer within the
// timeout, the replica falls back to its Local buckets at its share of
// each limit (the limit divided by the replicas it last counted), says so
// once in the log and in bridgekeeper_rate_limit_store_fallback, and leaves
// the store alone until a heartbeat reaches it again: no request fails or
// waits on a store that is down.
type Limiter struct {
	store   Store
	local   Local
	log     *slog.Logger
	timeout time.Duration
	beat    time.Duration
	id      string

	mu       sync.Mutex
	replicas int  // as last counted, at least 1
	down     bool // answering from the local buckets

	fallback  prometheus.Gauge
	counted   prometheus.Gauge
	decisions prometheus.Counter
}

// New makes a Limiter; Run keeps its heartbeat.
func New(cfg Config) *Limiter {
	l := &Limiter{
		store: cfg.Store, local: cfg.Local, log: cfg.Log,
		timeout: cfg.Timeout, beat: cfg.Beat, id: replicaID(), replicas: 1,
		fallback: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bridgekeeper_rate_limit_store_fallback",
			Help: "1 while this replica cannot reach the rate-limit store and limits on its own, at its share of each limit; 0 while the limits are shared.",
		}),
		counted: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bridgekeeper_rate_limit_store_replicas",
			Help: "The replicas sharing the rate-limit store, as this replica last counted them; its share of a limit in fallback is 1 over this.",
		}),
		decisions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bridgekeeper_rate_limit_store_fallback_decisions_total",
			Help: "Rate-limit decisions this replica made on its own buckets because the rate-limit store was out of reach.",
		}),
	}
	if l.local == nil {
		l.local = throttle.New(100_000, time.Now)
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if l.timeout <= 0 {
		l.timeout = DefaultTimeout
	}
	if l.beat <= 0 {
		l.beat = DefaultBeat
	}
	l.counted.Set(1)
	return l
}

// replicaID names this process on the roll: the host and process for an
// operator reading it, and random bytes so that a restarted process with
// the same PID is not taken for the old one.
func replicaID() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	rand.Read(b)
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))
}

// Collectors are the Limiter's metrics, for the broker's registry.
func (l *Limiter) Collectors() []prometheus.Collector {
	return []prometheus.Collector{l.fallback, l.counted, l.decisions}
}

// Allow takes a token from key's bucket, or says how long until one is
// there. A rate of zero or less is no limit.
func (l *Limiter) Allow(ctx context.Context, key string, perSecond float64, burst int) (bool, time.Duration) {
	if perSecond <= 0 {
		return true, 0
	}
	if l.up() {
		sctx, cancel := context.WithTimeout(ctx, l.timeout)
		ok, wait, err := l.store.Allow(sctx, key, perSecond, burst)
		cancel()
		if err == nil {
			return ok, wait
		}
		l.failed(ctx, err)
	}
	rate, b := l.share(perSecond, burst)
	return l.local.Allow(ctx, key, rate, b)
}

// Wait says how long until key's bucket holds a token, taking none.
func (l *Limiter) Wait(ctx context.Context, key string, perSecond float64, burst int) time.Duration {
	if perSecond <= 0 {
		return 0
	}
	if l.up() {
		sctx, cancel := context.WithTimeout(ctx, l.timeout)
		wait, err := l.store.Wait(sctx, key, perSecond, burst)
		cancel()
		if err == nil {
			return wait
		}
		l.failed(ctx, err)
	}
	rate, b := l.share(perSecond, burst)
	return l.local.Wait(ctx, key, rate, b)
}

// Take takes a token from key's bucket if it holds one: a failure paid.
func (l *Limiter) Take(ctx context.Context, key string, perSecond float64, burst int) {
	l.Allow(ctx, key, perSecond, burst)
}

// share is this replica's part of a limit while the store is out of
// reach, and counts the decision: the rate and the burst divided by the
// replicas last counted, the burst rounded up so that a small one still
// admits a request. It assumes the load is spread evenly, as a load
// balancer spreads it.
func (l *Limiter) share(perSecond float64, burst int) (float64, int) {
	l.decisions.Inc()
	l.mu.Lock()
	n := l.replicas
	l.mu.Unlock()
	return perSecond / float64(n), max(1, int(math.Ceil(float64(burst)/float64(n))))
}

// up reports whether the store is in use.
func (l *Limiter) up() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.down
}

// failed takes the store out of use after a call failed, unless the call
// failed because the request itself ended (the client went away), which
// says nothing about the store.
func (l *Limiter) failed(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.down {
		return
	}
	l.down = true
	l.fallback.Set(1)
	l.log.Warn("rate-limit store out of reach: this replica limits on its own, at its share of each limit, until it is back",
		"replicas", l.replicas, "err", err)
}

// recovered puts the store back in use after a heartbeat reached it.
func (l *Limiter) recovered(replicas int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.replicas = max(replicas, 1)
	l.counted.Set(float64(l.replicas))
	if !l.down {
		return
	}
	l.down = false
	l.fallback.Set(0)
	l.log.Info("rate-limit store reachable again: limits are shared across replicas", "replicas", l.replicas)
}

// Run beats until ctx ends, then takes this replica off the roll. The
// beats count the replicas, and are the only calls to the store while it
// is out of reach: the first that succeeds puts it back in use.
func (l *Limiter) Run(ctx context.Context) {
	l.heartbeat(ctx)
	t := time.NewTicker(l.beat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			// ctx is over; the replica leaves with a bounded context of its own.
			lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.timeout)
			defer cancel()
			if err := l.store.Leave(lctx, l.id); err != nil {
				l.log.Debug("rate-limit store: leave the roll of replicas", "err", err)
			}
			return
		case <-t.C:
			l.heartbeat(ctx)
		}
	}
}

// heartbeat beats once. It may take up to a beat: it is no request's
// wait, and a first connection (TLS to a remote store) may need longer
// than a request's timeout.
func (l *Limiter) heartbeat(ctx context.Context) {
	bctx, cancel := context.WithTimeout(ctx, l.beat)
	defer cancel()
	n, err := l.store.Beat(bctx, l.id, rollBeats*l.beat)
	if err != nil {
		l.failed(ctx, err)
		return
	}
	l.recovered(n)
}
