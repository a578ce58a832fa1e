#!/usr/bin/env bash
# make bench: the load generator against the broker and the two limit
# servers, on a throwaway PostgreSQL cluster on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

url=$(scripts/testdb.sh start)
trap 'scripts/testdb.sh stop >/dev/null 2>&1 || true' EXIT
bin/bridgekeeper-bench --broker-bin bin/bridgekeeper --postgres "$url" "$@"
