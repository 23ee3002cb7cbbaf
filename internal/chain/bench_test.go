//go:build !nodev

package chain_test

import (
	"context"
	"fmt"
	"math/big"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/params"

	"github.com/walletmcp/walletmcp/internal/benchcpu"
	"github.com/walletmcp/walletmcp/internal/chain"
)

// BenchmarkDevSend is the embedded chain's floor for send_transfer: N
// callers sign (go-ethereum's types.SignTx, libsecp256k1) and send plain
// transfers from 4 accounts to an in-memory Dev mined every 20 ms (as
// mcpserver's BenchmarkSendTransfer runs it), and the op ends when every
// transfer is mined. No policy, store, audit log or MCP: what the chain
// alone takes of the CPU a transfer may use. It reports transfers per
// second and the process's CPU time per transfer.
func BenchmarkDevSend(b *testing.B) {
	for _, callers := range []int{1, 16} {
		b.Run(fmt.Sprintf("callers-%d", callers), func(b *testing.B) {
			const accounts = 4
			ctx := context.Background()
			eth := big.NewInt(params.Ether)
			alloc := map[common.Address]*big.Int{}
			type sender struct {
				mu    sync.Mutex // sends in nonce order
				key   []byte
				addr  common.Address
				nonce uint64
			}
			var senders []*sender
			for range accounts {
				k, err := crypto.GenerateKey()
				if err != nil {
					b.Fatal(err)
				}
				s := &sender{key: crypto.FromECDSA(k), addr: crypto.PubkeyToAddress(k.PublicKey)}
				senders = append(senders, s)
				alloc[s.addr] = new(big.Int).Mul(big.NewInt(1000), eth)
			}
			d, err := chain.NewDev(&chain.DevOptions{Alloc: alloc, MineDelay: 20 * time.Millisecond})
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			fees, err := d.SuggestFees(ctx)
			if err != nil {
				b.Fatal(err)
			}
			id := d.ChainID()
			signer := types.LatestSignerForChainID(id)
			to := common.HexToAddress("0xb0b")
			var next atomic.Int64
			var failed atomic.Value
			cpu0, cpuOK := benchcpu.Process()
			b.ResetTimer()
			var wg sync.WaitGroup
			sem := make(chan struct{}, callers)
			for i := 0; i < b.N; i++ {
				sem <- struct{}{}
				wg.Go(func() {
					defer func() { <-sem }()
					s := senders[int(next.Add(1))%accounts]
					key, err := crypto.ToECDSA(s.key)
					if err != nil {
						failed.Store(err)
						return
					}
					s.mu.Lock()
					defer s.mu.Unlock()
					tx, err := types.SignTx(types.NewTx(&types.DynamicFeeTx{
						ChainID: id, Nonce: s.nonce, GasTipCap: fees.TipCap, GasFeeCap: fees.FeeCap,
						Gas: params.TxGas, To: &to, Value: big.NewInt(1e12),
					}), signer, key)
					if err != nil {
						failed.Store(err)
						return
					}
					if err := d.Send(ctx, tx); err != nil {
						failed.Store(err)
						return
					}
					s.nonce++
				})
			}
			wg.Wait()
			if err, _ := failed.Load().(error); err != nil {
				b.Fatal(err)
			}
			for _, s := range senders { // every transfer mined
				for {
					n, err := d.Nonce(ctx, s.addr)
					if err != nil {
						b.Fatal(err)
					}
					if n == s.nonce {
						break
					}
					time.Sleep(time.Millisecond)
				}
			}
			b.StopTimer()
			if cpu1, ok := benchcpu.Process(); ok && cpuOK {
				b.ReportMetric(float64(cpu1-cpu0)/float64(time.Millisecond)/float64(b.N), "cpu-ms/transfer")
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "transfers/s")
		})
	}
}
