#!/usr/bin/env bash
# Runs every fuzz target for FUZZTIME each (default 5s), one after another:
# go test takes one -fuzz target per run. make test runs this briefly, make
# fuzz for longer (FUZZTIME=60s). Names given as arguments run only those
# targets: scripts/fuzz.sh FuzzPolicy FuzzGS2Body.
#
# A failing input is written by go test to the target's seed corpus,
# <package>/testdata/fuzz/<Target>/, so that plain `go test` reproduces it
# from then on; keep it there (with the fix) rather than deleting it.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

FUZZTIME="${FUZZTIME:-5s}"
# Minimizing every new interesting input can take minutes on the slow
# (password-hashing) GS2 calls; bound it so that the time goes to fuzzing.
FUZZMINIMIZETIME="${FUZZMINIMIZETIME:-5s}"
# go test's own -timeout (10m by default) must outlast the fuzzing: 10m
# more than FUZZTIME when that is a plain duration (90s, 10m, 2h).
timeout=10m
if [[ "$FUZZTIME" =~ ^([0-9]+)([smh])$ ]]; then
	n=${BASH_REMATCH[1]}
	case ${BASH_REMATCH[2]} in m) n=$((n * 60)) ;; h) n=$((n * 3600)) ;; esac
	timeout=$((n + 600))s
fi

targets=(
	"./web FuzzTokenEndpoint"
	"./web FuzzClientAuthentication"
	"./web FuzzGS2Body"
	"./web FuzzXsollaBody"
	"./broker FuzzVerifyAccessToken"
	"./broker/gs2policy FuzzPolicy"
)

want=("$@")
selected() {
	[ ${#want[@]} -eq 0 ] && return 0
	local w
	for w in "${want[@]}"; do [ "$w" = "$1" ] && return 0; done
	return 1
}

# seconds converts go test's elapsed time (5s, 1m0s, 1h2m3s) to seconds.
seconds() {
	local d=$1 n=0
	[ -n "$d" ] || return 0
	[[ $d =~ ([0-9]+)h ]] && n=$((n + BASH_REMATCH[1] * 3600))
	[[ $d =~ ([0-9]+)m ]] && n=$((n + BASH_REMATCH[1] * 60))
	[[ $d =~ ([0-9]+)s ]] && n=$((n + BASH_REMATCH[1]))
	echo "$n"
}

log=$(mktemp)
trap 'rm -f "$log"' EXIT
failed=()
summary=()
for t in "${targets[@]}"; do
	read -r pkg name <<<"$t"
	selected "$name" || continue
	echo "fuzz: $name ($pkg) for $FUZZTIME" >&2
	corpus="$pkg/testdata/fuzz/$name"
	before=$(ls "$corpus" 2>/dev/null | sort)
	go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime "$FUZZMINIMIZETIME" -timeout "$timeout" "$pkg" >"$log" 2>&1
	rc=$?
	after=$(ls "$corpus" 2>/dev/null | sort)
	# go1.26's fuzz coordinator can report a bare "context deadline
	# exceeded" when -fuzztime runs out while a worker is mid-input
	# (go.dev/issue/75804, fixed in go1.27): no input failed and none was
	# written. Only a failure that wrote a reproducer counts.
	flaked=""
	if [ $rc -ne 0 ] && [ "$before" = "$after" ] && grep -q '^    context deadline exceeded$' "$log" &&
		! grep -qE 'Failing input written|panic:' "$log"; then
		flaked=1
	fi
	# The last progress line holds the totals: "execs: N (R/sec)".
	last=$(grep -E '^fuzz: elapsed: .*execs: ' "$log" | tail -n 1)
	execs=$(sed -nE 's/.*execs: ([0-9]+) .*/\1/p' <<<"$last")
	secs=$(seconds "$(sed -nE 's/^fuzz: elapsed: ([0-9hms]+),.*/\1/p' <<<"$last")")
	rate=""
	if [ -n "$execs" ] && [ -n "$secs" ] && [ "$secs" -gt 0 ]; then rate=$((execs / secs)); fi
	[ -n "$last" ] && echo "  $last" >&2
	if [ $rc -eq 0 ] && [ -z "$execs" ]; then
		# FUZZTIME went on replaying the corpus (seeds and what earlier runs
		# found, in the build cache) for baseline coverage.
		base=$(grep -oE 'baseline coverage: [0-9]+/[0-9]+' "$log" | tail -n 1)
		line="ok    $name: no new inputs, only the corpus replayed (${base:-?})"
	elif [ $rc -eq 0 ]; then
		line="ok    $name: ${execs:-?} execs in ${secs:-?}s (${rate:-?}/sec on average)"
	elif [ -n "$flaked" ]; then
		line="ok    $name: ${execs:-?} execs; go's end-of-fuzztime deadline race reported, no failing input (go.dev/issue/75804)"
	else
		line="FAIL  $name (exit $rc)"
		failed+=("$name")
		cat "$log" >&2
	fi
	echo "fuzz: $line" >&2
	summary+=("$line")
done

echo "fuzz: summary (FUZZTIME=$FUZZTIME each)" >&2
for line in "${summary[@]}"; do echo "  $line" >&2; done
if [ ${#failed[@]} -gt 0 ]; then
	echo "fuzz: FAILED: ${failed[*]}; the failing inputs are in <package>/testdata/fuzz/<Target>/" >&2
	exit 1
fi
