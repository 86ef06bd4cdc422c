# Developer entry points for Abacus. `make` alone lists the targets.
#
# `run` and `test` go through deploy/local/with-services.sh, which finds (or starts) a
# PostgreSQL and a NATS JetStream server and exports DATABASE_URL / NATS_URL; set those
# yourself to point at other servers.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
# Recipes are plain commands; no built-in suffix rules are needed.
MAKEFLAGS += --no-builtin-rules

WITH_SERVICES := bash deploy/local/with-services.sh

.PHONY: help run test test-deploy lint build web fmt clean-data bench bench-api bench-aggregator bench-storage bench-import bench-web fuzz

help: ## List the targets
	@echo "Usage: make TARGET"
	@echo
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN { FS = ":.*## " } { printf "  %-17s %s\n", $$1, $$2 }'

run: web ## Build and run aggregator, storage worker and api locally (Ctrl-C stops them)
	$(WITH_SERVICES) bash deploy/local/run-stack.sh

# The API embeds web/dist when it is compiled, so the app is built before any cargo build.
web: ## Build the web app (web/dist) the API embeds; installs Node.js/npm with apt if missing
	bash deploy/local/build-web.sh

# The web app's unit tests (node's test runner) first; the browser test is a cargo test
# (tests/tests/web_app.rs). Plain `cargo test` output last on purpose: CI parses it.
test: web ## Run all tests, with PostgreSQL and NATS provided
	cd web && npm test --silent
	$(WITH_SERVICES) cargo test --workspace --all-targets

bench: bench-aggregator bench-storage bench-api bench-import bench-web ## Run every benchmark (figures are ratios against a baseline in the same run)

bench-storage: ## Storage worker: persisted samples/s beside binary COPY of the same rows, rollups, bytes/row
	$(WITH_SERVICES) cargo run --release --quiet -p abacus-tests --bin storage-bench

bench-import: ## Whisper import: points/s published and stored beside whisper.fetch reading the same files, bytes/point
	$(WITH_SERVICES) cargo run --release --quiet -p abacus-tests --bin import-bench

# The browser benchmarks. The first needs no services: web/bench/graph.mjs serves the built app
# and a synthetic /render answer itself, every point drawn. Then, against the real pipeline,
# web-bench stores a day of 10 series and runs web/bench/graph.mjs against the API (issue 18's
# load figure), then sends 100,000 series and runs web/bench/search.mjs, against the API, which
# embeds the app `web` has just built. tests/web/setup.sh installs chromium and playwright-core
# when missing.
bench-web: web ## Web app: Graph page (every point drawn; a day of 10 series from the API) beside bare uPlot and the bare fetch; Metrics search per keystroke over 100k series
	ABACUS_CHROMIUM="$$(bash tests/web/setup.sh)" node web/bench/graph.mjs
	$(WITH_SERVICES) cargo run --release --quiet -p abacus-tests --bin web-bench

bench-api: ## Query latency of the API beside the bare SQL fetching the same rows
	$(WITH_SERVICES) cargo run --release --quiet -p abacus-tests --bin api-bench

lint: ## Check formatting and run clippy with warnings as errors; ESLint and tsc for web/
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	# The wire contract builds without the services' runtime (see proto/Cargo.toml).
	cargo clippy -p abacus-proto --no-default-features -- -D warnings
	bash deploy/local/build-web.sh --deps
	cd web && npm run --silent lint && npm run --silent typecheck

# Needs root (rootful podman, debootstrap); installs podman, podman-compose, runc and
# debootstrap with apt when missing. See deploy/test/compose-test.sh for what it checks.
# ABACUS_TEST_DEPLOY_BINARIES=compiled builds the image's binaries in its build stages, as
# `docker build` does, instead of copying the host's in (slow; not run by CI).
test-deploy: ## Build the image with podman, run the compose stack and check it end to end
	bash deploy/test/compose-test.sh

build: web ## Build the web app, then the release binaries
	cargo build --workspace --release --bins


# Micro-benchmarks first (no services needed), then the end-to-end run against NATS and etsy
# statsd. See tests/bench/aggregator.sh for what is measured and how.
bench-aggregator: ## Aggregator: parse+aggregate rate, bytes/series, window end, UDP load vs etsy statsd
	cargo bench -p abacus-aggregator --bench parse_aggregate -- --warm-up-time 1 --measurement-time 3
	cargo bench -p abacus-aggregator --bench series_memory
	cargo bench -p abacus-aggregator --bench flush_instructions -- --time
	cargo bench -p abacus-aggregator --bench key_set_change -- --warm-up-time 1 --measurement-time 3
	$(WITH_SERVICES) bash tests/bench/aggregator.sh

# Seconds per fuzz target; raise it for a longer hunt (`make fuzz FUZZ_SECONDS=3600`).
FUZZ_SECONDS ?= 60

fuzz: ## Fuzz the statsd/Graphite parsers, aggregation, render targets and Graphite times with cargo-fuzz (nightly, installed if missing)
	bash deploy/local/fuzz.sh aggregator $(FUZZ_SECONDS)
	bash deploy/local/fuzz.sh api $(FUZZ_SECONDS)

fmt: ## Format the code
	cargo fmt --all

clean-data: ## Stop the private PostgreSQL/NATS servers started for run/test and delete .data/
	$(WITH_SERVICES) --clean
