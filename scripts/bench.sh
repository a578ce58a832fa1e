#!/usr/bin/env bash
# make bench: the load generator against the broker and the two limit
# servers, on a throwaway PostgreSQL cluster on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

# A cluster that was already running (make test's, another shell's) is
# left running: only the one started here is stopped.
already=$([[ -s .testdb/state ]] && echo 1 || true)
url=$(scripts/testdb.sh start)
[[ -n $already ]] || trap 'scripts/testdb.sh stop >/dev/null 2>&1 || true' EXIT
bin/bridgekeeper-bench --broker-bin bin/bridgekeeper --postgres "$url" "$@"
