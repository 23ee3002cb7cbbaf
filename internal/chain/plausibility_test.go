package chain

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/params"
)

// fakeClient is a client whose answers the test sets; the zero value of each
// field is replaced by a plausible default in newFakeClient.
type fakeClient struct {
	header   *types.Header
	noHeader bool // HeaderByNumber returns (nil, nil)
	balance  *big.Int
	tip      *big.Int
	gas      uint64
	receipt  *types.Receipt
	tx       *types.Transaction
	pending  bool
}

func newFakeClient() *fakeClient {
	return &fakeClient{
		header:  &types.Header{Number: big.NewInt(5), GasLimit: 30_000_000, BaseFee: big.NewInt(params.GWei)},
		balance: big.NewInt(1),
		tip:     big.NewInt(params.GWei),
		gas:     21000,
	}
}

func (f *fakeClient) ChainID(context.Context) (*big.Int, error) { return big.NewInt(DevChainID), nil }
func (f *fakeClient) HeaderByNumber(context.Context, *big.Int) (*types.Header, error) {
	if f.noHeader {
		return nil, nil
	}
	return f.header, nil
}
func (f *fakeClient) BlockNumber(context.Context) (uint64, error) {
	if f.noHeader || f.header == nil || f.header.Number == nil {
		return 0, nil
	}
	return f.header.Number.Uint64(), nil
}
func (f *fakeClient) BalanceAt(context.Context, common.Address, *big.Int) (*big.Int, error) {
	return f.balance, nil
}
func (f *fakeClient) PendingNonceAt(context.Context, common.Address) (uint64, error) { return 0, nil }
func (f *fakeClient) NonceAt(context.Context, common.Address, *big.Int) (uint64, error) {
	return 0, nil
}
func (f *fakeClient) SuggestGasTipCap(context.Context) (*big.Int, error) { return f.tip, nil }
func (f *fakeClient) EstimateGas(context.Context, ethereum.CallMsg) (uint64, error) {
	return f.gas, nil
}
func (f *fakeClient) SendTransaction(context.Context, *types.Transaction) error { return nil }
func (f *fakeClient) TransactionReceipt(context.Context, common.Hash) (*types.Receipt, error) {
	if f.receipt == nil {
		return nil, ethereum.NotFound
	}
	return f.receipt, nil
}
func (f *fakeClient) TransactionByHash(context.Context, common.Hash) (*types.Transaction, bool, error) {
	if f.tx == nil {
		return nil, false, ethereum.NotFound
	}
	return f.tx, f.pending, nil
}
func (f *fakeClient) CodeAt(context.Context, common.Address, *big.Int) ([]byte, error) {
	return nil, nil
}
func (f *fakeClient) CallContract(context.Context, ethereum.CallMsg, *big.Int) ([]byte, error) {
	return nil, nil
}

var _ client = (*fakeClient)(nil)

func TestPlausibilityChecks(t *testing.T) {
	tx := types.NewTx(&types.DynamicFeeTx{ChainID: big.NewInt(DevChainID), Nonce: 1})
	other := types.NewTx(&types.DynamicFeeTx{ChainID: big.NewInt(DevChainID), Nonce: 2})
	receipt := func(h common.Hash, status uint64) *types.Receipt {
		return &types.Receipt{TxHash: h, Status: status, BlockNumber: big.NewInt(3)}
	}
	tests := []struct {
		name  string
		setup func(f *fakeClient)
		call  func(c Chain) error
		ok    bool // a plausible control case
	}{
		{"fees plausible", func(f *fakeClient) {}, suggest, true},
		{"tip above bound", func(f *fakeClient) { f.tip = new(big.Int).Mul(big.NewInt(20_000), big.NewInt(params.GWei)) }, suggest, false},
		{"negative tip", func(f *fakeClient) { f.tip = big.NewInt(-1) }, suggest, false},
		{"fee cap above bound", func(f *fakeClient) { f.header.BaseFee = new(big.Int).Mul(big.NewInt(6_000), big.NewInt(params.GWei)) }, suggest, false},
		{"negative base fee", func(f *fakeClient) { f.header.BaseFee = big.NewInt(-params.GWei) }, suggest, false},
		{"no base fee", func(f *fakeClient) { f.header.BaseFee = nil }, suggest, false},
		{"nil header (fees)", func(f *fakeClient) { f.noHeader = true }, suggest, false},
		{"balance plausible", func(f *fakeClient) {}, balance, true},
		{"negative balance", func(f *fakeClient) { f.balance = big.NewInt(-1) }, balance, false},
		{"no balance", func(f *fakeClient) { f.balance = nil }, balance, false},
		{"estimate plausible", func(f *fakeClient) {}, estimate, true},
		{"estimate above block gas limit", func(f *fakeClient) { f.gas = 30_000_001 }, estimate, false},
		{"estimate below intrinsic gas", func(f *fakeClient) { f.gas = 20_999 }, estimate, false},
		{"receipt plausible", func(f *fakeClient) { f.receipt = receipt(tx.Hash(), 1) }, receiptOf(tx.Hash()), true},
		{"receipt for another hash", func(f *fakeClient) { f.receipt = receipt(other.Hash(), 1) }, receiptOf(tx.Hash()), false},
		{"receipt with unknown status", func(f *fakeClient) { f.receipt = receipt(tx.Hash(), 7) }, receiptOf(tx.Hash()), false},
		{"receipt without block", func(f *fakeClient) { f.receipt = &types.Receipt{TxHash: tx.Hash(), Status: 1} }, receiptOf(tx.Hash()), false},
		{"status plausible", func(f *fakeClient) { f.tx = tx; f.receipt = receipt(tx.Hash(), 0) }, statusOf(tx.Hash()), true},
		{"status: tx with another hash", func(f *fakeClient) { f.tx = other; f.pending = true }, statusOf(tx.Hash()), false},
		{"status: receipt with another hash", func(f *fakeClient) { f.tx = tx; f.receipt = receipt(other.Hash(), 1) }, statusOf(tx.Hash()), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeClient()
			tc.setup(f)
			c := newConn(f, big.NewInt(DevChainID), nil, 0)
			err := tc.call(&c)
			if tc.ok {
				if err != nil {
					t.Fatalf("plausible answer refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrImplausible) {
				t.Fatalf("err = %v, want ErrImplausible", err)
			}
		})
	}
}

func suggest(c Chain) error {
	_, err := c.SuggestFees(context.Background())
	return err
}

func balance(c Chain) error {
	_, _, err := c.Balance(context.Background(), alice)
	return err
}

func estimate(c Chain) error {
	_, err := c.EstimateGas(context.Background(), ethereum.CallMsg{From: alice, To: &bob})
	return err
}

func receiptOf(h common.Hash) func(Chain) error {
	return func(c Chain) error { _, err := c.Receipt(context.Background(), h); return err }
}

func statusOf(h common.Hash) func(Chain) error {
	return func(c Chain) error { _, err := c.TxStatus(context.Background(), h); return err }
}

// rpcServer is a JSON-RPC 2.0 server over HTTP answering from a table of
// method → result. Unknown methods get a JSON-RPC error.
func rpcServer(t *testing.T, results map[string]any) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		resp := map[string]any{"jsonrpc": "2.0", "id": req.ID}
		if res, ok := results[req.Method]; ok {
			resp["result"] = res
		} else {
			resp["error"] = map[string]any{"code": -32601, "message": "method not found: " + req.Method}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(resp)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestRPCPlausibilityOverJSONRPC(t *testing.T) {
	header := &types.Header{
		Number:     big.NewInt(10),
		GasLimit:   30_000_000,
		BaseFee:    big.NewInt(params.GWei),
		Difficulty: new(big.Int),
	}
	asked := common.HexToHash("0x01")
	otherReceipt := &types.Receipt{
		Type:              types.DynamicFeeTxType,
		Status:            types.ReceiptStatusSuccessful,
		TxHash:            common.HexToHash("0x02"),
		BlockNumber:       big.NewInt(9),
		BlockHash:         common.HexToHash("0x09"),
		Logs:              []*types.Log{},
		GasUsed:           21000,
		EffectiveGasPrice: big.NewInt(params.GWei),
	}
	tests := []struct {
		name    string
		results map[string]any
		call    func(c Chain) error
	}{
		{
			name:    "absurd eth_maxPriorityFeePerGas",
			results: map[string]any{"eth_maxPriorityFeePerGas": (*hexutil.Big)(new(big.Int).Mul(big.NewInt(100), big.NewInt(params.Ether))), "eth_getBlockByNumber": header},
			call:    suggest,
		},
		{
			name:    "absurd base fee",
			results: map[string]any{"eth_maxPriorityFeePerGas": "0x1", "eth_getBlockByNumber": withBaseFee(header, new(big.Int).Mul(big.NewInt(params.Ether), big.NewInt(1)))},
			call:    suggest,
		},
		{
			name:    "receipt for another hash",
			results: map[string]any{"eth_getTransactionReceipt": otherReceipt},
			call:    receiptOf(asked),
		},
		{
			name:    "estimate above block gas limit",
			results: map[string]any{"eth_estimateGas": "0x1c9c381", "eth_getBlockByNumber": header},
			call:    estimate,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.results["eth_chainId"] = "0x539"
			srv := rpcServer(t, tc.results)
			c, err := Dial(context.Background(), srv.URL, &Options{ExpectChainID: big.NewInt(DevChainID)})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := tc.call(c); !errors.Is(err, ErrImplausible) {
				t.Fatalf("err = %v, want ErrImplausible", err)
			}
		})
	}
}

func withBaseFee(h *types.Header, fee *big.Int) *types.Header {
	h = types.CopyHeader(h)
	h.BaseFee = fee
	return h
}

func TestDialRefuses(t *testing.T) {
	srv := rpcServer(t, map[string]any{"eth_chainId": "0x539"})
	tests := []struct {
		name    string
		opts    *Options
		wantErr error
		wantMsg []string
	}{
		{"other chain", &Options{ExpectChainID: big.NewInt(1)}, ErrChainIDMismatch, []string{"1337", "expected 1"}},
		{"nil options", nil, nil, []string{"ExpectChainID is required"}},
		{"no chain id", &Options{}, nil, []string{"ExpectChainID is required"}},
		{"non-positive fee bound", &Options{ExpectChainID: big.NewInt(DevChainID), MaxFeePerGas: new(big.Int)}, nil, []string{"MaxFeePerGas"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Dial(context.Background(), srv.URL, tc.opts)
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded")
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
			for _, m := range tc.wantMsg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("err %q does not mention %q", err, m)
				}
			}
		})
	}
}

// An RPC URL often carries an API key; errors must not repeat it.
func TestDialErrorsRedactURL(t *testing.T) {
	// A listener that is closed at once: connecting is refused.
	srv := httptest.NewServer(http.NotFoundHandler())
	host := srv.Listener.Addr().String()
	srv.Close()
	url := fmt.Sprintf("http://user:hunter2@%s/v3/SECRETAPIKEY?key=QUERYKEY", host)
	_, err := Dial(context.Background(), url, &Options{ExpectChainID: big.NewInt(1)})
	if err == nil {
		t.Fatal("Dial to a closed port succeeded")
	}
	t.Logf("error: %v", err)
	for _, secret := range []string{"hunter2", "SECRETAPIKEY", "QUERYKEY"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q contains %q", err, secret)
		}
	}
}

func TestResponseSizeLimit(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":"0x`)
		_, _ = w.Write(bytes.Repeat([]byte("0"), MaxResponseBytes))
		_, _ = io.WriteString(w, `539"}`)
	}))
	defer srv.Close()
	if c, err := Dial(context.Background(), srv.URL, &Options{ExpectChainID: big.NewInt(DevChainID)}); err == nil {
		c.Close()
		t.Fatal("Dial accepted a response larger than MaxResponseBytes")
	}
}
