//go:build !nodev

package chain

import (
	"context"
	"crypto/ecdsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/rawdb"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/eth"
	"github.com/ethereum/go-ethereum/eth/catalyst"
	"github.com/ethereum/go-ethereum/eth/ethconfig"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/ethclient/simulated"
	"github.com/ethereum/go-ethereum/node"
	"github.com/ethereum/go-ethereum/p2p"
	"github.com/ethereum/go-ethereum/params"
)

// Files of a persistent dev chain's directory (DevOptions.DataDir), besides
// go-ethereum's own database in the devNodeName subdirectory.
const (
	// devSpecFile holds the chain's genesis and its faucet's key (an account
	// funded at genesis that funds accounts added later), written once when
	// the chain is created; the genesis is passed on every later start, and
	// go-ethereum checks that the database was made from it.
	devSpecFile = "chain.json"
	// devNodeName is go-ethereum's instance directory inside DataDir.
	devNodeName = "devchain"
)

// devSpec is the content of devSpecFile.
type devSpec struct {
	Genesis   *core.Genesis `json:"genesis"`
	FaucetKey string        `json:"faucet_key"` // hex private key of a throwaway dev account
}

// devFaucetBalance is the faucet's genesis balance (wei): enough for any
// number of dev accounts.
var devFaucetBalance = new(big.Int).Lsh(big.NewInt(1), 120)

// stackBackend is go-ethereum's dev-mode stack (a node, the eth service and
// a simulated beacon that seals a block on Commit), over a database on disk
// (openDiskBackend) or in memory (newMemBackend). It is what
// simulated.NewBackend builds, minus the reset to genesis that
// simulated.NewBackend does on every start, and with the eth service kept so
// that reads go to the chain directly rather than through JSON-RPC.
type stackBackend struct {
	node   *node.Node
	eth    *eth.Ethereum
	beacon *catalyst.SimulatedBeacon
	client *ethclient.Client
}

var _ devBackend = (*stackBackend)(nil)

func (b *stackBackend) Commit() common.Hash      { return b.beacon.Commit() }
func (b *stackBackend) Client() simulated.Client { return b.client }
func (b *stackBackend) Eth() *eth.Ethereum       { return b.eth }

func (b *stackBackend) Close() error {
	b.client.Close()
	return errors.Join(b.beacon.Stop(), b.node.Close())
}

// stackConfig returns the node and eth configurations of a dev stack with
// genesis gen, on disk in dir ("" keeps it in memory). Caches are small: a
// dev chain is small.
func stackConfig(dir string, gen *core.Genesis) (node.Config, ethconfig.Config) {
	nodeConf := node.DefaultConfig
	nodeConf.Name = devNodeName
	nodeConf.DataDir = dir
	nodeConf.P2P = p2p.Config{NoDiscovery: true}
	ethConf := ethconfig.Defaults
	ethConf.Genesis = gen
	ethConf.SyncMode = ethconfig.FullSync
	ethConf.TxPool.NoLocals = true
	ethConf.LogNoHistory = true
	ethConf.DatabaseCache = 16
	ethConf.DatabaseHandles = 64
	ethConf.TrieCleanCache = 16
	ethConf.TrieDirtyCache = 0
	ethConf.SnapshotCache = 16
	if dir != "" {
		// Every block's state is written to disk as it is sealed (hash
		// scheme, no pruning): a process that is killed keeps every block
		// it mined, so the transactions the state database recorded stay
		// on the chain.
		ethConf.StateScheme = rawdb.HashScheme
		ethConf.NoPruning = true
	}
	return nodeConf, ethConf
}

// startStack starts a dev stack with the given configurations.
func startStack(nodeConf *node.Config, ethConf *ethconfig.Config) (*stackBackend, error) {
	stack, err := node.New(nodeConf)
	if errors.Is(err, node.ErrDatadirUsed) {
		return nil, ErrDevChainInUse
	}
	if err != nil {
		return nil, fmt.Errorf("chain: dev: %w", err)
	}
	backend, err := eth.New(stack, ethConf)
	if err != nil {
		stack.Close()
		var mismatch *core.GenesisMismatchError
		if errors.As(err, &mismatch) {
			return nil, fmt.Errorf("chain: dev: the chain database in %s was not made from its %s: remove the directory to start a new dev chain", nodeConf.DataDir, devSpecFile)
		}
		return nil, fmt.Errorf("chain: dev: %w", err)
	}
	if err := stack.Start(); err != nil {
		stack.Close()
		return nil, fmt.Errorf("chain: dev: %w", err)
	}
	beacon, err := catalyst.NewSimulatedBeacon(0, common.Address{}, backend)
	if err != nil {
		stack.Close()
		return nil, fmt.Errorf("chain: dev: %w", err)
	}
	// The node starts a peer-to-peer server that a dev chain never uses
	// (no listener, no discovery, no peers) but that holds a node database
	// whose 4 MiB write buffer is most of the chain's live heap, which the
	// garbage collector lets the heap grow by again. Stop it: nothing of the
	// node reaches the network, and Close's second Stop is a no-op.
	stack.Server().Stop()
	return &stackBackend{node: stack, eth: backend, beacon: beacon, client: ethclient.NewClient(stack.Attach())}, nil
}

// newMemBackend starts a dev chain in memory with alloc funded at genesis
// (plus the system contracts, as simulated.NewBackend).
func newMemBackend(alloc types.GenesisAlloc) (*stackBackend, error) {
	full := core.SystemContractAllocs()
	maps.Copy(full, alloc)
	gen := &core.Genesis{
		Config:   params.AllDevChainProtocolChanges,
		GasLimit: ethconfig.Defaults.Miner.GasCeil,
		Alloc:    full,
	}
	nodeConf, ethConf := stackConfig("", gen)
	return startStack(&nodeConf, &ethConf)
}

// openDiskBackend opens (or creates) the persistent dev chain in dir. A new
// chain's genesis funds alloc and a faucet; the faucet's key is returned so
// that accounts added later can be funded.
func openDiskBackend(dir string, alloc types.GenesisAlloc) (*stackBackend, *core.Genesis, *ecdsa.PrivateKey, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, nil, fmt.Errorf("chain: dev: %w", err)
	}
	gen, faucet, err := devGenesis(dir, alloc)
	if err != nil {
		return nil, nil, nil, err
	}
	nodeConf, ethConf := stackConfig(dir, gen)
	b, err := startStack(&nodeConf, &ethConf)
	if err != nil {
		return nil, nil, nil, err
	}
	return b, gen, faucet, nil
}

// devGenesis returns the genesis of the chain in dir and its faucet key: the
// ones written when the chain was created, or new ones (alloc and a new
// faucet funded) written now. The file is created at once or not at all, so
// that two processes starting a new chain agree on one.
func devGenesis(dir string, alloc types.GenesisAlloc) (*core.Genesis, *ecdsa.PrivateKey, error) {
	path := filepath.Join(dir, devSpecFile)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if err := newDevSpec(dir, path, alloc); err != nil {
			return nil, nil, err
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("chain: dev: %w", err)
	}
	var spec devSpec
	if err := json.Unmarshal(data, &spec); err != nil || spec.Genesis == nil {
		return nil, nil, fmt.Errorf("chain: dev: %s is unreadable (%v): remove the directory to start a new dev chain", path, err)
	}
	key, err := crypto.HexToECDSA(spec.FaucetKey)
	if err != nil {
		return nil, nil, fmt.Errorf("chain: dev: %s: the faucet key is unreadable: remove the directory to start a new dev chain", path)
	}
	return spec.Genesis, key, nil
}

// newDevSpec writes a new chain's devSpecFile at path unless one exists.
func newDevSpec(dir, path string, alloc types.GenesisAlloc) error {
	key, err := crypto.GenerateKey()
	if err != nil {
		return fmt.Errorf("chain: dev: faucet key: %w", err)
	}
	// What simulated.NewBackend uses, with a faucet.
	full := core.SystemContractAllocs()
	maps.Copy(full, alloc)
	full[crypto.PubkeyToAddress(key.PublicKey)] = types.Account{Balance: new(big.Int).Set(devFaucetBalance)}
	spec := devSpec{
		Genesis: &core.Genesis{
			Config:     params.AllDevChainProtocolChanges,
			GasLimit:   ethconfig.Defaults.Miner.GasCeil,
			Difficulty: new(big.Int), // what a nil Difficulty means for this chain; required in JSON
			Alloc:      full,
		},
		FaucetKey: hex.EncodeToString(crypto.FromECDSA(key)),
	}
	data, err := json.Marshal(spec)
	if err != nil {
		return fmt.Errorf("chain: dev: genesis: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+devSpecFile+".tmp*")
	if err != nil {
		return fmt.Errorf("chain: dev: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("chain: dev: %w", err)
	}
	// Link, unlike rename, fails when another process made the file first.
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("chain: dev: %w", err)
	}
	return nil
}

// fundNew sends each account of alloc that is not in the genesis and has
// never been funded (nonce 0, balance 0) its balance from the faucet, and
// waits until the transfers are mined.
func (d *Dev) fundNew(gen *core.Genesis, faucet *ecdsa.PrivateKey, alloc map[common.Address]*big.Int) error {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
	defer cancel()
	cl := d.backend.Client()
	from := crypto.PubkeyToAddress(faucet.PublicKey)
	nonce, err := cl.NonceAt(ctx, from, nil)
	if err != nil {
		return fmt.Errorf("chain: dev: faucet nonce: %w", err)
	}
	signer := types.LatestSignerForChainID(d.chainID)
	var sent []common.Hash
	for _, addr := range sortedAddrs(alloc) {
		wei := alloc[addr]
		if _, ok := gen.Alloc[addr]; ok || wei.Sign() == 0 {
			continue
		}
		n, err := cl.NonceAt(ctx, addr, nil)
		if err != nil {
			return fmt.Errorf("chain: dev: %w", err)
		}
		bal, err := cl.BalanceAt(ctx, addr, nil)
		if err != nil {
			return fmt.Errorf("chain: dev: %w", err)
		}
		if n != 0 || bal.Sign() != 0 {
			continue
		}
		fees, err := d.conn.SuggestFees(ctx)
		if err != nil {
			return err
		}
		tx, err := types.SignNewTx(faucet, signer, &types.DynamicFeeTx{
			ChainID: d.chainID, Nonce: nonce, GasTipCap: fees.TipCap, GasFeeCap: fees.FeeCap,
			Gas: params.TxGas, To: &addr, Value: new(big.Int).Set(wei),
		})
		if err != nil {
			return fmt.Errorf("chain: dev: funding %s: %w", addr.Hex(), err)
		}
		if err := cl.SendTransaction(ctx, tx); err != nil {
			return fmt.Errorf("chain: dev: funding %s: %w", addr.Hex(), err)
		}
		sent = append(sent, tx.Hash())
		nonce++
	}
	if len(sent) == 0 {
		return nil
	}
	d.backend.Commit()
	for _, h := range sent {
		for {
			r, err := cl.TransactionReceipt(ctx, h)
			if err == nil {
				if r.Status != types.ReceiptStatusSuccessful {
					return fmt.Errorf("chain: dev: funding transaction %s failed", h.Hex())
				}
				break
			}
			if !errors.Is(err, ethereum.NotFound) && !isIndexing(err) {
				return fmt.Errorf("chain: dev: funding: %w", err)
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("chain: dev: funding transaction %s not mined", h.Hex())
			case <-time.After(time.Millisecond):
			}
		}
	}
	return nil
}

// sortedAddrs returns m's keys in ascending order, so that funding
// transactions are made in a stable order.
func sortedAddrs(m map[common.Address]*big.Int) []common.Address {
	return slices.SortedFunc(maps.Keys(m), func(a, b common.Address) int { return a.Cmp(b) })
}
