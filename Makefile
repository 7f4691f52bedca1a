# jetrun — run `make help` for the targets.
SHELL := /bin/bash
GO ?= go
BIN := bin
PKGS := ./...

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show this help.
	@if [ -t 1 ]; then on=$$(printf '\033[36m'); off=$$(printf '\033[0m'); fi; \
	awk -v on="$$on" -v off="$$off" 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %s%-10s%s %s\n", on, $$1, off, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build the worker and submit binaries into bin/.
	CGO_ENABLED=0 $(GO) build -o $(BIN)/ ./cmd/...

.PHONY: test
test: ## Run every test with the race detector (Docker tests need a daemon; JETRUN_REQUIRE_DOCKER=1 makes its absence a failure).
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

.PHONY: lint
lint: ## gofmt check, go vet and staticcheck.
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) tool staticcheck $(PKGS)

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME each (default 60s).
	@for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' messages/*_test.go | sed 's/func //'); do \
		echo "== $$f"; $(GO) test ./messages -run '^$$' -fuzz "^$$f$$" -fuzztime $${FUZZTIME:-60s} || exit 1; done

.PHONY: demo
demo: build ## Quickstart: build a FROM scratch image, start a worker with embedded NATS, run example tasks, stop everything (needs Docker).
	BIN=$(BIN) GO=$(GO) ./scripts/demo.sh

.PHONY: bench
bench: ## Benchmark jetrun against its baselines (needs Docker); rewrites docs/benchmarks.md, ends with BENCH lines. BENCHFLAGS passes flags, e.g. BENCHFLAGS='-only pipeline -cpuprofile /tmp/prof'.
	$(GO) run ./bench $(BENCHFLAGS)

.PHONY: screenshots
screenshots: ## Regenerate the dashboard screenshots in docs/dashboard/ (needs Docker and chromium).
	JETRUN_REQUIRE_DOCKER=1 JETRUN_REQUIRE_BROWSER=1 JETRUN_DASHBOARD_SCREENSHOTS=$(CURDIR)/docs/dashboard \
		$(GO) test -count=1 -run '^TestBrowser$$' ./internal/dashboard/
