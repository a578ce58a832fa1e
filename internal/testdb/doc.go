// Package testdb hands tests a database of their own.
//
// PostgreSQL tests share one throwaway cluster, started by `make test`
// (scripts/testdb.sh) and named by BRIDGEKEEPER_TEST_POSTGRES_URL; each call
// to Postgres gives a database of the test's own on it, with no rows, so
// tests never see each other's rows and may run in parallel. Without the
// variable the test is skipped — except under CI, where a skipped database
// test would pass silently while proving nothing, so it fails instead.
//
// Migrating a database costs more than creating it, so Postgres clones
// (CREATE DATABASE ... TEMPLATE) a template database that the first test
// on the cluster migrates, named after the migrations' fingerprint
// (bktmpl_<sha256 prefix>); the test binaries that go test runs at once
// take turns building it under an advisory lock. Cloning and dropping still
// cost the server a quarter of a CPU-second, so when a test ends its
// database is emptied and kept for the binary's next test (reuse.go); the
// next binary to start drops what an exited one kept. Templates stay on the
// cluster, which scripts/testdb.sh deletes as a whole. EmptyPostgres is a
// database without the schema, for the tests of migrating.
package testdb
