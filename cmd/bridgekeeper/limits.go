package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/bridgekeeper/bridgekeeper/config"
	"github.com/bridgekeeper/bridgekeeper/grants"
	"github.com/bridgekeeper/bridgekeeper/throttle"
	"github.com/bridgekeeper/bridgekeeper/throttle/shared"
)

// rateLimiter is where serve keeps the buckets of the rate limits and the
// failure budgets: in this process when rate_limit_store is unset, else
// in the Redis it names, shared with every replica, with this process's
// buckets as the fallback. metrics are the shared limiter's (none for the
// in-process one); stop ends its heartbeat, takes this replica off the
// roll and closes the connections.
func rateLimiter(ctx context.Context, cfg config.Config, log *slog.Logger) (l grants.Limiter, metrics []prometheus.Collector, stop func(), err error) {
	local := throttle.New(100_000, time.Now)
	if cfg.RateLimitStore == "" {
		return local, nil, func() {}, nil
	}
	store, err := shared.NewRedis(cfg.RateLimitStore)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("rate_limit_store: %w", err)
	}
	// The Redis client's logger is process-wide; its line per failed dial
	// goes to debug, and the limiter says once that the store is down.
	redis.SetLogger(shared.ClientLog(log))
	sl := shared.New(shared.Config{Store: store, Local: local, Log: log, Timeout: time.Duration(cfg.RateLimitStoreTimeout)})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sl.Run(runCtx)
	}()
	return sl, sl.Collectors(), func() {
		cancel()
		<-done
		store.Close()
	}, nil
}
