package approval

import (
	"errors"
	"math/big"
	"sort"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/internal/store"
	"github.com/walletmcp/walletmcp/policy"
)

// Ledger is this process's view of the spend window: for each (sender,
// asset) the counted transfers of the last Retention, in time order, with
// prefix sums of the auto-approved and of all amounts, so that a verdict
// reads a window sum in O(log n).
//
// It is a cache of the store, never the record. The store's ledger carries
// a sequence (inserts) and a version (changes); the Ledger remembers how far
// it has read (Head), and Apply brings it up to date with what any process
// sharing the store wrote since. The Guard applies the changes inside the
// store transaction that reserves a spend, so a verdict always sees every
// spend reserved by every process before it, and its own reservation is
// committed before any other process decides.
//
// A Ledger is safe for concurrent use (one mutex).
type Ledger struct {
	retention time.Duration

	mu     sync.Mutex
	head   store.LedgerHead
	series map[seriesKey]*series
	byID   map[string]seriesKey
}

type seriesKey struct {
	from  common.Address
	asset string
}

// series is one (sender, asset)'s spends from head on, oldest first.
type series struct {
	spends []spendEntry
	head   int
	// baseAuto and baseTotal are the prefix sums before spends[head].
	baseAuto, baseTotal *big.Int
}

// spendEntry is one spend with the prefix sums of its series up to and
// including it.
type spendEntry struct {
	id                string
	at                time.Time
	seq               int64
	auto              bool
	amount            *big.Int
	cumAuto, cumTotal *big.Int
}

// ErrLedgerSpend is the error of a spend the Ledger refuses.
var ErrLedgerSpend = errors.New("approval: invalid ledger spend")

// NewLedger returns an empty Ledger that keeps spends for retention, which
// must be at least the longest window it is asked about
// (Policy.LongestWindow) and an hour (the rate limit's window). A Sums call
// with a longer window fails closed.
func NewLedger(retention time.Duration) *Ledger {
	return &Ledger{
		retention: max(retention, time.Hour),
		series:    map[seriesKey]*series{},
		byID:      map[string]seriesKey{},
	}
}

// Retention is how long the ledger keeps spends.
func (l *Ledger) Retention() time.Duration { return l.retention }

// Head is how far the Ledger has read the store's ledger.
func (l *Ledger) Head() store.LedgerHead {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.head
}

func checkSpend(t *store.Transfer) error {
	if t.Amount == nil || t.Amount.Sign() < 0 || (t.Kind != store.KindAuto && t.Kind != store.KindApproved) ||
		t.CreatedAt.IsZero() || t.ID == "" {
		return ErrLedgerSpend
	}
	if t.Asset != policy.NativeSymbol {
		if _, ok := policy.ParseTokenAsset(t.Asset); !ok {
			return ErrLedgerSpend
		}
	}
	return nil
}

// Apply brings the Ledger to head with ts, the transfers inserted or changed
// since its Head (store.LedgerTx.Changes, store.LoadLedger): a counted
// transfer created within Retention of now is added once, a failed one
// removed. Each row is the row's latest state as of head, so applying a set
// is correct whatever the Ledger applied before; a set no newer than Head is
// ignored. An invalid transfer changes nothing and
// returns ErrLedgerSpend.
func (l *Ledger) Apply(ts []*store.Transfer, head store.LedgerHead, now time.Time) error {
	return l.apply(nil, ts, head, now)
}

// apply is Apply, and ApplyAt when prev is not nil.
func (l *Ledger) apply(prev *store.LedgerHead, ts []*store.Transfer, head store.LedgerHead, now time.Time) error {
	for _, t := range ts {
		if err := checkSpend(t); err != nil {
			return err
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if prev != nil && l.head != *prev {
		return nil
	}
	cut := now.Add(-l.retention)
	if head.Seq <= l.head.Seq && head.Version <= l.head.Version {
		// Everything up to head is applied already; these rows may be
		// older than what was applied since.
		return nil
	}
	for _, t := range ts {
		_, known := l.byID[t.ID]
		switch {
		case !t.Counted():
			if known {
				l.remove(t.ID)
			}
		case !known && !t.CreatedAt.Before(cut):
			l.insert(t)
		}
	}
	if head.Seq > l.head.Seq {
		l.head.Seq = head.Seq
	}
	if head.Version > l.head.Version {
		l.head.Version = head.Version
	}
	return nil
}

// ApplyAt applies ts and head as Apply does, only if the Ledger is at prev:
// for rows a transaction wrote itself after bringing the Ledger to prev.
// When a reload moved the Ledger meanwhile, it does nothing (the next
// catch-up reads the rows).
func (l *Ledger) ApplyAt(prev store.LedgerHead, ts []*store.Transfer, head store.LedgerHead, now time.Time) error {
	return l.apply(&prev, ts, head, now)
}

// Reset replaces what the Ledger holds with ts at head (store.LoadLedger),
// read at now.
func (l *Ledger) Reset(ts []*store.Transfer, head store.LedgerHead, now time.Time) error {
	fresh := NewLedger(l.retention)
	if err := fresh.Apply(ts, head, now); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.head, l.series, l.byID = fresh.head, fresh.series, fresh.byID
	return nil
}

// Sums returns the auto-approved and the total amount of from's spends in
// asset at or after now − window (later spends included), before any
// transfer being decided. A window longer than Retention cannot be answered
// from what is kept: it returns nils, which deny.
func (l *Ledger) Sums(from common.Address, asset string, window time.Duration, now time.Time) (auto, total *big.Int) {
	if window <= 0 || window > l.retention {
		return nil, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.series[seriesKey{from, asset}]
	if s == nil {
		return new(big.Int), new(big.Int)
	}
	l.evict(s, now.Add(-l.retention))
	live := s.spends[s.head:]
	if len(live) == 0 {
		return new(big.Int), new(big.Int)
	}
	since := now.Add(-window)
	i := sort.Search(len(live), func(i int) bool { return !live[i].at.Before(since) })
	last := live[len(live)-1]
	beforeAuto, beforeTotal := s.baseAuto, s.baseTotal
	if i > 0 {
		beforeAuto, beforeTotal = live[i-1].cumAuto, live[i-1].cumTotal
	}
	return new(big.Int).Sub(last.cumAuto, beforeAuto), new(big.Int).Sub(last.cumTotal, beforeTotal)
}

// CountSince returns how many counted transfers, of every sender and asset,
// were created at or after since (at most Retention ago).
func (l *Ledger) CountSince(since time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.series {
		live := s.spends[s.head:]
		i := sort.Search(len(live), func(i int) bool { return !live[i].at.Before(since) })
		n += len(live) - i
	}
	return n
}

// Len returns the number of spends kept (for tests and metrics).
func (l *Ledger) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.series {
		n += len(s.spends) - s.head
	}
	return n
}

// insert adds t to its series in time order (after spends at the same time,
// by sequence). The caller holds l.mu.
func (l *Ledger) insert(t *store.Transfer) {
	key := seriesKey{t.From, t.Asset}
	se := l.series[key]
	if se == nil {
		se = &series{baseAuto: new(big.Int), baseTotal: new(big.Int)}
		l.series[key] = se
	}
	e := spendEntry{id: t.ID, at: t.CreatedAt, seq: t.Seq, auto: t.Kind == store.KindAuto, amount: new(big.Int).Set(t.Amount)}
	live := se.spends[se.head:]
	i := sort.Search(len(live), func(i int) bool {
		return live[i].at.After(e.at) || (live[i].at.Equal(e.at) && live[i].seq > e.seq)
	})
	prevAuto, prevTotal := se.baseAuto, se.baseTotal
	if i > 0 {
		prevAuto, prevTotal = live[i-1].cumAuto, live[i-1].cumTotal
	}
	e.cumTotal = new(big.Int).Add(prevTotal, e.amount)
	e.cumAuto = prevAuto
	if e.auto {
		e.cumAuto = new(big.Int).Add(prevAuto, e.amount)
	}
	// Later spends (a clock that stepped back) move up and include e.
	for j := i; j < len(live); j++ {
		live[j].cumTotal = new(big.Int).Add(live[j].cumTotal, e.amount)
		if e.auto {
			live[j].cumAuto = new(big.Int).Add(live[j].cumAuto, e.amount)
		}
	}
	se.spends = append(se.spends, spendEntry{})
	at := se.head + i
	copy(se.spends[at+1:], se.spends[at:])
	se.spends[at] = e
	l.byID[t.ID] = key
}

// remove takes spend id out of its series. The caller holds l.mu.
func (l *Ledger) remove(id string) {
	key := l.byID[id]
	delete(l.byID, id)
	s := l.series[key]
	if s == nil {
		return
	}
	live := s.spends[s.head:]
	for i := range live {
		if live[i].id != id {
			continue
		}
		e := live[i]
		for j := i + 1; j < len(live); j++ {
			live[j].cumTotal = new(big.Int).Sub(live[j].cumTotal, e.amount)
			if e.auto {
				live[j].cumAuto = new(big.Int).Sub(live[j].cumAuto, e.amount)
			}
		}
		copy(s.spends[s.head+i:], s.spends[s.head+i+1:])
		s.spends[len(s.spends)-1] = spendEntry{}
		s.spends = s.spends[:len(s.spends)-1]
		return
	}
}

// evict drops spends before cut from the head of s, in amortised O(1), and
// compacts the slice once most of it is dead. The caller holds l.mu.
func (l *Ledger) evict(s *series, cut time.Time) {
	for s.head < len(s.spends) && s.spends[s.head].at.Before(cut) {
		e := &s.spends[s.head]
		s.baseAuto, s.baseTotal = e.cumAuto, e.cumTotal
		delete(l.byID, e.id)
		*e = spendEntry{}
		s.head++
	}
	if s.head > 64 && s.head*2 > len(s.spends) {
		s.spends = append([]spendEntry(nil), s.spends[s.head:]...)
		s.head = 0
	}
}
