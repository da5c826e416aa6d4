# Arbor build and test entry points. `make test` is what CI runs.
GO      ?= go
BIN     := bin
PKGS    := ./...
# Go test timeout per package: the process-level tests start real servers.
TEST_TIMEOUT ?= 20m

.PHONY: all build test test-race deps lint verify fuzz-short bench perf clean

all: build

build:
	$(GO) build -o $(BIN)/arbor ./cmd/arbor
	$(GO) build -o $(BIN)/arborctl ./cmd/arborctl
	$(GO) build -o $(BIN)/arbor-bench ./cmd/arbor-bench

# deps installs what the tests use from outside Go: etcd 3.4 from Debian's
# packages, the reference for the differential tests. Without it those
# tests skip and say so; everything else still runs.
deps:
	@if ! command -v etcd >/dev/null 2>&1 || ! command -v etcdctl >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing etcd-server and etcd-client (reference for differential tests)"; \
			(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends etcd-server etcd-client) >/dev/null 2>&1 \
				|| echo "warning: could not install etcd; differential tests will skip"; \
			systemctl stop etcd >/dev/null 2>&1 || true; \
		else \
			echo "warning: etcd not installed and cannot install it; differential tests will skip"; \
		fi; \
	fi

# test runs every test CI runs: unit, fuzz seed corpora, process-level
# crash tests and differential tests against etcd, with the race detector.
test: deps
	$(GO) vet $(PKGS)
	$(GO) test -race -timeout $(TEST_TIMEOUT) $(PKGS)

test-race: test

lint: verify

verify:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1)
	$(GO) vet $(PKGS)
	$(GO) mod tidy -diff

# fuzz-short runs each fuzz target for a short while beyond its seeds.
fuzz-short:
	$(GO) test -run '^$$' -fuzz '^FuzzParseKeyRequest$$' -fuzztime 20s ./internal/httpapi
	$(GO) test -run '^$$' -fuzz '^FuzzParseForm$$' -fuzztime 20s ./internal/httpapi
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeRecord$$' -fuzztime 20s ./internal/wal
	$(GO) test -run '^$$' -fuzz '^FuzzRequestUnmarshal$$' -fuzztime 20s ./internal/store
	$(GO) test -run '^$$' -fuzz '^FuzzRestore$$' -fuzztime 20s ./internal/store
	$(GO) test -run '^$$' -fuzz '^FuzzAppendEvent$$' -fuzztime 20s ./internal/store
	$(GO) test -run '^$$' -fuzz '^FuzzPeekEntryIndex$$' -fuzztime 20s ./internal/wal
	$(GO) test -run '^$$' -fuzz '^FuzzParseHead$$' -fuzztime 20s ./internal/httplane
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeBatch$$' -fuzztime 20s ./internal/server
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeHeader$$' -fuzztime 20s ./internal/snap
	$(GO) test -run '^$$' -fuzz '^FuzzReadFrame$$' -fuzztime 20s ./internal/transport
	$(GO) test -run '^$$' -fuzz '^FuzzParseRegistration$$' -fuzztime 20s ./internal/discovery

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/store ./internal/wal

# perf compares arbor with etcd 3.4 on this machine (see docs/performance.md).
perf: build deps
	scripts/perf.sh

clean:
	rm -rf $(BIN) perf-results
