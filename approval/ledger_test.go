package approval_test

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/approval"
	"github.com/walletmcp/walletmcp/internal/store"
	"github.com/walletmcp/walletmcp/policy"
)

var (
	lgAlice = common.HexToAddress("0x00000000000000000000000000000000000a11ce")
	lgBob   = common.HexToAddress("0x0000000000000000000000000000000000000b0b")
	lgCarol = common.HexToAddress("0x00000000000000000000000000000000000ca201")
	lgT0    = time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	lgUSDC  = strings.ToLower("0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48")
)

// lgSpend is a spend of alice to bob at t0+at.
type lgSpend struct {
	at     time.Duration
	amount int64
	kind   string
}

func (s lgSpend) spend() *store.Transfer {
	return &store.Transfer{From: lgAlice, To: lgBob, Asset: policy.NativeSymbol, Amount: big.NewInt(s.amount), Kind: s.kind, CreatedAt: lgT0.Add(s.at), Status: store.StatusSubmitted}
}

// lgBook feeds a Ledger the way the store's changes do: each transfer gets
// the next sequence and version.
type lgBook struct {
	*approval.Ledger
	seq, version int64
}

func lgNew(retention time.Duration) *lgBook { return &lgBook{Ledger: approval.NewLedger(retention)} }

// Add applies t as a new transfer and returns its id.
func (b *lgBook) Add(t *store.Transfer) (string, error) {
	b.seq++
	b.version++
	t.Seq, t.Version = b.seq, b.version
	if t.ID == "" {
		t.ID = fmt.Sprintf("t%d", b.seq)
	}
	return t.ID, b.Apply([]*store.Transfer{t}, store.LedgerHead{Seq: b.seq, Version: b.version}, t.CreatedAt)
}

// Fail applies the failure of transfer id (created at at).
func (b *lgBook) Fail(id string, at time.Time) error {
	b.version++
	t := &store.Transfer{ID: id, From: lgAlice, To: lgBob, Asset: policy.NativeSymbol, Amount: big.NewInt(0), Kind: store.KindAuto, CreatedAt: at, Status: store.StatusFailed, Version: b.version}
	return b.Apply([]*store.Transfer{t}, store.LedgerHead{Seq: b.seq, Version: b.version}, at)
}

func lgSums(t *testing.T, l interface {
	Sums(common.Address, string, time.Duration, time.Time) (*big.Int, *big.Int)
}, from common.Address, asset string, window time.Duration, now time.Time, auto, total int64) {
	t.Helper()
	a, tot := l.Sums(from, asset, window, now)
	if a == nil || tot == nil || a.Cmp(big.NewInt(auto)) != 0 || tot.Cmp(big.NewInt(total)) != 0 {
		t.Errorf("Sums(%s, window %v, now t0+%v) = %v, %v; want %d, %d", asset, window, now.Sub(lgT0), a, tot, auto, total)
	}
}

// TestLedgerWindow: the sums of a rolling window as time passes.
func TestLedgerWindow(t *testing.T) {
	const a, h = store.KindAuto, store.KindApproved
	spends := []lgSpend{{0, 10, a}, {time.Hour, 20, h}, {2 * time.Hour, 30, a}, {25 * time.Hour, 40, a}}
	cases := []struct {
		name        string
		window      time.Duration
		now         time.Duration
		auto, total int64
	}{
		// Spends after now count too, as in store.Spent (a clock that stepped back).
		{"before anything", 24 * time.Hour, -time.Hour, 80, 100},
		{"right after the first", 24 * time.Hour, time.Minute, 80, 100},
		{"first exactly at the window's start counts", 24 * time.Hour, 24 * time.Hour, 80, 100},
		{"first one nanosecond out", 24 * time.Hour, 24*time.Hour + time.Nanosecond, 70, 90},
		{"first two expired", 24 * time.Hour, 25*time.Hour + time.Second, 70, 70},
		{"only the fourth", 24 * time.Hour, 26*time.Hour + time.Second, 40, 40},
		{"fourth exactly at the start", 24 * time.Hour, 49 * time.Hour, 40, 40},
		{"everything expired", 24 * time.Hour, 49*time.Hour + time.Nanosecond, 0, 0},
		{"a shorter window than kept", time.Hour, 2*time.Hour + 30*time.Minute, 70, 70},
		{"a shorter window covering the approved one", 90 * time.Minute, 2*time.Hour + 30*time.Minute, 70, 90},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := lgNew(24 * time.Hour)
			for _, s := range spends {
				if _, err := l.Add(s.spend()); err != nil {
					t.Fatal(err)
				}
			}
			lgSums(t, l, lgAlice, policy.NativeSymbol, c.window, lgT0.Add(c.now), c.auto, c.total)
		})
	}
}

// TestLedgerTimePasses reads one ledger again and again as time moves on:
// eviction must never change what a later read would have seen.
func TestLedgerTimePasses(t *testing.T) {
	l := lgNew(24 * time.Hour)
	var want []lgSpend
	for i := 0; i < 200; i++ {
		s := lgSpend{time.Duration(i) * 17 * time.Minute, int64(i + 1), store.KindAuto}
		if i%3 == 0 {
			s.kind = store.KindApproved
		}
		want = append(want, s)
		if _, err := l.Add(s.spend()); err != nil {
			t.Fatal(err)
		}
	}
	for now := time.Duration(0); now < 200*17*time.Minute+25*time.Hour; now += 41 * time.Minute {
		for _, w := range []time.Duration{time.Hour, 6 * time.Hour, 24 * time.Hour} {
			var auto, total int64
			for _, s := range want {
				if s.at >= now-w {
					total += s.amount
					if s.kind == store.KindAuto {
						auto += s.amount
					}
				}
			}
			lgSums(t, l, lgAlice, policy.NativeSymbol, w, lgT0.Add(now), auto, total)
		}
	}
	if n := l.Len(); n != 0 {
		t.Errorf("Len = %d after everything expired, want 0", n)
	}
}

func TestLedgerKeysAreSeparate(t *testing.T) {
	l := lgNew(24 * time.Hour)
	add := func(from common.Address, asset string, amount int64) {
		t.Helper()
		if _, err := l.Add(&store.Transfer{From: from, To: lgBob, Asset: asset, Amount: big.NewInt(amount), Kind: store.KindAuto, CreatedAt: lgT0}); err != nil {
			t.Fatal(err)
		}
	}
	add(lgAlice, policy.NativeSymbol, 1)
	add(lgAlice, lgUSDC, 20)
	add(lgCarol, policy.NativeSymbol, 300)
	now := lgT0.Add(time.Minute)
	lgSums(t, l, lgAlice, policy.NativeSymbol, time.Hour, now, 1, 1)
	lgSums(t, l, lgAlice, lgUSDC, time.Hour, now, 20, 20)
	lgSums(t, l, lgCarol, policy.NativeSymbol, time.Hour, now, 300, 300)
	lgSums(t, l, lgCarol, lgUSDC, time.Hour, now, 0, 0)
	lgSums(t, l, lgBob, policy.NativeSymbol, time.Hour, now, 0, 0)
}

// TestLedgerWindowLongerThanKept: a window the ledger cannot answer fails
// closed (nil sums deny in Evaluate).
func TestLedgerWindowLongerThanKept(t *testing.T) {
	l := lgNew(time.Hour)
	if _, err := l.Add(lgSpend{0, 5, store.KindAuto}.spend()); err != nil {
		t.Fatal(err)
	}
	for _, w := range []time.Duration{time.Hour + 1, 24 * time.Hour, 0, -time.Hour} {
		if a, tot := l.Sums(lgAlice, policy.NativeSymbol, w, lgT0); a != nil || tot != nil {
			t.Errorf("Sums(window %v) with 1h kept = %v, %v; want nil, nil", w, a, tot)
		}
	}
	lgSums(t, l, lgAlice, policy.NativeSymbol, time.Hour, lgT0, 5, 5)
	if l.Retention() != time.Hour {
		t.Errorf("Retention = %v", l.Retention())
	}
}

// TestLedgerRemove: a failed transfer leaves the sums; failing it again, or
// failing one the ledger never saw, changes nothing.
func TestLedgerRemove(t *testing.T) {
	l := lgNew(24 * time.Hour)
	var ids []string
	for i, s := range []lgSpend{{0, 1, store.KindAuto}, {time.Minute, 10, store.KindApproved}, {time.Minute, 100, store.KindAuto}, {2 * time.Minute, 1000, store.KindAuto}} {
		id, err := l.Add(s.spend())
		if err != nil {
			t.Fatalf("spend %d: %v", i, err)
		}
		ids = append(ids, id)
	}
	now := lgT0.Add(time.Hour)
	lgSums(t, l, lgAlice, policy.NativeSymbol, 24*time.Hour, now, 1101, 1111)
	fail := func(id string) {
		t.Helper()
		if err := l.Fail(id, lgT0); err != nil {
			t.Fatal(err)
		}
	}
	fail(ids[2])
	lgSums(t, l, lgAlice, policy.NativeSymbol, 24*time.Hour, now, 1001, 1011)
	lgSums(t, l, lgAlice, policy.NativeSymbol, 59*time.Minute, now, 1000, 1010)
	fail(ids[2])
	fail("never-seen")
	lgSums(t, l, lgAlice, policy.NativeSymbol, 24*time.Hour, now, 1001, 1011)
	fail(ids[3])
	fail(ids[0])
	lgSums(t, l, lgAlice, policy.NativeSymbol, 24*time.Hour, now, 0, 10)
	fail(ids[1])
	lgSums(t, l, lgAlice, policy.NativeSymbol, 24*time.Hour, now, 0, 0)
	// Adding again after removals keeps the sums right.
	if _, err := l.Add(lgSpend{3 * time.Minute, 7, store.KindAuto}.spend()); err != nil {
		t.Fatal(err)
	}
	lgSums(t, l, lgAlice, policy.NativeSymbol, 24*time.Hour, now, 7, 7)
}

// TestLedgerStaleChangesIgnored: a set of changes no newer than what the
// ledger applied (a reader that raced a writer) changes nothing, so a
// transfer failed since is not counted again.
func TestLedgerStaleChangesIgnored(t *testing.T) {
	l := approval.NewLedger(24 * time.Hour)
	live := lgSpend{0, 5, store.KindAuto}.spend()
	live.ID, live.Seq, live.Version = "a", 1, 1
	if err := l.Apply([]*store.Transfer{live}, store.LedgerHead{Seq: 1, Version: 1}, lgT0); err != nil {
		t.Fatal(err)
	}
	failed := *live
	failed.Status, failed.Version = store.StatusFailed, 2
	if err := l.Apply([]*store.Transfer{&failed}, store.LedgerHead{Seq: 1, Version: 2}, lgT0); err != nil {
		t.Fatal(err)
	}
	if err := l.Apply([]*store.Transfer{live}, store.LedgerHead{Seq: 1, Version: 1}, lgT0); err != nil {
		t.Fatal(err)
	}
	lgSums(t, l, lgAlice, policy.NativeSymbol, time.Hour, lgT0, 0, 0)
	if h := l.Head(); h.Seq != 1 || h.Version != 2 {
		t.Errorf("Head = %+v, want {1 2}", h)
	}
}

// TestLedgerOutOfOrder: a spend earlier than the last one (a clock that
// stepped back, or Load of an unsorted list) lands in its place.
func TestLedgerOutOfOrder(t *testing.T) {
	l := lgNew(24 * time.Hour)
	var mid string
	for _, s := range []lgSpend{{3 * time.Hour, 1000, store.KindAuto}, {time.Hour, 10, store.KindAuto}, {2 * time.Hour, 100, store.KindApproved}, {0, 1, store.KindAuto}} {
		h, err := l.Add(s.spend())
		if err != nil {
			t.Fatal(err)
		}
		if s.amount == 100 {
			mid = h
		}
	}
	now := lgT0.Add(3 * time.Hour)
	lgSums(t, l, lgAlice, policy.NativeSymbol, 24*time.Hour, now, 1011, 1111)
	lgSums(t, l, lgAlice, policy.NativeSymbol, 90*time.Minute, now, 1000, 1100)
	lgSums(t, l, lgAlice, policy.NativeSymbol, 2*time.Hour, now, 1010, 1110)
	if err := l.Fail(mid, lgT0); err != nil {
		t.Fatal(err)
	}
	lgSums(t, l, lgAlice, policy.NativeSymbol, 2*time.Hour, now, 1010, 1010)
}

func TestLedgerRefusesInvalidSpends(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(s *store.Transfer)
	}{
		{"nil amount", func(s *store.Transfer) { s.Amount = nil }},
		{"negative amount", func(s *store.Transfer) { s.Amount = big.NewInt(-1) }},
		{"unknown kind", func(s *store.Transfer) { s.Kind = "manual" }},
		{"empty kind", func(s *store.Transfer) { s.Kind = "" }},
		{"zero time", func(s *store.Transfer) { s.CreatedAt = time.Time{} }},
		{"mixed-case token", func(s *store.Transfer) { s.Asset = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48" }},
		{"symbol as asset", func(s *store.Transfer) { s.Asset = "USDC" }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			good := lgSpend{0, 1, store.KindAuto}.spend()
			good.ID = "good"
			bad := lgSpend{0, 1, store.KindAuto}.spend()
			bad.ID = "bad"
			c.mutate(bad)
			l := approval.NewLedger(time.Hour)
			if err := l.Apply([]*store.Transfer{good, bad}, store.LedgerHead{Seq: 2, Version: 2}, lgT0); !errors.Is(err, approval.ErrLedgerSpend) {
				t.Errorf("Apply: err = %v, want ErrLedgerSpend", err)
			}
			if l.Len() != 0 || l.Head() != (store.LedgerHead{}) {
				t.Errorf("a refused set changed the ledger")
			}
		})
	}
}

// TestLedgerLoadFromStore: limits hold across a restart and across processes.
// Transfers are made through one store handle; a ledger loaded from a second
// handle on the same file, and one caught up through Changes, give the same
// sums as adding them up by hand, failed transfers excluded.
func TestLedgerLoadFromStore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	clock := lgT0
	now := func() time.Time { return clock }
	key := make([]byte, store.KeyLen)
	st, err := store.Open(ctx, path, &store.Options{Now: now, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	follower := approval.NewLedger(24 * time.Hour)
	type mk struct {
		at     time.Duration
		to     common.Address
		asset  string
		amount int64
		kind   string
		fail   bool
	}
	made := []mk{
		{0, lgBob, policy.NativeSymbol, 1, store.KindAuto, false},
		{time.Hour, lgBob, policy.NativeSymbol, 20, store.KindApproved, false},
		{2 * time.Hour, lgCarol, policy.NativeSymbol, 300, store.KindAuto, true},
		{3 * time.Hour, lgCarol, lgUSDC, 4000, store.KindAuto, false},
		{26 * time.Hour, lgBob, policy.NativeSymbol, 50000, store.KindAuto, false},
	}
	for i, m := range made {
		clock = lgT0.Add(m.at)
		tr, _, err := st.CreateTransfer(ctx, &store.Transfer{ChainID: 1337, From: lgAlice, To: m.to, Asset: m.asset, Amount: big.NewInt(m.amount), Kind: m.kind})
		if err != nil {
			t.Fatalf("transfer %d: %v", i, err)
		}
		if m.fail {
			if err := st.MarkFailed(ctx, tr.ID, "signing failed"); err != nil {
				t.Fatal(err)
			}
		}
		h := follower.Head()
		ts, head, err := st.Changes(ctx, h.Seq, h.Version)
		if err != nil {
			t.Fatal(err)
		}
		if err := follower.Apply(ts, head, clock); err != nil {
			t.Fatal(err)
		}
	}
	other, err := store.Open(ctx, path, &store.Options{Now: now, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	for _, at := range []time.Duration{26 * time.Hour, 27 * time.Hour, 28 * time.Hour} {
		now := lgT0.Add(at)
		ts, head, err := other.LoadLedger(ctx, now.Add(-24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		loaded := approval.NewLedger(24 * time.Hour)
		if err := loaded.Apply(ts, head, now); err != nil {
			t.Fatal(err)
		}
		for _, asset := range []string{policy.NativeSymbol, lgUSDC} {
			for _, w := range []time.Duration{time.Hour, 24 * time.Hour} {
				var wantA, wantT int64
				for _, m := range made {
					if m.asset == asset && !m.fail && m.at >= at-w {
						wantT += m.amount
						if m.kind == store.KindAuto {
							wantA += m.amount
						}
					}
				}
				lgSums(t, loaded, lgAlice, asset, w, now, wantA, wantT)
				lgSums(t, follower, lgAlice, asset, w, now, wantA, wantT)
			}
		}
	}
}

// TestLedgerConcurrent exercises every method from many goroutines; run with
// -race. The sums at the end must be exactly what was added and not failed.
func TestLedgerConcurrent(t *testing.T) {
	l := approval.NewLedger(24 * time.Hour)
	const workers, per = 8, 200
	var mu sync.Mutex
	var seq, version int64
	apply := func(tr *store.Transfer) {
		mu.Lock()
		defer mu.Unlock()
		if tr.Seq == 0 {
			seq++
			tr.Seq = seq
		}
		version++
		tr.Version = version
		if err := l.Apply([]*store.Transfer{tr}, store.LedgerHead{Seq: seq, Version: version}, tr.CreatedAt); err != nil {
			t.Error(err)
		}
	}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Go(func() {
			for i := 0; i < per; i++ {
				at := lgT0.Add(time.Duration(i) * time.Second)
				tr := &store.Transfer{ID: fmt.Sprintf("%d-%d", w, i), From: lgAlice, To: common.BigToAddress(big.NewInt(int64(w))), Asset: policy.NativeSymbol, Amount: big.NewInt(1), Kind: store.KindAuto, CreatedAt: at, Status: store.StatusPending}
				apply(tr)
				l.Sums(lgAlice, policy.NativeSymbol, time.Hour, at)
				l.CountSince(at.Add(-time.Hour))
				if i%2 == 1 {
					f := *tr
					f.Status = store.StatusFailed
					apply(&f)
				}
			}
		})
	}
	wg.Wait()
	lgSums(t, l, lgAlice, policy.NativeSymbol, 24*time.Hour, lgT0.Add(time.Hour), workers*per/2, workers*per/2)
	if n := l.CountSince(lgT0.Add(-time.Hour)); n != workers*per/2 {
		t.Errorf("CountSince = %d, want %d", n, workers*per/2)
	}
}

// TestLedgerMatchesModel runs 5000 random operations against a Ledger and a
// plain list and compares every answer.
func TestLedgerMatchesModel(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 13))
	const retention = 6 * time.Hour
	type entry struct {
		id     string
		at     time.Time
		amount int64
		auto   bool
		gone   bool // failed
	}
	l := lgNew(retention)
	var model []*entry
	now := lgT0
	for op := 0; op < 5000; op++ {
		switch k := r.IntN(10); {
		case k < 4: // add, mostly at now, sometimes earlier or a little later
			at := now
			if r.IntN(5) == 0 {
				at = now.Add(time.Duration(r.Int64N(int64(2*time.Hour))) - time.Hour)
			}
			e := &entry{at: at, amount: r.Int64N(1000), auto: r.IntN(3) > 0}
			kind := store.KindApproved
			if e.auto {
				kind = store.KindAuto
			}
			var err error
			if e.id, err = l.Add(&store.Transfer{From: lgAlice, To: lgBob, Asset: policy.NativeSymbol, Amount: big.NewInt(e.amount), Kind: kind, CreatedAt: at, Status: store.StatusPending}); err != nil {
				t.Fatal(err)
			}
			model = append(model, e)
		case k < 5 && len(model) > 0: // fail one
			e := model[r.IntN(len(model))]
			if err := l.Fail(e.id, e.at); err != nil {
				t.Fatal(err)
			}
			e.gone = true
		default: // time passes, then sums
			now = now.Add(time.Duration(r.Int64N(int64(40 * time.Minute))))
			w := time.Duration(r.Int64N(int64(retention))) + 1
			var auto, total int64
			for _, e := range model {
				if !e.gone && !e.at.Before(now.Add(-w)) {
					total += e.amount
					if e.auto {
						auto += e.amount
					}
				}
			}
			a, tot := l.Sums(lgAlice, policy.NativeSymbol, w, now)
			if a == nil || a.Int64() != auto || tot.Int64() != total {
				t.Fatalf("op %d: Sums(window %v) = %v/%v, want %d/%d", op, w, a, tot, auto, total)
			}
		}
	}
}

// TestLedgerApplyAt: a transaction's own row is applied only when the
// Ledger is still where the transaction brought it; after a reset to an
// older head it is not (the rows between would be skipped for good: the
// next catch-up reads from the Ledger's head, after them), and a catch-up
// from the reset head counts every row.
func TestLedgerApplyAt(t *testing.T) {
	b := lgNew(48 * time.Hour)
	if _, err := b.Add(lgSpend{0, 10, store.KindAuto}.spend()); err != nil {
		t.Fatal(err)
	}
	at := b.Head() // {1, 1}
	own := lgSpend{time.Minute, 5, store.KindAuto}.spend()
	own.ID, own.Seq, own.Version = "own", 2, 2
	if err := b.ApplyAt(at, []*store.Transfer{own}, store.LedgerHead{Seq: 2, Version: 2}, lgT0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	lgSums(t, b, lgAlice, policy.NativeSymbol, 24*time.Hour, lgT0.Add(time.Minute), 15, 15)

	// A reload put the Ledger back to {0, 0} (row 1 not committed yet, as
	// another process sees it): row 3 is not applied over the gap.
	if err := b.Reset(nil, store.LedgerHead{}, lgT0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	third := lgSpend{2 * time.Minute, 7, store.KindAuto}.spend()
	third.ID, third.Seq, third.Version = "third", 3, 3
	if err := b.ApplyAt(store.LedgerHead{Seq: 2, Version: 2}, []*store.Transfer{third}, store.LedgerHead{Seq: 3, Version: 3}, lgT0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if h := b.Head(); h != (store.LedgerHead{}) {
		t.Fatalf("head %+v after an ApplyAt from another head, want it unmoved", h)
	}
	first := lgSpend{0, 10, store.KindAuto}.spend()
	first.ID, first.Seq, first.Version = "t1", 1, 1
	if err := b.Apply([]*store.Transfer{first, own, third}, store.LedgerHead{Seq: 3, Version: 3}, lgT0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	lgSums(t, b, lgAlice, policy.NativeSymbol, 24*time.Hour, lgT0.Add(2*time.Minute), 22, 22)
}
