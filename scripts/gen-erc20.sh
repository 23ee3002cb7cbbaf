#!/usr/bin/env bash
# gen-erc20.sh regenerates testdata/erc20/TestToken.abi.json and
# testdata/erc20/TestToken.bin from testdata/erc20/TestToken.sol.
#
# It installs pinned versions of solc-js and OpenZeppelin Contracts from the
# npm registry into a temporary directory (checking the registry's integrity
# hashes against the ones pinned below), compiles with solc's standard JSON
# interface and writes the two outputs. `make test` does not need it: the
# outputs are committed. Provenance and hashes: testdata/README.md ("erc20/").
#
# Needs: node and npm (last run with node 20.20.2, npm 11.19.1).
# Usage: scripts/gen-erc20.sh
set -euo pipefail

SOLC_VERSION=0.8.37
SOLC_INTEGRITY='sha512-ieUYdPDRGNKMsZpCfi9tY64Q+ASoL8tyhLuvf9cFiqDs+6ijlx8Wn2CRi0N71AlCvRx0V092rlUYu3b3PuxWlA=='
OZ_VERSION=5.7.0
OZ_INTEGRITY='sha512-IL2AZpI+7THMzt1u6Cxmc1zLwVnudtUGvrqXQ/HnbLKfQ/8dIWMMQPDwPIjRQzNrlAo4cxZaCGRB/XvwPo9ILA=='
EVM_VERSION=cancun
OPTIMIZER_RUNS=200

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out="$root/testdata/erc20"
src="$out/TestToken.sol"
[[ -f "$src" ]] || { echo "gen-erc20: $src not found" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "gen-erc20: installing solc@$SOLC_VERSION and @openzeppelin/contracts@$OZ_VERSION into $tmp" >&2
cat >"$tmp/package.json" <<EOF
{"name": "walletmcp-gen-erc20", "private": true, "version": "0.0.0"}
EOF
(
	cd "$tmp"
	npm install --save-exact --ignore-scripts --no-audit --no-fund --loglevel=error \
		"solc@$SOLC_VERSION" "@openzeppelin/contracts@$OZ_VERSION" >&2
)

# The lock file records what was actually installed; refuse anything other
# than the pinned versions and tarballs.
node - "$tmp/package-lock.json" "$SOLC_VERSION" "$SOLC_INTEGRITY" "$OZ_VERSION" "$OZ_INTEGRITY" <<'EOF'
const fs = require("fs");
const [lockPath, solcV, solcI, ozV, ozI] = process.argv.slice(2);
const lock = JSON.parse(fs.readFileSync(lockPath, "utf8"));
const want = {
  "node_modules/solc": [solcV, solcI],
  "node_modules/@openzeppelin/contracts": [ozV, ozI],
};
for (const [k, [v, i]] of Object.entries(want)) {
  const got = lock.packages && lock.packages[k];
  if (!got || got.version !== v || got.integrity !== i) {
    console.error(`gen-erc20: ${k}: want ${v} ${i}, got ${got && got.version} ${got && got.integrity}`);
    process.exit(1);
  }
}
EOF

cat >"$tmp/compile.js" <<'EOF'
// Compiles TestToken.sol with solc-js's standard JSON interface.
const fs = require("fs");
const path = require("path");
const solc = require("solc");
const [srcPath, outDir, evmVersion, runs] = process.argv.slice(2);
const nm = path.join(__dirname, "node_modules");

const input = {
  language: "Solidity",
  sources: { "TestToken.sol": { content: fs.readFileSync(srcPath, "utf8") } },
  settings: {
    optimizer: { enabled: true, runs: Number(runs) },
    evmVersion,
    outputSelection: { "TestToken.sol": { TestToken: ["abi", "evm.bytecode.object"] } },
  },
};

// Only OpenZeppelin imports are resolved, from the pinned package.
function findImports(p) {
  const prefix = "@openzeppelin/contracts/";
  if (!p.startsWith(prefix) || p.includes("..")) return { error: "import not allowed: " + p };
  try {
    return { contents: fs.readFileSync(path.join(nm, p), "utf8") };
  } catch (e) {
    return { error: "not found: " + p };
  }
}

const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
let failed = false;
for (const e of output.errors || []) {
  console.error(e.formattedMessage || e.message);
  if (e.severity === "error") failed = true;
}
if (failed) process.exit(1);
const c = output.contracts["TestToken.sol"].TestToken;
const bin = c.evm.bytecode.object;
if (!/^[0-9a-f]+$/.test(bin)) { console.error("gen-erc20: bad bytecode"); process.exit(1); }
fs.writeFileSync(path.join(outDir, "TestToken.abi.json"), JSON.stringify(c.abi, null, 2) + "\n");
fs.writeFileSync(path.join(outDir, "TestToken.bin"), bin + "\n");
console.error("gen-erc20: compiled with solc " + solc.version());
EOF

node "$tmp/compile.js" "$src" "$out" "$EVM_VERSION" "$OPTIMIZER_RUNS"
(cd "$out" && sha256sum TestToken.sol TestToken.abi.json TestToken.bin) >&2
