package chain

import (
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
)

// countingNode is a JSON-RPC node over HTTP that counts the requests of each
// method: its head is set by the test, eth_getBalance answers head*1000
// (so a value names the block it was read at) and eth_call answers the block
// number too.
type countingNode struct {
	head atomic.Uint64
	mu   sync.Mutex
	n    map[string]int
}

func (c *countingNode) count(m string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[m]
}

func (c *countingNode) serve(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			ID     json.RawMessage   `json:"id"`
			Method string            `json:"method"`
			Params []json.RawMessage `json:"params"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		c.n[req.Method]++
		c.mu.Unlock()
		resp := map[string]any{"jsonrpc": "2.0", "id": req.ID}
		head := c.head.Load()
		atBlock := func(i int) uint64 { // the block a request names: a number or "latest"
			var s string
			if i < len(req.Params) && json.Unmarshal(req.Params[i], &s) == nil && s != "latest" {
				n, err := hexutil.DecodeUint64(s)
				if err == nil {
					return n
				}
			}
			return head
		}
		switch req.Method {
		case "eth_chainId":
			resp["result"] = "0x539"
		case "eth_blockNumber":
			resp["result"] = hexutil.Uint64(head)
		case "eth_getBalance":
			resp["result"] = (*hexutil.Big)(big.NewInt(int64(atBlock(1)) * 1000))
		case "eth_call":
			resp["result"] = hexutil.Bytes(common.LeftPadBytes(big.NewInt(int64(atBlock(1))).Bytes(), 32))
		default:
			resp["error"] = map[string]any{"code": -32601, "message": "method not found: " + req.Method}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(resp)
	}))
	t.Cleanup(srv.Close)
	return srv
}
