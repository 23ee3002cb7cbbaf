//go:build nodev

package chain

import "errors"

// A build with the nodev tag has no embedded dev chain: it does not link
// go-ethereum's node stack (the simulated backend), which is most of the
// binary, of its start-up and of its memory. It serves --rpc only.

// ErrNoDevChain is NewDev's error in a build without the dev chain.
var ErrNoDevChain = errors.New("chain: this walletmcp was built without the embedded dev chain (-tags nodev): use a node (--rpc URL)")

// Dev is never made in this build.
type Dev struct{ Chain }

// NewDev returns ErrNoDevChain.
func NewDev(*DevOptions) (*Dev, error) { return nil, ErrNoDevChain }

// Close does nothing.
func (d *Dev) Close() error { return nil }
