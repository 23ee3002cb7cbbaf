package chain

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"time"

	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"
)

// MaxResponseBytes bounds the size of one JSON-RPC response (HTTP body or
// websocket message) read from a node.
const MaxResponseBytes = 16 << 20

// Options configures Dial. A nil *Options is refused, because ExpectChainID
// is required.
type Options struct {
	// ExpectChainID is required: Dial refuses a node whose eth_chainId
	// differs, with an error wrapping ErrChainIDMismatch.
	ExpectChainID *big.Int
	// MaxFeePerGas bounds suggested fees: a suggested tip or fee cap above it
	// is implausible. Default 10,000 gwei (DefaultMaxFeePerGasGwei).
	MaxFeePerGas *big.Int
	// Timeout is the timeout of each call to the node, and of Dial's
	// connection and chain-id check. Default DefaultTimeout (10s).
	Timeout time.Duration
	// HeadTrust applies to a websocket node (ws:// or wss://), whose new
	// heads RPC follows: a pushed head answers reads marked AtPushedHead
	// for at most this long after the subscription was last seen in step
	// with the node (a notification, or an eth_blockNumber answer equal to
	// the last head it reported); after that such a read asks
	// eth_blockNumber again. A subscription behind eth_blockNumber for this
	// long is replaced. Default DefaultHeadTrust (1s).
	HeadTrust time.Duration
	// Now is the clock HeadTrust is measured with. Default time.Now.
	Now func() time.Time

	// headHook, if set, is told every change of the followed head (tests).
	headHook func(headEvent)
}

// RPC is a Chain backed by a JSON-RPC node, reached through go-ethereum's
// ethclient. Its methods are those of Chain; it is safe for concurrent use.
type RPC struct {
	conn
	ec        *ethclient.Client
	transport *http.Transport
	cache     blockCache
	// heads follows the node's new heads; nil unless the URL is a
	// websocket.
	heads *headFollower
}

var _ Chain = (*RPC)(nil)

// Dial connects to the node at url (http, https, ws, wss or an IPC path) and
// checks its chain id against opts.ExpectChainID: a node on another chain is
// refused with an error wrapping ErrChainIDMismatch that names both ids.
// Errors never contain the URL's path, query or credentials.
func Dial(ctx context.Context, url string, opts *Options) (*RPC, error) {
	if opts == nil || opts.ExpectChainID == nil || opts.ExpectChainID.Sign() <= 0 {
		return nil, errors.New("chain: dial: Options.ExpectChainID is required")
	}
	if opts.MaxFeePerGas != nil && opts.MaxFeePerGas.Sign() <= 0 {
		return nil, errors.New("chain: dial: Options.MaxFeePerGas must be positive")
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	redact := redactURL(url)
	transport := http.DefaultTransport.(*http.Transport).Clone()
	hc := &http.Client{Transport: limitTransport{transport}}
	rc, err := rpc.DialOptions(ctx, url,
		rpc.WithHTTPClient(hc),
		rpc.WithWebsocketMessageSizeLimit(MaxResponseBytes),
	)
	if err != nil {
		transport.CloseIdleConnections()
		return nil, fmt.Errorf("chain: dial: %w", redact(err))
	}
	ec := ethclient.NewClient(rc)
	r := &RPC{ec: ec, transport: transport}
	r.conn = newConn(ec, opts.ExpectChainID, opts.MaxFeePerGas, opts.Timeout)
	r.conn.redact = redact

	id, err := ec.ChainID(ctx)
	if err != nil {
		r.closeConn()
		return nil, r.fail("eth_chainId", err)
	}
	if id == nil || id.Cmp(opts.ExpectChainID) != 0 {
		r.closeConn()
		return nil, fmt.Errorf("%w: node reports chain id %v, expected %s", ErrChainIDMismatch, id, opts.ExpectChainID)
	}
	if isWebsocket(url) {
		r.startFollowing(opts.HeadTrust, opts.Now, opts.headHook)
	}
	return r, nil
}

// Close ends the head subscription, if any, and closes the connection to
// the node.
func (c *RPC) Close() {
	c.stopFollowing()
	c.closeConn()
}

func (c *RPC) closeConn() {
	c.ec.Close()
	c.transport.CloseIdleConnections()
}

// limitTransport limits HTTP response bodies to MaxResponseBytes.
type limitTransport struct{ base http.RoundTripper }

func (t limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = http.MaxBytesReader(nil, resp.Body, MaxResponseBytes)
	return resp, nil
}
