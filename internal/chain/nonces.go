package chain

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/ethereum/go-ethereum/common"
)

// ErrPredecessorFailed is returned by Ticket.Broadcast when an earlier ticket
// of the same account failed or was released: the ticket's nonce would leave
// a gap, so its transaction is not sent. The caller may start over with a new
// Acquire, which resynchronises the account's nonce from the NonceSource.
var ErrPredecessorFailed = errors.New("chain: an earlier nonce of this account was not broadcast")

// errTicketUsed is returned by Broadcast on a ticket already broadcast or released.
var errTicketUsed = errors.New("chain: nonce ticket already used")

// NonceSource tells the next nonce of an account, counting pending
// transactions. Chain implements it.
type NonceSource interface {
	// PendingNonce returns addr's next nonce, counting pending transactions.
	PendingNonce(ctx context.Context, addr common.Address) (uint64, error)
}

// Nonces allocates nonces per account so that concurrent senders neither
// reuse nor skip one, while the work between Acquire and Broadcast (signing,
// the audit write) runs concurrently.
//
// Each account has a chain of tickets; Broadcast runs the send functions of
// one chain strictly in nonce order. When a ticket fails (its send returned an
// error, or it was released or abandoned without broadcasting), the tickets
// after it in its chain fail with ErrPredecessorFailed without sending, and
// the account is resynchronised: the next Acquire waits until every earlier
// ticket has been broadcast or has failed, then asks the NonceSource for the
// pending nonce, and starts a new chain. Asking the source also settles the
// ambiguous case of a send that reported an error although the transaction
// reached the node. The source must therefore be the node the transactions
// are sent to. (Should that node's pending nonce lag behind a transaction it
// has just accepted, a resync could hand out that nonce again; the node then
// rejects the second transaction, or replaces the first if it pays 10% more,
// so at most one of the two is ever mined.)
//
// Nonces is safe for concurrent use; the zero value is not usable, call NewNonces.
type Nonces struct {
	src NonceSource

	mu    sync.Mutex
	accts map[common.Address]*account
}

// account is the nonce state of one address; guarded by Nonces.mu.
type account struct {
	synced  bool          // next is valid
	next    uint64        // nonce of the next ticket
	epoch   uint64        // bumped by each failure; tickets of older epochs are doomed after it
	last    *Ticket       // latest ticket of the current epoch's chain
	barrier *Ticket       // before a resync, wait until this ticket is done
	syncing chan struct{} // non-nil while a resync is asking the source; closed when it ends
}

// ticket states
const (
	ticketReserved     = iota // acquired; Broadcast or Release not called yet
	ticketBroadcasting        // inside Broadcast
	ticketResolved            // sent, failed or released
)

// Ticket is one reserved nonce of an account. Call Broadcast once to send the
// transaction carrying it, and `defer t.Release()` in case that never happens.
type Ticket struct {
	n     *Nonces
	acct  *account
	nonce uint64
	epoch uint64

	// guarded by Nonces.mu
	prev  *Ticket // predecessor in the chain; nil for the first, and once done
	next  *Ticket // successor in the chain
	state int
	sent  bool // resolved by a successful send

	// done is closed when this ticket and every ticket before it in its
	// chain are resolved. closed records that under Nonces.mu.
	done   chan struct{}
	closed bool
}

// NewNonces returns a Nonces that synchronises each account from src on
// first use and after every failure.
func NewNonces(src NonceSource) *Nonces {
	return &Nonces{src: src, accts: make(map[common.Address]*account)}
}

// Acquire reserves addr's next nonce. On first use of addr, and after a
// failure, it first waits until the earlier tickets are settled and asks the
// source for the pending nonce.
func (n *Nonces) Acquire(ctx context.Context, addr common.Address) (*Ticket, error) {
	n.mu.Lock()
	a := n.accts[addr]
	if a == nil {
		a = &account{}
		n.accts[addr] = a
	}
	for !a.synced {
		if a.syncing != nil {
			ch := a.syncing
			n.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				return nil, fmt.Errorf("chain: acquire nonce: %w", ctx.Err())
			}
			n.mu.Lock()
			continue
		}
		ch := make(chan struct{})
		a.syncing = ch
		epoch := a.epoch
		var wait <-chan struct{}
		if a.barrier != nil {
			wait = a.barrier.done
		}
		n.mu.Unlock()

		nonce, err := n.resync(ctx, addr, wait)

		n.mu.Lock()
		a.syncing = nil
		close(ch)
		if err != nil {
			n.mu.Unlock()
			return nil, err
		}
		if a.epoch == epoch {
			a.next, a.synced, a.barrier = nonce, true, nil
		}
	}
	t := &Ticket{
		n:     n,
		acct:  a,
		nonce: a.next,
		epoch: a.epoch,
		prev:  a.last,
		done:  make(chan struct{}),
	}
	if t.prev != nil {
		t.prev.next = t
	}
	a.next++
	a.last = t
	n.mu.Unlock()
	return t, nil
}

// resync waits for wait (if any) to close, then asks the source.
func (n *Nonces) resync(ctx context.Context, addr common.Address, wait <-chan struct{}) (uint64, error) {
	if wait != nil {
		select {
		case <-wait:
		case <-ctx.Done():
			return 0, fmt.Errorf("chain: acquire nonce: waiting for earlier broadcasts: %w", ctx.Err())
		}
	}
	nonce, err := n.src.PendingNonce(ctx, addr)
	if err != nil {
		return 0, fmt.Errorf("chain: acquire nonce: %w", err)
	}
	return nonce, nil
}

// Nonce returns the reserved nonce.
func (t *Ticket) Nonce() uint64 { return t.nonce }

// Broadcast waits until every earlier ticket of the account has been
// broadcast or has failed, then calls send, which should broadcast the
// transaction carrying t's nonce. If an earlier ticket failed or was
// released, send is not called and ErrPredecessorFailed is returned. If ctx
// ends while waiting, send is not called and the ticket fails. If send
// returns an error, the ticket fails, the error is returned, and the account
// is resynchronised on the next Acquire. Broadcast may be called once;
// afterwards Release is a no-op.
func (t *Ticket) Broadcast(ctx context.Context, send func() error) error {
	n := t.n
	n.mu.Lock()
	if t.state != ticketReserved {
		n.mu.Unlock()
		return errTicketUsed
	}
	t.state = ticketBroadcasting
	prev := t.prev
	n.mu.Unlock()

	if prev != nil {
		select {
		case <-prev.done:
		case <-ctx.Done():
			n.mu.Lock()
			n.fail(t)
			n.mu.Unlock()
			return fmt.Errorf("chain: broadcast: waiting for earlier nonces: %w", ctx.Err())
		}
		n.mu.Lock()
		ok := prev.sent
		if !ok {
			n.fail(t)
		}
		n.mu.Unlock()
		if !ok {
			return ErrPredecessorFailed
		}
	}

	if err := ctx.Err(); err != nil {
		n.mu.Lock()
		n.fail(t)
		n.mu.Unlock()
		return fmt.Errorf("chain: broadcast: %w", err)
	}

	sent := false
	defer func() {
		// Runs also when send panics, so that successors are not stuck.
		n.mu.Lock()
		defer n.mu.Unlock()
		if sent {
			t.sent = true
			n.resolve(t)
		} else {
			n.fail(t)
		}
	}()
	if err := send(); err != nil {
		return err
	}
	sent = true
	return nil
}

// Release gives the ticket up without broadcasting, e.g. because signing
// failed. It counts as a failure: later tickets of the same chain get
// ErrPredecessorFailed and the account is resynchronised. Release is a no-op
// once Broadcast has been called, so callers can always `defer t.Release()`.
func (t *Ticket) Release() {
	t.n.mu.Lock()
	defer t.n.mu.Unlock()
	if t.state == ticketReserved {
		t.n.fail(t)
	}
}

// fail resolves t as not sent. If t belongs to the account's current epoch,
// the epoch ends: new tickets wait for a resync that happens once every
// ticket before t is settled. Tickets after t in its chain will not send, so
// they need not be waited for. Called with n.mu held.
func (n *Nonces) fail(t *Ticket) {
	a := t.acct
	if t.epoch == a.epoch {
		a.epoch++
		a.synced = false
		a.last = nil
		a.barrier = t.prev
		if a.barrier != nil && a.barrier.closed {
			a.barrier = nil
		}
	}
	n.resolve(t)
}

// resolve marks t resolved and closes the done channels that become ready,
// t's and then its resolved successors'. Called with n.mu held.
func (n *Nonces) resolve(t *Ticket) {
	t.state = ticketResolved
	for t != nil && t.state == ticketResolved && !t.closed && (t.prev == nil || t.prev.closed) {
		t.closed = true
		close(t.done)
		t.prev = nil // let settled tickets be collected
		t = t.next
	}
}
