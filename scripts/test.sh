#!/usr/bin/env bash
# make test: a throwaway PostgreSQL cluster on loopback for the tests, then
# go vet and go test -race over everything, then the cluster goes away.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

# The browser test drives Debian's Chromium (headless), the durability
# tests Debian's sqlite3 shell, the README test runs the README's shell
# examples, which use curl, jq and sqlite3, and the shared rate-limit tests
# start redis-servers of their own (internal/testredis; the package's
# service is never needed, nor started here); install whichever is missing.
# Each tool is the Debian package of its name.
missing=()
for tool in chromium sqlite3 curl jq redis-server; do
	command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
	echo "test: installing ${missing[*]} from Debian packages" >&2
	if [ "$(id -u)" -ne 0 ]; then echo "test: ${missing[*]} missing and installing needs root" >&2; exit 1; fi
	apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >&2
fi

# The interop test drives GS2's TypeScript SDK from interop/gs2sdk; go test
# itself uses no network, so its locked dependencies are installed here, from
# the committed package-lock.json, when node_modules is missing or older than
# the lockfile (npm writes node_modules/.package-lock.json last). Without npm
# the interop test says what is missing (and fails under CI).
sdk=interop/gs2sdk
if [ ! -e "$sdk/node_modules/.package-lock.json" ] || [ "$sdk/package-lock.json" -nt "$sdk/node_modules/.package-lock.json" ]; then
	if command -v npm >/dev/null 2>&1; then
		echo "test: npm ci in $sdk" >&2
		(cd "$sdk" && npm ci --no-audit --no-fund >&2)
	else
		echo "test: npm is not installed; the interop test cannot run" >&2
	fi
fi

url=$(scripts/testdb.sh start)
trap 'scripts/testdb.sh stop >/dev/null 2>&1 || true' EXIT
export BRIDGEKEEPER_TEST_POSTGRES_URL="$url"

# The suite is CPU-bound on a two-core machine, and under -race a good part
# of that is garbage collection: GOGC=400 (for the test binaries and the
# bridgekeeper processes they start) collects about a quarter as often, for
# some hundreds of MB more memory. Nothing is checked less.
export GOGC="${GOGC:-400}"
# A -race process sleeps a second when it exits (atexit_sleep_ms), in every
# test binary; the bridgekeeper processes the tests start set their own.
export GORACE="${GORACE:-atexit_sleep_ms=0}"

start=$SECONDS
go vet ./...
# go test prints each package's time ("ok  <package>  12.3s"). It runs three
# packages at a time on two cores (-p 3): the fault and CLI tests spend much
# of their time waiting on processes, outages and timeouts, and a third
# package fills that wait (3m23s against 3m48s at the default two). The
# order given starts fault first, then the two longest, then the two that
# wait longest of the rest (the standby clusters, the browser), so that the
# run does not end on one long package alone.
# -vet=off: go vet ./... above ran every analyzer already; go test would
# run its subset again for each package.
# -d=checkptr=0: -race turns on checkptr, which checks every unsafe
# pointer conversion; modernc.org/sqlite is C translated to Go and does
# little else, so checkptr cost the web tests 12 s of their 74 s of CPU.
# The race detector itself stays on.
go test -p 3 -vet=off -race -gcflags=all=-d=checkptr=0 -count=1 -timeout 20m ./fault ./web ./cmd/bridgekeeper ./internal/testdb ./web/console ./...
echo "test: go vet and go test took $((SECONDS - start))s" >&2

# go test above ran every fuzz target's seed corpus; fuzzing itself is
# make fuzz (each target for 60 s): five seconds a target here cost a
# minute of the five make test may take, for little.
