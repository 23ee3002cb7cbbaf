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

// IsAtPushedHead reports whether ctx is marked AtPushedHead, for another
// implementation of the chain's reads (a test's fake) to check the mark.
func IsAtPushedHead(ctx context.Context) bool { return atPushedHead(ctx) }

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
// up, seeded with eth_blockNumber, no error since) and in step with the
// node (a notification, or an eth_blockNumber answer equal to the last head
// the subscription reported) less than trust ago. A subscription that stays
// behind eth_blockNumber for trust is taken as stuck: the follower sets up
// another.
type headFollower struct {
	trust time.Duration
	now   func() time.Time
	hook  func(headEvent) // tests only; called without mu held

	mu sync.Mutex
	// live: the subscription is set up and seeded, and has not failed.
	live bool
	// number is the newest head known: pushed, or seen otherwise (an
	// eth_blockNumber answer, a receipt's block).
	number uint64
	// reported is the last head the subscription reported (or its seed).
	reported uint64
	// confirmed is when the subscription was last known in step.
	confirmed time.Time
	// behindSince is when eth_blockNumber first answered above reported
	// (zero while in step).
	behindSince time.Time
	// stuck tells the subscription's loop to set up another.
	stuck chan struct{}

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

// confirm records that the node answered eth_blockNumber with n: a head
// above the known one is the newest known. An answer equal to the last
// reported head renews the trust; one above it does not (the subscription
// did not say so), and if the subscription stays behind for trust it is
// taken as stuck.
func (f *headFollower) confirm(n uint64) {
	if f == nil {
		return
	}
	f.mu.Lock()
	now := f.now()
	changed := n > f.number
	if changed {
		f.number = n
	}
	switch {
	case n == f.reported:
		f.confirmed, f.behindSince = now, time.Time{}
	case n > f.reported && f.live:
		if f.behindSince.IsZero() {
			f.behindSince = now
		} else if now.Sub(f.behindSince) >= f.trust {
			f.behindSince = time.Time{}
			select {
			case f.stuck <- struct{}{}:
			default:
			}
		}
	}
	ev := headEvent{number: f.number, live: f.live}
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
	f.number, f.reported, f.confirmed, f.behindSince = n, n, f.now(), time.Time{}
	ev := headEvent{number: n, live: f.live, pushed: true}
	f.mu.Unlock()
	f.emit(ev)
}

// seeded marks a new subscription live, in step at head n (an
// eth_blockNumber answer after it was set up); a head pushed since is kept.
func (f *headFollower) seeded(n uint64) {
	f.mu.Lock()
	if n > f.number {
		f.number = n
	}
	f.reported, f.confirmed, f.behindSince = f.number, f.now(), time.Time{}
	f.live = true
	ev := headEvent{number: f.number, live: true}
	f.mu.Unlock()
	f.emit(ev)
}

// setDead marks the subscription failed.
func (f *headFollower) setDead() {
	f.mu.Lock()
	if !f.live {
		f.mu.Unlock()
		return
	}
	f.live = false
	ev := headEvent{number: f.number, live: false}
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
	c.heads = &headFollower{trust: trust, now: now, hook: hook, stuck: make(chan struct{}, 1), stop: stop, done: make(chan struct{})}
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
	defer c.heads.setDead()
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
	n, err := c.head(sctx)
	cancel()
	if err != nil {
		return false
	}
	// A stuck signal from before this subscription is stale.
	select {
	case <-c.heads.stuck:
	default:
	}
	c.heads.seeded(n)
	for {
		select {
		case <-ctx.Done():
			return true
		case <-sub.Err():
			return true
		case <-c.heads.stuck:
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
