// Command floor is the benchmarks' floor: a one-tool MCP server over stdio
// built with the go-sdk and nothing else, answering a constant of
// get_balance's shape. BenchmarkReadStdio and BenchmarkSessionRSS build it
// (go build ./testdata/floor) and measure it next to walletmcp in the same
// run.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// out is the tool's constant answer: the shape and size of a get_balance
// answer.
type out struct {
	Address          string `json:"address"`
	ChainID          uint64 `json:"chain_id"`
	BlockNumber      uint64 `json:"block_number"`
	Balance          string `json:"balance"`
	BalanceBaseUnits string `json:"balance_base_units"`
}

// in is the tool's argument.
type in struct {
	Address string `json:"address"`
}

func main() {
	s := mcp.NewServer(&mcp.Implementation{Name: "floor", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "get_balance", Description: "constant"}, func(_ context.Context, _ *mcp.CallToolRequest, a in) (*mcp.CallToolResult, out, error) {
		return nil, out{Address: a.Address, ChainID: 1337, BlockNumber: 1, Balance: "100", BalanceBaseUnits: "100000000000000000000"}, nil
	})
	if err := s.Run(context.Background(), &mcp.StdioTransport{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
