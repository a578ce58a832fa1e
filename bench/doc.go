// Package bench is Bridgekeeper's load benchmark: `make bench` and
// `bridgekeeper-bench` (cmd/bridgekeeper-bench) run it.
//
// It measures the broker's token endpoint against two "limit" servers that
// do the least work the same answer needs, so the broker's throughput is
// reported as a ratio to what the machine and PostgreSQL allow rather than as
// a bare number that means nothing on other hardware:
//
//   - LimitCPU parses the form, checks a constant client secret and signs one
//     ES256 JWT: the ceiling for client_credentials, which touches no storage.
//   - LimitDurable does the same plus the least durable work on PostgreSQL: one
//     upsert of the user for a custom-ID login, or one statement that spends
//     the old refresh token and inserts its successor, each stored as a hash.
//     Its custom-ID login returns no refresh token and so stores none, while
//     the broker's does: that limit is a strict upper bound, as specified.
//
// Scenarios run one after another, never concurrently: (a) client_credentials
// against LimitCPU, (b) refresh-token rotation and (c) server_custom_id logins
// of existing users against LimitDurable; then two whose limit is the
// broker's own rate for a plainer grant, so that the ratio is the cost of one
// extra check: (d) token exchange of an ID token from the benchmark's own
// issuer against (c), and (e) refresh rotation with a fresh DPoP proof (RFC
// 9449) by the session's key on every request against (b). The broker and
// the limit servers each run as their own process on loopback, so that on a
// small machine the load generator, the server under test and PostgreSQL
// share the CPUs the same way for both sides.
//
// Main is the entry point; cmd/bridgekeeper-bench hands it its arguments.
// It is a command of its own so that the limit servers and their constant
// test secret never ship in the production binary. Main starts the limit
// servers by executing its own binary as `bridgekeeper-bench limit-server
// ...`, a hidden mode of Main (--self-args puts words before
// "limit-server" in that command line). A typical run:
//
//	bridgekeeper-bench --broker-bin ./bin/bridgekeeper \
//	    --postgres 'postgres://postgres@127.0.0.1:55439/postgres?sslmode=disable' \
//	    --markdown bench.md
//
// It creates one database for the broker and one for the durable limit on
// that cluster and drops both at the end; the durable limit holds up to
// --limit-pool (32) connections, so the cluster's max_connections must
// leave room for the broker's pool as well. Each side of each scenario is
// measured for --duration in --rounds alternating rounds; on a shared 2-core
// machine two identical servers measured this way differ by up to about 15%,
// so publish numbers from a longer run (say --duration 60s --rounds 6).
//
// Main returns an error wrapping ErrTargetMissed when a target was missed
// or a side answered with errors.
package bench
