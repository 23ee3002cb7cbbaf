# walletmcp — two commands on a fresh machine: `make run` and `make test`.
# Everything they need (Go tools, geth for the node test, Node.js 22 and the
# MCP client packages for the interop tests) is installed by
# scripts/ensure-tools.sh into ./bin and interop/node_modules.

SHELL := /bin/bash
BIN := $(CURDIR)/bin
DEV_HOME ?= $(CURDIR)/.dev-home
GO ?= go
export GOFLAGS := -buildvcs=false
export WALLETMCP_GETH := $(BIN)/geth
export WALLETMCP_NODE := $(BIN)/node22/bin/node

.PHONY: all build run demo test check lint bench tools geth staticcheck chromium interop clean

all: build

# The first build compiles go-ethereum and SQLite: minutes, in silence; say so.
build:
	@if [ ! -x $(BIN)/walletmcp ]; then \
	  echo "Building bin/walletmcp. The first build compiles go-ethereum and SQLite and takes a few minutes (later builds take seconds)..." >&2; \
	fi
	$(GO) build -o $(BIN)/walletmcp ./cmd/walletmcp

# Serve MCP over stdio on the embedded dev chain, with a dev home in .dev-home
# (created on first run: one funded account, TOTP enrolled, the default policy
# attested; the dev chain is kept in .dev-home/dev-chain).
run: build
	@echo "walletmcp: serving MCP on stdin/stdout (dev chain, home $(DEV_HOME)); Ctrl-C to stop." >&2
	@echo "Point your MCP client at: $(BIN)/walletmcp serve --dev --home $(DEV_HOME)" >&2
	$(BIN)/walletmcp serve --dev --home $(DEV_HOME)

# A short scripted agent session (go-sdk client) against a fresh dev server.
# Its home is kept (the demo prints where) so that its audit log can be checked.
demo: build
	@echo "Building and running the demo (its first build takes a minute)..." >&2
	$(GO) run ./examples/demo --bin $(BIN)/walletmcp

tools: geth staticcheck interop

geth:
	@scripts/ensure-tools.sh geth

staticcheck:
	@scripts/ensure-tools.sh staticcheck

# Debian's chromium + chromium-driver (apt-get), for the approval page's
# headless browser test.
chromium:
	@scripts/ensure-tools.sh chromium

# Node.js 22 (bin/node22) and the pinned npm packages of interop/ (npm ci,
# skipped while node_modules matches the lock file): the TypeScript SDK client
# and the MCP Inspector CLI that ./interop drives against a real server.
interop:
	@scripts/ensure-tools.sh interop

# All tests, with the race detector (the geth node test needs bin/geth, the
# interop tests Node.js 22 and interop/node_modules).
test: geth chromium interop
	$(GO) test -race -count=1 -timeout 20m ./...

lint: staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.scratch/*')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(BIN)/staticcheck ./...
	$(GO) mod verify

# What CI runs: lint, then every test.
check: lint test

# The figures in BENCHMARKS.md come from these commands.
bench: build
	$(GO) test -run '^$$' -bench GetBalanceStdio -benchtime 3000x -count 3 ./cmd/walletmcp/
	$(GO) test -run '^$$' -bench ReadStdio -benchtime 1000x -count 3 ./cmd/walletmcp/
	$(GO) test -run '^$$' -bench StartHistory -benchtime 5x -timeout 60m ./cmd/walletmcp/
	$(GO) test -run '^$$' -bench SessionRSS -benchtime 3x ./cmd/walletmcp/
	$(GO) test -run '^$$' -bench GetBalanceInProcess -benchtime 3000x ./mcpserver/
	$(GO) test -run '^$$' -bench SendTransfer -benchtime 300x -count 2 ./mcpserver/
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 2s -count 3 ./signer/keystore/
	$(GO) test -run '^$$' -bench 'Append|Enqueue' -benchtime 2s ./internal/audit/
	$(GO) test -run '^$$' -bench GuardEvaluation -benchmem -benchtime 2s -count 2 ./approval/
	$(GO) test -run '^$$' -bench StartLedger -benchtime 20x ./internal/store/

clean:
	rm -rf $(BIN) $(DEV_HOME) interop/node_modules
