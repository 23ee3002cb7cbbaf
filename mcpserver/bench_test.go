package mcpserver_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/walletmcp/walletmcp/internal/benchcpu"
)

// BenchmarkSendTransfer measures auto-approved send_transfer throughput
// through the in-process MCP client, with the audit log's fsync and the
// store's synchronous commits on. "serial" is one caller; "parallel-N" is N
// concurrent callers spread over 4 accounts. It reports transfers per second
// audit fsyncs per transfer (below 2 × 3 records means grouping works), and
// the store's committed writes and COMMITs (WAL fsyncs) per transfer (fewer
// commits than writes means its group commit works; the settling loop's
// writes are counted too), and the process's CPU time per transfer (every
// goroutine: server, client, chain, settling), which a busy machine moves
// much less than the wall-clock rate.
func BenchmarkSendTransfer(b *testing.B) {
	for _, callers := range []int{1, 16, 64} {
		name := "serial"
		if callers > 1 {
			name = fmt.Sprintf("parallel-%d", callers)
		}
		b.Run(name, func(b *testing.B) {
			pol := strings.Replace(basePolicy(), "transfers_per_hour = 30", "transfers_per_hour = 100000", 1)
			pol = strings.Replace(pol, "tool_calls_per_minute = 120", "tool_calls_per_minute = 100000", 1)
			t := &testing.T{}
			e := newEnvTB(b, t, envOpts{policy: pol, accounts: 4})
			_, syncs0 := e.audit.Stats()
			writes0, commits0 := e.store.Stats()
			cpu0, cpuOK := benchcpu.Process()
			var next atomic.Int64
			sem := make(chan struct{}, callers)
			errs := make(chan string, 1)
			b.ResetTimer()
			done := make(chan struct{}, b.N)
			for i := 0; i < b.N; i++ {
				sem <- struct{}{}
				go func() {
					defer func() { <-sem; done <- struct{}{} }()
					n := next.Add(1)
					from := e.accounts[int(n)%len(e.accounts)].Hex()
					res, err := e.cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "send_transfer", Arguments: map[string]any{"from": from, "to": recipient.Hex(), "amount": "0.000001"}})
					if err != nil || res.IsError {
						select {
						case errs <- fmt.Sprint(err, text(res)):
						default:
						}
					}
				}()
			}
			for i := 0; i < b.N; i++ {
				<-done
			}
			b.StopTimer()
			select {
			case m := <-errs:
				b.Fatal(m)
			default:
			}
			_, syncs1 := e.audit.Stats()
			writes1, commits1 := e.store.Stats()
			if cpu1, ok := benchcpu.Process(); ok && cpuOK {
				b.ReportMetric(float64(cpu1-cpu0)/float64(time.Millisecond)/float64(b.N), "cpu-ms/transfer")
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "transfers/s")
			b.ReportMetric(float64(syncs1-syncs0)/float64(b.N), "audit-fsyncs/transfer")
			b.ReportMetric(float64(writes1-writes0)/float64(b.N), "store-writes/transfer")
			b.ReportMetric(float64(commits1-commits0)/float64(b.N), "store-commits/transfer")
		})
	}
}
