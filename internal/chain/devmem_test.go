//go:build !nodev

package chain

import (
	"context"
	"math/big"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/ethereum/go-ethereum/common"
)

// devLiveHeapBudget bounds how much the Go heap that survives a collection
// may grow by opening a persistent dev chain (what `serve --dev` runs). The
// collector lets the heap grow by its live size again before it collects,
// so every live byte of the chain costs about two of resident memory.
// Measured here: about 1.3 MiB, and 4 MiB more while the node's idle
// peer-to-peer server (its node database's write buffer) was left running.
const devLiveHeapBudget = 2 << 20

// liveHeap returns the bytes of heap that survive a full collection.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestDevLiveHeapSmall: a persistent dev chain, opened and read, keeps
// little of the Go heap live (devLiveHeapBudget).
func TestDevLiveHeapSmall(t *testing.T) {
	_, addr := newKey(t)
	before := liveHeap()
	d, err := NewDev(&DevOptions{DataDir: filepath.Join(t.TempDir(), "dev-chain"), Alloc: map[common.Address]*big.Int{addr: ether(1)}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for range 100 {
		if _, _, err := d.Balance(context.Background(), addr); err != nil {
			t.Fatal(err)
		}
	}
	after := liveHeap()
	if after > before+devLiveHeapBudget {
		t.Fatalf("opening a dev chain grew the live heap by %d KiB, want at most %d KiB", (after-before)>>10, devLiveHeapBudget>>10)
	}
	t.Logf("live heap grew by %d KiB", (int64(after)-int64(before))>>10)
}
