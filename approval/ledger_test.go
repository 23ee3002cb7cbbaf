package approval_test

import (
	"context"
	"errors"
	"math/big"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/approval"
	"github.com/walletmcp/walletmcp/internal/store"
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

func (s lgSpend) spend() store.Spend {
	return store.Spend{From: lgAlice, To: lgBob, Asset: approval.NativeSymbol, Amount: big.NewInt(s.amount), Kind: s.kind, At: lgT0.Add(s.at)}
}

func lgSums(t *testing.T, l *approval.Ledger, from common.Address, asset string, window time.Duration, now time.Time, auto, total int64) {
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
			l := approval.NewLedger(24 * time.Hour)
			for _, s := range spends {
				if _, err := l.Add(s.spend()); err != nil {
					t.Fatal(err)
				}
			}
			lgSums(t, l, lgAlice, approval.NativeSymbol, c.window, lgT0.Add(c.now), c.auto, c.total)
		})
	}
}

// TestLedgerTimePasses reads one ledger again and again as time moves on:
// eviction must never change what a later read would have seen.
func TestLedgerTimePasses(t *testing.T) {
	l := approval.NewLedger(24 * time.Hour)
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
			lgSums(t, l, lgAlice, approval.NativeSymbol, w, lgT0.Add(now), auto, total)
		}
	}
	if n := l.Len(); n != 0 {
		t.Errorf("Len = %d after everything expired, want 0", n)
	}
}

func TestLedgerKeysAreSeparate(t *testing.T) {
	l := approval.NewLedger(24 * time.Hour)
	add := func(from common.Address, asset string, amount int64) {
		t.Helper()
		if _, err := l.Add(store.Spend{From: from, To: lgBob, Asset: asset, Amount: big.NewInt(amount), Kind: store.KindAuto, At: lgT0}); err != nil {
			t.Fatal(err)
		}
	}
	add(lgAlice, approval.NativeSymbol, 1)
	add(lgAlice, lgUSDC, 20)
	add(lgCarol, approval.NativeSymbol, 300)
	now := lgT0.Add(time.Minute)
	lgSums(t, l, lgAlice, approval.NativeSymbol, time.Hour, now, 1, 1)
	lgSums(t, l, lgAlice, lgUSDC, time.Hour, now, 20, 20)
	lgSums(t, l, lgCarol, approval.NativeSymbol, time.Hour, now, 300, 300)
	lgSums(t, l, lgCarol, lgUSDC, time.Hour, now, 0, 0)
	lgSums(t, l, lgBob, approval.NativeSymbol, time.Hour, now, 0, 0)
}

// TestLedgerWindowLongerThanKept: a window the ledger cannot answer fails
// closed (nil sums deny in Evaluate).
func TestLedgerWindowLongerThanKept(t *testing.T) {
	l := approval.NewLedger(time.Hour)
	if _, err := l.Add(lgSpend{0, 5, store.KindAuto}.spend()); err != nil {
		t.Fatal(err)
	}
	for _, w := range []time.Duration{time.Hour + 1, 24 * time.Hour, 0, -time.Hour} {
		if a, tot := l.Sums(lgAlice, approval.NativeSymbol, w, lgT0); a != nil || tot != nil {
			t.Errorf("Sums(window %v) with 1h kept = %v, %v; want nil, nil", w, a, tot)
		}
	}
	lgSums(t, l, lgAlice, approval.NativeSymbol, time.Hour, lgT0, 5, 5)
	if l.Retention() != time.Hour {
		t.Errorf("Retention = %v", l.Retention())
	}
}

func TestLedgerRemove(t *testing.T) {
	l := approval.NewLedger(24 * time.Hour)
	var hs []approval.LedgerHandle
	for i, s := range []lgSpend{{0, 1, store.KindAuto}, {time.Minute, 10, store.KindApproved}, {time.Minute, 100, store.KindAuto}, {2 * time.Minute, 1000, store.KindAuto}} {
		h, err := l.Add(s.spend())
		if err != nil {
			t.Fatalf("spend %d: %v", i, err)
		}
		hs = append(hs, h)
	}
	now := lgT0.Add(time.Hour)
	lgSums(t, l, lgAlice, approval.NativeSymbol, 24*time.Hour, now, 1101, 1111)
	if !l.Remove(hs[2]) {
		t.Fatal("Remove of a middle spend = false")
	}
	lgSums(t, l, lgAlice, approval.NativeSymbol, 24*time.Hour, now, 1001, 1011)
	lgSums(t, l, lgAlice, approval.NativeSymbol, 59*time.Minute, now, 1000, 1010)
	if l.Remove(hs[2]) {
		t.Error("a second Remove = true")
	}
	if l.Remove(approval.LedgerHandle{}) {
		t.Error("Remove of the zero handle = true")
	}
	if !l.Remove(hs[3]) || !l.Remove(hs[0]) {
		t.Fatal("Remove = false")
	}
	lgSums(t, l, lgAlice, approval.NativeSymbol, 24*time.Hour, now, 0, 10)
	if !l.PaidBefore(lgAlice, lgBob) {
		t.Error("PaidBefore = false with one spend to bob left")
	}
	if !l.Remove(hs[1]) {
		t.Fatal("Remove = false")
	}
	lgSums(t, l, lgAlice, approval.NativeSymbol, 24*time.Hour, now, 0, 0)
	if l.PaidBefore(lgAlice, lgBob) {
		t.Error("PaidBefore = true after every spend to bob was removed")
	}
	// Adding again after removals keeps the sums right.
	if _, err := l.Add(lgSpend{3 * time.Minute, 7, store.KindAuto}.spend()); err != nil {
		t.Fatal(err)
	}
	lgSums(t, l, lgAlice, approval.NativeSymbol, 24*time.Hour, now, 7, 7)
}

// TestLedgerRemoveAfterEviction: a reservation that left the window is final.
func TestLedgerRemoveAfterEviction(t *testing.T) {
	l := approval.NewLedger(time.Hour)
	h, err := l.Add(lgSpend{0, 5, store.KindAuto}.spend())
	if err != nil {
		t.Fatal(err)
	}
	lgSums(t, l, lgAlice, approval.NativeSymbol, time.Hour, lgT0.Add(2*time.Hour), 0, 0)
	if l.Remove(h) {
		t.Error("Remove of an evicted spend = true")
	}
	if !l.PaidBefore(lgAlice, lgBob) {
		t.Error("PaidBefore = false after the reservation became final")
	}
}

// TestLedgerOutOfOrder: a spend earlier than the last one (a clock that
// stepped back, or Load of an unsorted list) lands in its place.
func TestLedgerOutOfOrder(t *testing.T) {
	l := approval.NewLedger(24 * time.Hour)
	var mid approval.LedgerHandle
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
	lgSums(t, l, lgAlice, approval.NativeSymbol, 24*time.Hour, now, 1011, 1111)
	lgSums(t, l, lgAlice, approval.NativeSymbol, 90*time.Minute, now, 1000, 1100)
	lgSums(t, l, lgAlice, approval.NativeSymbol, 2*time.Hour, now, 1010, 1110)
	l.Remove(mid)
	lgSums(t, l, lgAlice, approval.NativeSymbol, 2*time.Hour, now, 1010, 1010)
}

func TestLedgerPaidBefore(t *testing.T) {
	cases := []struct {
		name string
		do   func(l *approval.Ledger)
		want bool
	}{
		{"never", func(*approval.Ledger) {}, false},
		{"added", func(l *approval.Ledger) { _, _ = l.Add(lgSpend{0, 1, store.KindAuto}.spend()) }, true},
		{"added then removed", func(l *approval.Ledger) { h, _ := l.Add(lgSpend{0, 1, store.KindAuto}.spend()); l.Remove(h) }, false},
		{"marked", func(l *approval.Ledger) { l.MarkPaid(lgAlice, lgBob) }, true},
		{"marked, added and removed", func(l *approval.Ledger) {
			l.MarkPaid(lgAlice, lgBob)
			h, _ := l.Add(lgSpend{0, 1, store.KindAuto}.spend())
			l.Remove(h)
		}, true},
		{"loaded", func(l *approval.Ledger) {
			_ = l.Load([]store.Spend{lgSpend{-1000 * time.Hour, 1, store.KindApproved}.spend()})
		}, true},
		{"bob paid alice is not alice paid bob", func(l *approval.Ledger) { l.MarkPaid(lgBob, lgAlice) }, false},
		{"alice paid carol is not alice paid bob", func(l *approval.Ledger) { l.MarkPaid(lgAlice, lgCarol) }, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := approval.NewLedger(time.Hour)
			c.do(l)
			if got := l.PaidBefore(lgAlice, lgBob); got != c.want {
				t.Errorf("PaidBefore = %v, want %v", got, c.want)
			}
		})
	}
}

func TestLedgerRefusesInvalidSpends(t *testing.T) {
	good := lgSpend{0, 1, store.KindAuto}.spend()
	cases := []struct {
		name   string
		mutate func(s *store.Spend)
	}{
		{"nil amount", func(s *store.Spend) { s.Amount = nil }},
		{"negative amount", func(s *store.Spend) { s.Amount = big.NewInt(-1) }},
		{"unknown kind", func(s *store.Spend) { s.Kind = "manual" }},
		{"empty kind", func(s *store.Spend) { s.Kind = "" }},
		{"zero time", func(s *store.Spend) { s.At = time.Time{} }},
		{"mixed-case token", func(s *store.Spend) { s.Asset = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48" }},
		{"symbol as asset", func(s *store.Spend) { s.Asset = "USDC" }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := good
			c.mutate(&s)
			l := approval.NewLedger(time.Hour)
			if _, err := l.Add(s); !errors.Is(err, approval.ErrLedgerSpend) {
				t.Errorf("Add: err = %v, want ErrLedgerSpend", err)
			}
			if err := l.Load([]store.Spend{good, s}); !errors.Is(err, approval.ErrLedgerSpend) {
				t.Errorf("Load: err = %v, want ErrLedgerSpend", err)
			}
			if l.Len() != 0 || l.PaidBefore(lgAlice, lgBob) {
				t.Errorf("a refused spend changed the ledger")
			}
		})
	}
}

// TestLedgerLoadFromStore: limits hold across a restart. Transfers are made
// through the store, the store is reopened, and a ledger loaded from it
// gives the same sums as the store's own query and as the ledger that saw
// them live, failed transfers excluded.
func TestLedgerLoadFromStore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	clock := lgT0
	now := func() time.Time { return clock }
	st, err := store.Open(ctx, path, &store.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	live := approval.NewLedger(24 * time.Hour)
	type mk struct {
		at     time.Duration
		to     common.Address
		asset  string
		amount int64
		kind   string
		fail   bool
	}
	for i, m := range []mk{
		{0, lgBob, approval.NativeSymbol, 1, store.KindAuto, false},
		{time.Hour, lgBob, approval.NativeSymbol, 20, store.KindApproved, false},
		{2 * time.Hour, lgCarol, approval.NativeSymbol, 300, store.KindAuto, true},
		{3 * time.Hour, lgCarol, lgUSDC, 4000, store.KindAuto, false},
		{26 * time.Hour, lgBob, approval.NativeSymbol, 50000, store.KindAuto, false},
	} {
		clock = lgT0.Add(m.at)
		tr, _, err := st.CreateTransfer(ctx, &store.Transfer{ChainID: 1337, From: lgAlice, To: m.to, Asset: m.asset, Amount: big.NewInt(m.amount), Kind: m.kind})
		if err != nil {
			t.Fatalf("transfer %d: %v", i, err)
		}
		h, err := live.Add(store.Spend{From: lgAlice, To: m.to, Asset: m.asset, Amount: big.NewInt(m.amount), Kind: m.kind, At: clock})
		if err != nil {
			t.Fatal(err)
		}
		if m.fail {
			if err := st.MarkFailed(ctx, tr.ID, "signing failed"); err != nil {
				t.Fatal(err)
			}
			live.Remove(h)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	clock = lgT0.Add(27 * time.Hour)
	st, err = store.Open(ctx, path, &store.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	spends, err := st.SpendsSince(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	loaded := approval.NewLedger(24 * time.Hour)
	if err := loaded.Load(spends); err != nil {
		t.Fatal(err)
	}
	for _, at := range []time.Duration{3 * time.Hour, 26 * time.Hour, 27 * time.Hour, 28 * time.Hour} {
		for _, asset := range []string{approval.NativeSymbol, lgUSDC} {
			for _, w := range []time.Duration{time.Hour, 24 * time.Hour} {
				now := lgT0.Add(at)
				wantA, wantT, err := st.Spent(ctx, lgAlice, asset, now.Add(-w))
				if err != nil {
					t.Fatal(err)
				}
				// Spent has no upper bound either: both count every spend from the window's start on.
				for name, l := range map[string]*approval.Ledger{"loaded": loaded, "live": live} {
					a, tot := l.Sums(lgAlice, asset, w, now)
					if a == nil || a.Cmp(wantA) != 0 || tot.Cmp(wantT) != 0 {
						t.Errorf("%s ledger at t0+%v, %s, window %v: %v/%v, store says %v/%v", name, at, asset, w, a, tot, wantA, wantT)
					}
				}
			}
		}
	}
	for _, c := range []struct {
		to   common.Address
		want bool
	}{{lgBob, true}, {lgCarol, true}, {lgAlice, false}} {
		paid, err := st.HasPaid(ctx, lgAlice, c.to)
		if err != nil {
			t.Fatal(err)
		}
		if got := loaded.PaidBefore(lgAlice, c.to); got != c.want || got != paid {
			t.Errorf("PaidBefore(alice, %s) = %v, store %v, want %v", c.to.Hex(), got, paid, c.want)
		}
	}
}

// TestLedgerConcurrent exercises every method from many goroutines; run with
// -race. The sums at the end must be exactly what was added and not removed.
func TestLedgerConcurrent(t *testing.T) {
	l := approval.NewLedger(24 * time.Hour)
	const workers, per = 8, 200
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				s := store.Spend{From: lgAlice, To: common.BigToAddress(big.NewInt(int64(w))), Asset: approval.NativeSymbol, Amount: big.NewInt(1), Kind: store.KindAuto, At: lgT0.Add(time.Duration(i) * time.Second)}
				h, err := l.Add(s)
				if err != nil {
					t.Error(err)
					return
				}
				l.Sums(lgAlice, approval.NativeSymbol, time.Hour, lgT0.Add(time.Duration(i)*time.Second))
				l.PaidBefore(lgAlice, s.To)
				if i%2 == 1 {
					l.Remove(h)
				}
				if i%50 == 0 {
					l.MarkPaid(lgAlice, s.To)
				}
			}
		}(w)
	}
	wg.Wait()
	lgSums(t, l, lgAlice, approval.NativeSymbol, 24*time.Hour, lgT0.Add(time.Hour), workers*per/2, workers*per/2)
}
