package shared

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// keyPrefix starts every key the broker writes, so that a Redis it shares
// with others keeps its keys apart; redis_rate puts "rate:" before it.
const keyPrefix = "bridgekeeper:"

// rollKey is the sorted set of live replicas: member the replica's ID,
// score the Redis time of its last beat.
const rollKey = keyPrefix + "replicas"

// ioBackstop bounds a read or write whose context has no deadline; every
// call of the Limiter has a tighter one.
const ioBackstop = time.Second

// Redis is a Store in Redis: GCRA buckets (github.com/go-redis/redis_rate,
// whose Lua scripts keep a bucket as one key holding its theoretical
// arrival time, read from Redis's own clock so that the replicas' clocks do
// not matter) and a sorted set of the replicas' beats.
type Redis struct {
	client *redis.Client
	rate   *redis_rate.Limiter
}

var _ Store = (*Redis)(nil)

// NewRedis makes a Store of the Redis that rawURL names (redis:// or
// rediss://, as config.Config.RateLimitStore). It does not connect: the
// first call does, and the Limiter answers on its own while none succeeds.
// The client never retries a command or a dial (a retry would spend the
// caller's timeout on a store that already failed it) and bounds each
// dial, read and write by its context's deadline.
func NewRedis(rawURL string) (*Redis, error) {
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			// url.Error quotes the URL, password and all.
			return nil, errors.New("the rate-limit store URL does not parse")
		}
		return nil, fmt.Errorf("the rate-limit store URL: %w", err)
	}
	opt.MaxRetries = -1
	opt.DialerRetries = 1 // 0 is the client's default of 5
	opt.ContextTimeoutEnabled = true
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout, opt.PoolTimeout = ioBackstop, ioBackstop, ioBackstop, ioBackstop
	// CLIENT SETINFO and CLIENT MAINT_NOTIFICATIONS are a round trip each on
	// every new connection, which Redis before 7.2, and any Redis that is
	// not a managed cluster, only answers with an error.
	opt.DisableIdentity = true
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	client := redis.NewClient(opt)
	return &Redis{client: client, rate: redis_rate.NewLimiter(client)}, nil
}

// Close closes the connections.
func (r *Redis) Close() error { return r.client.Close() }

// ClientLog is a logger for the Redis client's own lines (redis.SetLogger,
// which is process-wide): a line per failed dial, at debug level here,
// since the Limiter says once, at warn, that the store is out of reach.
func ClientLog(log *slog.Logger) interface {
	Printf(ctx context.Context, format string, v ...any)
} {
	return clientLog{log}
}

type clientLog struct{ log *slog.Logger }

func (l clientLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "redis client: "+fmt.Sprintf(format, v...))
}

// limit is a rate as redis_rate takes it: one request per period (an
// integer count per period could not say 2.5 per second), the period
// bounded so that the script never divides by zero.
func limit(perSecond float64, burst int) redis_rate.Limit {
	period := max(time.Duration(float64(time.Second)/perSecond), time.Microsecond)
	return redis_rate.Limit{Rate: 1, Period: period, Burst: max(burst, 1)}
}

// Allow takes a token from key's bucket if it holds one (GCRA with a cost
// of 1), else says how long until one is there.
func (r *Redis) Allow(ctx context.Context, key string, perSecond float64, burst int) (bool, time.Duration, error) {
	res, err := r.rate.Allow(ctx, keyPrefix+key, limit(perSecond, burst))
	if err != nil {
		return false, 0, err
	}
	if res.Allowed > 0 {
		return true, 0, nil
	}
	return false, max(res.RetryAfter, 0), nil
}

// Wait says how long until key's bucket holds a token, taking none. It is
// redis_rate's AllowAtMost with n = 0: its script refuses when less than
// one token is there, with RetryAfter the time until one is, and otherwise
// takes min(n, tokens) = 0 and leaves the bucket as it was.
func (r *Redis) Wait(ctx context.Context, key string, perSecond float64, burst int) (time.Duration, error) {
	res, err := r.rate.AllowAtMost(ctx, keyPrefix+key, limit(perSecond, burst), 0)
	if err != nil {
		return 0, err
	}
	return max(res.RetryAfter, 0), nil
}

// beat puts a replica on the roll at Redis's time, drops those whose last
// beat is older than the TTL, and counts the rest. The roll itself expires
// when no replica beats any more.
var beat = redis.NewScript(`
redis.replicate_commands()
local t = redis.call("TIME")
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local ttl = tonumber(ARGV[2])
redis.call("ZADD", KEYS[1], now, ARGV[1])
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", now - ttl)
redis.call("EXPIRE", KEYS[1], math.ceil(ttl) * 2)
return redis.call("ZCARD", KEYS[1])
`)

// Beat records replica id as live for ttl and counts the live replicas.
func (r *Redis) Beat(ctx context.Context, id string, ttl time.Duration) (int, error) {
	n, err := beat.Run(ctx, r.client, []string{rollKey}, id, ttl.Seconds()).Int()
	if err != nil {
		return 0, err
	}
	return n, nil
}

// Leave takes replica id off the roll, so that the others count one fewer
// at once rather than a TTL later.
func (r *Redis) Leave(ctx context.Context, id string) error {
	return r.client.ZRem(ctx, rollKey, id).Err()
}
