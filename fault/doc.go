// Package fault holds the broker's crash-safety and database-fault tests
// (`make test-fault`; `make test` runs them too). They run the real
// bridgekeeper binary, built by TestMain, on PostgreSQL clusters of their
// own (internal/testdb.NewCluster), because they stop, start and lock the
// database, which the shared test cluster must never see:
//
//   - TestKill9MidLoad drives refresh rotations, server_custom_id logins and
//     client_credentials concurrently, kills the broker with SIGKILL mid-load,
//     restarts it and checks that every token a client received before the
//     kill still works: no token is returned before it is committed.
//   - TestPostgresOutage stops PostgreSQL under load: every answer is a 503
//     with Retry-After within the request timeout, /readyz is 503, the
//     process neither panics nor exits, and service resumes on its own once
//     PostgreSQL is back.
//   - TestSlowDatabase blocks rotations on a table lock and exhausts a
//     two-connection pool: the requests come back 503 within the request
//     timeout, and succeed once the lock is released.
//   - TestFrozenDatabase SIGSTOPs PostgreSQL (a hung database host): every
//     request, client authentication included, is answered 503 within the
//     request timeout, and service resumes when it continues.
//   - TestFailoverSynchronousStandby and TestFailoverAsynchronousStandby
//     (issue 15 item 4) run the broker on a multi-host URL
//     (target_session_attrs=read-write) over a primary and a streaming
//     standby, kill -9 the primary under refresh and login load and
//     promote the standby: every answer is a success or 503 +
//     Retry-After, the broker serves again within 10 s of the promotion
//     without a restart, and every refresh token and player a client was
//     given is counted. A synchronous standby loses none; an asynchronous
//     one may lose the commits the primary acknowledged in its last
//     moments, which the test counts and logs (see RELIABILITY.md).
//   - TestFailoverReadOnlyPrimary fences the old primary read-only instead
//     (SQLSTATE 25006 on the broker's open connections): the store closes
//     them and answers 503 until a new connection finds the new primary.
//   - TestReplicasShareRateLimits runs three replicas on one PostgreSQL and
//     one redis-server (rate_limit_store): a client's --rate-limit and
//     address_rate_limit hold within 20 % through one, two or three
//     replicas; with Redis stopped each replica admits its third, and no
//     request fails.
//   - TestHAFailover (build tag ha, `make test-ha`; issue 15 item 5) runs
//     the reference deployment of deploy/ha on loopback: etcd, three
//     PostgreSQL nodes under Patroni, HAProxy in front of them and of three
//     brokers. Under load through HAProxy it makes a Patroni switchover,
//     then kills the new leader's host, and checks after each what the
//     failover tests above check (runFailoverLoad, shared with them).
//
// The package has no non-test code; this file only documents it.
package fault
