# The two commands of the README's contract are `make run` and `make test`.
GO  ?= go
BIN := bin/bridgekeeper
KEK := data/dev.kek

.PHONY: build run test bench vet clean

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

# Load benchmark on loopback against PostgreSQL; see BENCHMARKS.md. Longer,
# steadier runs: make bench BENCH_FLAGS="--duration 60s --rounds 6"
bench: build
	scripts/bench.sh $(BENCH_FLAGS)

vet:
	$(GO) vet ./...

clean:
	rm -rf bin .testdb
