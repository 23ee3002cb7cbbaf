// Command depsfloor is the benchmarks' dependency floor: the go-sdk floor
// server (testdata/floor) linked with every dependency DESIGN.md chooses
// for walletmcp, the packages of them walletmcp's binary links, and nothing
// of walletmcp's own. Their package initialisation runs at start as it
// does in walletmcp, and their code is mapped alike, so that
// BenchmarkStartHistory and BenchmarkSessionRSS show what the chosen
// dependencies cost before walletmcp does anything.
//
// With -chain it also runs go-ethereum's simulated backend (the embedded
// dev chain DESIGN.md chooses), with one funded account, and its one tool
// answers that account's balance from it: the memory of the chain alone.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/big"
	"os"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient/simulated"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	// The rest of DESIGN.md's dependency table, as walletmcp links it.
	_ "github.com/btcsuite/btcd/btcutil/hdkeychain"
	_ "github.com/ethereum/go-ethereum/accounts/keystore"
	_ "github.com/ethereum/go-ethereum/ethclient"
	_ "github.com/fxamacker/cbor/v2"
	_ "github.com/lestrrat-go/jwx/v3/jwk"
	_ "github.com/lestrrat-go/jwx/v3/jwt"
	_ "github.com/miekg/pkcs11"
	_ "github.com/modelcontextprotocol/go-sdk/auth"
	_ "github.com/pquerna/otp/totp"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/skip2/go-qrcode"
	_ "github.com/tyler-smith/go-bip39/wordlists"
	_ "golang.org/x/crypto/scrypt"
	_ "modernc.org/sqlite"
)

// Account is the account -chain funds (100 ETH).
const Account = "0x00000000000000000000000000000000000a11ce"

// out is the tool's answer: the shape of walletmcp's get_balance answer.
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
	withChain := flag.Bool("chain", false, "answer from go-ethereum's simulated backend")
	flag.Parse()
	balance := func(context.Context, string) (uint64, *big.Int, error) {
		v, _ := new(big.Int).SetString("100000000000000000000", 10)
		return 1, v, nil
	}
	if *withChain {
		funds, _ := new(big.Int).SetString("100000000000000000000", 10)
		sim := simulated.NewBackend(types.GenesisAlloc{common.HexToAddress(Account): {Balance: funds}})
		defer sim.Close()
		sim.Commit()
		client := sim.Client()
		balance = func(ctx context.Context, addr string) (uint64, *big.Int, error) {
			n, err := client.BlockNumber(ctx)
			if err != nil {
				return 0, nil, err
			}
			v, err := client.BalanceAt(ctx, common.HexToAddress(addr), new(big.Int).SetUint64(n))
			return n, v, err
		}
	}
	s := mcp.NewServer(&mcp.Implementation{Name: "depsfloor", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "get_balance", Description: "balance"}, func(ctx context.Context, _ *mcp.CallToolRequest, a in) (*mcp.CallToolResult, out, error) {
		n, v, err := balance(ctx, a.Address)
		if err != nil {
			return nil, out{}, err
		}
		return nil, out{Address: a.Address, ChainID: 1337, BlockNumber: n, Balance: "100", BalanceBaseUnits: v.String()}, nil
	})
	if err := s.Run(context.Background(), &mcp.StdioTransport{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
