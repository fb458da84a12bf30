# Leadhub. `make run` serves on :8080 with ./data/leadhub.db and the bundled
# plugins; `make test` runs every test. See README.md.

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
PLUGINS  := $(notdir $(wildcard plugins/*))
FUZZTIME ?= 2000x

.PHONY: all build plugins run test test-short fuzz vet fmt bench proto clean

all: build

build: bin/leadhub plugins

bin/leadhub: FORCE
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/leadhub ./cmd/leadhub

plugins: $(addprefix bin/plugins/,$(PLUGINS))

bin/plugins/%: FORCE
	$(GO) build -ldflags '-s -w' -o $@ ./plugins/$*

run: build
	mkdir -p data
	./bin/leadhub serve --config config/leadhub.yaml

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	cd sdk && $(GO) vet ./...

test: vet
	$(GO) test -race -count=1 ./...
	cd sdk && $(GO) test -race -count=1 ./...
	$(MAKE) fuzz

test-short:
	$(GO) test -short -count=1 ./...

# Each fuzz target runs briefly: enough to replay the seed corpus and explore a
# little. Targets are discovered, so a new one is fuzzed without editing this.
# The budget is a count, not a duration: Go 1.26's fuzzer can report a spurious
# "context deadline exceeded" when a timed run ends (golang/go#75804).
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$t"; \
	    $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

# `make bench` builds the server, starts it on a fresh database and measures it
# from a separate process (docs/performance.md). BENCH_LEADS scales the data
# set down for a quick run; BENCH_ARGS passes more flags (-runs, -duration, …).
BENCH_LEADS ?= 1000000
bench: build
	$(GO) build -o bin/leadhub-bench ./cmd/leadhub-bench
	./bin/leadhub-bench -bin bin/leadhub -leads $(BENCH_LEADS) $(BENCH_ARGS)

proto:
	cd sdk && $(MAKE) proto

clean:
	rm -rf bin

FORCE:
