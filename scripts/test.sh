#!/usr/bin/env bash
# make test: a throwaway PostgreSQL cluster on loopback for the tests, then
# go vet and go test -race over everything, then the cluster goes away.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

url=$(scripts/testdb.sh start)
trap 'scripts/testdb.sh stop >/dev/null 2>&1 || true' EXIT
export BRIDGEKEEPER_TEST_POSTGRES_URL="$url"

go vet ./...
go test -race -count=1 -timeout 20m ./...
