package chain

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/ethereum/go-ethereum/common"
)

// fakeNode is a NonceSource and a recording "node": send(nonce) appends the
// nonce to the account's sent list and advances its pending nonce.
type fakeNode struct {
	mu      sync.Mutex
	pending map[common.Address]uint64
	sent    map[common.Address][]uint64
	asked   int // PendingNonce calls
}

func newFakeNode() *fakeNode {
	return &fakeNode{pending: map[common.Address]uint64{}, sent: map[common.Address][]uint64{}}
}

func (f *fakeNode) PendingNonce(_ context.Context, addr common.Address) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked++
	return f.pending[addr], nil
}

// accept records a broadcast of nonce; it fails like a node would if the
// nonce is not the account's next one.
func (f *fakeNode) accept(addr common.Address, nonce uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if nonce != f.pending[addr] {
		return fmt.Errorf("fake node: nonce %d, want %d", nonce, f.pending[addr])
	}
	f.sent[addr] = append(f.sent[addr], nonce)
	f.pending[addr]++
	return nil
}

func (f *fakeNode) sentList(addr common.Address) []uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.sent[addr])
}

func (f *fakeNode) askedCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.asked
}

var (
	alice = common.HexToAddress("0x00000000000000000000000000000000000a11ce")
	bob   = common.HexToAddress("0x0000000000000000000000000000000000000b0b")
)

func TestNoncesConcurrentContiguous(t *testing.T) {
	const workers = 50
	for _, start := range []uint64{0, 7} {
		t.Run(fmt.Sprintf("start=%d", start), func(t *testing.T) {
			node := newFakeNode()
			node.pending[alice] = start
			nonces := NewNonces(node)
			ctx := context.Background()

			var wg sync.WaitGroup
			errs := make(chan error, workers)
			for range workers {
				wg.Go(func() {
					tk, err := nonces.Acquire(ctx, alice)
					if err != nil {
						errs <- err
						return
					}
					defer tk.Release()
					errs <- tk.Broadcast(ctx, func() error { return node.accept(alice, tk.Nonce()) })
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Errorf("worker: %v", err)
				}
			}
			want := make([]uint64, workers)
			for i := range want {
				want[i] = start + uint64(i)
			}
			if got := node.sentList(alice); !slices.Equal(got, want) {
				t.Errorf("broadcast order = %v, want %v", got, want)
			}
			if got := node.askedCount(); got != 1 {
				t.Errorf("source asked %d times, want 1", got)
			}
		})
	}
}

func TestNoncesFailureResync(t *testing.T) {
	const n, bad = 10, 4
	errSend := errors.New("send failed")
	tests := []struct {
		name string
		// fail makes ticket bad fail; it returns what Broadcast should return
		// (nil if Broadcast is not called).
		fail      func(node *fakeNode, tk *Ticket) error
		wantRetry uint64 // nonce of the next Acquire
	}{
		{
			name: "send error, tx not sent",
			fail: func(node *fakeNode, tk *Ticket) error {
				return tk.Broadcast(context.Background(), func() error { return errSend })
			},
			wantRetry: bad,
		},
		{
			name: "send error, tx reached node",
			fail: func(node *fakeNode, tk *Ticket) error {
				return tk.Broadcast(context.Background(), func() error {
					if err := node.accept(alice, tk.Nonce()); err != nil {
						return err
					}
					return errSend
				})
			},
			wantRetry: bad + 1,
		},
		{
			name:      "released without broadcast",
			fail:      func(node *fakeNode, tk *Ticket) error { tk.Release(); return nil },
			wantRetry: bad,
		},
		{
			name: "context cancelled before broadcast",
			fail: func(node *fakeNode, tk *Ticket) error {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				called := false
				err := tk.Broadcast(ctx, func() error { called = true; return nil })
				if called {
					return errors.New("send called with a cancelled context")
				}
				if !errors.Is(err, context.Canceled) {
					return fmt.Errorf("Broadcast = %v, want context.Canceled", err)
				}
				return errSend
			},
			wantRetry: bad,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			node := newFakeNode()
			nonces := NewNonces(node)
			tickets := make([]*Ticket, n)
			for i := range tickets {
				tk, err := nonces.Acquire(ctx, alice)
				if err != nil {
					t.Fatal(err)
				}
				if tk.Nonce() != uint64(i) {
					t.Fatalf("ticket %d has nonce %d", i, tk.Nonce())
				}
				tickets[i] = tk
			}
			var wg sync.WaitGroup
			results := make([]error, n)
			called := make([]bool, n)
			for i, tk := range tickets {
				if i == bad {
					continue
				}
				wg.Go(func() {
					defer tk.Release()
					results[i] = tk.Broadcast(ctx, func() error {
						called[i] = true
						return node.accept(alice, tk.Nonce())
					})
				})
			}
			failErr := tc.fail(node, tickets[bad])
			wg.Wait()

			if failErr != nil && !errors.Is(failErr, errSend) {
				t.Errorf("failing ticket: %v", failErr)
			}
			for i := range n {
				switch {
				case i < bad:
					if results[i] != nil || !called[i] {
						t.Errorf("ticket %d (before the failure): err=%v called=%v, want sent", i, results[i], called[i])
					}
				case i > bad:
					if !errors.Is(results[i], ErrPredecessorFailed) || called[i] {
						t.Errorf("ticket %d (after the failure): err=%v called=%v, want ErrPredecessorFailed and no send", i, results[i], called[i])
					}
				}
			}

			// The next Acquire resyncs from the source and the sequence goes on.
			for k := range uint64(3) {
				tk, err := nonces.Acquire(ctx, alice)
				if err != nil {
					t.Fatal(err)
				}
				if want := tc.wantRetry + k; tk.Nonce() != want {
					t.Fatalf("after failure: nonce %d, want %d", tk.Nonce(), want)
				}
				if err := tk.Broadcast(ctx, func() error { return node.accept(alice, tk.Nonce()) }); err != nil {
					t.Fatal(err)
				}
			}
			if got := node.askedCount(); got != 2 {
				t.Errorf("source asked %d times, want 2 (first use, one resync)", got)
			}
			sent := node.sentList(alice)
			for i, nonce := range sent {
				if nonce != uint64(i) {
					t.Fatalf("sent nonces %v: reused or skipped at %d", sent, i)
				}
			}
		})
	}
}

// A ticket released while an earlier one is still being signed must not let a
// resync hand out the earlier ticket's nonce again.
func TestNoncesResyncWaitsForEarlierTickets(t *testing.T) {
	ctx := context.Background()
	node := newFakeNode()
	nonces := NewNonces(node)
	t0, err := nonces.Acquire(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	t1, err := nonces.Acquire(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	t1.Release() // t0 is not settled yet

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if tk, err := nonces.Acquire(cancelled, alice); err == nil {
		t.Fatalf("Acquire handed out nonce %d while nonce 0 was unsettled", tk.Nonce())
	}
	if got := node.askedCount(); got != 1 {
		t.Errorf("source asked %d times before nonce 0 settled, want 1", got)
	}

	if err := t0.Broadcast(ctx, func() error { return node.accept(alice, 0) }); err != nil {
		t.Fatal(err)
	}
	t2, err := nonces.Acquire(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	if t2.Nonce() != 1 {
		t.Errorf("nonce after resync = %d, want 1", t2.Nonce())
	}
}

func TestTicketUsedOnce(t *testing.T) {
	ctx := context.Background()
	node := newFakeNode()
	nonces := NewNonces(node)
	t0, err := nonces.Acquire(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	if err := t0.Broadcast(ctx, func() error { return node.accept(alice, 0) }); err != nil {
		t.Fatal(err)
	}
	t0.Release() // no-op after Broadcast
	calls := 0
	if err := t0.Broadcast(ctx, func() error { calls++; return nil }); err == nil || calls != 0 {
		t.Errorf("second Broadcast: err=%v calls=%d, want an error and no send", err, calls)
	}
	t1, err := nonces.Acquire(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	if t1.Nonce() != 1 || node.askedCount() != 1 {
		t.Errorf("after Release of a broadcast ticket: nonce %d, source asked %d times; want 1, 1", t1.Nonce(), node.askedCount())
	}
}

func TestNoncesAccountsIndependent(t *testing.T) {
	ctx := context.Background()
	node := newFakeNode()
	node.pending[bob] = 100
	nonces := NewNonces(node)
	a0, _ := nonces.Acquire(ctx, alice)
	b0, _ := nonces.Acquire(ctx, bob)
	a1, _ := nonces.Acquire(ctx, alice)
	b1, _ := nonces.Acquire(ctx, bob)
	a0.Release()
	if err := a1.Broadcast(ctx, func() error { return nil }); !errors.Is(err, ErrPredecessorFailed) {
		t.Errorf("alice's second ticket: %v, want ErrPredecessorFailed", err)
	}
	for _, tk := range []*Ticket{b0, b1} {
		if err := tk.Broadcast(ctx, func() error { return node.accept(bob, tk.Nonce()) }); err != nil {
			t.Errorf("bob's ticket %d: %v", tk.Nonce(), err)
		}
	}
	if got, want := node.sentList(bob), []uint64{100, 101}; !slices.Equal(got, want) {
		t.Errorf("bob sent %v, want %v", got, want)
	}
}

func TestBroadcastSendPanics(t *testing.T) {
	ctx := context.Background()
	node := newFakeNode()
	nonces := NewNonces(node)
	t0, _ := nonces.Acquire(ctx, alice)
	t1, _ := nonces.Acquire(ctx, alice)
	func() {
		defer func() {
			if recover() == nil {
				t.Error("panic in send was swallowed")
			}
		}()
		_ = t0.Broadcast(ctx, func() error { panic("boom") })
	}()
	if err := t1.Broadcast(ctx, func() error { return nil }); !errors.Is(err, ErrPredecessorFailed) {
		t.Errorf("successor of a panicking send: %v, want ErrPredecessorFailed", err)
	}
}
