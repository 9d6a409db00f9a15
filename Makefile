# rxpath: kernel-bypass packet receive in Go.
#
#   make demo    build, the veth lab, rxpath run with every service, kernel peers, report, tear down (root)
#   make test    every test; the privileged ones (veth labs, AF_XDP, XDP) run when root
#   make deps    install the missing Debian packages the demo, the tests and the benchmark drive (all run it first)
#   make lint    gofmt, go vet, staticcheck
#   make bench   the benchmark (grows with the rxbench issue)

GO          ?= go
BIN         := bin
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
# Packages that need no privilege also run under the race detector.
RACE_PKGS   := ./rxring/... ./umem/... ./poller/... ./internal/sys/... ./internal/cli/metrics/... ./driver/channel/... ./driver/replay/... ./driver/memnic/... ./driver/internal/sockq/... ./driver/internal/xsk/... ./tap/... ./stack/...

# Every fuzz target runs briefly in `make test` (FUZZTIME each, through
# fuzz-smoke) and for 30 s each in `make fuzz`. After each target it prints
# go's last progress line, and at the end a table: per target the execs,
# the average exec/s over the run (execs / elapsed) and go's rate over its
# last full 3 s interval (its final line covers only the last fraction of
# a second, usually 0/sec). Every target runs even when one fails. A
# failing input is written by go test to testdata/fuzz/FuzzX/ in the
# target's package; nothing here deletes it: commit it with the fix, and it
# runs as a regression seed in every go test. Logs stay in the directory
# printed at the end. FUZZMINIMIZETIME bounds the minimization of each new
# input: with go's default, 60 s, a slow target that finds a few new inputs
# spends its whole 30 s minimizing them, its exec count stalled meanwhile.
FUZZTIME    ?= 2s
FUZZMINIMIZETIME ?= 5s

.PHONY: all build deps need-root test test-race lint demo bench fuzz fuzz-smoke clean soak

all: build

build:
	$(GO) build -o $(BIN)/rxpath ./cmd/rxpath
	$(GO) build -o $(BIN)/rxbench ./cmd/rxbench

# The kernel-side peers (ping, curl, tcpdump, tshark, hping3, ...): checks
# each package and installs only the missing ones; one line saying why when
# it cannot (see .ci/deps).
deps:
	@./.ci/deps

# `make demo` without root stops here, in one line.
need-root:
	$(if $(filter 0,$(shell id -u)),,$(error make demo needs root: it creates network namespaces and loads XDP programs; run it as root (sudo make demo)))

# -p 1: privileged tests pin senders and pollers to CPUs; packages running
# side by side on two cores would only add noise and time.
# The tests that send with bench/gen run twice: once with the generator's
# automatic choice, once with live frames turned off (RXPATH_GEN_LIVE=off),
# so that both the live-frame path and the fallbacks stay tested whether or
# not this kernel allows live frames.
GEN_TESTS   := '^(TestSmoke|TestDemo|TestGenerators)$$'
GEN_PKGS    := ./cmd/rxbench ./cmd/rxpath ./internal/harness/traffic
test: deps build
	$(GO) test -p 1 -count=1 -timeout 30m ./...
	RXPATH_GEN_LIVE=off $(GO) test -p 1 -count=1 -timeout 15m -run $(GEN_TESTS) $(GEN_PKGS)
	$(GO) test -race -count=1 $(RACE_PKGS)
	$(GO) test -count=1 -run '^$$' -bench . -benchtime=1x ./...
	$(MAKE) --no-print-directory fuzz-smoke

# Runs each Fuzz target found in the tree for FUZZTIME. Go 1.26's fuzz
# coordinator can report a bare "context deadline exceeded" when
# -fuzztime ends while a worker is mid-call (go.dev/issue/75804): such a
# run, with no failing input, no panic and no test message, runs once
# more; any real failure fails at once.
fuzz-smoke:
	@set -u; logs=$$(mktemp -d "$${TMPDIR:-/tmp}/rxpath-fuzz.XXXXXX"); fail=0; crashers=""; \
	run() { $(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) "$$pkg" >"$$log" 2>&1; }; \
	for f in $$(grep -rl --include='*_test.go' '^func Fuzz' . | sort); do \
		pkg=./$$(dirname "$${f#./}"); \
		for t in $$(grep -o '^func Fuzz[A-Za-z0-9_]*' "$$f" | sed 's/^func //'); do \
			log=$$logs/$$(echo "$${pkg#./}" | tr '/' '_')_$$t.log; \
			echo "fuzz $$pkg $$t ($(FUZZTIME))"; \
			if run; then res=ok; \
			elif grep -q 'context deadline exceeded' "$$log" && ! grep -qE 'Failing input written|panic:|_test\.go:[0-9]+:' "$$log"; then \
				echo "    the -fuzztime deadline raced a worker, no failing input (go.dev/issue/75804, fixed in Go 1.27): once more"; \
				if run; then res=ok; else res=FAIL; fail=1; fi; \
			else res=FAIL; fail=1; fi; \
			last=$$(grep '^fuzz: elapsed: .*execs:' "$$log" | tail -n 1); \
			prev=$$(grep '^fuzz: elapsed: .*execs:' "$$log" | tail -n 2 | head -n 1); \
			echo "    $${last:-(no progress line)}"; \
			if [ $$res = FAIL ]; then \
				sed 's/^/    | /' "$$log"; \
				for c in $$(sed -n 's/.*Failing input written to \(testdata\/fuzz\/[^ ]*\).*/\1/p' "$$log"); do \
					crashers="$$crashers $${pkg#./}/$$c"; \
				done; \
			fi; \
			printf '%s\t%s\t%s\t%s\t%s\n' "$$pkg" "$$t" "$$res" "$$last" "$$prev" >>"$$logs/summary"; \
		done; \
	done; \
	echo; \
	awk -F'\t' 'function secs(e, s) { s = 0; \
			if (match(e, /[0-9]+h/)) s += substr(e, RSTART, RLENGTH - 1) * 3600; \
			if (match(e, /[0-9]+m/)) s += substr(e, RSTART, RLENGTH - 1) * 60; \
			if (match(e, /[0-9.]+s/)) s += substr(e, RSTART, RLENGTH - 1); return s } \
		BEGIN { printf "%-32s %-22s %-6s %10s %8s %11s %9s\n", "package", "target", "result", "execs", "elapsed", "avg exec/s", "last 3s/s" } \
		{ el = $$4; sub(/^fuzz: elapsed: /, "", el); sub(/,.*/, "", el); \
			ex = $$4; if (!sub(/.*execs: /, "", ex)) ex = "-"; sub(/ .*/, "", ex); \
			ra = "-"; if (match($$5, /\([0-9]+\/sec\)/)) ra = substr($$5, RSTART + 1, RLENGTH - 6); \
			avg = (ex != "-" && secs(el) > 0) ? sprintf("%.0f", ex / secs(el)) : "-"; \
			printf "%-32s %-22s %-6s %10s %8s %11s %9s\n", $$1, $$2, $$3, ex, (el == "" ? "-" : el), avg, ra }' "$$logs/summary"; \
	echo "logs: $$logs"; \
	if [ -n "$$crashers" ]; then \
		echo; echo "New failing inputs, kept in the tree as regression seeds; fix the bug and commit them with the fix:"; \
		for c in $$crashers; do echo "    git add $$c"; done; \
	fi; \
	if [ $$fail != 0 ]; then echo "fuzzing FAILED (see above)"; fi; \
	exit $$fail

fuzz:
	$(MAKE) --no-print-directory fuzz-smoke FUZZTIME=30s

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	GOOS=darwin $(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

demo: need-root deps build
	$(BIN)/rxpath demo

# The full benchmark: every scenario, 5 repetitions each; writes the table,
# bench.json, bench.png and bench.md (the tables README.md quotes, as
# Markdown). --isolate gives the run a scheduling group of
# its own at nice -20, so that other work on the machine (a build, an
# editor) barely moves the figures; every row, kernel rows included, gets
# the same. CI does not run it (make test runs --smoke). Its HTTP rows
# drive wrk and ab, which make deps installs.
bench: deps build
	$(BIN)/rxbench --isolate --json bench.json --plot bench.png; status=$$?; \
		$(BIN)/rxbench markdown bench.json > bench.md && exit $$status

# The soak (internal/harness/soak): rxpath run with the stack under mixed
# legitimate and hostile traffic for DURATION; soak.csv, soak.png and
# summary.txt go to soak-out/. make test runs the same test for 2 minutes.
# -timeout is DURATION plus 15 minutes: Go adds up "30m15m".
DURATION    ?= 30m
soak:
	RXPATH_SOAK_DURATION=$(DURATION) RXPATH_SOAK_OUT=$(CURDIR)/soak-out \
		$(GO) test -count=1 -v -run '^TestSoak$$' -timeout $(DURATION)15m ./internal/harness/soak/

clean:
	rm -rf $(BIN)
