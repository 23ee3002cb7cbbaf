//go:build nodev

package chain

import (
	"errors"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"
)

// A build with the nodev tag has no embedded dev chain: it does not link
// go-ethereum's node stack (the simulated backend), which is most of the
// binary, of its start-up and of its memory. It serves --rpc only.

// ErrNoDevChain is NewDev's error in a build without the dev chain.
var ErrNoDevChain = errors.New("chain: this walletmcp was built without the embedded dev chain (-tags nodev): use a node (--rpc URL)")

// ErrDevChainInUse is never returned by this build (see the dev build).
var ErrDevChainInUse = errors.New("chain: dev: the dev chain is in use by another process")

// DevOptions is the dev build's (unused here).
type DevOptions struct {
	Alloc         map[common.Address]*big.Int
	MineDelay     time.Duration
	IdleBlockTime time.Duration
	MaxFeePerGas  *big.Int
	Timeout       time.Duration
	DataDir       string
}

// Dev is never made in this build.
type Dev struct{ Chain }

// NewDev returns ErrNoDevChain.
func NewDev(*DevOptions) (*Dev, error) { return nil, ErrNoDevChain }

// Close does nothing.
func (d *Dev) Close() error { return nil }
