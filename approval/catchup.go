package approval

import (
	"context"
	"sync"

	"github.com/walletmcp/walletmcp/internal/store"
)

// ChangeMarker is an optional capability of the Store (*store.Store has
// it): a mark that stays equal iff nothing was committed to the state
// database in between, by any process. With it, a read that catches up with
// the ledger skips the store read when the ledger is current.
type ChangeMarker interface {
	// ChangeMark returns the database's current change mark.
	ChangeMark(ctx context.Context) (store.ChangeMark, error)
}

var _ ChangeMarker = (*store.Store)(nil)

// readMark remembers that the store's ledger head was head while the
// database's change mark was mark: as long as the mark has not moved, a
// catch-up read would return that head and no change.
type readMark struct {
	mu   sync.Mutex
	ok   bool
	mark store.ChangeMark
	head store.LedgerHead
}

func (r *readMark) get() (store.ChangeMark, store.LedgerHead, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mark, r.head, r.ok
}

func (r *readMark) set(m store.ChangeMark, h store.LedgerHead) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ok, r.mark, r.head = true, m, h
}

// caughtUp reports whether the ledger is already what a catch-up read would
// make it, and returns the mark to record after a read when it is not (ok
// false when the store has no marks or the mark could not be read: then the
// read is made and nothing is recorded).
//
// The ledger is current when the mark equals one read before an earlier
// catch-up, which found the store at head, and the ledger is still at that
// head: no connection of any process has committed since that read, so the
// store is as it was (the same head, the same rows), and the ledger has not
// moved since it matched them. Nothing here trusts memory that another
// process could not change: a commit anywhere moves the mark.
func (g *Guard) caughtUp(ctx context.Context) (m store.ChangeMark, ok, current bool) {
	cm, has := g.cfg.Store.(ChangeMarker)
	if !has {
		return store.ChangeMark{}, false, false
	}
	m, err := cm.ChangeMark(ctx)
	if err != nil {
		return store.ChangeMark{}, false, false
	}
	last, head, known := g.read.get()
	return m, true, known && last == m && g.ledger.Head() == head
}
