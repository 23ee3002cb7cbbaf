package main

import (
	"testing"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/walletmcp/walletmcp/signer"
	kssigner "github.com/walletmcp/walletmcp/signer/keystore"
	"github.com/walletmcp/walletmcp/wallet"
)

// TestAfterSelfCheckSignsNow: a key serve hands the Guard signs now only
// once the start self-check has run (before, a signature waits for it).
func TestAfterSelfCheckSignsNow(t *testing.T) {
	k, _ := crypto.GenerateKey()
	sealed, err := wallet.SealKey(crypto.FromECDSA(k))
	if err != nil {
		t.Fatal(err)
	}
	defer sealed.Destroy()
	checked := make(chan struct{})
	s := &afterSelfCheck{Signer: kssigner.New(sealed), checked: checked}
	if signer.SignsNow(s) {
		t.Fatal("signs now before the self-check ran")
	}
	close(checked)
	if !signer.SignsNow(s) {
		t.Fatal("does not sign now after the self-check ran")
	}
}
