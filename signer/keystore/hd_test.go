package keystore_test

import (
	"path/filepath"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/internal/secret"
	"github.com/walletmcp/walletmcp/signer"
	"github.com/walletmcp/walletmcp/signer/keystore"
	"github.com/walletmcp/walletmcp/signer/signertest"
	"github.com/walletmcp/walletmcp/wallet"
	"github.com/walletmcp/walletmcp/wallet/hd"
)

// TestConformanceHD runs the suite on HD accounts the way serve makes them:
// the seed stored in the vault, opened with the passphrase, the child keys
// of m/44'/60'/0'/0/{0,1,2} derived and sealed, the seed wiped.
func TestConformanceHD(t *testing.T) {
	const mnemonic = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
	want := []common.Address{
		common.HexToAddress("0x9858EfFD232B4033E47d90003D41EC34EcaEda94"),
		common.HexToAddress("0x6Fac4D18c912343BF86fa7049364Dd4E424Ab9C0"),
		common.HexToAddress("0xb6716976A3ebe8D39aCEB04372f22Ff8e6802D7A"),
	}
	v := wallet.NewHDVault(filepath.Join(t.TempDir(), "hd"), &wallet.KeystoreOptions{ScryptN: 1 << 4, ScryptP: 1})
	pass := secret.CopyBytes([]byte("pw"))
	seed, err := wallet.SeedFromMnemonic([]byte(mnemonic), nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := hd.CreateWallet(v, "main", seed, pass)
	seed.Wipe()
	if err != nil {
		t.Fatal(err)
	}
	for i, addr := range want {
		t.Run(hd.Path(uint32(i)), func(t *testing.T) {
			signertest.Run(t, func(t *testing.T) signer.Signer {
				s, err := hd.OpenSeed(v, w, pass)
				if err != nil {
					t.Fatal(err)
				}
				keys, err := hd.DeriveKeys(s.Reveal(), []uint32{uint32(i)})
				s.Wipe()
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(keys[0].Destroy)
				sg := keystore.New(keys[0])
				if sg.Address() != addr {
					t.Fatalf("address %s, want %s", sg.Address().Hex(), addr.Hex())
				}
				return sg
			})
		})
	}
}
