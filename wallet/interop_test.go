package wallet_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ethereum/go-ethereum/accounts"
	gethks "github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/walletmcp/walletmcp/wallet"
)

// TestGethNewAccountOpensHere: a key file written by geth's
// keystore.NewKeyStore(...).NewAccount is listed and unlocked here.
func TestGethNewAccountOpensHere(t *testing.T) {
	dir := t.TempDir()
	gks := gethks.NewKeyStore(dir, gethks.LightScryptN, gethks.LightScryptP)
	acc, err := gks.NewAccount(testPass)
	if err != nil {
		t.Fatal(err)
	}
	ks := wallet.NewKeystore(dir, wallet.LightKeystoreOptions())
	accs, err := ks.Accounts()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(accs, []common.Address{acc.Address}) {
		t.Fatalf("Accounts = %v, want [%v]", accs, acc.Address)
	}
	k, err := ks.Unlock(acc.Address, pass(testPass))
	if err != nil {
		t.Fatal(err)
	}
	defer k.Destroy()

	// Both sides must hold the same key: compare with geth's own decryption.
	data, err := os.ReadFile(acc.URL.Path)
	if err != nil {
		t.Fatal(err)
	}
	gk, err := gethks.DecryptKey(data, testPass)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Open(func(priv []byte) error {
		if !bytes.Equal(priv, crypto.FromECDSA(gk.PrivateKey)) {
			t.Error("key differs from geth's")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestGethImportECDSAOpensHere: a known key imported by geth opens here.
func TestGethImportECDSAOpensHere(t *testing.T) {
	dir := t.TempDir()
	gks := gethks.NewKeyStore(dir, cheapScryptN, cheapScryptP)
	priv, err := crypto.HexToECDSA(testKeyHex)
	if err != nil {
		t.Fatal(err)
	}
	acc, err := gks.ImportECDSA(priv, testPass)
	if err != nil {
		t.Fatal(err)
	}
	k, err := wallet.NewKeystore(dir, nil).Unlock(acc.Address, pass(testPass))
	if err != nil {
		t.Fatal(err)
	}
	defer k.Destroy()
	if openHex(t, k) != testKeyHex {
		t.Error("key differs from the one geth imported")
	}
}

// TestFileWrittenHereUnlocksInGeth: files written by New and ImportHex are
// found by geth's keystore.NewKeyStore(dir, ...), unlock there, and sign as
// the same address.
func TestFileWrittenHereUnlocksInGeth(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ks")
	ks := wallet.NewKeystore(dir, cheapOptions())
	imported, err := ks.ImportHex(pass(testKeyHex), pass(testPass))
	if err != nil {
		t.Fatal(err)
	}
	created, err := ks.New(pass(testPass))
	if err != nil {
		t.Fatal(err)
	}
	gks := gethks.NewKeyStore(dir, cheapScryptN, cheapScryptP)
	digest := crypto.Keccak256([]byte("walletmcp interop"))
	for _, addr := range []common.Address{imported, created} {
		acc := accounts.Account{Address: addr}
		if !gks.HasAddress(addr) {
			t.Fatalf("geth does not list %v", addr)
		}
		if err := gks.Unlock(acc, testPass+"x"); err == nil {
			t.Errorf("geth unlocked %v with a wrong passphrase", addr)
		}
		if err := gks.Unlock(acc, testPass); err != nil {
			t.Fatalf("geth Unlock %v: %v", addr, err)
		}
		sig, err := gks.SignHash(acc, digest)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := crypto.SigToPub(digest, sig)
		if err != nil {
			t.Fatal(err)
		}
		if got := crypto.PubkeyToAddress(*pub); got != addr {
			t.Errorf("geth signed as %v, want %v", got, addr)
		}
		if err := gks.Lock(addr); err != nil {
			t.Fatal(err)
		}
	}
	// geth's DecryptKey recovers exactly the imported key.
	files, err := filepath.Glob(filepath.Join(dir, "UTC--*--"+common.Bytes2Hex(imported[:])))
	if err != nil || len(files) != 1 {
		t.Fatalf("key file of %v: %v %v", imported, files, err)
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	gk, err := gethks.DecryptKey(data, testPass)
	if err != nil {
		t.Fatal(err)
	}
	if common.Bytes2Hex(crypto.FromECDSA(gk.PrivateKey)) != testKeyHex {
		t.Error("geth decrypted another key")
	}
}
