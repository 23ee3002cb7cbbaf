package wallet_test

import (
	"bytes"
	"path/filepath"
	"sync"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/internal/secret"
	"github.com/walletmcp/walletmcp/wallet"
)

// Two vault handles on one directory (two processes' case: the lock is a
// flock) creating a wallet with the same label at once: exactly one wins.
func TestHDVaultCreateLabelUniqueAcrossHandles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "hd")
	opts := &wallet.KeystoreOptions{ScryptN: cheapScryptN, ScryptP: cheapScryptP}
	vs := []*wallet.HDVault{wallet.NewHDVault(dir, opts), wallet.NewHDVault(dir, opts)}
	const n = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := range n {
		wg.Go(func() {
			seed := secret.CopyBytes(bytes.Repeat([]byte{byte(i + 1)}, wallet.SeedLength))
			defer seed.Wipe()
			pass := secret.CopyBytes([]byte("pw"))
			defer pass.Wipe()
			if _, err := vs[i%2].Create("main", seed, common.BytesToAddress([]byte{byte(i + 1)}), pass); err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	ws, err := vs[0].Wallets()
	if err != nil {
		t.Fatal(err)
	}
	if ok != 1 || len(ws) != 1 {
		t.Fatalf("%d creates succeeded, %d wallets labelled main; want 1 and 1", ok, len(ws))
	}
}
