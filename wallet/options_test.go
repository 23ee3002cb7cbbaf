package wallet

import (
	"testing"

	"github.com/ethereum/go-ethereum/accounts/keystore"
)

func TestDefaultOptions(t *testing.T) {
	for _, opts := range []*KeystoreOptions{nil, {}} {
		k := NewKeystore(t.TempDir(), opts)
		if k.scryptN != keystore.StandardScryptN || k.scryptP != keystore.StandardScryptP {
			t.Errorf("defaults n=%d p=%d, want geth's standard parameters", k.scryptN, k.scryptP)
		}
		if k.rand == nil || k.now == nil {
			t.Error("nil rand or clock")
		}
	}
}

func TestBadScryptParametersFail(t *testing.T) {
	k := NewKeystore(t.TempDir(), &KeystoreOptions{ScryptN: 3, ScryptP: 1})
	if _, err := k.ImportHex(nil, nil); err == nil {
		t.Fatal("empty inputs accepted")
	}
	if _, err := k.New(testSecret("pw")); err == nil {
		t.Fatal("N=3 accepted")
	}
	if accs, _ := k.Accounts(); len(accs) != 0 {
		t.Fatalf("a file was written: %v", accs)
	}
}
