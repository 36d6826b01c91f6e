# The benchmarks' builds and runs, called from the root Makefile (`make
# bench`, `make bench-macro`), from the repository root:
#
#   make -f bench/bench.mk macro       # the servers under wrk (docs/PERFORMANCE.md)
#   make -f bench/bench.mk benchstat   # summarises bench.txt, written by `make bench`
#   make -f bench/bench.mk profiles    # CPU profiles of the handler's hot paths
#
#   make -f bench/bench.mk macro BENCH_VARIANTS='old=/tmp/old-base'
#                                      # also other source trees of the
#                                      # receiver (e.g. git worktrees of older
#                                      # commits), built as NAME and run as
#                                      # extra targets (bench/macro -extra)
#
# Everything is built from pinned inputs and rebuilt only when they change:
# ocb v0.156.0 and benchstat from bench/tools/go.mod; both measured
# collectors on that one release, with that ocb: the peer from
# bench/webhookevent/builder-config.yaml, ours from
# bench/detectify/builder-config.yaml and the receiver's sources (the
# distribution, bin/otelcol-detectify, is on another release and is not
# what the macro benchmark measures).
GO        ?= go
BIN       := $(CURDIR)/bin
OUT       := $(CURDIR)/bench/out
# Modules come from the module cache, else from this proxy (without
# `direct`, which cannot be reached here).
BENCH_GOPROXY ?= https://proxy.golang.org
BENCH_ENV     := GOPROXY=$(BENCH_GOPROXY) GOFLAGS=-buildvcs=false

OCB_BENCH    := $(BIN)/ocb-0.156.0
BENCHSTAT    := $(BIN)/benchstat
DETECTIFY    := $(BIN)/otelcol-detectify-bench
WEBHOOKEVENT := $(BIN)/otelcol-webhookevent
CEILING      := $(BIN)/bench-ceiling
MACRO        := $(BIN)/bench-macro
PPROFGROUP   := $(BIN)/bench-pprofgroup

PEER_MANIFEST      := bench/webhookevent/builder-config.yaml
PEER_BUILD         := bench/build/otelcol-webhookevent
DETECTIFY_MANIFEST := bench/detectify/builder-config.yaml
DETECTIFY_BUILD    := bench/build/otelcol-detectify-bench

# What a collector build compiles from this repository (tests aside), as in
# the root Makefile.
RECEIVER_SRC := $(filter-out %_test.go,$(wildcard *.go)) \
	$(shell find internal -path internal/tools -prune -o -type f ! -name '*_test.go' -print)

# Flags for bench/macro, e.g. BENCH_FLAGS='-duration 5s -rounds 3'.
BENCH_FLAGS ?=

# Other source trees of the receiver to measure beside this one, as
# NAME=DIR (space-separated): each is built from the same manifest with its
# replaces pointing at DIR, into bench/build/variants/NAME and
# $(BIN)/otelcol-variant-NAME, and run as bench/macro -extra NAME (the
# detectify target's config and scenarios). Rebuilt on every run: their
# sources are not this repository's (the Go build cache keeps it short).
BENCH_VARIANTS ?=
variant_name = $(firstword $(subst =, ,$(1)))
variant_dir  = $(patsubst $(call variant_name,$(1))=%,%,$(1))
VARIANT_BINS := $(foreach v,$(BENCH_VARIANTS),$(BIN)/otelcol-variant-$(call variant_name,$(v)))
comma := ,
empty :=
space := $(empty) $(empty)
VARIANT_FLAGS := $(if $(BENCH_VARIANTS),-extra $(subst $(space),$(comma),$(strip \
	$(foreach v,$(BENCH_VARIANTS),$(call variant_name,$(v))=$(BIN)/otelcol-variant-$(call variant_name,$(v))))))

.PHONY: macro benchstat profiles wrk redis variants FORCE
.DELETE_ON_ERROR:
SHELL       := bash
.SHELLFLAGS := -e -o pipefail -c

$(OCB_BENCH): bench/tools/go.mod bench/tools/go.sum
	cd bench/tools && $(BENCH_ENV) $(GO) build -o $@ go.opentelemetry.io/collector/cmd/builder

$(BENCHSTAT): bench/tools/go.mod bench/tools/go.sum
	cd bench/tools && $(BENCH_ENV) $(GO) build -o $@ golang.org/x/perf/cmd/benchstat

# ocb in two steps, as in the root Makefile: generate and resolve modules
# (slow, network) only when the manifest or ocb changed; compile when the
# sources did.
$(PEER_BUILD)/go.mod: $(PEER_MANIFEST) $(OCB_BENCH)
	@mkdir -p bench/build
	$(BENCH_ENV) $(OCB_BENCH) --config=$(PEER_MANIFEST) --skip-compilation

$(WEBHOOKEVENT): $(PEER_BUILD)/go.mod
	$(BENCH_ENV) $(OCB_BENCH) --config=$(PEER_MANIFEST) --skip-generate --skip-get-modules
	cp $(PEER_BUILD)/otelcol-webhookevent $@.tmp && mv -f $@.tmp $@

$(DETECTIFY_BUILD)/go.mod: $(DETECTIFY_MANIFEST) $(OCB_BENCH) go.mod go.sum
	@mkdir -p bench/build
	$(BENCH_ENV) $(OCB_BENCH) --config=$(DETECTIFY_MANIFEST) --skip-compilation

$(DETECTIFY): $(DETECTIFY_BUILD)/go.mod $(RECEIVER_SRC)
	$(BENCH_ENV) $(OCB_BENCH) --config=$(DETECTIFY_MANIFEST) --skip-generate --skip-get-modules
	cp $(DETECTIFY_BUILD)/otelcol-detectify-bench $@.tmp && mv -f $@.tmp $@

# A variant: the same manifest, renamed, built under bench/build/variants/
# with replaces pointing at the variant's source tree.
$(BIN)/otelcol-variant-%: $(DETECTIFY_MANIFEST) $(OCB_BENCH) FORCE
	@dir='$(call variant_dir,$(filter $*=%,$(BENCH_VARIANTS)))'; \
	  [ -n "$$dir" ] && [ -f "$$dir/go.mod" ] || { echo "BENCH_VARIANTS has no $*=DIR with a go.mod" >&2; exit 1; }; \
	  dir=$$(cd "$$dir" && pwd); out=bench/build/variants/$*; mkdir -p $$out; \
	  sed -e 's|name: otelcol-detectify-bench|name: otelcol-variant-$*|' \
	      -e 's|/bench/build/otelcol-detectify-bench|/bench/build/variants/$*|' \
	      -e 's|output_path: ./bench/build/otelcol-detectify-bench|output_path: ./'"$$out"'|' \
	      -e 's|detectifyreceiver => ../../..|detectifyreceiver => '"$$dir"'|' \
	      $(DETECTIFY_MANIFEST) > $$out.yaml; \
	  echo "== variant $* from $$dir ($$(git -C "$$dir" describe --always --dirty 2>/dev/null))"; \
	  $(BENCH_ENV) $(OCB_BENCH) --config=$$out.yaml > $$out.log 2>&1 || { tail -20 $$out.log >&2; exit 1; }; \
	  cp $$out/otelcol-variant-$* $@.tmp && mv -f $@.tmp $@

variants: $(VARIANT_BINS)

FORCE:

# Our programs are in the main module (bench/macro signs with
# internal/webhooksend).
$(CEILING): $(wildcard bench/ceiling/*.go)
	$(GO) build -o $@ ./bench/ceiling

$(MACRO): $(wildcard bench/macro/*.go) $(wildcard internal/webhooksend/*.go)
	$(GO) build -o $@ ./bench/macro

$(PPROFGROUP): $(wildcard bench/pprofgroup/*.go)
	$(GO) build -o $@ ./bench/pprofgroup

# wrk and redis-server (detectify-redis) from Debian, when missing.
wrk:
	@scripts/install-deps.sh wrk=wrk
redis:
	@scripts/install-deps.sh redis-server=redis-server

# The rounds, then where each server's time goes under the same load
# (profiles taken in separate, unmeasured runs).
macro: wrk redis $(DETECTIFY) $(WEBHOOKEVENT) $(CEILING) $(MACRO) $(PPROFGROUP) $(VARIANT_BINS)
	$(MACRO) -bin $(BIN) -out $(OUT) $(VARIANT_FLAGS) $(BENCH_FLAGS)
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
	$(call profile,handler,^BenchmarkHandler$$/^classic$$/^finding_high$$)
	$(call profile,badsig,^BenchmarkBadSignature$$)
