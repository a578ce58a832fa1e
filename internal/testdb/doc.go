// Package testdb hands tests a database of their own.
//
// PostgreSQL tests share one throwaway cluster, started by `make test`
// (scripts/testdb.sh) and named by BRIDGEKEEPER_TEST_POSTGRES_URL; each call
// to Postgres creates a fresh database on it and drops it when the test ends,
// so tests never see each other's rows and may run in parallel. Without the
// variable the test is skipped — except under CI, where a skipped database
// test would pass silently while proving nothing, so it fails instead.
package testdb
