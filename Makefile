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

.PHONY: all build build-rpc run demo test check lint bench tools geth staticcheck chromium softhsm zbar interop clean release

all: build

# The first build compiles go-ethereum and SQLite: minutes, in silence; say so.
build:
	@if [ ! -x $(BIN)/walletmcp ]; then \
	  echo "Building bin/walletmcp. The first build compiles go-ethereum and SQLite and takes a few minutes (later builds take seconds)..." >&2; \
	fi
	$(GO) build -o $(BIN)/walletmcp ./cmd/walletmcp
	$(GO) build -o $(BIN)/airsign ./cmd/airsign

# walletmcp without the embedded dev chain (serve --rpc only): it does not
# link go-ethereum's node stack, so it is half the size, starts faster and
# takes less memory. For servers that talk to a node, the daemon included.
build-rpc:
	$(GO) build -tags nodev -o $(BIN)/walletmcp-rpc ./cmd/walletmcp

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

tools: geth staticcheck softhsm interop

geth:
	@scripts/ensure-tools.sh geth

staticcheck:
	@scripts/ensure-tools.sh staticcheck

# Debian's chromium + chromium-driver (apt-get), for the approval page's
# headless browser test.
chromium:
	@scripts/ensure-tools.sh chromium

# Debian's softhsm2 + opensc (apt-get): a software PKCS#11 token for the hsm
# tests, each of which makes its own token in a private SOFTHSM2_CONF.
softhsm:
	@scripts/ensure-tools.sh softhsm

# Node.js 22 (bin/node22) and the pinned npm packages of interop/ (npm ci,
# skipped while node_modules matches the lock file): the TypeScript SDK client
# and the MCP Inspector CLI that ./interop drives against a real server.
interop:
	@scripts/ensure-tools.sh interop

# Debian's zbar-tools (apt-get): zbarimg reads signer/offline's QR PNGs.
zbar:
	@scripts/ensure-tools.sh zbar

# All tests, with the race detector (the geth node test needs bin/geth, the
# interop tests Node.js 22 and interop/node_modules, the hsm tests SoftHSM2,
# signer/offline zbarimg), then the tests of third_party/segmentio-encoding
# (the patched JSON library the go-sdk decodes with, see its PATCHES.md),
# built with the versions walletmcp links.
test: geth chromium softhsm zbar interop
	$(GO) test -race -count=1 -timeout 20m ./...
	$(GO) test -count=1 github.com/segmentio/encoding/...

lint: staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.scratch/*')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags nodev ./...
	$(BIN)/staticcheck ./...
	$(GO) mod verify

# What CI runs: lint, then every test.
check: lint test

# The figures in BENCHMARKS.md come from these commands.
bench: build
	$(GO) test -run '^$$' -bench GetBalanceStdio -benchtime 3000x -count 3 ./cmd/walletmcp/
	$(GO) test -run '^$$' -bench GetBalanceTransports -benchtime 3000x ./cmd/walletmcp/
	$(GO) test -run '^$$' -bench ReadStdio -benchtime 1000x -count 3 ./cmd/walletmcp/
	$(GO) test -run '^$$' -bench StartHistory -benchtime 5x -timeout 60m ./cmd/walletmcp/
	$(GO) test -run '^$$' -bench SessionRSS -benchtime 3x ./cmd/walletmcp/
	$(GO) test -run '^$$' -bench GetBalanceInProcess -benchtime 3000x ./mcpserver/
	$(GO) test -run '^$$' -bench 'SendTransfer|SendFloor' -benchtime 300x -count 2 ./mcpserver/
	$(GO) test -run '^$$' -bench DevSend -benchtime 3000x ./internal/chain/
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 2s -count 3 ./signer/keystore/
	$(GO) test -run '^$$' -bench 'Sign|Overhead' -benchtime 2s -count 3 ./signer/pkcs11/
	$(GO) test -run '^$$' -bench 'Append|Enqueue' -benchtime 2s ./internal/audit/
	$(GO) test -run '^$$' -bench GuardEvaluation -benchmem -benchtime 2s -count 2 ./approval/
	$(GO) test -run '^$$' -bench StartLedger -benchtime 20x ./internal/store/

# Reproducible release binaries in $(DIST): -trimpath, no VCS stamp, no build
# id, fixed -ldflags, so the same commit and toolchain give the same bytes
# (cgo stays on by default for the PKCS#11 backend and fast secp256k1; the C
# toolchain is then part of what must match: RELEASE_CGO=0 for static
# binaries). SHA256SUMS lists them; with RELEASE_KEY=an Ed25519 SSH private
# key it is signed (SHA256SUMS.sig, ssh-keygen -Y sign -n walletmcp-release)
# and a download is checked with
#   walletmcp version --verify SHA256SUMS SHA256SUMS.sig release.pub
DIST ?= $(CURDIR)/dist
VERSION ?= $(shell git describe --tags --always 2>/dev/null || echo dev)
RELEASE_CGO ?= 1
RELEASE_KEY ?=
RELEASE_OS := $(shell $(GO) env GOOS)
RELEASE_ARCH := $(shell $(GO) env GOARCH)
RELEASE_CMDS := $(notdir $(wildcard cmd/walletmcp cmd/airsign))
release:
	@rm -rf $(DIST) && mkdir -p $(DIST)
	@for c in $(RELEASE_CMDS); do \
	  echo "building $$c $(VERSION) ($(RELEASE_OS)/$(RELEASE_ARCH), CGO_ENABLED=$(RELEASE_CGO))" >&2; \
	  CGO_ENABLED=$(RELEASE_CGO) $(GO) build -trimpath -buildvcs=false \
	    -ldflags '-s -w -buildid= -X main.version=$(VERSION)' \
	    -o $(DIST)/$$c-$(RELEASE_OS)-$(RELEASE_ARCH) ./cmd/$$c || exit 1; \
	done
	@cd $(DIST) && sha256sum -- *-$(RELEASE_OS)-$(RELEASE_ARCH) > SHA256SUMS && cat SHA256SUMS
	@if [ -n "$(RELEASE_KEY)" ]; then \
	  ssh-keygen -q -Y sign -n walletmcp-release -f "$(RELEASE_KEY)" $(DIST)/SHA256SUMS && \
	  echo "signed: $(DIST)/SHA256SUMS.sig" >&2; \
	else echo "SHA256SUMS not signed: set RELEASE_KEY=path/to/ed25519 SSH key" >&2; fi

clean:
	rm -rf $(BIN) $(DEV_HOME) $(CURDIR)/dist interop/node_modules
