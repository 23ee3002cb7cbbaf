package walletmcp_test

// This file is a statement of policy: which package of walletmcp may import
// which other. The important rule: nothing on the MCP side (mcpserver, and
// approval which it drives) can reach key material except through a Signer
// handed to the Guard. And the policy package, which an auditor reads, does
// no I/O: it can be checked with nothing but its inputs. A package missing from the table fails the test, so
// every new package makes its dependencies explicit.

import (
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/walletmcp/walletmcp"

// allowed lists, for each package, the packages of this module it may import
// directly (production code; tests may import more).
var allowed = map[string][]string{
	"":                         {}, // the root holds only tests
	"internal/secret":          {},
	"internal/fslock":          {},
	"internal/callrate":        {},
	"internal/benchcpu":        {}, // benchmarks only
	"internal/config":          {"internal/secret", "internal/fslock"},
	"internal/audit":           {"internal/fslock"},
	"internal/approvalstate":   {},
	"internal/store":           {"internal/approvalstate"},
	"internal/chain":           {},
	"internal/release":         {},
	"internal/ops":             {"internal/store", "internal/chain", "policy", "signer"},
	"internal/chain/gethtest":  {},
	"wallet":                   {"internal/secret", "internal/fslock"},
	"wallet/hd":                {"wallet", "internal/secret"},
	"signer":                   {},
	"signer/signertest":        {"signer"},
	"signer/keystore":          {"signer", "wallet", "internal/secret"},
	"hsm":                      {"internal/secret"},
	"hsm/hsmtest":              {"hsm"},
	"signer/pkcs11":            {"signer", "hsm"},
	"signer/offline":           {"signer", "internal/erc20"},
	"signer/offline/qrscan":    {}, // tests and cmd/airsign: never linked into walletmcp (TestWalletmcpLinksNoQRDecoder)
	"internal/erc20":           {},
	"internal/erc20/erc20test": {"internal/chain", "internal/erc20"},
	"approval/totp":            {"internal/audit", "internal/secret", "internal/store"},
	"approval/pending":         {"approval/totp", "internal/approvalstate", "internal/audit", "internal/store"},
	"policy":                   {}, // pure: see ioFree below
	"approval/web":             {"approval", "approval/pending", "approval/totp", "internal/approvalstate", "policy"},
	"approval":                 {"policy", "signer", "signer/offline", "internal/chain", "internal/erc20", "internal/store", "internal/audit", "internal/secret", "internal/approvalstate", "approval/pending"},
	"mcpserver":                {"approval", "policy", "internal/chain", "internal/audit", "internal/approvalstate"},
	"mcpserver/mcphttp":        {"mcpserver", "internal/store"},
	"cmd/walletmcp":            {"*"},
	"cmd/airsign":              {"signer/offline", "signer/offline/qrscan", "signer/keystore", "wallet", "internal/secret", "policy"},
	"examples/demo":            {"*"},
	"interop":                  {}, // tests only: real MCP clients against the binary
}

// keyHolders are the packages that touch key material. (signer/offline is
// not one: it is the EIP-4527 codec, holds no key and signs only through a
// Signer handed to it; it is in keyFree, so that it never reaches one.) None of them may be in
// the transitive dependencies of the packages in keyFree.
var (
	keyHolders = []string{"wallet", "wallet/hd", "hsm", "signer/keystore", "signer/pkcs11", "signer/hd"}
	keyFree    = []string{"signer/offline", "policy", "internal/approvalstate", "mcpserver", "mcpserver/mcphttp", "approval", "approval/totp", "approval/pending", "approval/web", "internal/chain", "internal/erc20", "internal/store", "internal/audit", "internal/callrate", "internal/benchcpu"}
)

// ioFree packages do no I/O: they import none of ioImports directly and
// depend, even transitively, on none of ioDeps (standard packages by import
// path, this module's by their path in it). Some standard I/O packages (os,
// database/sql) arrive transitively through go-ethereum/common and the TOML
// decoder, so those are forbidden as direct imports only.
var (
	ioFree    = []string{"policy"}
	ioImports = []string{"database/sql", "io/fs", "net", "net/http", "os", "os/exec", "syscall"}
	ioDeps    = []string{"net", "net/http", "os/exec", "internal/store", "internal/chain", "internal/audit", "internal/erc20"}
)

type pkgInfo struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

func listPackages(t *testing.T) []pkgInfo {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "./...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var pkgs []pkgInfo
	for {
		var p pkgInfo
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 5 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

func rel(path string) (string, bool) {
	if path == module {
		return "", true
	}
	if strings.HasPrefix(path, module+"/") {
		return strings.TrimPrefix(path, module+"/"), true
	}
	return "", false
}

func TestImportPolicy(t *testing.T) {
	for _, p := range listPackages(t) {
		name, _ := rel(p.ImportPath)
		allow, ok := allowed[name]
		if !ok {
			t.Errorf("package %q is not in deps_test.go's table: add it with the imports it may have", name)
			continue
		}
		if slices.Contains(allow, "*") {
			continue
		}
		for _, imp := range p.Imports {
			r, own := rel(imp)
			if own && !slices.Contains(allow, r) {
				t.Errorf("%s imports %s, which the import policy does not allow", name, r)
			}
		}
		if slices.Contains(keyFree, name) {
			for _, d := range p.Deps {
				if r, own := rel(d); own && slices.Contains(keyHolders, r) {
					t.Errorf("%s depends (transitively) on %s, which holds key material", name, r)
				}
			}
		}
		if slices.Contains(ioFree, name) {
			for _, imp := range p.Imports {
				if slices.Contains(ioImports, imp) {
					t.Errorf("%s imports %s: it must stay free of I/O", name, imp)
				}
			}
			for _, d := range p.Deps {
				if isIODep(d) {
					t.Errorf("%s depends (transitively) on %s: it must stay free of I/O", name, d)
				}
			}
		}
	}
}

// isIODep reports whether the dependency d (an import path) is in ioDeps.
func isIODep(d string) bool {
	r, own := rel(d)
	return (own && slices.Contains(ioDeps, r)) || (!own && slices.Contains(ioDeps, d))
}

// thirdPartyKeyHolders are third-party packages that hold or reach key
// material (by import path prefix): go-ethereum's keystore and PKCS#11.
var thirdPartyKeyHolders = []string{"github.com/ethereum/go-ethereum/accounts/keystore", "github.com/miekg/pkcs11"}

// mcpSideMayHoldKeys lists the packages of this module that the MCP side may
// reach although they hold keys. Today none: the Guard reaches a key only
// through the signer.Signer interface handed to it by cmd/walletmcp.
var mcpSideMayHoldKeys = []string{}

func isThirdPartyKeyHolder(path string) bool {
	for _, k := range thirdPartyKeyHolders {
		if path == k || strings.HasPrefix(path, k+"/") {
			return true
		}
	}
	return false
}

// TestDepsMCPSideHoldsNoKeys: mcpserver, and every package of this module it
// depends on, depends on no key-holding package, ours or third-party.
func TestDepsMCPSideHoldsNoKeys(t *testing.T) {
	pkgs := listPackages(t)
	byName := map[string]pkgInfo{}
	for _, p := range pkgs {
		if name, own := rel(p.ImportPath); own {
			byName[name] = p
		}
	}
	mcp, ok := byName["mcpserver"]
	if !ok {
		t.Fatal("mcpserver not found by go list")
	}
	side := []string{"mcpserver"}
	for _, d := range mcp.Deps {
		if r, own := rel(d); own && !slices.Contains(mcpSideMayHoldKeys, r) {
			side = append(side, r)
		}
	}
	for _, name := range side {
		for _, d := range byName[name].Deps {
			r, own := rel(d)
			if (own && slices.Contains(keyHolders, r)) || (!own && isThirdPartyKeyHolder(d)) {
				t.Errorf("%s (on the MCP side) depends on %s, which holds key material", name, d)
			}
		}
	}
}

// TestWalletmcpLinksNoQRDecoder: walletmcp draws QR codes and never reads
// them, so it does not link the decoder (gozxing and the character-set
// tables it pulls in cost about 8 ms of every process start).
func TestWalletmcpLinksNoQRDecoder(t *testing.T) {
	for _, p := range listPackages(t) {
		if name, own := rel(p.ImportPath); !own || name != "cmd/walletmcp" {
			continue
		}
		for _, d := range p.Deps {
			if strings.HasPrefix(d, "github.com/makiuchi-d/gozxing") || d == module+"/signer/offline/qrscan" {
				t.Errorf("cmd/walletmcp depends on %s", d)
			}
		}
		return
	}
	t.Fatal("cmd/walletmcp not found by go list")
}

// TestDepsFloorLinksOnlyWhatWalletmcpLinks: the dependency floor that the
// start-up and memory benchmarks measure walletmcp against
// (cmd/walletmcp/testdata/depsfloor) links no package that walletmcp does
// not: one it kept after walletmcp dropped it (the QR decoder) charged the
// floor with its init, and made walletmcp's own cost look smaller.
func TestDepsFloorLinksOnlyWhatWalletmcpLinks(t *testing.T) {
	deps := func(pkg string) map[string]bool {
		t.Helper()
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		m := map[string]bool{}
		for _, l := range strings.Fields(string(out)) {
			m[l] = true
		}
		return m
	}
	walletmcp := deps("./cmd/walletmcp")
	floor := module + "/cmd/walletmcp/testdata/depsfloor"
	for d := range deps("./cmd/walletmcp/testdata/depsfloor") {
		if !walletmcp[d] && d != floor {
			t.Errorf("the dependency floor links %s, which walletmcp does not", d)
		}
	}
}

// TestDepsPolicyNoIO: policy depends, even transitively, on none of the
// store, chain, audit, net, net/http, os/exec (see ioFree for the full rule).
func TestDepsPolicyNoIO(t *testing.T) {
	for _, p := range listPackages(t) {
		if name, own := rel(p.ImportPath); !own || name != "policy" {
			continue
		}
		for _, d := range p.Deps {
			if isIODep(d) {
				t.Errorf("policy depends (transitively) on %s: it must stay free of I/O", d)
			}
		}
		return
	}
	t.Fatal("policy not found by go list")
}

// offlineBinaries must not be able to reach a network: the offline signer
// runs on an air-gapped machine. None of the packages they link, however
// indirectly, may be one of networkPackages; and the standard package net
// may be imported only by netImporters. github.com/google/uuid (linked by
// go-ethereum's keystore for key ids) imports net only to list interfaces
// for version 1 UUIDs, which nothing here makes: no socket code is reachable.
var (
	offlineBinaries = []string{"cmd/airsign"}
	networkPackages = []string{
		"net/http", "net/rpc", "net/smtp", "crypto/tls", "net/http/httptrace",
		"github.com/ethereum/go-ethereum/ethclient", "github.com/ethereum/go-ethereum/rpc",
		"github.com/ethereum/go-ethereum/p2p", "github.com/ethereum/go-ethereum/node",
		module + "/internal/chain", module + "/mcpserver",
	}
	netImporters = []string{"github.com/google/uuid"}
)

func TestOfflineBinariesHaveNoNetwork(t *testing.T) {
	for _, bin := range offlineBinaries {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./"+bin).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", bin, err)
		}
		n := 0
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Fields(line)
			if len(f) == 0 {
				continue
			}
			n++
			if slices.Contains(networkPackages, f[0]) {
				t.Errorf("%s links %s: it must have no network code", bin, f[0])
			}
			if slices.Contains(f[1:], "net") && !slices.Contains(netImporters, f[0]) {
				t.Errorf("%s links %s, which imports net: it must have no network code", bin, f[0])
			}
		}
		if n < 50 {
			t.Fatalf("go list found only %d dependencies of %s", n, bin)
		}
	}
}
