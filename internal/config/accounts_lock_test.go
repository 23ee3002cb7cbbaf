package config

import (
	"fmt"
	"sync"
	"testing"

	"github.com/ethereum/go-ethereum/common"
)

// Accounts added at once through two handles on one home (two processes'
// case: the lock is a flock, which two opens exclude as two processes do)
// are all kept: none is lost to another writer's read-modify-write.
func TestAddAccountConcurrentHandlesLoseNothing(t *testing.T) {
	h1, _ := newHome(t)
	h2, err := Open(h1.Dir)
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		h := h1
		if i%2 == 1 {
			h = h2
		}
		wg.Go(func() {
			a := common.BytesToAddress([]byte{1, byte(i)})
			errs <- h.AddAccount(Account{Address: a, Label: fmt.Sprintf("a%d", i), Backend: BackendKeystore})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	accts, err := h1.Accounts()
	if err != nil {
		t.Fatal(err)
	}
	if len(accts) != n {
		t.Fatalf("%d accounts registered, want %d", len(accts), n)
	}
}
