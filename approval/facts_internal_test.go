package approval

import "testing"

// TestIntrinsicOnlyChains: only Ethereum, its testnets and local chains skip
// the estimate of a plain transfer; layer 2s (Arbitrum One 42161, Optimism
// 10, Base 8453, zkSync Era 324) are estimated.
func TestIntrinsicOnlyChains(t *testing.T) {
	for id, want := range map[uint64]bool{1: true, 11155111: true, 17000: true, 560048: true, 1337: true, 31337: true,
		42161: false, 10: false, 8453: false, 324: false, 137: false} {
		if intrinsicOnlyChains[id] != want {
			t.Errorf("chain %d: skips the estimate %v, want %v", id, intrinsicOnlyChains[id], want)
		}
	}
}
