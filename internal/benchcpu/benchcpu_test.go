package benchcpu

import (
	"runtime"
	"testing"
	"time"
)

// TestProcessCounts checks that CPU spent between two reads shows up.
func TestProcessCounts(t *testing.T) {
	before, ok := Process()
	if !ok {
		if runtime.GOOS == "linux" || runtime.GOOS == "darwin" {
			t.Fatal("Process() not available on a unix system")
		}
		t.Skip("no process CPU time here")
	}
	x := uint64(1)
	for start := time.Now(); time.Since(start) < 50*time.Millisecond; {
		for range 1000 {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	after, _ := Process()
	if d := after - before; d < 20*time.Millisecond {
		t.Fatalf("50 ms of busy loop counted %v of CPU (x=%d)", d, x)
	}
}
