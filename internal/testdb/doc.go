// Package testdb hands tests a database of their own.
//
// PostgreSQL tests share one throwaway cluster, started by `make test`
// (scripts/testdb.sh) and named by BRIDGEKEEPER_TEST_POSTGRES_URL; each call
// to Postgres creates a fresh database on it and drops it when the test ends,
// so tests never see each other's rows and may run in parallel. Without the
// variable the test is skipped — except under CI, where a skipped database
// test would pass silently while proving nothing, so it fails instead.
//
// Migrating a database costs more than creating it, so Postgres clones
// (CREATE DATABASE ... TEMPLATE) a template database that the first test
// on the cluster migrates, named after the migrations' fingerprint
// (bktmpl_<sha256 prefix>); the test binaries that go test runs at once
// take turns building it under an advisory lock. Templates stay on the
// cluster, which scripts/testdb.sh deletes as a whole. EmptyPostgres is a
// database without the schema, for the tests of migrating.
package testdb
