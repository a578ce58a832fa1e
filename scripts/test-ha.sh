#!/usr/bin/env bash
# make test-ha: the reference production deployment of deploy/ on loopback
# (fault/ha_test.go: etcd, three PostgreSQL nodes under Patroni, HAProxy,
# three brokers; a switchover and a killed leader under load), and the
# container recipe's static build (deploy/dockerfile_test.go).
set -euo pipefail
cd "$(dirname "$0")/.."
# HAProxy is in /usr/sbin, which a non-root PATH may lack.
export PATH="$PATH:/usr/local/go/bin:/usr/sbin"
start=$SECONDS
trap 'echo "test-ha: took $((SECONDS - start))s" >&2' EXIT

# Debian's packages: PostgreSQL, Patroni, etcd and HAProxy; install
# whichever is missing.
missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
{ command -v patroni && command -v patronictl; } >/dev/null 2>&1 || missing+=(patroni)
command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
if ((${#missing[@]})); then
	echo "test-ha: installing ${missing[*]} from Debian packages" >&2
	if [ "$(id -u)" -ne 0 ]; then echo "test-ha: ${missing[*]} missing and installing needs root" >&2; exit 1; fi
	# The packages would start their system services (an etcd on 2379, an
	# HAProxy, a PostgreSQL on 5432) where an init system runs; the test
	# starts its own, on free ports, and wants no others. policy-rc.d
	# tells invoke-rc.d not to start anything during the install.
	policy=/usr/sbin/policy-rc.d
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy"
		trap 'rm -f "$policy"; echo "test-ha: took $((SECONDS - start))s" >&2' EXIT
	fi
	apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >&2
fi
# A system etcd, HAProxy or Patroni does not disturb the test (it uses
# its own, on free ports), but say so: it is not what the test measured.
for name in etcd haproxy patroni; do
	if pids=$(pgrep -x "$name"); then
		echo "test-ha: note: a $name not started by the test runs (pid $(echo $pids))" >&2
	fi
done

# The fault package builds the broker; the deploy package builds the
# image's static binary, as the Dockerfile does (BRIDGEKEEPER_TEST_HA).
BRIDGEKEEPER_TEST_HA=1 go test -tags ha -count=1 -v -timeout 15m -run 'TestHAFailover|TestDockerfile' ./fault ./deploy
