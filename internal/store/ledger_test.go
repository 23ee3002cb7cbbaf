package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/internal/approvalstate"
)

// openPair opens two handles on one new database, as two serve processes
// sharing a home do.
func openPair(t *testing.T, opts *Options) (*Store, *Store) {
	t.Helper()
	s1, path := openTest(t, opts)
	s2, err := Open(context.Background(), path, withKey(opts))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s2.Close() })
	return s1, s2
}

func ids(ts []*Transfer) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.ID)
	}
	return out
}

// TestChangesAcrossHandles: what one process inserts or changes, the other
// sees in its next Changes, verified, and only that.
func TestChangesAcrossHandles(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s1, s2 := openPair(t, &Options{Now: clk.Now})

	a := create(t, s1, testTransfer())
	got, h1, err := s2.Changes(ctx, 0, 0)
	if err != nil || !slices.Equal(ids(got), []string{a.ID}) || h1 != (LedgerHead{1, 1}) {
		t.Fatalf("s2 after s1's insert: %v %+v %v", ids(got), h1, err)
	}
	if !got[0].Verified {
		t.Error("change read unverified")
	}
	if got, h, err := s2.Changes(ctx, h1.Seq, h1.Version); err != nil || len(got) != 0 || h != h1 {
		t.Errorf("no change: %v %+v %v", ids(got), h, err)
	}

	// s2 signs a; s1 inserts b: s1 sees s2's change, s2 sees s1's insert.
	if err := s2.MarkSigned(ctx, a.ID, 0, common.HexToHash("0xa1"), []byte{1}); err != nil {
		t.Fatal(err)
	}
	b := create(t, s1, testTransfer())
	for name, s := range map[string]*Store{"s1": s1, "s2": s2} {
		got, h, err := s.Changes(ctx, h1.Seq, h1.Version)
		if err != nil || !slices.Equal(ids(got), []string{a.ID, b.ID}) || h != (LedgerHead{2, 3}) {
			t.Errorf("%s since %+v: %v %+v %v", name, h1, ids(got), h, err)
			continue
		}
		if got[0].Status != StatusSigned || got[0].Version != 2 || got[1].Seq != 2 || got[1].Version != 3 {
			t.Errorf("%s: %+v %+v", name, got[0], got[1])
		}
	}
	// Only the change after a given version.
	if got, _, err := s1.Changes(ctx, 2, 2); err != nil || !slices.Equal(ids(got), []string{b.ID}) {
		t.Errorf("since {2 2}: %v %v", ids(got), err)
	}
	// A caller ahead of the ledger is told the ledger went back.
	for _, h := range []LedgerHead{{3, 3}, {2, 4}} {
		_, _, err := s2.Changes(ctx, h.Seq, h.Version)
		wantTamper(t, fmt.Sprintf("Changes(%d, %d)", h.Seq, h.Version), err, "ledger_head")
	}
	// Inside a transaction, Changes includes the transaction's own insert.
	err = s2.Ledger(ctx, func(lt *LedgerTx) error {
		if lt.Head() != (LedgerHead{2, 3}) {
			t.Errorf("head %+v at the start", lt.Head())
		}
		c := testTransfer()
		if _, _, err := lt.Insert(c); err != nil {
			return err
		}
		got, h, err := lt.Changes(2, 3)
		if err != nil || !slices.Equal(ids(got), []string{c.ID}) || h != (LedgerHead{3, 4}) || lt.Head() != h {
			t.Errorf("own insert: %v %+v %v", ids(got), h, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestLedgerRollsBack: a Ledger function that fails leaves neither its rows
// nor its head behind.
func TestLedgerRollsBack(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t, nil)
	create(t, s, testTransfer())
	boom := errors.New("boom")
	err := s.Ledger(ctx, func(lt *LedgerTx) error {
		if _, _, err := lt.Insert(testTransfer()); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err %v, want the function's", err)
	}
	all, h, err := s.LoadLedger(ctx, time.Time{})
	if err != nil || len(all) != 1 || h != (LedgerHead{1, 1}) {
		t.Errorf("after a rolled-back insert: %d rows, head %+v, %v", len(all), h, err)
	}
}

// TestLedgerConcurrentAcrossHandles: two processes each run many Ledger
// transactions at once, each allocating a nonce and reserving it; the
// transactions serialise, so every nonce is handed out once, the nonces are
// contiguous, and so are the sequence and the versions.
func TestLedgerConcurrentAcrossHandles(t *testing.T) {
	const perHandle = 50
	ctx := context.Background()
	s1, s2 := openPair(t, nil)
	nonces := make([]uint64, 2*perHandle)
	errs := make([]error, 2*perHandle)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 2 * perHandle {
		s := []*Store{s1, s2}[i%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = s.Ledger(ctx, func(lt *LedgerTx) error {
				n, err := lt.AllocateNonce(1337, alice, 0)
				if err != nil {
					return err
				}
				tr := testTransfer()
				tr.Nonce = &n
				if _, _, err := lt.Insert(tr); err != nil {
					return err
				}
				nonces[i] = n
				return nil
			})
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("transaction %d: %v", i, err)
		}
	}
	slices.Sort(nonces)
	for i, n := range nonces {
		if n != uint64(i) {
			t.Fatalf("nonces %v are not 0..%d, each once", nonces, len(nonces)-1)
		}
	}
	for _, s := range []*Store{s1, s2} {
		all, h, err := s.LoadLedger(ctx, time.Time{})
		if err != nil || len(all) != 2*perHandle || h != (LedgerHead{2 * perHandle, 2 * perHandle}) {
			t.Fatalf("ledger: %d rows, head %+v, %v", len(all), h, err)
		}
	}
}

// TestAllocateNonce: the lowest nonce at or above the floor that no live
// transfer of the account holds. A failed or dropped transfer's nonce is
// free again; a signed, submitted or confirmed one's never is.
func TestAllocateNonce(t *testing.T) {
	ctx := context.Background()
	type held struct {
		nonce  uint64
		status string // the transfer's final status; "dropped" for MarkDropped
		from   common.Address
		chain  uint64
	}
	h := func(nonce uint64, status string) held { return held{nonce, status, alice, 1337} }
	tests := []struct {
		name  string
		held  []held
		floor uint64
		want  uint64
	}{
		{name: "nothing held", want: 0},
		{name: "nothing held, floor", floor: 7, want: 7},
		{name: "reserved ones", held: []held{h(0, StatusPending), h(1, StatusPending), h(2, StatusPending)}, want: 3},
		{name: "held out of order", held: []held{h(2, StatusPending), h(0, StatusPending), h(1, StatusSigned)}, want: 3},
		{name: "gap left by a failed reservation", held: []held{h(0, StatusSigned), h(1, StatusFailed), h(2, StatusSubmitted)}, want: 1},
		{name: "gap left by a failed signed one", held: []held{h(0, StatusConfirmed), h(1, "signed-failed"), h(2, StatusPending)}, want: 1},
		{name: "dropped frees its nonce", held: []held{h(0, "dropped"), h(1, StatusSubmitted)}, want: 0},
		{name: "signed, submitted and confirmed are held", held: []held{h(0, StatusSigned), h(1, StatusSubmitted), h(2, StatusConfirmed)}, want: 3},
		{name: "floor above everything held", held: []held{h(0, StatusPending), h(1, StatusPending)}, floor: 5, want: 5},
		{name: "floor inside a run", held: []held{h(5, StatusSigned), h(6, StatusPending), h(8, StatusPending)}, floor: 5, want: 7},
		{name: "floor below a run", held: []held{h(5, StatusSigned), h(6, StatusPending)}, floor: 4, want: 4},
		{name: "below the floor does not count", held: []held{h(0, StatusSigned), h(3, StatusSigned)}, floor: 1, want: 1},
		{name: "another account's nonces", held: []held{{0, StatusPending, bob, 1337}, {1, StatusPending, bob, 1337}}, want: 0},
		{name: "another chain's nonces", held: []held{{0, StatusSubmitted, alice, 1}}, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTest(t, nil)
			for i, hd := range tt.held {
				n := hd.nonce
				tr := create(t, s, &Transfer{ChainID: hd.chain, From: hd.from, To: carol, Asset: AssetETH, Amount: big.NewInt(1), Kind: KindAuto, Nonce: &n})
				moveTo(t, s, tr.ID, n, hd.status, byte(i+1))
			}
			var got uint64
			err := s.Ledger(ctx, func(lt *LedgerTx) error {
				var err error
				got, err = lt.AllocateNonce(1337, alice, tt.floor)
				return err
			})
			if err != nil || got != tt.want {
				t.Errorf("AllocateNonce = %d, %v; want %d", got, err, tt.want)
			}
		})
	}
	t.Run("out of range", func(t *testing.T) {
		s, _ := openTest(t, nil)
		err := s.Ledger(ctx, func(lt *LedgerTx) error {
			if _, err := lt.AllocateNonce(1337, alice, 1<<63); err == nil {
				t.Error("floor beyond int64 accepted")
			}
			if _, err := lt.AllocateNonce(1<<63, alice, 0); err == nil {
				t.Error("chain id beyond int64 accepted")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// moveTo takes the pending transfer id, which holds nonce, to status
// ("dropped": signed, submitted, then dropped; "signed-failed": signed, then
// failed), signing it with a hash made of tag.
func moveTo(t *testing.T, s *Store, id string, nonce uint64, status string, tag byte) {
	t.Helper()
	ctx := context.Background()
	steps := map[string][]string{
		StatusPending:   nil,
		StatusFailed:    {"fail"},
		StatusSigned:    {"sign"},
		"signed-failed": {"sign", "fail"},
		StatusSubmitted: {"sign", "submit"},
		StatusConfirmed: {"sign", "submit", "confirm"},
		"dropped":       {"sign", "submit", "drop"},
	}[status]
	for _, step := range steps {
		var err error
		switch step {
		case "sign":
			err = s.MarkSigned(ctx, id, nonce, common.BytesToHash([]byte{tag}), []byte{tag})
		case "submit":
			err = s.MarkSubmitted(ctx, id, time.Time{})
		case "confirm":
			err = s.MarkConfirmed(ctx, id, 1)
		case "fail":
			err = s.MarkFailed(ctx, id, "x")
		case "drop":
			err = s.MarkDropped(ctx, id, "nonce taken")
		}
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
}

// TestNonceHeldOnce: a nonce held by a live transfer cannot be reserved or
// signed by another; once that transfer fails or is dropped, it can.
func TestNonceHeldOnce(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		status string // the first holder's status
		free   bool
	}{
		{"pending", StatusPending, false},
		{"signed", StatusSigned, false},
		{"submitted", StatusSubmitted, false},
		{"confirmed", StatusConfirmed, false},
		{"failed", StatusFailed, true},
		{"dropped", "dropped", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTest(t, nil)
			n := uint64(4)
			first := testTransfer()
			first.Nonce = &n
			create(t, s, first)
			moveTo(t, s, first.ID, n, tt.status, 1)

			second := testTransfer()
			second.Nonce = &n
			_, _, err := s.CreateTransfer(ctx, second)
			if (err == nil) != tt.free {
				t.Errorf("reserving a nonce held by a %s transfer: %v", tt.status, err)
			}
			// Signing another transfer with it is refused while a live
			// transfer (the first, or the second that took it over) holds it.
			other := create(t, s, testTransfer())
			if err := s.MarkSigned(ctx, other.ID, n, common.HexToHash("0xbeef"), []byte{2}); err == nil {
				t.Error("signed with a held nonce")
			}
		})
	}
	t.Run("signed with another nonce than reserved", func(t *testing.T) {
		s, _ := openTest(t, nil)
		n := uint64(2)
		tr := testTransfer()
		tr.Nonce = &n
		create(t, s, tr)
		if err := s.MarkSigned(ctx, tr.ID, 3, common.HexToHash("0x01"), []byte{1}); err == nil {
			t.Error("signed with nonce 3 after reserving 2")
		}
		if got := get(t, s, tr.ID); got.Status != StatusPending || *got.Nonce != 2 {
			t.Errorf("after the refused signature: %s nonce %d", got.Status, *got.Nonce)
		}
	})
}

// TestClaimApproval: of several owners claiming one approved approval, one
// holds it until the lease ends; the holder may renew; only an approved
// approval can be claimed.
func TestClaimApproval(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s1, s2 := openPair(t, &Options{Now: clk.Now})
	now := clk.Now()
	until := now.Add(time.Minute)

	pending := createApproval(t, s1, testApproval(clk))
	if ok, err := s1.ClaimApproval(ctx, pending.ID, "p1", now, until); err != nil || ok {
		t.Errorf("claiming a pending approval: %v %v", ok, err)
	}
	if ok, err := s1.ClaimApproval(ctx, "missing", "p1", now, until); err != nil || ok {
		t.Errorf("claiming an unknown approval: %v %v", ok, err)
	}
	for _, owner := range []string{"", string(make([]byte, MaxKeyLen+1))} {
		if _, err := s1.ClaimApproval(ctx, pending.ID, owner, now, until); err == nil {
			t.Errorf("owner of %d bytes accepted", len(owner))
		}
	}

	// Rounds of two owners racing over two handles: exactly one wins.
	for round := range 10 {
		a := createApproval(t, s1, testApproval(clk))
		if err := s1.DecideApproval(ctx, a.ID, approvalstate.Approved, ChannelCLI, int64(round), now); err != nil {
			t.Fatal(err)
		}
		won := make([]bool, 2)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i, s := range []*Store{s1, s2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				won[i], errs[i] = s.ClaimApproval(ctx, a.ID, fmt.Sprint("p", i), now, until)
			}()
		}
		wg.Wait()
		if errs[0] != nil || errs[1] != nil || won[0] == won[1] {
			t.Fatalf("round %d: won %v, errors %v", round, won, errs)
		}
		winner, loser := "p0", "p1"
		if won[1] {
			winner, loser = loser, winner
		}
		got := getApproval(t, s2, a.ID)
		if got.LeaseOwner != winner || !got.LeaseUntil.Equal(until) || !got.Verified {
			t.Errorf("round %d: lease %q until %v verified %v", round, got.LeaseOwner, got.LeaseUntil, got.Verified)
		}
		if round > 0 {
			continue
		}
		steps := []struct {
			name   string
			owner  string
			at     time.Time
			until  time.Time
			want   bool
			holder string
		}{
			{"the loser again, within the lease", loser, until.Add(-time.Nanosecond), until.Add(time.Hour), false, winner},
			{"the holder renews", winner, now.Add(time.Second), until.Add(time.Minute), true, winner},
			{"the loser at the old end", loser, until, until.Add(time.Hour), false, winner},
			{"the loser once the lease ended", loser, until.Add(time.Minute), until.Add(2 * time.Minute), true, loser},
			{"the old holder, now out", winner, until.Add(time.Minute), until.Add(time.Hour), false, loser},
		}
		for _, st := range steps {
			ok, err := s1.ClaimApproval(ctx, a.ID, st.owner, st.at, st.until)
			if err != nil || ok != st.want {
				t.Errorf("%s: %v %v, want %v", st.name, ok, err, st.want)
			}
			if got := getApproval(t, s1, a.ID); got.LeaseOwner != st.holder {
				t.Errorf("%s: held by %q, want %q", st.name, got.LeaseOwner, st.holder)
			}
		}
		// Executed, it can no longer be claimed.
		if err := s1.MarkApprovalExecuted(ctx, a.ID, "tr", common.HexToHash("0x0e")); err != nil {
			t.Fatal(err)
		}
		if ok, err := s2.ClaimApproval(ctx, a.ID, "p9", until.Add(time.Hour), until.Add(2*time.Hour)); err != nil || ok {
			t.Errorf("claiming an executed approval: %v %v", ok, err)
		}
	}
}

// TestUnsettledAndAbandoned: Unsettled lists the signed and submitted
// transfers due for a check, most overdue first; Abandoned the pending
// reservations whose lease ended, oldest lease first; both bounded.
// ScheduleCheck moves a check without touching the ledger.
func TestUnsettledAndAbandoned(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s, _ := openTest(t, &Options{Now: clk.Now})
	now := clk.Now()
	mk := func(status string, lease, next time.Duration, nonce uint64) string {
		tr := testTransfer()
		if lease != 0 {
			tr.LeaseUntil = now.Add(lease)
		}
		id := create(t, s, tr).ID
		moveTo(t, s, id, nonce, status, byte(nonce+1))
		if status == StatusSubmitted {
			if err := s.ScheduleCheck(ctx, id, now.Add(next)); err != nil {
				t.Fatal(err)
			}
		}
		return id
	}
	pNoLease := mk(StatusPending, 0, 0, 0)
	pPast := mk(StatusPending, -time.Minute, 0, 1)
	pFuture := mk(StatusPending, time.Minute, 0, 2)
	signed := mk(StatusSigned, 0, 0, 3) // due SignedGrace after signing
	subPast := mk(StatusSubmitted, 0, -time.Second, 4)
	subFuture := mk(StatusSubmitted, 0, time.Hour, 5)
	mk(StatusConfirmed, 0, 0, 6)
	mk(StatusFailed, -time.Hour, 0, 7)

	tests := []struct {
		name  string
		list  func(context.Context, time.Time, int) ([]*Transfer, error)
		at    time.Time
		limit int
		want  []string
	}{
		{"abandoned now", s.Abandoned, now, 10, []string{pNoLease, pPast}},
		{"abandoned, bounded", s.Abandoned, now, 1, []string{pNoLease}},
		{"abandoned at the lease's end", s.Abandoned, now.Add(time.Minute), 10, []string{pNoLease, pPast, pFuture}},
		{"unsettled now", s.Unsettled, now, 10, []string{subPast}},
		{"unsettled after the signer's grace", s.Unsettled, now.Add(SignedGrace), 10, []string{subPast, signed}},
		{"unsettled, bounded", s.Unsettled, now.Add(SignedGrace), 1, []string{subPast}},
		{"unsettled later", s.Unsettled, now.Add(time.Hour), 10, []string{subPast, signed, subFuture}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.list(ctx, tt.at, tt.limit)
			if err != nil || !slices.Equal(ids(got), tt.want) {
				t.Errorf("got %v %v, want %v", ids(got), err, tt.want)
			}
			for _, tr := range got {
				if !tr.Verified {
					t.Errorf("%s unverified", tr.ID)
				}
			}
		})
	}

	// ScheduleCheck counts the check and moves it, without a new version.
	before := get(t, s, subPast)
	_, head, err := s.Changes(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	next := now.Add(2 * time.Hour)
	if err := s.ScheduleCheck(ctx, subPast, next); err != nil {
		t.Fatal(err)
	}
	after := get(t, s, subPast)
	if after.Checks != before.Checks+1 || !after.NextCheck.Equal(next) || after.Version != before.Version || !after.Verified {
		t.Errorf("after ScheduleCheck: checks %d→%d next %v version %d→%d", before.Checks, after.Checks, after.NextCheck, before.Version, after.Version)
	}
	if got, h, err := s.Changes(ctx, head.Seq, head.Version); err != nil || len(got) != 0 || h != head {
		t.Errorf("ScheduleCheck moved the ledger: %v %+v %v", ids(got), h, err)
	}
	// Only a signed or submitted transfer has checks.
	if err := s.ScheduleCheck(ctx, pPast, next); err != nil {
		t.Fatal(err)
	}
	if got := get(t, s, pPast); got.Checks != 0 || !got.NextCheck.IsZero() {
		t.Errorf("ScheduleCheck changed a pending transfer: %+v", got)
	}
}

// TestLedgerGroupHead: Ledger writes that share one group commit start from
// the head the earlier ones left, without reading it again: an insert rolled
// back to its savepoint leaves the head where it was, another kind of write
// in between makes the next Ledger write read it again, and the result is
// the same contiguous ledger as with one transaction each. The group is
// formed by holding the commit slot while the writes queue.
func TestLedgerGroupHead(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t, nil)
	errBoom := errors.New("boom")
	insert := func(fail bool) func() error {
		return func() error {
			return s.Ledger(ctx, func(lt *LedgerTx) error {
				if _, _, err := lt.Insert(testTransfer()); err != nil {
					return err
				}
				if fail {
					return errBoom
				}
				return nil
			})
		}
	}
	other := func() error {
		return s.write(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE transfers SET checks = checks + 1 WHERE seq = 1`)
			return err
		})
	}
	writes := []func() error{insert(false), insert(true), insert(false), other, insert(false), insert(true), insert(false)}
	want := []error{nil, errBoom, nil, nil, nil, errBoom, nil}
	s.wlock <- struct{}{} // no group commits until every write is queued
	errs := make([]error, len(writes))
	var wg sync.WaitGroup
	for i, w := range writes {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = w() }()
		// Queue them in order: wait until this one is in the queue.
		for {
			s.gmu.Lock()
			n := len(s.queue)
			s.gmu.Unlock()
			if n == i+1 {
				break
			}
			runtime.Gosched()
		}
	}
	_, commits0 := s.Stats()
	<-s.wlock
	wg.Wait()
	for i := range writes {
		if !errors.Is(errs[i], want[i]) {
			t.Errorf("write %d: %v, want %v", i, errs[i], want[i])
		}
	}
	if _, commits := s.Stats(); commits-commits0 != 1 {
		t.Errorf("%d commits, want the whole group in one", commits-commits0)
	}
	all, h, err := s.LoadLedger(ctx, time.Time{})
	if err != nil || len(all) != 4 || h != (LedgerHead{4, 4}) {
		t.Fatalf("ledger: %d rows, head %+v, %v; want 4 rows, head {4 4}", len(all), h, err)
	}
	for i, tr := range all {
		if tr.Seq != int64(i+1) || tr.Version != int64(i+1) {
			t.Errorf("row %d: seq %d version %d", i, tr.Seq, tr.Version)
		}
	}
	// The next transaction verifies the head afresh and finds it intact.
	if err := insert(false)(); err != nil {
		t.Fatal(err)
	}
}

// TestInsertSigned: a transfer inserted signed is the row Insert then
// MarkSigned would leave (signed, its hash and bytes, due for settling
// SignedGrace later, authenticated), seen by another handle, settled and
// never abandoned; bad input is refused and writes nothing; a used key
// answers with its transfer and writes nothing.
func TestInsertSigned(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s1, s2 := openPair(t, &Options{Now: clk.Now})
	now := clk.Now()
	hash, raw := common.HexToHash("0x1234"), []byte{0x02, 0xf8, 0x01}
	insert := func(tr *Transfer, hash common.Hash, raw []byte) (*Transfer, bool, error) {
		var got *Transfer
		var created bool
		err := s1.Ledger(ctx, func(lt *LedgerTx) error {
			var err error
			got, created, err = lt.InsertSigned(tr, hash, raw)
			return err
		})
		return got, created, err
	}
	nonce := func(n uint64) *uint64 { return &n }
	w0, _ := s1.Stats()
	for _, c := range []struct {
		name  string
		nonce *uint64
		hash  common.Hash
		raw   []byte
		want  string
	}{
		{"no nonce", nil, hash, raw, "needs its nonce"},
		{"nonce out of range", nonce(1 << 63), hash, raw, "nonce out of range"},
		{"zero hash", nonce(0), common.Hash{}, raw, "zero transaction hash"},
		{"no bytes", nonce(0), hash, nil, "empty signed transaction"},
	} {
		tr := testTransfer()
		tr.Nonce = c.nonce
		if _, _, err := insert(tr, c.hash, c.raw); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	if w, _ := s1.Stats(); w != w0 {
		t.Fatalf("%d writes committed by refused inserts", w-w0)
	}

	tr := testTransfer()
	tr.IdempotencyKey, tr.ArgsHash, tr.Nonce = "k1", make([]byte, 32), nonce(7)
	got, created, err := insert(tr, hash, raw)
	if err != nil || !created {
		t.Fatalf("InsertSigned: %v, %v", created, err)
	}
	raw[0] = 0xff // the store keeps its own copy
	for _, s := range []*Store{s1, s2} {
		r, err := s.Transfer(ctx, got.ID)
		if err != nil || !r.Verified || r.Status != StatusSigned || r.TxHash == nil || *r.TxHash != hash ||
			string(r.RawTx) != "\x02\xf8\x01" || r.Nonce == nil || *r.Nonce != 7 || !r.NextCheck.Equal(now.Add(SignedGrace)) {
			t.Fatalf("read back: %+v, %v", r, err)
		}
	}
	if due, err := s2.Unsettled(ctx, now.Add(SignedGrace), 10); err != nil || !slices.Equal(ids(due), []string{got.ID}) {
		t.Fatalf("unsettled after the grace: %v, %v", ids(due), err)
	}
	if ab, err := s2.Abandoned(ctx, now.Add(time.Hour), 10); err != nil || len(ab) != 0 {
		t.Fatalf("a signed insert was abandoned: %v, %v", ids(ab), err)
	}
	again := testTransfer()
	again.IdempotencyKey, again.ArgsHash, again.Nonce = "k1", make([]byte, 32), nonce(8)
	if e, created, err := insert(again, common.HexToHash("0x99"), raw); err != nil || created || e.ID != got.ID {
		t.Fatalf("the same key again: %+v, %v, %v", e, created, err)
	}
	if all, h, err := s1.LoadLedger(ctx, time.Time{}); err != nil || len(all) != 1 || h != (LedgerHead{1, 1}) {
		t.Fatalf("after the used key: %d rows, head %+v, %v", len(all), h, err)
	}
}

// insertKeyed inserts a test transfer with idempotency key key.
func insertKeyed(lt *LedgerTx, key string) error {
	tr := testTransfer()
	tr.IdempotencyKey, tr.ArgsHash = key, make([]byte, 32)
	_, _, err := lt.Insert(tr)
	return err
}

// inOneGroup starts fs, each making one write, so that their writes queue
// into one group commit: it holds the write lock until all have queued.
func inOneGroup(t *testing.T, s *Store, fs ...func()) {
	t.Helper()
	s.wlock <- struct{}{}
	for _, f := range fs {
		go f()
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		s.gmu.Lock()
		n := len(s.queue)
		s.gmu.Unlock()
		if n == len(fs) {
			break
		}
		if time.Now().After(deadline) {
			<-s.wlock
			t.Fatalf("%d of %d writes queued", n, len(fs))
		}
	}
	<-s.wlock
}

// writeOutcome is what a write's caller got: an error, or a panic.
type writeOutcome struct {
	err      error
	panicked any
}

// catch runs a write, keeping its error or its panic.
func catch(write func() error) (o writeOutcome) {
	defer func() { o.panicked = recover() }()
	o.err = write()
	return o
}

// outcomes runs writes in one group and returns what each caller got, in
// order; a write that never returns fails the test.
func outcomes(t *testing.T, s *Store, writes ...func() error) []writeOutcome {
	t.Helper()
	cs := make([]chan writeOutcome, len(writes))
	fs := make([]func(), len(writes))
	for i, w := range writes {
		cs[i] = make(chan writeOutcome, 1)
		fs[i] = func() { cs[i] <- catch(w) }
	}
	inOneGroup(t, s, fs...)
	out := make([]writeOutcome, len(writes))
	for i, c := range cs {
		select {
		case out[i] = <-c:
		case <-time.After(10 * time.Second):
			t.Fatalf("write %d of the group never returned", i+1)
		}
	}
	return out
}

// storedKeys checks which idempotency keys have a transfer.
func storedKeys(t *testing.T, s *Store, want map[string]bool) {
	t.Helper()
	for key, w := range want {
		if _, err := s.TransferByKey(context.Background(), key); (err == nil) != w {
			t.Errorf("%s stored: %v, want %v", key, err == nil, w)
		}
	}
}

// TestWritePanicRaisedInItsCaller: a write whose fn panics is rolled back
// alone, the rest of its group commits, the panic reaches that write's
// caller (not the goroutine leading the group), and the store takes writes
// afterwards (the group's leader released the write lock).
func TestWritePanicRaisedInItsCaller(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t, nil)
	write := func(key string, boom bool) func() error {
		return func() error {
			return s.Ledger(ctx, func(lt *LedgerTx) error {
				if err := insertKeyed(lt, key); err != nil {
					return err
				}
				if boom {
					panic("boom")
				}
				return nil
			})
		}
	}
	got := outcomes(t, s, write("k-bad", true), write("k-good", false))
	if got[0].panicked != "boom" {
		t.Fatalf("the panicking write's caller got %+v, want the panic", got[0])
	}
	if got[1] != (writeOutcome{}) {
		t.Fatalf("the other write of the group: %+v", got[1])
	}
	if o := catch(write("k-after", false)); o != (writeOutcome{}) {
		t.Fatalf("a write after the panic: %+v", o)
	}
	storedKeys(t, s, map[string]bool{"k-bad": false, "k-good": true, "k-after": true})
	if all, h, err := s.LoadLedger(ctx, time.Time{}); err != nil || len(all) != 2 || h != (LedgerHead{2, 2}) {
		t.Fatalf("ledger: %d rows, head %+v, %v", len(all), h, err)
	}
}

// TestCommitAfter: a group commits only once its writes' commit conditions
// hold; one that fails leaves nothing of the group written, each write
// failing with ErrCommitCondition; the condition of a write whose fn failed
// is dropped with it.
func TestCommitAfter(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t, nil)
	write := func(key string, cond func(context.Context) error, fnErr error) func() error {
		return func() error {
			return s.Ledger(ctx, func(lt *LedgerTx) error {
				if err := insertKeyed(lt, key); err != nil {
					return err
				}
				if cond != nil {
					lt.CommitAfter(cond)
				}
				return fnErr
			})
		}
	}
	disk := errors.New("audit: disk full")
	for i, o := range outcomes(t, s, write("k1", func(context.Context) error { return disk }, nil), write("k2", nil, nil)) {
		if !errors.Is(o.err, ErrCommitCondition) || !errors.Is(o.err, ErrNotCommitted) || !errors.Is(o.err, disk) {
			t.Errorf("write %d of the group whose condition failed: %+v", i+1, o)
		}
	}
	refused := errors.New("refused")
	var held atomic.Bool
	got := outcomes(t, s, write("k3", func(context.Context) error { return disk }, refused),
		write("k4", func(context.Context) error { held.Store(true); return nil }, nil))
	if !errors.Is(got[0].err, refused) || got[1] != (writeOutcome{}) || !held.Load() {
		t.Fatalf("a failed write's condition: %+v, %+v (condition ran: %v)", got[0], got[1], held.Load())
	}
	storedKeys(t, s, map[string]bool{"k1": false, "k2": false, "k3": false, "k4": true})
}

// TestGroupPanicFailsItsWrites: a panic in the group commit outside the
// writes' fns (here just before the COMMIT) writes nothing, tells every
// write of the group so (none waits forever), reaches the leading caller,
// and leaves the store taking writes.
func TestGroupPanicFailsItsWrites(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t, nil)
	write := func(key string) func() error {
		return func() error { return s.Ledger(ctx, func(lt *LedgerTx) error { return insertKeyed(lt, key) }) }
	}
	s.beforeCommit = func() { panic("driver") }
	var panics, aborted int
	for _, o := range outcomes(t, s, write("k1"), write("k2")) {
		switch {
		case o.panicked == "driver":
			panics++
		case errors.Is(o.err, ErrNotCommitted):
			aborted++
		default:
			t.Errorf("a write of the group: %+v", o)
		}
	}
	if panics != 1 || aborted != 1 {
		t.Fatalf("%d panics, %d failed writes; want the leader's panic and the other's failure", panics, aborted)
	}
	s.beforeCommit = nil
	if o := catch(write("k3")); o != (writeOutcome{}) {
		t.Fatalf("a write after the panic: %+v", o)
	}
	storedKeys(t, s, map[string]bool{"k1": false, "k2": false, "k3": true})
}

// TestCommitFailureIsUnknown: a COMMIT that fails may have reached the disk
// (a failed fsync after the WAL frames were written): every write of its
// group gets ErrCommitUnknown with ErrNotCommitted, never a plain "not
// written". Here the commit did reach the disk.
func TestCommitFailureIsUnknown(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t, nil)
	s.commitFn = func(tx *sql.Tx) error {
		if err := tx.Commit(); err != nil {
			return err
		}
		return errors.New("fsync: input/output error")
	}
	err := s.Ledger(ctx, func(lt *LedgerTx) error { return insertKeyed(lt, "k1") })
	if !errors.Is(err, ErrCommitUnknown) || !errors.Is(err, ErrNotCommitted) {
		t.Fatalf("a failed COMMIT: %v; want ErrCommitUnknown and ErrNotCommitted", err)
	}
	s.commitFn = nil
	storedKeys(t, s, map[string]bool{"k1": true})
}
