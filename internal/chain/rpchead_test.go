package chain

import (
	"bufio"
	"context"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/rpc"
)

// wsNode is a JSON-RPC node over a websocket (go-ethereum's rpc server)
// that counts the requests of each method. Its head is set by the test and
// pushed to newHeads subscribers when the test says so; eth_getBalance
// answers block*1000 and eth_call the block number, so that a value names
// the block it was read at. dropConns closes every websocket connection
// from the server side.
type wsNode struct {
	head atomic.Uint64
	// refuse makes eth_subscribe fail.
	refuse atomic.Bool

	mu    sync.Mutex
	n     map[string]int
	subs  map[*rpc.Notifier]*rpc.Subscription
	conns []net.Conn
}

func newWSNode(t *testing.T, head uint64) (*wsNode, string) {
	t.Helper()
	node := &wsNode{n: map[string]int{}, subs: map[*rpc.Notifier]*rpc.Subscription{}}
	node.head.Store(head)
	srv := rpc.NewServer()
	if err := srv.RegisterName("eth", &wsEth{node}); err != nil {
		t.Fatal(err)
	}
	ws := srv.WebsocketHandler([]string{"*"})
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws.ServeHTTP(&hijackRecorder{ResponseWriter: w, node: node}, r)
	}))
	t.Cleanup(func() {
		node.dropConns()
		hs.Close()
		srv.Stop()
	})
	return node, "ws://" + strings.TrimPrefix(hs.URL, "http://")
}

func (n *wsNode) count(m string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.n[m]
}

func (n *wsNode) inc(m string) {
	n.mu.Lock()
	n.n[m]++
	n.mu.Unlock()
}

// push tells every subscriber that head is the new head.
func (n *wsNode) push(head uint64) {
	n.head.Store(head)
	h := &types.Header{Number: new(big.Int).SetUint64(head), Difficulty: new(big.Int)}
	n.mu.Lock()
	defer n.mu.Unlock()
	for nt, sub := range n.subs {
		_ = nt.Notify(sub.ID, h)
	}
}

// dropConns closes every websocket connection from the server side.
func (n *wsNode) dropConns() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, c := range n.conns {
		_ = c.Close()
	}
	n.conns = nil
	clear(n.subs)
}

// mute makes the node forget its subscriptions without closing them: they
// stay open and quiet.
func (n *wsNode) mute() {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.subs)
}

// hijackRecorder keeps the connections the websocket upgrade takes over.
type hijackRecorder struct {
	http.ResponseWriter
	node *wsNode
}

func (h *hijackRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := h.ResponseWriter.(http.Hijacker).Hijack()
	if err == nil {
		h.node.mu.Lock()
		h.node.conns = append(h.node.conns, c)
		h.node.mu.Unlock()
	}
	return c, rw, err
}

// wsEth is wsNode's eth namespace.
type wsEth struct{ node *wsNode }

func (e *wsEth) ChainId() *hexutil.Big {
	e.node.inc("eth_chainId")
	return (*hexutil.Big)(big.NewInt(DevChainID))
}

func (e *wsEth) BlockNumber() hexutil.Uint64 {
	e.node.inc("eth_blockNumber")
	return hexutil.Uint64(e.node.head.Load())
}

func (e *wsEth) GetBalance(_ common.Address, block string) (*hexutil.Big, error) {
	e.node.inc("eth_getBalance")
	n, err := hexutil.DecodeUint64(block)
	if err != nil {
		return nil, err
	}
	return (*hexutil.Big)(new(big.Int).SetUint64(n * 1000)), nil
}

func (e *wsEth) Call(_ map[string]any, block string) (hexutil.Bytes, error) {
	e.node.inc("eth_call")
	n, err := hexutil.DecodeUint64(block)
	if err != nil {
		return nil, err
	}
	return common.LeftPadBytes(new(big.Int).SetUint64(n).Bytes(), 32), nil
}

// GetTransactionReceipt answers a successful receipt in the node's current
// head block.
func (e *wsEth) GetTransactionReceipt(hash common.Hash) *types.Receipt {
	e.node.inc("eth_getTransactionReceipt")
	return &types.Receipt{Status: types.ReceiptStatusSuccessful, TxHash: hash, Logs: []*types.Log{},
		BlockNumber: new(big.Int).SetUint64(e.node.head.Load()), GasUsed: 21000, CumulativeGasUsed: 21000}
}

func (e *wsEth) NewHeads(ctx context.Context) (*rpc.Subscription, error) {
	e.node.inc("eth_subscribe")
	if e.node.refuse.Load() {
		return nil, errors.New("subscriptions refused")
	}
	nt, ok := rpc.NotifierFromContext(ctx)
	if !ok {
		return nil, rpc.ErrNotificationsUnsupported
	}
	sub := nt.CreateSubscription()
	e.node.mu.Lock()
	e.node.subs[nt] = sub
	e.node.mu.Unlock()
	go func() {
		<-sub.Err()
		e.node.mu.Lock()
		delete(e.node.subs, nt)
		e.node.mu.Unlock()
	}()
	return sub, nil
}

// dialFollowing starts a websocket node at head and dials it with a test
// clock and an event hook, and waits until the subscription is live. The
// RPC is closed when the test ends.
func dialFollowing(t *testing.T, head uint64) (*wsNode, *RPC, *testClock, headEvents) {
	t.Helper()
	node, url := newWSNode(t, head)
	clock := &testClock{}
	events := make(headEvents, 1024)
	c, err := Dial(context.Background(), url, &Options{ExpectChainID: big.NewInt(DevChainID), Now: clock.now, headHook: events.hook})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	events.waitFor(t, "live", func(ev headEvent) bool { return ev.live })
	return node, c, clock, events
}

// testClock is a clock the test moves.
type testClock struct{ ns atomic.Int64 }

func (c *testClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *testClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// headEvents collects a follower's events for a test to wait on.
type headEvents chan headEvent

func (ch headEvents) hook(ev headEvent) { ch <- ev }

// waitFor reads events until one satisfies ok.
func (ch headEvents) waitFor(t *testing.T, what string, ok func(headEvent) bool) {
	t.Helper()
	timeout := time.NewTimer(receiptWait) // a liveness bound, not a timing assertion
	defer timeout.Stop()
	for {
		select {
		case ev := <-ch:
			if ok(ev) {
				return
			}
		case <-timeout.C:
			t.Fatalf("no head event %s within %v", what, receiptWait)
		}
	}
}

// TestRPCWebsocketHeads: over a websocket, a read tool's repeated reads in
// one block cost no round trip; a pushed new head is read by the next
// read; a decision's read still asks for the head every time; a head gone
// quiet is asked for again; and when the subscription dies the reads fall
// back to asking for the head, answer correctly, and stop asking once the
// subscription is back.
func TestRPCWebsocketHeads(t *testing.T) {
	node, c, clock, events := dialFollowing(t, 5)
	ctx := context.Background()

	tool := AtPushedHead(ctx)
	token := common.HexToAddress("0x70")
	call := ethereum.CallMsg{To: &token, Gas: 100_000, Data: []byte{0x70, 0xa0, 0x82, 0x31}}
	rc := readChecker{c: c, node: node, call: call}
	read := func(name string, ctx context.Context, wantBlock uint64, wantBalances, wantCalls, wantNumbers int) {
		t.Helper()
		rc.check(t, ctx, name, wantBlock, wantBalances, wantCalls, wantNumbers)
	}
	// The subscription was seeded with one eth_blockNumber.
	read("first read tool read", tool, 5, 1, 1, 1)
	read("same block", tool, 5, 1, 1, 1)
	read("same block again", tool, 5, 1, 1, 1)

	// A decision's read (no mark) asks for the head every time, as over
	// http; the kept answers still serve it.
	read("decision read", ctx, 5, 1, 1, 3)

	node.push(6)
	events.waitFor(t, "pushed 6", func(ev headEvent) bool { return ev.pushed && ev.number == 6 })
	read("after a pushed head", tool, 6, 2, 2, 3)
	read("same pushed block", tool, 6, 2, 2, 3)
	// Another block at the same number (a reorganisation): nothing kept
	// for the old one answers.
	node.push(6)
	events.waitFor(t, "pushed 6 again", func(ev headEvent) bool { return ev.pushed && ev.number == 6 })
	read("reorganised block", tool, 6, 3, 3, 3)

	// Quiet: no word from the node for HeadTrust. The next read asks for the
	// head (which renews the trust), the one after does not.
	clock.advance(DefaultHeadTrust)
	read("after a quiet spell", tool, 6, 3, 3, 4)
	read("trust renewed", tool, 6, 3, 3, 4)

	// The node mines a block and drops the connection before telling us,
	// and refuses new subscriptions for a while: the reads fall back to
	// asking for the head and read the new block.
	node.refuse.Store(true)
	node.head.Store(7)
	node.dropConns()
	events.waitFor(t, "not live", func(ev headEvent) bool { return !ev.live })
	read("subscription dead", tool, 7, 4, 4, 6)
	read("subscription still dead", tool, 7, 4, 4, 8)
	node.refuse.Store(false)
	events.waitFor(t, "live again", func(ev headEvent) bool { return ev.live })
	if node.count("eth_subscribe") < 2 {
		t.Errorf("eth_subscribe asked %d times, want a resubscription", node.count("eth_subscribe"))
	}
	numbers := node.count("eth_blockNumber")
	read("resubscribed", tool, 7, 4, 4, numbers)
	read("resubscribed, same block", tool, 7, 4, 4, numbers)
	node.push(8)
	events.waitFor(t, "pushed 8", func(ev headEvent) bool { return ev.pushed && ev.number == 8 })
	read("pushed after resubscribing", tool, 8, 5, 5, numbers)
}

// TestRPCWebsocketReceiptRaisesHead: a receipt in a block whose head
// notification has not arrived yet moves the read tools' head to that
// block, so a transfer seen mined is seen in the balance, still without
// asking eth_blockNumber.
func TestRPCWebsocketReceiptRaisesHead(t *testing.T) {
	node, url := newWSNode(t, 5)
	events := make(headEvents, 1024)
	ctx := context.Background()
	c, err := Dial(ctx, url, &Options{ExpectChainID: big.NewInt(DevChainID), headHook: events.hook})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	events.waitFor(t, "live", func(ev headEvent) bool { return ev.live })
	tool := AtPushedHead(ctx)
	if wei, n, err := c.Balance(tool, alice); err != nil || n != 5 || wei.Int64() != 5000 {
		t.Fatalf("Balance = %v at %d, %v; want 5000 at 5", wei, n, err)
	}
	node.head.Store(7) // mined, not pushed yet
	r, err := c.Receipt(ctx, common.Hash{1})
	if err != nil || r.BlockNumber.Uint64() != 7 {
		t.Fatalf("Receipt = %v, %v; want one in block 7", r, err)
	}
	if wei, n, err := c.Balance(tool, alice); err != nil || n != 7 || wei.Int64() != 7000 {
		t.Errorf("Balance after a receipt in block 7 = %v at %d, %v; want 7000 at 7", wei, n, err)
	}
	if got := node.count("eth_blockNumber"); got != 1 {
		t.Errorf("eth_blockNumber asked %d times, want only the seeding one", got)
	}
}

// TestRPCWebsocketStuckSubscription: a subscription that stays open but
// stops reporting heads while the node mines is not trusted (the reads ask
// for the head and read the new block) and, once it has stayed behind for
// HeadTrust, is replaced by a new one.
func TestRPCWebsocketStuckSubscription(t *testing.T) {
	node, c, clock, events := dialFollowing(t, 5)
	ctx := context.Background()
	tool := AtPushedHead(ctx)
	read := func(name string, wantBlock uint64, wantNumbers int) {
		t.Helper()
		wei, n, err := c.Balance(tool, alice)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if n != wantBlock || wei.Cmp(new(big.Int).SetUint64(wantBlock*1000)) != 0 {
			t.Errorf("%s: Balance = %s at block %d, want %d at block %d", name, wei, n, wantBlock*1000, wantBlock)
		}
		if got := node.count("eth_blockNumber"); got != wantNumbers {
			t.Errorf("%s: eth_blockNumber asked %d times, want %d", name, got, wantNumbers)
		}
	}
	read("live", 5, 1)
	node.mute()
	node.push(6) // mined; nobody is told
	clock.advance(DefaultHeadTrust)
	read("quiet: asks", 6, 2)
	read("behind the node: asks again", 6, 3)
	clock.advance(DefaultHeadTrust)
	read("behind for HeadTrust: asks, and resubscribes", 6, 4)
	events.waitFor(t, "not live", func(ev headEvent) bool { return !ev.live })
	events.waitFor(t, "live again", func(ev headEvent) bool { return ev.live })
	if got := node.count("eth_subscribe"); got != 2 {
		t.Errorf("eth_subscribe asked %d times, want 2", got)
	}
	read("new subscription", 6, 5) // its seed only
	read("new subscription, same block", 6, 5)
}

// TestRPCHTTPNoFollowing: over http a read marked AtPushedHead asks for the
// head every time (nothing is pushed).
func TestRPCHTTPNoFollowing(t *testing.T) {
	node := &countingNode{n: map[string]int{}}
	node.head.Store(5)
	srv := node.serve(t)
	ctx := context.Background()
	c, err := Dial(ctx, srv.URL, &Options{ExpectChainID: big.NewInt(DevChainID)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 3 {
		if _, _, err := c.Balance(AtPushedHead(ctx), alice); err != nil {
			t.Fatal(err)
		}
		if got := node.count("eth_blockNumber"); got != i+1 {
			t.Errorf("read %d: eth_blockNumber asked %d times, want %d", i+1, got, i+1)
		}
	}
}
