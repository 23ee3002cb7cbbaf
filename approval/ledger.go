package approval

import (
	"errors"
	"math/big"
	"sort"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/internal/store"
)

// Ledger is the in-memory spend window the Guard reads before each verdict,
// so that a verdict needs no database query: for each (sender, asset) the
// spends of the last Retention, in time order, with prefix sums of the
// auto-approved and of all amounts; and the set of (sender, recipient) pairs
// that were ever paid. The store stays the record: Load rebuilds the ledger
// from it at start, so limits hold across restarts.
//
// Sums is O(log n) (a binary search in the prefix sums) with amortised O(1)
// eviction of expired spends; Add is O(1) for a spend later than the last one
// and PaidBefore is O(1). A Ledger is safe for concurrent use (one mutex).
type Ledger struct {
	retention time.Duration

	mu     sync.Mutex
	series map[seriesKey]*series
	paid   map[pairKey]*payState
	// reserved holds the recipient of each spend added (not loaded) that
	// is still in the window: Remove may undo it.
	reserved map[uint64]pairKey
	seq      uint64
}

type seriesKey struct {
	from  common.Address
	asset string
}

type pairKey struct{ from, to common.Address }

// payState counts the live reservations to a recipient and whether a
// finished transfer to it is known.
type payState struct {
	marked bool
	live   int
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
	at                time.Time
	seq               uint64
	auto              bool
	amount            *big.Int
	cumAuto, cumTotal *big.Int
}

// LedgerHandle names one spend added to a Ledger, for Remove.
type LedgerHandle struct {
	key seriesKey
	at  time.Time
	seq uint64 // 0 in the zero handle, which names nothing
}

// ErrLedgerSpend is the error of a spend the Ledger refuses.
var ErrLedgerSpend = errors.New("approval: invalid ledger spend")

// NewLedger returns an empty Ledger that keeps spends for retention, which
// must be at least the longest window it is asked about
// (Policy.LongestWindow). A Sums call with a longer window fails closed.
func NewLedger(retention time.Duration) *Ledger {
	return &Ledger{
		retention: retention,
		series:    map[seriesKey]*series{},
		paid:      map[pairKey]*payState{},
		reserved:  map[uint64]pairKey{},
	}
}

// Retention is how long the ledger keeps spends.
func (l *Ledger) Retention() time.Duration { return l.retention }

func checkSpend(s *store.Spend) error {
	if s.Amount == nil || s.Amount.Sign() < 0 || (s.Kind != store.KindAuto && s.Kind != store.KindApproved) || s.At.IsZero() {
		return ErrLedgerSpend
	}
	if s.Asset != NativeSymbol {
		if _, ok := tokenAddress(s.Asset); !ok {
			return ErrLedgerSpend
		}
	}
	return nil
}

// Load adds spends read from the store (store.SpendsSince: transfers that did
// not fail, in any order) and marks each (From, To) as paid. Give it every
// spend since the zero time so PaidBefore knows every recipient ever paid;
// spends older than Retention only mark recipients and are evicted from the
// window the next time their series is read. An invalid spend (nil or
// negative amount, unknown kind or asset, zero time) adds nothing and
// returns ErrLedgerSpend.
func (l *Ledger) Load(spends []store.Spend) error {
	for i := range spends {
		if err := checkSpend(&spends[i]); err != nil {
			return err
		}
	}
	sorted := make([]*store.Spend, len(spends))
	for i := range spends {
		sorted[i] = &spends[i]
	}
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].At.Before(sorted[j].At) })
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range sorted {
		l.insert(s)
		l.pay(pairKey{s.From, s.To}).marked = true
	}
	return nil
}

// Add records a spend (a reservation: the Guard adds it before signing) and
// counts its recipient as paid until it is removed. The returned handle lets
// Remove undo it if signing or broadcasting fails.
func (l *Ledger) Add(s store.Spend) (LedgerHandle, error) {
	if err := checkSpend(&s); err != nil {
		return LedgerHandle{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.insert(&s)
	pk := pairKey{s.From, s.To}
	l.pay(pk).live++
	l.reserved[h.seq] = pk
	return h, nil
}

// Remove undoes the spend of h: it no longer counts in Sums nor, unless
// another spend or MarkPaid vouches for it, in PaidBefore. It reports
// whether there was something to undo; removing twice is harmless. A spend
// that has left the window (older than Retention) counts as final and is not
// undone.
func (l *Ledger) Remove(h LedgerHandle) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	pk, ok := l.reserved[h.seq]
	if !ok || h.seq == 0 {
		return false
	}
	delete(l.reserved, h.seq)
	if ps := l.paid[pk]; ps != nil && ps.live > 0 {
		ps.live--
	}
	s := l.series[h.key]
	if s == nil {
		return true
	}
	live := s.spends[s.head:]
	i := sort.Search(len(live), func(i int) bool { return !live[i].at.Before(h.at) })
	for ; i < len(live) && live[i].at.Equal(h.at); i++ {
		if live[i].seq != h.seq {
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
		break
	}
	return true
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

// PaidBefore reports whether from has paid to before: a loaded spend, a live
// reservation or MarkPaid.
func (l *Ledger) PaidBefore(from, to common.Address) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	ps := l.paid[pairKey{from, to}]
	return ps != nil && (ps.marked || ps.live > 0)
}

// MarkPaid records that from has paid to (for example once a transfer is
// submitted, or when the store says so): it stays paid even if a spend to it
// is removed.
func (l *Ledger) MarkPaid(from, to common.Address) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pay(pairKey{from, to}).marked = true
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

func (l *Ledger) pay(k pairKey) *payState {
	ps := l.paid[k]
	if ps == nil {
		ps = &payState{}
		l.paid[k] = ps
	}
	return ps
}

// insert adds s to its series in time order (after spends at the same time)
// and returns its handle. The caller holds l.mu.
func (l *Ledger) insert(s *store.Spend) LedgerHandle {
	key := seriesKey{s.From, s.Asset}
	se := l.series[key]
	if se == nil {
		se = &series{baseAuto: new(big.Int), baseTotal: new(big.Int)}
		l.series[key] = se
	}
	l.seq++
	e := spendEntry{at: s.At, seq: l.seq, auto: s.Kind == store.KindAuto, amount: new(big.Int).Set(s.Amount)}
	live := se.spends[se.head:]
	i := sort.Search(len(live), func(i int) bool { return live[i].at.After(s.At) })
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
	return LedgerHandle{key: key, at: s.At, seq: e.seq}
}

// evict drops spends before cut from the head of s, in amortised O(1), and
// compacts the slice once most of it is dead. A reservation that leaves the
// window is final: its recipient stays paid. The caller holds l.mu.
func (l *Ledger) evict(s *series, cut time.Time) {
	for s.head < len(s.spends) && s.spends[s.head].at.Before(cut) {
		e := &s.spends[s.head]
		s.baseAuto, s.baseTotal = e.cumAuto, e.cumTotal
		if pk, ok := l.reserved[e.seq]; ok {
			delete(l.reserved, e.seq)
			ps := l.pay(pk)
			ps.marked = true
			if ps.live > 0 {
				ps.live--
			}
		}
		*e = spendEntry{}
		s.head++
	}
	if s.head > 64 && s.head*2 > len(s.spends) {
		s.spends = append([]spendEntry(nil), s.spends[s.head:]...)
		s.head = 0
	}
}
