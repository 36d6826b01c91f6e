# detectifyreceiver: `make test` is what CI runs (.ci/run).
GO       ?= go
BIN      := $(CURDIR)/bin
MDATAGEN := $(BIN)/mdatagen
OCB      := $(BIN)/ocb
LINTER   := $(BIN)/golangci-lint
OTELCOL  := $(BIN)/otelcol-detectify
PEER     := $(BIN)/otelcol-peer
# The alert rules and the Grafana dashboard, written by `make dashboards`
# from the one list of queries they share.
QUERIES   := examples/queries/queries.yaml
RULES     := examples/prometheus/rules.yml
DASHBOARD := examples/grafana/detectify.json
# What `make generate` writes (README.md for its status table), and what
# `make dashboards` writes.
GENERATED := internal/metadata internal/metadatatest documentation.md generated_component_test.go generated_package_test.go README.md \
	$(RULES) $(DASHBOARD)

.PHONY: all generate check-generated lint tidy-check test unit loss alloc-budget fuzz-short fuzz bench clean \
	otelcol peer run validate-examples e2e deps test-rules compat mutate dashboards check-logql

# A failed step must not leave a target that looks up to date, and a
# failure on the left of a pipe must fail the recipe.
.DELETE_ON_ERROR:
SHELL       := bash
.SHELLFLAGS := -e -o pipefail -c

all: lint test

# Modules come from the module cache, else from this proxy (without
# `direct`, which cannot be reached here).
GOPROXY_ONLY ?= https://proxy.golang.org
TOOL_ENV     := GOPROXY=$(GOPROXY_ONLY) GOFLAGS=-buildvcs=false

# The tools are pinned by their own modules under internal/tools (a tool
# directive each: `go install pkg@version` cannot be used here, the proxy
# does not list their versions). mdatagen stays at v0.144.0: v0.145.0's
# go.mod is missing from the checksum database.
$(MDATAGEN): internal/tools/go.mod internal/tools/go.sum
	cd internal/tools && $(TOOL_ENV) $(GO) build -o $@ go.opentelemetry.io/collector/cmd/mdatagen

# ocb at the distribution's release (v0.145.0).
$(OCB): internal/tools/ocb/go.mod internal/tools/ocb/go.sum
	cd internal/tools/ocb && $(TOOL_ENV) $(GO) build -o $@ go.opentelemetry.io/collector/cmd/builder

$(LINTER): internal/tools/lint/go.mod internal/tools/lint/go.sum
	cd internal/tools/lint && $(TOOL_ENV) $(GO) build -o $@ github.com/golangci/golangci-lint/v2/cmd/golangci-lint

# Collector distributions: ocb writes build/otelcol-NAME/ (sources, go.mod)
# from a manifest, then compiles it. The two steps are separate targets so
# that a change to the receiver's code only recompiles, while a change to a
# manifest or to go.mod/go.sum also regenerates and resolves modules.
OCB_ENV            := $(TOOL_ENV)
MANIFEST_detectify := builder-config.yaml
MANIFEST_peer      := e2e/peer/builder-config.yaml

# What the distribution compiles from this repository (tests aside).
RECEIVER_SRC := $(filter-out %_test.go,$(wildcard *.go)) \
	$(shell find internal -path internal/tools -prune -o -type f ! -name '*_test.go' -print)

build/otelcol-detectify/go.mod: $(MANIFEST_detectify) go.mod go.sum
build/otelcol-peer/go.mod: $(MANIFEST_peer)
$(OTELCOL): $(RECEIVER_SRC)

build/otelcol-%/go.mod: $(OCB)
	@mkdir -p build
	$(OCB_ENV) $(OCB) --config=$(MANIFEST_$*) --skip-compilation

$(BIN)/otelcol-%: build/otelcol-%/go.mod
	$(OCB_ENV) $(OCB) --config=$(MANIFEST_$*) --skip-generate --skip-get-modules
	cp build/otelcol-$*/otelcol-$* $@.tmp && mv -f $@.tmp $@  # mv: the old binary may be running

otelcol: $(OTELCOL)

peer: $(PEER)

# The quick start: the receiver on localhost:8765 with the demo secret, logs
# to stderr, metrics on localhost:8889/metrics. DEMO_SECRET and the default
# endpoint are examples/collector.yaml's defaults.
DEMO_SECRET  := demo-secret-CHANGE-ME
WEBHOOK_URL   = http://$(or $(DETECTIFY_ENDPOINT),localhost:8765)/webhook

run: $(OTELCOL)
	@echo "Detectify webhook URL: $(WEBHOOK_URL)"
	@echo "Send Detectify's example messages, signed, from another terminal:"
	@if [ -n "$$DETECTIFY_WEBHOOK_SECRET" ]; then \
	  echo "  go run ./cmd/detectify-send -url $(WEBHOOK_URL)    # signs with \$$DETECTIFY_WEBHOOK_SECRET"; \
	else \
	  echo "  go run ./cmd/detectify-send -url $(WEBHOOK_URL) -secret $(DEMO_SECRET)"; \
	fi
	$(OTELCOL) --config=examples/collector.yaml

# Collector configs under examples/. Credentials have no default in them, so
# validation gets placeholders.
EXAMPLE_CONFIGS := $(wildcard examples/*.yaml examples/*/otelcol.yaml)
VALIDATE_ENV    := DETECTIFY_WEBHOOK_SECRET=validate-only SPLUNK_HEC_TOKEN=validate-only REDIS_PASSWORD=validate-only

validate-examples: $(OTELCOL)
	@for f in $(EXAMPLE_CONFIGS); do \
	  echo "validate $$f"; $(VALIDATE_ENV) $(OTELCOL) validate --config=$$f || exit 1; \
	done

# Prometheus, promtool, Alertmanager, amtool and redis-server from Debian,
# when missing.
deps:
	scripts/install-deps.sh

# The example Prometheus and Alertmanager configs, and the alert rules'
# unit tests.
PROM_EXAMPLES := examples/prometheus
test-rules: deps
	promtool check config $(PROM_EXAMPLES)/prometheus.yml
	promtool check rules $(PROM_EXAMPLES)/rules.yml
	promtool test rules $(PROM_EXAMPLES)/rules_test.yml
	amtool check-config $(PROM_EXAMPLES)/alertmanager.yml

# End-to-end tests: the built distribution against real peers on loopback.
e2e: deps otelcol peer
	cd e2e && $(GO) test -race -count=1 -timeout 30m ./...

# The real-Loki test (e2e/loki_real_test.go), with a Loki 3.x binary of
# your own: LOKI=/path/to/loki. This repository does not build Loki (AGPL,
# marked not to be used here), so `make test` cannot run it.
.PHONY: e2e-loki
e2e-loki: otelcol
	@test -n "$(LOKI)" || { echo "e2e-loki: set LOKI=/path/to/a/loki-3.x/binary"; exit 1; }
	cd e2e && LOKI_BINARY="$(abspath $(LOKI))" $(GO) test -tags loki -race -count=1 -run '^TestRealLoki$$' -v .

# The reliability soak through the distribution at 200 webhooks/s, for
# SOAK (the end-to-end tests run it for 20s); docs/RELIABILITY.md has the
# figures. Without -race: the sender must not steal the collector's CPU.
SOAK ?= 5m
.PHONY: soak
soak: otelcol
	cd e2e && DETECTIFY_SOAK=$(SOAK) $(GO) test -count=1 -timeout 60m -run '^TestSoak' -v .

# mdatagen names the package after the folder holding metadata.yaml, so it
# runs through a link called detectifyreceiver whatever the checkout is called.
generate: $(MDATAGEN)
	@tmp=$$(mktemp -d) && ln -s "$(CURDIR)" "$$tmp/detectifyreceiver" && \
	  $(MDATAGEN) "$$tmp/detectifyreceiver/metadata.yaml"; rc=$$?; rm -rf "$$tmp"; exit $$rc

# The rules and the dashboard from the queries they share (and the rules'
# template, which names a query of the list for each rule's expr).
dashboards:
	cd internal/tools/querygen && $(TOOL_ENV) $(GO) run . -queries $(CURDIR)/$(QUERIES) \
	  -rules-template $(CURDIR)/$(RULES).tmpl -rules $(CURDIR)/$(RULES) -dashboard $(CURDIR)/$(DASHBOARD)

# The LogQL queries of the dashboard and of README.md, parsed with Grafana's
# LogQL grammar (npm @grafana/lezer-logql, pinned by package-lock.json and
# installed again only when the lock changes). A syntax check: Loki itself
# cannot be built here (README.md, Grafana dashboard).
LOGQL_CHECK := internal/tools/logql
$(LOGQL_CHECK)/node_modules/.package-lock.json: $(LOGQL_CHECK)/package.json $(LOGQL_CHECK)/package-lock.json
	cd $(LOGQL_CHECK) && npm ci --no-audit --no-fund --loglevel=error

check-logql: deps $(LOGQL_CHECK)/node_modules/.package-lock.json
	node $(LOGQL_CHECK)/check.mjs $(DASHBOARD) README.md

# Fails when the generated code is not what metadata.yaml generates, or the
# rules and the dashboard are not what the list of queries gives.
check-generated: generate dashboards
	@if [ -n "$$(git status --porcelain -- $(GENERATED))" ]; then \
	  git status --porcelain -- $(GENERATED); git diff --stat -- $(GENERATED); \
	  echo "generated files are stale: run 'make generate dashboards' and commit the result"; exit 1; fi

# go mod tidy must leave every module's go.mod and go.sum as they are
# (-diff prints what it would change, and writes nothing).
MODULES := . e2e internal/tools/querygen
tidy-check:
	@for m in $(MODULES); do \
	  (cd $$m && GOPROXY=$(GOPROXY_ONLY) $(GO) mod tidy -diff) || \
	  { echo "go mod tidy changes $$m/go.mod or go.sum: run it and commit the result"; exit 1; }; \
	done

lint: $(LINTER) tidy-check
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	cd e2e && $(GO) vet ./... && $(GO) vet -tags loki ./...
	cd internal/tools/querygen && $(GO) vet ./...
	$(LINTER) run ./...

# The race detector slows the loss accounting tenfold: under it, 20,000
# webhooks; `make loss` sends the full 100,000 without it.
unit:
	DETECTIFY_LOSS_WEBHOOKS=20000 $(GO) test -race -count=1 ./...
	cd internal/tools/querygen && $(GO) test -race -count=1 ./...

loss:
	$(GO) test -count=1 -run 'TestNothingLost|TestPermanentFailures' .

# The allocation budget of a webhook, without -race (which changes what
# allocates; its file is built without -race only, so `unit` does not run it).
alloc-budget:
	$(GO) test -count=1 -run 'TestAWebhooksAllocationsStayInBudget' .

# Each fuzz target for a short while (make test), or long (make fuzz). In
# executions, not seconds: with a duration, Go 1.26's fuzz coordinator can
# fail a target with "context deadline exceeded" at its end on a loaded
# machine, no input to blame (golang/go#75804, fixed in Go 1.27).
FUZZ_TARGETS := .:FuzzHandler ./internal/message:FuzzParse
FUZZTIME     ?= 60000x
fuzz-short:
	@for t in $(FUZZ_TARGETS); do \
	  $(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) "$${t%%:*}" || exit 1; done

fuzz:
	$(MAKE) fuzz-short FUZZTIME=4000000x

# The receiver against the newest collector release served here: its unit
# tests with -race on every collector module upgraded, and a small ocb
# distribution of that release with the receiver (scripts/compat.sh).
compat:
	scripts/compat.sh

# Breaks key lines of the receiver one at a time and shows that a test
# fails for each (scripts/mutate.sh lists them).
mutate:
	scripts/mutate.sh

test: lint check-generated check-logql unit loss alloc-budget fuzz-short validate-examples test-rules e2e compat

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 6 . | tee bench.txt
	$(MAKE) -f bench/bench.mk benchstat profiles GO=$(GO)
	$(MAKE) bench-macro

# The macro benchmark (docs/PERFORMANCE.md): the receiver and contrib's
# webhookeventreceiver, both built on collector v0.156.0 (bench/detectify,
# bench/webhookevent), and a bare net/http ceiling under wrk on loopback,
# interleaved; with storage, Redis and telemetry variants. bench/bench.mk
# builds what it needs; BENCH_FLAGS passes options, e.g.
# BENCH_FLAGS='-duration 5s -rounds 2', and BENCH_VARIANTS other source
# trees to measure beside this one, e.g. BENCH_VARIANTS='old=/tmp/old-base'.
.PHONY: bench-macro
bench-macro:
	$(MAKE) -f bench/bench.mk macro GO=$(GO)

clean:
	rm -rf $(BIN) build
