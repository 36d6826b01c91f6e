# detectifyreceiver: `make test` is what CI runs (.ci/run).
GO       ?= go
BIN      := $(CURDIR)/bin
MDATAGEN := $(BIN)/mdatagen
GENERATED := internal/metadata internal/metadatatest documentation.md generated_component_test.go generated_package_test.go

.PHONY: all generate check-generated lint test unit bench fuzz clean

all: lint test

# mdatagen is pinned by internal/tools/go.mod (a tool directive: `go install
# pkg@version` cannot be used here, the proxy does not list its versions).
$(MDATAGEN): internal/tools/go.mod internal/tools/go.sum
	cd internal/tools && $(GO) build -o $(MDATAGEN) go.opentelemetry.io/collector/cmd/mdatagen

# mdatagen names the package after the folder holding metadata.yaml, so it
# runs through a link called detectifyreceiver whatever the checkout is called.
generate: $(MDATAGEN)
	@tmp=$$(mktemp -d) && ln -s "$(CURDIR)" "$$tmp/detectifyreceiver" && \
	  $(MDATAGEN) "$$tmp/detectifyreceiver/metadata.yaml"; rc=$$?; rm -rf "$$tmp"; exit $$rc

# Fails when the generated code is not what metadata.yaml generates.
check-generated: generate
	@if [ -n "$$(git status --porcelain -- $(GENERATED))" ]; then \
	  git status --porcelain -- $(GENERATED); git diff --stat -- $(GENERATED); \
	  echo "generated code is stale: run 'make generate' and commit the result"; exit 1; fi

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 ./...

test: lint check-generated unit

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 6 . | tee bench.txt

clean:
	rm -rf $(BIN) build
