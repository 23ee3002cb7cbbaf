package chain

// What both builds share of the dev chain: the dev build (dev.go) runs it,
// a build with the nodev tag (dev_nodev.go) refuses it.

import (
	"errors"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"
)

// DevChainID is the chain id of the Dev chain (go-ethereum's simulated backend).
const DevChainID = 1337

// Defaults for DevOptions.
const (
	DefaultMineDelay     = 100 * time.Millisecond
	DefaultIdleBlockTime = 5 * time.Second
)

// DevOptions configures NewDev; nil means defaults.
type DevOptions struct {
	// Alloc lists the accounts funded at genesis and their balances in wei.
	Alloc map[common.Address]*big.Int
	// MineDelay is how long after a Send the pending transactions are
	// committed into a block. Default DefaultMineDelay (100ms).
	MineDelay time.Duration
	// IdleBlockTime is the interval at which an (often empty) block is
	// committed even without a Send, so that block timestamps follow the
	// clock. Default DefaultIdleBlockTime (5s).
	IdleBlockTime time.Duration
	// MaxFeePerGas bounds suggested fees, as in Options. Default 10,000 gwei
	// (DefaultMaxFeePerGasGwei).
	MaxFeePerGas *big.Int
	// Timeout is the per-call timeout, as in Options. Default DefaultTimeout (10s).
	Timeout time.Duration
	// DataDir, when set, keeps the chain in this directory (created 0700)
	// across runs: blocks, balances and transactions survive a restart, and
	// only one process at a time may have it open (ErrDevChainInUse). Alloc
	// funds the accounts at genesis when the chain is created; an account
	// of Alloc that is not in the genesis and was never funded gets its
	// balance from a faucet account when NewDev starts. Default "": the
	// chain lives in memory and starts afresh each time.
	DataDir string
}

// ErrDevChainInUse is returned by NewDev when another process has the
// persistent dev chain in DevOptions.DataDir open.
var ErrDevChainInUse = errors.New("chain: dev: the dev chain is in use by another process")
