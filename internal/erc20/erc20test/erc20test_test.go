package erc20test_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/walletmcp/walletmcp/internal/erc20/erc20test"
)

// The committed artifacts are the ones described in testdata/README.md; a
// change to them must come with a change to the README (and to this table).
func TestArtifactsMatchREADME(t *testing.T) {
	root := erc20test.RepoRoot(t)
	tests := []struct {
		file, sha256 string
	}{
		{"testdata/erc20/TestToken.sol", "088415eca8fe38273d418623d83eb9ac15d96210767f880cdcb1f0eba4231295"},
		{"testdata/erc20/TestToken.abi.json", "f0f0630ea72be2e6d89f26392f63cccdbf8d9b0a6b41afa242ce7135e7cfdc7e"},
		{"testdata/erc20/TestToken.bin", "b240d542106961e5d4dbb9c8269f94baf07276d096739e5737b0d0007416e4e8"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(tc.file)))
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(b)
			if got := hex.EncodeToString(sum[:]); got != tc.sha256 {
				t.Fatalf("sha256 = %s, want %s (regenerated? update testdata/README.md)", got, tc.sha256)
			}
		})
	}
}

func TestABI(t *testing.T) {
	a := erc20test.ABI(t)
	if n := len(a.Constructor.Inputs); n != 4 {
		t.Fatalf("constructor has %d inputs, want 4 (name, symbol, decimals, supply)", n)
	}
	tests := []struct {
		method   string
		selector string
	}{
		{"transfer", "a9059cbb"},
		{"balanceOf", "70a08231"},
		{"decimals", "313ce567"},
		{"name", "06fdde03"},
		{"symbol", "95d89b41"},
	}
	for _, tc := range tests {
		t.Run(tc.method, func(t *testing.T) {
			m, ok := a.Methods[tc.method]
			if !ok {
				t.Fatalf("ABI has no %s", tc.method)
			}
			if got := hex.EncodeToString(m.ID); got != tc.selector {
				t.Fatalf("selector %s, want %s", got, tc.selector)
			}
		})
	}
}

func TestBytecode(t *testing.T) {
	code := erc20test.Bytecode(t)
	// solc's creation code starts by storing the free memory pointer:
	// PUSH1 0x80|0xa0 PUSH1 0x40 MSTORE.
	if len(code) < 5 || code[0] != 0x60 || code[2] != 0x60 || code[3] != 0x40 || code[4] != 0x52 {
		t.Fatalf("bytecode does not start like solc creation code: %x", code[:min(len(code), 5)])
	}
}
