package wallet_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/walletmcp/walletmcp/wallet"
)

func TestUnlockKeyFile(t *testing.T) {
	ks := newKeystore(t)
	addr, err := ks.ImportHex(pass(testKeyHex), pass(testPass))
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(ks.Dir(), "UTC--*"))
	if err != nil || len(files) != 1 {
		t.Fatalf("key files %v %v", files, err)
	}
	k, err := wallet.UnlockKeyFile(files[0], pass(testPass))
	if err != nil {
		t.Fatal(err)
	}
	defer k.Destroy()
	if k.Address() != addr || openHex(t, k) != testKeyHex {
		t.Fatalf("unlocked %v", k.Address())
	}
	if _, err := wallet.UnlockKeyFile(files[0], pass("wrong")); !errors.Is(err, wallet.ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	junk := filepath.Join(t.TempDir(), "junk")
	if err := os.WriteFile(junk, []byte(`{"version":3}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := wallet.UnlockKeyFile(junk, pass(testPass)); !errors.Is(err, wallet.ErrInvalidKeyFile) {
		t.Fatalf("junk: %v", err)
	}
	if _, err := wallet.UnlockKeyFile(filepath.Join(t.TempDir(), "none"), pass(testPass)); err == nil {
		t.Fatal("missing file accepted")
	}
}
