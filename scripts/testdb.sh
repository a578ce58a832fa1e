#!/usr/bin/env bash
# testdb.sh — a throwaway PostgreSQL cluster for the test suite.
#
#   scripts/testdb.sh start   prints the admin URL (one line on stdout)
#   scripts/testdb.sh stop    stops the cluster and deletes its files
#
# The cluster lives in a temporary directory, listens on 127.0.0.1 only, on a
# free port, with trust authentication. fsync stays on: the suite measures
# durability, and a cluster that skips fsync would hide the cost of commits.
# Tests read the URL from BRIDGEKEEPER_TEST_POSTGRES_URL and create one
# database per test (internal/testdb).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
state_dir="$repo/.testdb"
state="$state_dir/state"

log() { printf 'testdb: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# bindir prints the newest /usr/lib/postgresql/<major>/bin that has initdb.
bindir() {
	local d best="" best_major=-1 major
	for d in /usr/lib/postgresql/*/bin; do
		[[ -x $d/initdb ]] || continue
		major=${d#/usr/lib/postgresql/}
		major=${major%%/*}
		major=${major%%.*}
		[[ $major =~ ^[0-9]+$ ]] || continue
		if ((major > best_major)); then best=$d best_major=$major; fi
	done
	[[ -n $best ]] && printf '%s\n' "$best"
}

install_postgres() {
	[[ -n $(bindir) ]] && return 0
	[[ $(id -u) -eq 0 ]] || die "PostgreSQL is not installed and installing it needs root"
	log "installing PostgreSQL from Debian packages"
	apt-get update >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >&2
	[[ -n $(bindir) ]] || die "apt-get installed no /usr/lib/postgresql/*/bin/initdb"
}

# as_pg runs a command as the cluster's owner: PostgreSQL refuses to run as
# root, so root hands over to the postgres user; anyone else is fine as is.
# It runs from / because the postgres user may not be able to enter the
# caller's working directory.
as_pg() {
	if [[ $(id -u) -eq 0 ]]; then
		(cd / && runuser -u postgres -- "$@")
	else
		"$@"
	fi
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port draws from below the kernel's ephemeral range (32768 and up by
# default), as the tests' own ports do (internal/proctest.FreePort): a port
# in that range may be handed to any test's listener or connection meanwhile.
free_port() {
	local port
	for _ in $(seq 100); do
		port=$((20000 + RANDOM % 12000))
		port_in_use "$port" || { echo "$port"; return 0; }
	done
	die "found no free port"
}

url_for() { printf 'postgres://postgres@127.0.0.1:%s/postgres?sslmode=disable\n' "$1"; }

# running reports whether the recorded cluster is up; it sources the state.
running() {
	[[ -f $state ]] || return 1
	# shellcheck source=/dev/null
	source "$state"
	[[ -n ${dir:-} && -d $dir/data ]] || return 1
	as_pg "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1
}

start() {
	if running; then
		log "already running in $dir"
		url_for "$port"
		return 0
	fi
	[[ -f $state ]] && stop
	install_postgres
	bin=$(bindir)
	if [[ $(id -u) -eq 0 ]]; then
		id postgres >/dev/null 2>&1 || die "no postgres user to run the cluster as"
	fi

	# /tmp rather than $TMPDIR: the postgres user must be able to reach it.
	dir=$(mktemp -d /tmp/bridgekeeper-testdb.XXXXXX)
	[[ $(id -u) -eq 0 ]] && chown postgres: "$dir"
	chmod 700 "$dir"
	mkdir -p "$state_dir"
	echo '*' >"$state_dir/.gitignore"
	# Record the directory first, so that stop can clean up a failed start.
	printf 'dir=%q\nbin=%q\nport=\n' "$dir" "$bin" >"$state"

	log "initdb in $dir ($bin)"
	as_pg "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 --no-locale >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log" >&2; die "initdb failed"; }
	as_pg tee -a "$dir/data/postgresql.conf" >/dev/null <<-CONF
		listen_addresses = '127.0.0.1'
		unix_socket_directories = '$dir'
		max_connections = 300
		fsync = on
		synchronous_commit = on
		full_page_writes = on
	CONF

	# Another process may take the port between the check and the bind, so
	# retry on a fresh one rather than fail.
	for attempt in 1 2 3 4 5; do
		port=$(free_port)
		if as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -o "-p $port" -w -t 60 start >&2; then
			break
		fi
		grep -q 'could not bind\|could not create any TCP' "$dir/postgres.log" 2>/dev/null && ((attempt < 5)) ||
			{ tail -20 "$dir/postgres.log" >&2 || true; die "postgres did not start"; }
		log "port $port was taken, retrying"
	done
	printf 'dir=%q\nbin=%q\nport=%q\n' "$dir" "$bin" "$port" >"$state"

	for _ in $(seq 60); do
		"$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres && break
		sleep 0.5
	done
	"$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres || die "postgres is not accepting connections"
	log "ready on 127.0.0.1:$port"
	url_for "$port"
}

stop() {
	if [[ ! -f $state ]]; then
		log "nothing to stop"
		return 0
	fi
	# shellcheck source=/dev/null
	source "$state"
	if [[ -n ${dir:-} && -d $dir ]]; then
		if [[ -f $dir/data/postmaster.pid ]]; then
			as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >&2 || log "pg_ctl stop failed; removing anyway"
		fi
		case $dir in
		*/bridgekeeper-testdb.*) rm -rf -- "$dir" ;;
		*) log "not removing unexpected directory $dir" ;;
		esac
	fi
	rm -f -- "$state"
	log "stopped"
}

case ${1:-} in
start) start ;;
stop) stop ;;
*)
	echo "usage: $0 start|stop" >&2
	exit 2
	;;
esac
