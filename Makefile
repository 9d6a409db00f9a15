# rxpath: kernel-bypass packet receive in Go.
#
#   make demo    build, the veth lab, rxpath run with every service, kernel peers, report, tear down (root)
#   make test    every test; the privileged ones (veth labs, AF_XDP, XDP) run when root
#   make lint    gofmt, go vet, staticcheck
#   make bench   the benchmark (grows with the rxbench issue)

GO          ?= go
BIN         := bin
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
# Packages that need no privilege also run under the race detector.
RACE_PKGS   := ./rxring/... ./umem/... ./poller/... ./internal/netdev/... ./internal/metrics/... ./internal/affinity/... ./driver/channel/... ./driver/replay/... ./tap/... ./stack/...

# Every fuzz target runs briefly in `make test` (FUZZTIME each) and longer
# in `make fuzz`.
FUZZTIME    ?= 2s

.PHONY: all build test test-race lint demo bench fuzz fuzz-smoke clean

all: build

build:
	$(GO) build -o $(BIN)/rxpath ./cmd/rxpath
	$(GO) build -o $(BIN)/rxbench ./cmd/rxbench

# -p 1: privileged tests pin senders and pollers to CPUs; packages running
# side by side on two cores would only add noise and time.
test: build
	$(GO) test -p 1 -count=1 -timeout 30m ./...
	$(GO) test -race -count=1 $(RACE_PKGS)
	$(GO) test -count=1 -run '^$$' -bench . -benchtime=1x ./...
	$(MAKE) --no-print-directory fuzz-smoke

# Runs each Fuzz target found in the tree for FUZZTIME.
fuzz-smoke:
	@set -e; grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read f; do \
		pkg=./$$(dirname $$f); \
		for t in $$(grep -o '^func Fuzz[A-Za-z0-9_]*' $$f | sed 's/func //'); do \
			echo "fuzz $$pkg $$t ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) $$pkg >/tmp/rxpath-fuzz.log 2>&1 || { cat /tmp/rxpath-fuzz.log; exit 1; }; \
		done; \
	done

fuzz:
	$(MAKE) --no-print-directory fuzz-smoke FUZZTIME=30s

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	GOOS=darwin $(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

demo: build
	$(BIN)/rxpath demo

# The full benchmark: every scenario, 5 repetitions each; writes the table,
# bench.json and bench.png. CI does not run it (make test runs --smoke).
bench: build
	$(BIN)/rxbench --json bench.json --plot bench.png

clean:
	rm -rf $(BIN)
