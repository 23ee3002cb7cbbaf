// Package erc20test deploys and funds ERC-20 test tokens on a chain.Chain
// (normally the embedded dev chain). The token is testdata/erc20/TestToken,
// an OpenZeppelin ERC-20 compiled by scripts/gen-erc20.sh (provenance in
// testdata/README.md). For tests only.
//
// Deploy and Transfer take the sender's nonce from the chain's pending
// nonce: do not call them concurrently with the same key.
package erc20test

import (
	"context"
	"crypto/ecdsa"
	"encoding/hex"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/walletmcp/walletmcp/internal/chain"
	"github.com/walletmcp/walletmcp/internal/erc20"
)

// ReceiptWait bounds how long Deploy and Transfer wait for a transaction to
// be mined. It is a liveness bound, not a timing assertion.
const ReceiptWait = 30 * time.Second

// pollInterval is how often the receipt is polled.
const pollInterval = 10 * time.Millisecond

// Paths of the compiled token, relative to the repository root.
const (
	binPath = "testdata/erc20/TestToken.bin"
	abiPath = "testdata/erc20/TestToken.abi.json"
)

// maxArtifact bounds the size of the files read from testdata.
const maxArtifact = 1 << 20

// RepoRoot returns the repository root: the nearest directory at or above
// the working directory that holds go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("erc20test: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("erc20test: no go.mod found above the working directory")
		}
		dir = parent
	}
}

func readArtifact(t testing.TB, rel string) []byte {
	t.Helper()
	path := filepath.Join(RepoRoot(t), filepath.FromSlash(rel))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("erc20test: %v (regenerate with scripts/gen-erc20.sh)", err)
	}
	if len(b) > maxArtifact {
		t.Fatalf("erc20test: %s is larger than %d bytes", rel, maxArtifact)
	}
	return b
}

// Bytecode returns the creation bytecode of TestToken, without constructor
// arguments.
func Bytecode(t testing.TB) []byte {
	t.Helper()
	s := strings.TrimPrefix(strings.TrimSpace(string(readArtifact(t, binPath))), "0x")
	code, err := hex.DecodeString(s)
	if err != nil || len(code) == 0 {
		t.Fatalf("erc20test: %s is not hex bytecode: %v", binPath, err)
	}
	return code
}

// ABI returns TestToken's ABI.
func ABI(t testing.TB) abi.ABI {
	t.Helper()
	a, err := abi.JSON(strings.NewReader(string(readArtifact(t, abiPath))))
	if err != nil {
		t.Fatalf("erc20test: parsing %s: %v", abiPath, err)
	}
	return a
}

// Deploy deploys a TestToken with the given name, symbol and decimals that
// mints supply to key's address, waits until it is mined, checks that it
// succeeded and that the contract has code, and returns its address. name and
// symbol are stored as given (they may be hostile test strings).
func Deploy(t testing.TB, ch chain.Chain, key *ecdsa.PrivateKey, name, symbol string, decimals uint8, supply *big.Int) common.Address {
	t.Helper()
	args, err := ABI(t).Pack("", name, symbol, decimals, supply)
	if err != nil {
		t.Fatalf("erc20test: encoding constructor arguments: %v", err)
	}
	data := append(Bytecode(t), args...)
	r := send(t, ch, key, nil, data)
	if r.ContractAddress == (common.Address{}) {
		t.Fatal("erc20test: deployment receipt has no contract address")
	}
	ctx, cancel := context.WithTimeout(context.Background(), ReceiptWait)
	defer cancel()
	// The receipt can be readable a moment before the block it is in
	// becomes the latest one that CodeAt reads: wait for the code.
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		code, err := ch.CodeAt(ctx, r.ContractAddress)
		if err != nil {
			t.Fatalf("erc20test: CodeAt(%s): %v", r.ContractAddress, err)
		}
		if len(code) > 0 {
			return r.ContractAddress
		}
		select {
		case <-ctx.Done():
			t.Fatalf("erc20test: no code at the deployed token %s", r.ContractAddress)
		case <-tick.C:
		}
	}
}

// Transfer sends amount of token from key's address to to, waits until it is
// mined and checks that it succeeded.
func Transfer(t testing.TB, ch chain.Chain, key *ecdsa.PrivateKey, token, to common.Address, amount *big.Int) {
	t.Helper()
	data, err := erc20.TransferCalldata(to, amount)
	if err != nil {
		t.Fatalf("erc20test: %v", err)
	}
	send(t, ch, key, &token, data)
}

// send signs an EIP-1559 transaction from key (to == nil creates a contract),
// sends it, waits for its receipt and checks its status.
func send(t testing.TB, ch chain.Chain, key *ecdsa.PrivateKey, to *common.Address, data []byte) *types.Receipt {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ReceiptWait)
	defer cancel()
	from := crypto.PubkeyToAddress(key.PublicKey)
	nonce, err := ch.PendingNonce(ctx, from)
	if err != nil {
		t.Fatalf("erc20test: PendingNonce: %v", err)
	}
	fees, err := ch.SuggestFees(ctx)
	if err != nil {
		t.Fatalf("erc20test: SuggestFees: %v", err)
	}
	gas, err := ch.EstimateGas(ctx, ethereum.CallMsg{From: from, To: to, Data: data})
	if err != nil {
		t.Fatalf("erc20test: EstimateGas: %v", err)
	}
	id := ch.ChainID()
	tx, err := types.SignNewTx(key, types.LatestSignerForChainID(id), &types.DynamicFeeTx{
		ChainID:   id,
		Nonce:     nonce,
		GasTipCap: fees.TipCap,
		GasFeeCap: fees.FeeCap,
		Gas:       gas,
		To:        to,
		Data:      data,
	})
	if err != nil {
		t.Fatalf("erc20test: signing: %v", err)
	}
	if err := ch.Send(ctx, tx); err != nil {
		t.Fatalf("erc20test: Send: %v", err)
	}
	r := waitReceipt(ctx, t, ch, tx.Hash())
	if r.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("erc20test: transaction %s reverted", tx.Hash())
	}
	return r
}

// waitReceipt polls for the receipt until it is mined or ctx ends.
func waitReceipt(ctx context.Context, t testing.TB, ch chain.Chain, hash common.Hash) *types.Receipt {
	t.Helper()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		r, err := ch.Receipt(ctx, hash)
		if err == nil {
			return r
		}
		if !errors.Is(err, chain.ErrNotFound) {
			t.Fatalf("erc20test: Receipt(%s): %v", hash, err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("erc20test: transaction %s not mined within %v", hash, ReceiptWait)
		case <-tick.C:
		}
	}
}
