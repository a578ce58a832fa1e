// Package shared keeps the broker's rate limits and failure budgets in a
// store that every replica shares (Redis, config rate_limit_store), so
// that a client's --rate-limit, address_rate_limit and the guessing
// guards hold whatever the number of replicas behind the load balancer;
// throttle.Keyed keeps them in one process, which is the default.
//
// The store is a cache of counters, never the database: checking a limit
// writes nothing to PostgreSQL or SQLite. When it is out of reach each
// replica falls back to buckets of its own at its share of every limit,
// the limit divided by the replicas it last counted on the store's roll
// (each replica beats into it every second), so that together they still
// admit about the limit; no request fails or waits on a store that is down.
package shared
