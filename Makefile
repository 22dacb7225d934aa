# The README's two commands are `make demo` and `make test`; both set up
# everything a fresh clone needs.
GO ?= go

.PHONY: demo test bench fuzz libchdb build devstack fmt vet

demo: ## run the demo on the embedded stack
	@scripts/demo.sh

test: ## fetch libchdb, start the devstack, run unit + integration tests
	@scripts/test.sh

bench: ## micro-benchmarks, ingest throughput, freshness; writes benchmarks/results/ (BENCHFLAGS=... for the harness)
	PREDLOG_LIBCHDB=$$(scripts/fetch-libchdb.sh) && export PREDLOG_LIBCHDB && $(GO) run ./benchmarks/cmd/benchingest $(BENCHFLAGS)

fuzz: ## run every fuzz target for FUZZTIME each (default 30s); `go test` alone runs only their seeds
	@set -e; for pkg in $$($(GO) list ./...); do \
		for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "$$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $${FUZZTIME:-30s} $$pkg; \
		done; \
	done

libchdb: ## fetch the embedded ClickHouse engine into the cache (once)
	@scripts/fetch-libchdb.sh

build: ## build every binary into bin/
	$(GO) build -o bin/ ./cmd/...

devstack: libchdb ## run Kafka + ClickHouse HTTP on 127.0.0.1:9092 and :8123
	$(GO) run ./cmd/devstack

fmt:
	gofmt -l -w $$(git ls-files '*.go')

vet:
	$(GO) vet ./...
