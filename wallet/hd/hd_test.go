package hd_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/internal/secret"
	"github.com/walletmcp/walletmcp/wallet"
	"github.com/walletmcp/walletmcp/wallet/hd"
)

// abandonAbout is the all-zero 128-bit mnemonic of the BIP-39 vectors.
const abandonAbout = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"

const testPass = "hd-test-passphrase"

func pass(s string) *secret.Bytes { return secret.CopyBytes([]byte(s)) }

// TestBIP39FirstVectorMasterKey checks the master extended key of the first
// vector against the xprv published with it in trezor/python-mnemonic's
// vectors.json.
func TestBIP39FirstVectorMasterKey(t *testing.T) {
	seed, err := wallet.SeedFromMnemonic([]byte(abandonAbout), []byte("TREZOR"))
	if err != nil {
		t.Fatal(err)
	}
	master, err := hdkeychain.NewMaster(seed.Reveal(), &chaincfg.MainNetParams)
	if err != nil {
		t.Fatal(err)
	}
	const want = "xprv9s21ZrQH143K3h3fDYiay8mocZ3afhfULfb5GX8kCBdno77K4HiA15Tg23wpbeF1pLfs1c5SPmYHrEpTuuRhxMwvKDwqdKiGJS9XFKzUsAF"
	if got := master.String(); got != want {
		t.Errorf("master key %s, want %s", got, want)
	}
}

// TestAbandonAboutAddresses checks m/44'/60'/0'/0/{0,1,2} of "abandon …
// about" without a passphrase (the addresses MetaMask, Ledger and ethers.js
// give for this mnemonic).
func TestAbandonAboutAddresses(t *testing.T) {
	seed, err := wallet.SeedFromMnemonic([]byte(abandonAbout), nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := hd.DeriveAddresses(seed.Reveal(), []uint32{0, 1, 2})
	if err != nil {
		t.Fatal(err)
	}
	want := []common.Address{
		common.HexToAddress("0x9858EfFD232B4033E47d90003D41EC34EcaEda94"),
		common.HexToAddress("0x6Fac4D18c912343BF86fa7049364Dd4E424Ab9C0"),
		common.HexToAddress("0xb6716976A3ebe8D39aCEB04372f22Ff8e6802D7A"),
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("index %d: %s, want %s", i, got[i].Hex(), want[i].Hex())
		}
	}
	keys, err := hd.DeriveKeys(seed.Reveal(), []uint32{2})
	if err != nil {
		t.Fatal(err)
	}
	defer keys[0].Destroy()
	if keys[0].Address() != want[2] {
		t.Errorf("sealed key of index 2 is %s", keys[0].Address().Hex())
	}
}

// TestHDPath checks the path format and its parser.
func TestHDPath(t *testing.T) {
	if p := hd.Path(7); p != "m/44'/60'/0'/0/7" {
		t.Errorf("HDPath(7) = %s", p)
	}
	for _, ok := range []string{"m/44'/60'/0'/0/0", "m/44'/60'/0'/0/2147483647"} {
		if _, err := hd.ParsePath(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "m/44'/60'/0'/0/", "m/44'/60'/0'/0/01", "m/44'/60'/0'/0/2147483648", "m/44'/60'/1'/0/0", "m/44'/60'/0'/0/1'"} {
		if _, err := hd.ParsePath(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestHDVault creates, lists, finds and opens a wallet, and checks the file.
func TestHDVault(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "hd")
	v := wallet.NewHDVault(dir, wallet.LightKeystoreOptions())
	seed, _ := wallet.SeedFromMnemonic([]byte(abandonAbout), nil)
	w, err := hd.CreateWallet(v, "main", seed, pass(testPass))
	if err != nil {
		t.Fatal(err)
	}
	if w.Address0 != common.HexToAddress("0x9858EfFD232B4033E47d90003D41EC34EcaEda94") {
		t.Errorf("address0 %s", w.Address0.Hex())
	}
	fi, err := os.Stat(filepath.Join(dir, w.ID+".json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("vault file: %v %v", fi, err)
	}
	if di, _ := os.Stat(dir); di.Mode().Perm() != 0o700 {
		t.Errorf("vault dir mode %v", di.Mode())
	}
	data, _ := os.ReadFile(filepath.Join(dir, w.ID+".json"))
	for _, s := range []string{"abandon", hex.EncodeToString(seed.Reveal())[:16], testPass} {
		if bytes.Contains(data, []byte(s)) {
			t.Errorf("vault file holds %q", s)
		}
	}
	if _, err := hd.CreateWallet(v, "other", seed, pass(testPass)); !errors.Is(err, wallet.ErrExists) {
		t.Errorf("same seed twice: %v", err)
	}
	seed2, _ := wallet.SeedFromMnemonic([]byte(abandonAbout), []byte("TREZOR"))
	if _, err := hd.CreateWallet(v, "main", seed2, pass(testPass)); err == nil {
		t.Error("duplicate label accepted")
	}
	if _, err := v.Find(""); err != nil {
		t.Errorf("Find(\"\") with one wallet: %v", err)
	}
	if _, err := hd.CreateWallet(v, "second", seed2, pass(testPass)); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Find(""); !errors.Is(err, wallet.ErrHDWalletAmbiguous) {
		t.Errorf("Find(\"\") with two wallets: %v", err)
	}
	if _, err := v.Find("nope"); !errors.Is(err, wallet.ErrNoHDWallet) {
		t.Errorf("Find(nope): %v", err)
	}
	got, err := v.Find("main")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hd.OpenSeed(v, got, pass("wrong")); !errors.Is(err, wallet.ErrWrongPassphrase) {
		t.Errorf("wrong passphrase: %v", err)
	}
	s, err := hd.OpenSeed(v, got, pass(testPass))
	if err != nil {
		t.Fatal(err)
	}
	if !s.Equal(seed) {
		t.Error("seed differs after the round trip")
	}
	ws, _ := v.Wallets()
	if len(ws) != 2 || ws[0].Label != "main" || ws[1].Label != "second" {
		t.Errorf("wallets %v", ws)
	}
	_ = secret.Redacted
}

// TestHDVaultRefusesBadLabels refuses labels that could not be an account
// label or a plain name.
func TestHDVaultRefusesBadLabels(t *testing.T) {
	v := wallet.NewHDVault(filepath.Join(t.TempDir(), "hd"), wallet.LightKeystoreOptions())
	seed, _ := wallet.SeedFromMnemonic([]byte(abandonAbout), nil)
	for _, l := range []string{"", "a/b", `a\b`, "tab\there", "nul\x00", strings.Repeat("x", 65)} {
		if _, err := hd.CreateWallet(v, l, seed, pass(testPass)); err == nil {
			t.Errorf("label %q accepted", l)
		}
	}
}
