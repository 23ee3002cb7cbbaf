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
	"":                         {}, // the root holds only this test
	"internal/secret":          {},
	"internal/config":          {"internal/secret"},
	"internal/audit":           {},
	"internal/approvalstate":   {},
	"internal/store":           {"internal/approvalstate"},
	"internal/chain":           {},
	"internal/release":         {},
	"internal/ops":             {"internal/store", "policy", "signer"},
	"internal/chain/gethtest":  {},
	"wallet":                   {"internal/secret"},
	"signer":                   {},
	"signer/signertest":        {"signer"},
	"signer/keystore":          {"signer", "wallet", "internal/secret"},
	"internal/erc20":           {},
	"internal/erc20/erc20test": {"internal/chain", "internal/erc20"},
	"approval/totp":            {"internal/audit", "internal/secret", "internal/store"},
	"approval/pending":         {"approval/totp", "internal/approvalstate", "internal/audit", "internal/store"},
	"policy":                   {}, // pure: see ioFree below
	"approval/web":             {"approval", "approval/pending", "approval/totp", "internal/approvalstate", "policy"},
	"approval":                 {"policy", "signer", "internal/chain", "internal/erc20", "internal/store", "internal/audit", "internal/secret", "internal/approvalstate", "approval/pending"},
	"mcpserver":                {"approval", "policy", "internal/chain", "internal/audit", "internal/approvalstate"},
	"cmd/walletmcp":            {"*"},
	"examples/demo":            {"*"},
	"interop":                  {}, // tests only: real MCP clients against the binary
}

// keyHolders are the packages that touch key material. None of them may be in
// the transitive dependencies of the packages in keyFree.
var (
	keyHolders = []string{"wallet", "hsm", "signer/keystore", "signer/pkcs11", "signer/offline", "signer/hd"}
	keyFree    = []string{"policy", "internal/approvalstate", "mcpserver", "approval", "approval/totp", "approval/pending", "approval/web", "internal/chain", "internal/erc20", "internal/store", "internal/audit"}
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
				if r, own := rel(d); (own && slices.Contains(ioDeps, r)) || (!own && slices.Contains(ioDeps, d)) {
					t.Errorf("%s depends (transitively) on %s: it must stay free of I/O", name, d)
				}
			}
		}
	}
}
