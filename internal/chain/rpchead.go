package chain

import (
	"context"
	"math"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/core/types"
)

// DefaultHeadTrust is the default Options.HeadTrust.
const DefaultHeadTrust = time.Second

// Resubscription back-off after the newHeads subscription failed or ended.
const (
	resubscribeMin = 50 * time.Millisecond
	resubscribeMax = 5 * time.Second
	// headBuffer is the channel between the subscription and the follower.
	headBuffer = 16
)

// pushedHeadKey marks a context whose reads may use a pushed head.
type pushedHeadKey struct{}

// AtPushedHead returns ctx marked as a read that only informs (the read
// tools: get_balance and the reads behind it). When RPC follows the node's
// heads over a websocket, a Balance or Call made with such a context is
// read at the newest head the node pushed, without asking eth_blockNumber,
// so a repeated read in one block costs no round trip. Such a read may lag
// the node by the time a new head's notification takes to arrive; reads
// that feed a decision (the Guard's balance, nonce and fee facts) must not
// use it. Other implementations ignore the mark.
func AtPushedHead(ctx context.Context) context.Context {
	return context.WithValue(ctx, pushedHeadKey{}, true)
}

func atPushedHead(ctx context.Context) bool {
	v, _ := ctx.Value(pushedHeadKey{}).(bool)
	return v
}

// isWebsocket reports whether rawURL is a ws:// or wss:// URL.
func isWebsocket(rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err != nil {
		return false
	}
	s := strings.ToLower(u.Scheme)
	return s == "ws" || s == "wss"
}

// headEvent reports a change of a headFollower's state (a new head number,
// a pushed head, the subscription going live or not) to a test hook.
type headEvent struct {
	number uint64 // the head known after the change
	live   bool   // whether the subscription is live after the change
	pushed bool   // the change was a pushed head
}

// headFollower keeps the head the node pushed over a newHeads subscription,
// and whether that head can be vouched for: the subscription is live (set
// up, seeded with eth_blockNumber, no error since) and the node confirmed
// the head (a notification or an eth_blockNumber answer) less than trust
// ago.
type headFollower struct {
	trust time.Duration
	now   func() time.Time
	hook  func(headEvent) // tests only; called without mu held

	mu        sync.Mutex
	live      bool
	number    uint64
	confirmed time.Time

	stop context.CancelFunc
	done chan struct{}
}

// fresh returns the head a read tool may read at, if one can be vouched for.
func (f *headFollower) fresh() (uint64, bool) {
	if f == nil {
		return 0, false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.live || f.now().Sub(f.confirmed) >= f.trust {
		return 0, false
	}
	return f.number, true
}

// confirm records that the node answered eth_blockNumber with n: a head at
// or above the known one is the node's head now.
func (f *headFollower) confirm(n uint64) {
	if f == nil {
		return
	}
	f.mu.Lock()
	if n < f.number {
		f.mu.Unlock()
		return
	}
	changed := n != f.number
	f.number, f.confirmed = n, f.now()
	ev := headEvent{number: n, live: f.live}
	f.mu.Unlock()
	if changed {
		f.emit(ev)
	}
}

// raise records that the node reported block n to exist (a receipt's
// block): a read tool after it reads at n or later, so that a transfer
// seen mined is seen in the balance too. It does not vouch for n being the
// head, so it does not renew the trust.
func (f *headFollower) raise(n uint64) {
	if f == nil || n > math.MaxInt64 {
		return
	}
	f.mu.Lock()
	if n <= f.number {
		f.mu.Unlock()
		return
	}
	f.number = n
	ev := headEvent{number: n, live: f.live}
	f.mu.Unlock()
	f.emit(ev)
}

// pushed records a head notification: the node's newest word on its head,
// kept even if lower than the known head (a reorganisation).
func (f *headFollower) pushed(n uint64) {
	f.mu.Lock()
	f.number, f.confirmed = n, f.now()
	ev := headEvent{number: n, live: f.live, pushed: true}
	f.mu.Unlock()
	f.emit(ev)
}

// setLive marks the subscription live or not.
func (f *headFollower) setLive(live bool) {
	f.mu.Lock()
	if f.live == live {
		f.mu.Unlock()
		return
	}
	f.live = live
	ev := headEvent{number: f.number, live: live}
	f.mu.Unlock()
	f.emit(ev)
}

func (f *headFollower) emit(ev headEvent) {
	if f.hook != nil {
		f.hook(ev)
	}
}

// startFollowing subscribes to the node's new heads in the background.
func (c *RPC) startFollowing(trust time.Duration, now func() time.Time, hook func(headEvent)) {
	if trust <= 0 {
		trust = DefaultHeadTrust
	}
	if now == nil {
		now = time.Now
	}
	ctx, stop := context.WithCancel(context.Background())
	c.heads = &headFollower{trust: trust, now: now, hook: hook, stop: stop, done: make(chan struct{})}
	go c.follow(ctx)
}

// stopFollowing ends the subscription and waits for the follower to exit.
func (c *RPC) stopFollowing() {
	if c.heads == nil {
		return
	}
	c.heads.stop()
	<-c.heads.done
}

// follow subscribes, follows the heads until the subscription fails, and
// subscribes again after a back-off, until ctx ends.
func (c *RPC) follow(ctx context.Context) {
	defer close(c.heads.done)
	backoff := resubscribeMin
	for {
		if c.followOnce(ctx) {
			backoff = resubscribeMin
		}
		if ctx.Err() != nil {
			return
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, resubscribeMax)
	}
}

// followOnce runs one subscription. It reports whether the subscription was
// set up and seeded (the back-off restarts from its minimum then).
func (c *RPC) followOnce(ctx context.Context) (seeded bool) {
	defer c.heads.setLive(false)
	ch := make(chan *types.Header, headBuffer)
	sctx, cancel := c.withTimeout(ctx)
	sub, err := c.ec.SubscribeNewHead(sctx, ch)
	cancel()
	if err != nil {
		return false
	}
	defer sub.Unsubscribe()
	// The subscription reports heads mined after it: ask for the current
	// one (a head pushed meanwhile is in ch and is applied after).
	sctx, cancel = c.withTimeout(ctx)
	_, err = c.head(sctx)
	cancel()
	if err != nil {
		return false
	}
	c.heads.setLive(true)
	for {
		select {
		case <-ctx.Done():
			return true
		case <-sub.Err():
			return true
		case h := <-ch:
			if h == nil || h.Number == nil || h.Number.Sign() < 0 || !h.Number.IsUint64() || h.Number.Uint64() > math.MaxInt64 {
				// An implausible head: vouch for nothing it says;
				// subscribe again.
				return true
			}
			n := h.Number.Uint64()
			// Drop the cache first: a new head (even at the same
			// number, after a reorganisation) invalidates every kept
			// answer before a read can use the new number.
			c.cache.reset(n)
			c.heads.pushed(n)
		}
	}
}
