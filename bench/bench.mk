# The benchmarks' builds and runs, called from the root Makefile (`make
# bench`, `make bench-macro`), from the repository root:
#
#   make -f bench/bench.mk macro       # the servers under wrk (docs/PERFORMANCE.md)
#   make -f bench/bench.mk benchstat   # summarises bench.txt, written by `make bench`
#   make -f bench/bench.mk profiles    # CPU profiles of the handler's hot paths
#
# Everything is built from pinned inputs and rebuilt only when they change:
# ocb v0.156.0 and benchstat from bench/tools/go.mod, the peer collector
# from bench/webhookevent/builder-config.yaml, the profiling build of our
# collector from bench/profiling/builder-config.yaml (with the repository's
# ocb v0.144.0) and the receiver's sources.
GO        ?= go
BIN       := $(CURDIR)/bin
OUT       := $(CURDIR)/bench/out
# Modules come from the module cache, else from this proxy (without
# `direct`, which cannot be reached here).
BENCH_GOPROXY ?= https://proxy.golang.org
BENCH_ENV     := GOPROXY=$(BENCH_GOPROXY) GOFLAGS=-buildvcs=false

OCB          := $(BIN)/ocb
OCB_PEER     := $(BIN)/ocb-0.156.0
BENCHSTAT    := $(BIN)/benchstat
OTELCOL      := $(BIN)/otelcol-detectify
OTELCOL_PPROF := $(BIN)/otelcol-detectify-pprof
WEBHOOKEVENT := $(BIN)/otelcol-webhookevent
CEILING      := $(BIN)/bench-ceiling
MACRO        := $(BIN)/bench-macro
PPROFGROUP   := $(BIN)/bench-pprofgroup

PEER_MANIFEST  := bench/webhookevent/builder-config.yaml
PEER_BUILD     := bench/build/otelcol-webhookevent
PPROF_MANIFEST := bench/profiling/builder-config.yaml
PPROF_BUILD    := bench/build/otelcol-detectify-pprof

# What a collector build compiles from this repository (tests aside), as in
# the root Makefile.
RECEIVER_SRC := $(filter-out %_test.go,$(wildcard *.go)) \
	$(shell find internal -path internal/tools -prune -o -type f ! -name '*_test.go' -print)

# Flags for bench/macro, e.g. BENCH_FLAGS='-duration 5s -rounds 3'.
BENCH_FLAGS ?=

.PHONY: macro benchstat profiles wrk
.DELETE_ON_ERROR:

# Built by the root Makefile's rules.
$(OTELCOL) $(OCB):
	$(MAKE) -f Makefile $@

$(OCB_PEER): bench/tools/go.mod bench/tools/go.sum
	cd bench/tools && $(BENCH_ENV) $(GO) build -o $@ go.opentelemetry.io/collector/cmd/builder

$(BENCHSTAT): bench/tools/go.mod bench/tools/go.sum
	cd bench/tools && $(BENCH_ENV) $(GO) build -o $@ golang.org/x/perf/cmd/benchstat

# ocb in two steps, as in the root Makefile: generate and resolve modules
# (slow, network) only when the manifest or ocb changed; compile when the
# sources did.
$(PEER_BUILD)/go.mod: $(PEER_MANIFEST) $(OCB_PEER)
	@mkdir -p bench/build
	$(BENCH_ENV) $(OCB_PEER) --config=$(PEER_MANIFEST) --skip-compilation

$(WEBHOOKEVENT): $(PEER_BUILD)/go.mod
	$(BENCH_ENV) $(OCB_PEER) --config=$(PEER_MANIFEST) --skip-generate --skip-get-modules
	cp $(PEER_BUILD)/otelcol-webhookevent $@

$(PPROF_BUILD)/go.mod: $(PPROF_MANIFEST) $(OCB) go.mod go.sum
	@mkdir -p bench/build
	$(BENCH_ENV) $(OCB) --config=$(PPROF_MANIFEST) --skip-compilation

$(OTELCOL_PPROF): $(PPROF_BUILD)/go.mod $(RECEIVER_SRC)
	$(BENCH_ENV) $(OCB) --config=$(PPROF_MANIFEST) --skip-generate --skip-get-modules
	cp $(PPROF_BUILD)/otelcol-detectify-pprof $@

# Our programs are in the main module (bench/macro signs with
# internal/webhooksend).
$(CEILING): $(wildcard bench/ceiling/*.go)
	$(GO) build -o $@ ./bench/ceiling

$(MACRO): $(wildcard bench/macro/*.go) $(wildcard internal/webhooksend/*.go)
	$(GO) build -o $@ ./bench/macro

$(PPROFGROUP): $(wildcard bench/pprofgroup/*.go)
	$(GO) build -o $@ ./bench/pprofgroup

# wrk from Debian, when missing.
wrk:
	@scripts/install-deps.sh wrk=wrk

# The rounds, then where each server's time goes under the same load
# (profiles taken in separate, unmeasured runs).
macro: wrk $(OTELCOL) $(OTELCOL_PPROF) $(WEBHOOKEVENT) $(CEILING) $(MACRO) $(PPROFGROUP)
	$(MACRO) -bin $(BIN) -out $(OUT) $(BENCH_FLAGS)
	@for p in $(OUT)/profile-*.prof; do [ -e "$$p" ] || continue; \
	  echo "== $$(basename $$p .prof)"; \
	  $(PPROFGROUP) $$p | tee $${p%.prof}.groups.txt || exit 1; \
	done

benchstat: $(BENCHSTAT)
	@mkdir -p $(OUT)
	$(BENCHSTAT) bench.txt | tee $(OUT)/benchstat.txt

# CPU profiles of the two hot paths, grouped by what the time is spent on
# (HMAC, JSON, pdata, telemetry, HTTP plumbing...). The test binary runs in
# the package folder, where testdata/ is.
define profile
@echo "== $(1) ($(2))"
$(OUT)/detectifyreceiver.test -test.run '^$$' -test.bench '$(2)' -test.benchmem -test.benchtime 5s \
	  -test.cpuprofile $(OUT)/$(1).prof | grep -E '^Benchmark'
$(GO) tool pprof -top -nodecount 30 $(OUT)/detectifyreceiver.test $(OUT)/$(1).prof > $(OUT)/$(1).top.txt 2>&1
$(GO) tool pprof -top -cum -nodecount 60 $(OUT)/detectifyreceiver.test $(OUT)/$(1).prof > $(OUT)/$(1).cum.txt 2>&1
$(PPROFGROUP) -bin $(OUT)/detectifyreceiver.test $(OUT)/$(1).prof | tee $(OUT)/$(1).groups.txt
endef

profiles: $(PPROFGROUP)
	@mkdir -p $(OUT)
	$(GO) test -c -o $(OUT)/detectifyreceiver.test .
	$(call profile,handler,^BenchmarkHandler$$/^finding_high$$)
	$(call profile,badsig,^BenchmarkBadSignature$$)
