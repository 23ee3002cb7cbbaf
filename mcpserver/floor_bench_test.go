package mcpserver_test

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
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/walletmcp/walletmcp/internal/benchcpu"
	"github.com/walletmcp/walletmcp/internal/chain"
	"github.com/walletmcp/walletmcp/policy"
)

// BenchmarkSendFloor is BenchmarkSendTransfer's floor: the same 16 callers
// through the same in-process go-sdk client and server, calling a tool with
// send_transfer's input and output types, and nothing of walletmcp's.
//   - "go-sdk": the tool answers a fixed result.
//   - "go-sdk+chain": the tool signs a transfer from one of 4 accounts and
//     sends it to an in-memory Dev mined every 20 ms, as BenchmarkDevSend
//     does, and the op ends when every transfer is mined.
//
// It reports calls per second and the process's CPU time per call: what the
// chosen MCP library and embedded chain take of a transfer before any
// policy, store, audit log or durability.
func BenchmarkSendFloor(b *testing.B) {
	for _, withChain := range []bool{false, true} {
		name := "go-sdk"
		if withChain {
			name = "go-sdk+chain"
		}
		b.Run(name+"/parallel-16", func(b *testing.B) { benchSendFloor(b, withChain, 16) })
	}
}

type floorIn struct {
	From   string `json:"from" jsonschema:"sender"`
	To     string `json:"to" jsonschema:"recipient address"`
	Amount string `json:"amount" jsonschema:"decimal string"`
	Asset  string `json:"asset,omitempty" jsonschema:"ETH"`
}

type floorOut struct {
	Status  string         `json:"status" jsonschema:"submitted"`
	TxHash  string         `json:"tx_hash,omitempty" jsonschema:"hash"`
	Summary policy.Summary `json:"summary"`
}

type floorSender struct {
	mu    sync.Mutex // sends in nonce order
	key   []byte
	addr  common.Address
	nonce uint64
}

func benchSendFloor(b *testing.B, withChain bool, callers int) {
	ctx := context.Background()
	var (
		dev     *chain.Dev
		senders []*floorSender
		fees    chain.Fees
		signer  types.Signer
	)
	to := common.HexToAddress("0xb0b")
	if withChain {
		alloc := map[common.Address]*big.Int{}
		for range 4 {
			k, err := crypto.GenerateKey()
			if err != nil {
				b.Fatal(err)
			}
			s := &floorSender{key: crypto.FromECDSA(k), addr: crypto.PubkeyToAddress(k.PublicKey)}
			senders = append(senders, s)
			alloc[s.addr] = new(big.Int).Mul(big.NewInt(1000), big.NewInt(params.Ether))
		}
		var err error
		if dev, err = chain.NewDev(&chain.DevOptions{Alloc: alloc, MineDelay: 20 * time.Millisecond}); err != nil {
			b.Fatal(err)
		}
		defer dev.Close()
		if fees, err = dev.SuggestFees(ctx); err != nil {
			b.Fatal(err)
		}
		signer = types.LatestSignerForChainID(dev.ChainID())
	}
	var next atomic.Int64
	srv := mcp.NewServer(&mcp.Implementation{Name: "floor", Version: "1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "send_transfer", Description: "floor"}, func(ctx context.Context, _ *mcp.CallToolRequest, in floorIn) (*mcp.CallToolResult, floorOut, error) {
		out := floorOut{Status: "submitted", Summary: policy.Summary{From: in.From, To: in.To, Amount: in.Amount, Asset: "ETH"}}
		if !withChain {
			out.TxHash = common.Hash{1}.Hex()
			return nil, out, nil
		}
		s := senders[int(next.Add(1))%len(senders)]
		key, err := crypto.ToECDSA(s.key)
		if err != nil {
			return nil, out, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		tx, err := types.SignTx(types.NewTx(&types.DynamicFeeTx{
			ChainID: dev.ChainID(), Nonce: s.nonce, GasTipCap: fees.TipCap, GasFeeCap: fees.FeeCap,
			Gas: params.TxGas, To: &to, Value: big.NewInt(1e12),
		}), signer, key)
		if err != nil {
			return nil, out, err
		}
		if err := dev.Send(ctx, tx); err != nil {
			return nil, out, err
		}
		s.nonce++
		out.TxHash = tx.Hash().Hex()
		return nil, out, nil
	})
	ct, st := mcp.NewInMemoryTransports()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { _ = srv.Run(sctx, st) }()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer cs.Close()
	var failed atomic.Value
	cpu0, cpuOK := benchcpu.Process()
	b.ResetTimer()
	var wg sync.WaitGroup
	sem := make(chan struct{}, callers)
	for i := 0; i < b.N; i++ {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "send_transfer", Arguments: map[string]any{"from": common.Address{2}.Hex(), "to": to.Hex(), "amount": "0.000001"}})
			if err != nil || res.IsError {
				failed.Store(fmt.Errorf("%v %s", err, text(res)))
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	for _, s := range senders { // every transfer mined
		for {
			n, err := dev.Nonce(ctx, s.addr)
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
		b.ReportMetric(float64(cpu1-cpu0)/float64(time.Millisecond)/float64(b.N), "cpu-ms/call")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}
