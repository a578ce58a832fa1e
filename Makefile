# The two commands of the README's contract are `make run` and `make test`.
GO  ?= go
BIN := bin/bridgekeeper
KEK := data/dev.kek

.PHONY: build run test test-fault test-ha bench vet clean

build:
	$(GO) build -o $(BIN) ./cmd/bridgekeeper

# Starts the broker on the embedded SQLite default with a development
# key-encryption key, creating a demo namespace and client on first start.
run: build
	@mkdir -p data
	@if [ ! -s $(KEK) ]; then \
		head -c 32 /dev/urandom | base64 > $(KEK) && chmod 600 $(KEK) && \
		echo "make run: generated a DEVELOPMENT key-encryption key in $(KEK) (not for production)"; \
	fi
	BRIDGEKEEPER_DEMO=true $(BIN) serve --key-encryption-key-file $(KEK)

# Installs and starts a throwaway PostgreSQL on loopback, runs go vet and
# every test with the race detector, and stops the cluster.
test:
	scripts/test.sh

# Crash safety and database faults (package fault): kill -9 of the broker
# mid-load, PostgreSQL stopped, frozen and locked under load. The tests start
# private PostgreSQL clusters of their own (internal/testdb.NewCluster), so
# only the binaries are needed; they are installed here, as make test does,
# when missing. make test runs these tests too (go test ./...).
test-fault:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		if [ "$$(id -u)" -ne 0 ]; then echo "test-fault: PostgreSQL is not installed and installing it needs root" >&2; exit 1; fi; \
		echo "test-fault: installing PostgreSQL from Debian packages" >&2; \
		apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >&2; \
	fi
	$(GO) test -race -count=1 -v ./fault/

# The reference production deployment (deploy/) on loopback: etcd, three
# PostgreSQL nodes under Patroni, HAProxy in front of them and of the broker
# replicas, and a switchover and a killed leader under load; also checks
# the container recipe's rules and builds its static binary. Installs
# Debian's patroni, etcd-server and haproxy when missing.
test-ha:
	scripts/test-ha.sh

# Load benchmark on loopback against PostgreSQL; see BENCHMARKS.md. Longer,
# steadier runs: make bench BENCH_FLAGS="--duration 60s --rounds 6". Each
# scenario on 1, 2 and 3 broker processes sharing one database (how far one
# primary goes): make bench REPLICAS=3
bench: build
	$(GO) build -o bin/bridgekeeper-bench ./cmd/bridgekeeper-bench
	scripts/bench.sh $(if $(REPLICAS),--replicas $(REPLICAS)) $(BENCH_FLAGS)

vet:
	$(GO) vet ./...

clean:
	rm -rf bin .testdb

# Every go test -fuzz target (scripts/fuzz.sh) for FUZZTIME each, one after
# another (make test runs their seed corpora only). Longer: make fuzz FUZZTIME=10m
.PHONY: fuzz
fuzz:
	FUZZTIME=$${FUZZTIME:-60s} scripts/fuzz.sh
