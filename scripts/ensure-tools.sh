#!/usr/bin/env bash
# Installs the tools the Makefile needs into ./bin, once. Versions are pinned:
# geth v1.17.8 is the newest that builds from the module proxy here; staticcheck
# v0.8.2 supports Go 1.26.
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

# Debian's Chromium and ChromeDriver, for the approval page's browser test
# (approval/web). Installed system-wide with apt-get (needs root or sudo); a
# browser is never downloaded by a test tool.
install_chromium() {
  if [[ -x /usr/bin/chromium ]]; then return 0; fi
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
  echo "installing Debian chromium + chromium-driver with apt-get (first time only)" >&2
  local log
  log=$(mktemp)
  if ! { "${sudo[@]}" apt-get update -qq &&
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      chromium chromium-driver; } >"$log" 2>&1; then
    cat "$log" >&2; rm -f "$log"
    echo "ensure-tools: apt-get could not install chromium" >&2; exit 1
  fi
  rm -f "$log"
  [[ -x /usr/bin/chromium ]] || { echo "ensure-tools: /usr/bin/chromium still missing after apt-get" >&2; exit 1; }
}

for tool in "$@"; do
  case "$tool" in
    geth) install_go_tool geth github.com/ethereum/go-ethereum/cmd/geth@v1.17.8 ;;
    staticcheck) install_go_tool staticcheck honnef.co/go/tools/cmd/staticcheck@v0.8.2 ;;
    chromium) install_chromium ;;
    *) echo "ensure-tools: unknown tool $tool" >&2; exit 2 ;;
  esac
done
