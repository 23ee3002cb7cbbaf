package store

import (
	"context"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
)

func offlineReq(id string, from common.Address, expires time.Time) *OfflineRequest {
	return &OfflineRequest{ID: id, ChainID: 1337, From: from, To: common.HexToAddress("0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"),
		Asset: AssetETH, Amount: big.NewInt(1e16), Nonce: 7, Request: []byte{0xa1, 0x01, 0x02}, Summary: []byte(`{"to_tail":"395bdf"}`), ExpiresAt: expires}
}

func TestOfflineRequestRoundTrip(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	s, _ := openTest(t, &Options{Now: func() time.Time { return now }})
	from := common.HexToAddress("0x00000000000000000000000000000000000a11ce")
	r := offlineReq("9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d", from, now.Add(10*time.Minute))
	if err := s.CreateOfflineRequest(ctx, r, 2); err != nil {
		t.Fatal(err)
	}
	got, err := s.OfflineRequestByID(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.From != from || got.To != r.To || got.Amount.Cmp(r.Amount) != 0 || got.Nonce != 7 || string(got.Request) != string(r.Request) ||
		!got.ExpiresAt.Equal(r.ExpiresAt) || !got.CreatedAt.Equal(now) || got.ChainID != 1337 || got.Asset != AssetETH {
		t.Fatalf("got %+v", got)
	}
	if _, err := s.OfflineRequestByID(ctx, "00000000-0000-4000-8000-000000000000"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
	// The same id twice is refused by the primary key.
	if err := s.CreateOfflineRequest(ctx, offlineReq(r.ID, from, now.Add(time.Minute)), 0); err == nil {
		t.Fatal("a second request with the same id was stored")
	}
	// At most maxOpen unexpired requests per account.
	if err := s.CreateOfflineRequest(ctx, offlineReq("a", from, now.Add(time.Minute)), 2); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateOfflineRequest(ctx, offlineReq("b", from, now.Add(time.Minute)), 2); !errors.Is(err, ErrTooManyOffline) {
		t.Fatalf("third open request: %v", err)
	}
	if err := s.CreateOfflineRequest(ctx, offlineReq("c", common.HexToAddress("0x0b0b"), now.Add(time.Minute)), 2); err != nil {
		t.Fatalf("another account: %v", err)
	}
	// Expired requests no longer count. One the wallet never sent is not
	// purged a day later while its nonce is free (TestOfflineRetention).
	now = now.Add(2 * time.Minute)
	if err := s.CreateOfflineRequest(ctx, offlineReq("d", from, now.Add(time.Minute)), 2); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	now = now.Add(25 * time.Hour)
	if err := s.CreateOfflineRequest(ctx, offlineReq("e", from, now.Add(time.Minute)), 2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.OfflineRequestByID(ctx, "a"); err != nil {
		t.Fatalf("old expired request never sent: %v", err)
	}
}

func TestOfflineRequestTamper(t *testing.T) {
	for _, tc := range []struct{ name, sql string }{
		{"recipient changed", `UPDATE offline_requests SET to_addr = '0x00000000000000000000000000000000000ca201'`},
		{"amount raised", `UPDATE offline_requests SET amount = '99999'`},
		{"request swapped", `UPDATE offline_requests SET request = x'a0'`},
		{"lifetime extended", `UPDATE offline_requests SET expires_at = expires_at + 3600000000000`},
		{"nonce changed", `UPDATE offline_requests SET nonce = 8`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s, _ := openTest(t, nil)
			r := offlineReq("id-1", common.HexToAddress("0x0a"), time.Now().Add(time.Hour))
			if err := s.CreateOfflineRequest(ctx, r, 0); err != nil {
				t.Fatal(err)
			}
			if _, err := s.db.Exec(tc.sql); err != nil {
				t.Fatal(err)
			}
			if _, err := s.OfflineRequestByID(ctx, "id-1"); !errors.Is(err, ErrTampered) {
				t.Fatalf("got %v, want a tamper error", err)
			}
		})
	}
}

// TestOfflineUsedElsewhere: a request is listed while the wallet does not
// count it (never submitted, or its submission failed), its nonce is below
// the chain's and no live transfer holds that nonce, however long ago it
// expired; RecordOutside counts it once, marked, and then it is no longer
// listed. Two requests at one nonce are both listed (either may be what was
// broadcast).
func TestOfflineUsedElsewhere(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	s, _ := openTest(t, &Options{Now: func() time.Time { return now }})
	from := common.HexToAddress("0x00000000000000000000000000000000000a11ce")
	mk := func(id string, nonce uint64, expires time.Time) *OfflineRequest {
		r := offlineReq(id, from, expires)
		r.Nonce = nonce
		if err := s.CreateOfflineRequest(ctx, r, 0); err != nil {
			t.Fatal(err)
		}
		return r
	}
	a := mk("a", 3, now.Add(time.Minute))
	mk("b", 3, now.Add(time.Minute))
	mk("c", 5, now.Add(time.Minute))
	mk("old", 1, now.Add(-2*time.Hour))
	ids := func(used uint64) string {
		t.Helper()
		list, err := s.OfflineUsedElsewhere(ctx, 1337, from, used, 10)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range list {
			out = append(out, r.ID)
		}
		return strings.Join(out, ",")
	}
	// old expired two hours ago: its signed transaction does not expire.
	if got := ids(3); got != "old" {
		t.Fatalf("nonce 3 free: listed %q, want old", got)
	}
	if got := ids(6); got != "old,a,b,c" {
		t.Fatalf("listed %q, want old,a,b,c", got)
	}
	if open, err := s.HasOpenOffline(ctx, from); err != nil || !open {
		t.Fatalf("open %v, %v", open, err)
	}
	// A live transfer of the wallet at nonce 5 hides c.
	n := uint64(5)
	if _, _, err := s.CreateTransfer(ctx, &Transfer{ChainID: 1337, From: from, To: a.To, Asset: AssetETH, Amount: big.NewInt(1), Kind: KindApproved, Nonce: &n}); err != nil {
		t.Fatal(err)
	}
	// a is recorded as spent outside: counted, confirmed, marked, listed no more.
	var rec *Transfer
	err := s.Ledger(ctx, func(lt *LedgerTx) error {
		if _, err := lt.LiveAtNonce(1337, from, 3); !errors.Is(err, ErrNotFound) {
			t.Fatalf("live at nonce 3: %v", err)
		}
		if got, err := lt.LiveAtNonce(1337, from, 5); err != nil || got.Nonce == nil || *got.Nonce != 5 {
			t.Fatalf("live at nonce 5: %+v, %v", got, err)
		}
		var err error
		rec, err = lt.RecordOutside(&Transfer{ApprovalID: OfflineApprovalID("a"), IdempotencyKey: OfflineOutsideKey("a"), ArgsHash: make([]byte, 32),
			ChainID: 1337, From: from, To: a.To, Asset: AssetETH, Amount: a.Amount, Kind: KindApproved})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.TransferByApproval(ctx, OfflineApprovalID("a"))
	if err != nil || got.ID != rec.ID || got.Status != StatusConfirmed || !got.Counted() || !got.OutsideBroadcast() || got.Amount.Cmp(a.Amount) != 0 {
		t.Fatalf("recorded %+v, %v", got, err)
	}
	if got := ids(6); got != "old,b" {
		t.Fatalf("listed %q, want old,b", got)
	}
	// Recording a again conflicts; a transfer with an agent's key is not marked.
	err = s.Ledger(ctx, func(lt *LedgerTx) error {
		_, err := lt.RecordOutside(&Transfer{ApprovalID: OfflineApprovalID("a"), IdempotencyKey: OfflineOutsideKey("a"), ArgsHash: make([]byte, 32),
			ChainID: 1337, From: from, To: a.To, Asset: AssetETH, Amount: a.Amount, Kind: KindApproved})
		return err
	})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("a recorded twice: %v", err)
	}
	// b's submission failed before it was signed, d's once signed (its
	// nonce used by another transaction): both still listed. The agent holds
	// the device's signature, and what used d's nonce may be d signed again.
	failed := func(id string, signed bool) {
		t.Helper()
		tr, _, err := s.CreateTransfer(ctx, &Transfer{ApprovalID: OfflineApprovalID(id), ChainID: 1337, From: from, To: a.To, Asset: AssetETH, Amount: big.NewInt(1), Kind: KindApproved})
		if err != nil {
			t.Fatal(err)
		}
		if signed {
			if err := s.MarkSigned(ctx, tr.ID, 3, common.Hash{0x33}, []byte{1}); err != nil {
				t.Fatal(err)
			}
			err = s.MarkDropped(ctx, tr.ID, "nonce used")
		} else {
			err = s.MarkFailed(ctx, tr.ID, "interrupted")
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	failed("b", false)
	if got := ids(6); got != "old,b" {
		t.Fatalf("listed %q, want old,b", got)
	}
	mk("d", 4, now.Add(time.Minute))
	failed("d", true)
	if got := ids(6); got != "old,b,d" {
		t.Fatalf("listed %q, want old,b,d", got)
	}
	if (&Transfer{IdempotencyKey: "offline-outside"}).OutsideBroadcast() {
		t.Fatal("a bare key is marked")
	}
}

// TestOfflineRetention: an expired request is forgotten a day after expiry
// only once it is settled: counted by the wallet, or its nonce used by a
// transaction the wallet knows mined. A request never sent whose nonce is
// free stays (and stays open to the sweep) however long ago it expired.
func TestOfflineRetention(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	s, _ := openTest(t, &Options{Now: func() time.Time { return now }})
	from := common.HexToAddress("0x00000000000000000000000000000000000a11ce")
	n := 0
	create := func(id string, nonce uint64) {
		t.Helper()
		r := offlineReq(id, from, now.Add(time.Minute))
		r.Nonce = nonce
		if err := s.CreateOfflineRequest(ctx, r, 0); err != nil {
			t.Fatal(err)
		}
		n++
	}
	kept := func(id string) bool {
		t.Helper()
		_, err := s.OfflineRequestByID(ctx, id)
		if err != nil && !errors.Is(err, ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	create("hoarded", 2)
	create("counted", 2)
	create("superseded", 3)
	// counted is recorded as spent outside; a confirmed transfer of the
	// wallet holds nonce 3.
	if err := s.Ledger(ctx, func(lt *LedgerTx) error {
		_, err := lt.RecordOutside(&Transfer{ApprovalID: OfflineApprovalID("counted"), IdempotencyKey: OfflineOutsideKey("counted"), ArgsHash: make([]byte, 32),
			ChainID: 1337, From: from, To: from, Asset: AssetETH, Amount: big.NewInt(1), Kind: KindApproved})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	three := uint64(3)
	tr, _, err := s.CreateTransfer(ctx, &Transfer{ChainID: 1337, From: from, To: from, Asset: AssetETH, Amount: big.NewInt(1), Kind: KindApproved, Nonce: &three})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.MarkSigned(ctx, tr.ID, 3, common.Hash{0x03}, []byte{3}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(48 * time.Hour)
	create("later", 4) // removes what can be forgotten
	if !kept("hoarded") {
		t.Fatal("a request never sent, its nonce free, was forgotten")
	}
	if kept("counted") {
		t.Fatal("a counted request was kept")
	}
	if !kept("superseded") {
		t.Fatal("a request whose nonce a transfer not yet mined holds was forgotten")
	}
	if err := s.MarkConfirmed(ctx, tr.ID, 9); err != nil {
		t.Fatal(err)
	}
	create("later2", 4)
	if kept("superseded") {
		t.Fatal("a request whose nonce a mined transfer used was kept")
	}
	if open, err := s.HasOpenOffline(ctx, from); err != nil || !open {
		t.Fatalf("hoarded not open: %v, %v", open, err)
	}
}

// TestRecordOutsideWithTransaction: with a mined transaction the row is
// confirmed with its hash, bytes, nonce and block; with a pooled one it is
// signed and due for settling at once.
func TestRecordOutsideWithTransaction(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	s, _ := openTest(t, &Options{Now: func() time.Time { return now }})
	from := common.HexToAddress("0x0a")
	for i, block := range []*uint64{ptrU64(9), nil} {
		id := []string{"mined", "pooled"}[i]
		h := common.Hash{byte(i + 1)}
		n := uint64(i)
		err := s.Ledger(ctx, func(lt *LedgerTx) error {
			_, err := lt.RecordOutside(&Transfer{ApprovalID: OfflineApprovalID(id), IdempotencyKey: OfflineOutsideKey(id), ArgsHash: make([]byte, 32),
				ChainID: 1337, From: from, To: from, Asset: AssetETH, Amount: big.NewInt(1), Kind: KindApproved,
				Nonce: &n, TxHash: &h, RawTx: []byte{1, 2}, BlockNumber: block})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.TransferByHash(ctx, h)
		if err != nil || got.Nonce == nil || *got.Nonce != n || string(got.RawTx) != "\x01\x02" {
			t.Fatalf("%s: %+v, %v", id, got, err)
		}
		if block != nil && (got.Status != StatusConfirmed || got.BlockNumber == nil || *got.BlockNumber != 9) {
			t.Fatalf("mined: %+v", got)
		}
		if block == nil && got.Status != StatusSigned {
			t.Fatalf("pooled: %+v", got)
		}
	}
	due, err := s.Unsettled(ctx, now, 10)
	if err != nil || len(due) != 1 || due[0].ApprovalID != OfflineApprovalID("pooled") {
		t.Fatalf("unsettled %v, %v", due, err)
	}
	err = s.Ledger(ctx, func(lt *LedgerTx) error {
		_, err := lt.RecordOutside(&Transfer{ApprovalID: "not-offline", ChainID: 1337, From: from, To: from, Asset: AssetETH, Amount: big.NewInt(1), Kind: KindApproved})
		return err
	})
	if err == nil {
		t.Fatal("an outside spend without an offline request was recorded")
	}
}

func ptrU64(v uint64) *uint64 { return &v }

// TestOutsideCandidatesPlan: the sweep's query searches indexes only.
func TestOutsideCandidatesPlan(t *testing.T) {
	s, _ := openTest(t, nil)
	plan := queryPlan(t, s, qOutsideCandidates, "0x00", int64(1), int64(0), int64(5), 10)
	for _, index := range []string{"offline_requests_from_expires", "transfers_approval", "transfers_nonce", "transfers_idempotency_key"} {
		if !strings.Contains(plan, "INDEX "+index) {
			t.Errorf("plan %q does not use index %s", plan, index)
		}
	}
	if strings.Contains(plan, "SCAN transfers") || strings.Contains(plan, "SCAN r") {
		t.Errorf("plan %q walks a table", plan)
	}
}

// TestOfflineRowsCounted: each request row is MAC'd, but nothing counted
// them, so a row deleted without the key went unnoticed, and with it a
// request the agent may hold signed (the window counts the requests that
// may still be spent). The rows are counted by a MAC'd head: a row removed,
// or added, without the key is refused where requests are counted, and
// where one is stored; the store's own retention keeps the head right.
func TestOfflineRowsCounted(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	from := common.HexToAddress("0x00000000000000000000000000000000000a11ce")
	outstanding := func(s *Store) error {
		return s.Ledger(ctx, func(lt *LedgerTx) error {
			_, err := lt.OfflineOutstanding(1337, from)
			return err
		})
	}
	t.Run("RowDeleted", func(t *testing.T) {
		s, _ := openTest(t, &Options{Now: func() time.Time { return now }})
		for _, id := range []string{"a", "b"} {
			if err := s.CreateOfflineRequest(ctx, offlineReq(id, from, now.Add(time.Minute)), 0); err != nil {
				t.Fatal(err)
			}
		}
		if err := outstanding(s); err != nil {
			t.Fatal(err)
		}
		if _, err := s.db.Exec(`DELETE FROM offline_requests WHERE id = 'a'`); err != nil {
			t.Fatal(err)
		}
		if err := outstanding(s); !errors.Is(err, ErrTampered) {
			t.Fatalf("a request row deleted: %v, want a tamper error", err)
		}
		if err := s.CreateOfflineRequest(ctx, offlineReq("c", from, now.Add(time.Minute)), 0); !errors.Is(err, ErrTampered) {
			t.Fatalf("storing after a row was deleted: %v, want a tamper error", err)
		}
		if _, err := s.db.Exec(`DELETE FROM offline_head`); err != nil {
			t.Fatal(err)
		}
		if err := outstanding(s); !errors.Is(err, ErrTampered) {
			t.Fatalf("the head deleted: %v, want a tamper error", err)
		}
	})
	t.Run("RetentionKeepsTheCount", func(t *testing.T) {
		clock := now
		s, _ := openTest(t, &Options{Now: func() time.Time { return clock }})
		r := offlineReq("old", from, clock.Add(time.Minute))
		if err := s.CreateOfflineRequest(ctx, r, 0); err != nil {
			t.Fatal(err)
		}
		// Counted by the wallet (a transfer submits it), and expired long
		// ago: the next insert removes it.
		nonce := uint64(7)
		if _, _, err := s.CreateTransfer(ctx, &Transfer{ApprovalID: OfflineApprovalID("old"), ArgsHash: make([]byte, 32), ChainID: 1337,
			From: from, To: r.To, Asset: AssetETH, Amount: r.Amount, Kind: KindApproved, Nonce: &nonce}); err != nil {
			t.Fatal(err)
		}
		clock = clock.Add(48 * time.Hour)
		if err := s.CreateOfflineRequest(ctx, offlineReq("new", from, clock.Add(time.Minute)), 0); err != nil {
			t.Fatal(err)
		}
		if _, err := s.OfflineRequestByID(ctx, "old"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("the settled expired request: %v, want it removed", err)
		}
		if err := outstanding(s); err != nil {
			t.Fatalf("after the store's own removal: %v", err)
		}
	})
	t.Run("UpgradeSeals", func(t *testing.T) {
		// A home from before the head: its requests are counted as the
		// first keyed open finds them.
		s, path := openTest(t, &Options{Now: func() time.Time { return now }})
		if err := s.CreateOfflineRequest(ctx, offlineReq("a", from, now.Add(time.Minute)), 0); err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{`DROP TABLE offline_head`, `DELETE FROM schema_migrations WHERE version = 10`} {
			if _, err := s.db.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		s.Close()
		s2, err := Open(ctx, path, withKey(nil))
		if err != nil {
			t.Fatalf("upgrade: %v", err)
		}
		defer s2.Close()
		if err := outstanding(s2); err != nil {
			t.Fatalf("after the upgrade: %v", err)
		}
	})
	t.Run("KeylessUpgradeRefused", func(t *testing.T) {
		// Without the key, requests stored by an earlier version cannot be
		// counted under a sealed head: the upgrade waits for the key.
		s, path := openTest(t, &Options{Now: func() time.Time { return now }})
		if err := s.CreateOfflineRequest(ctx, offlineReq("a", from, now.Add(time.Minute)), 0); err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{`DROP TABLE offline_head`, `DELETE FROM schema_migrations WHERE version = 10`} {
			if _, err := s.db.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		s.Close()
		if s2, err := Open(ctx, path, nil); err == nil || !strings.Contains(err.Error(), "home passphrase") {
			if s2 != nil {
				s2.Close()
			}
			t.Fatalf("keyless upgrade of a database with requests: %v, want it refused", err)
		}
		s3, err := Open(ctx, path, withKey(nil))
		if err != nil {
			t.Fatalf("keyed upgrade after the refusal: %v", err)
		}
		defer s3.Close()
		if err := outstanding(s3); err != nil {
			t.Fatalf("after the keyed upgrade: %v", err)
		}
	})
	t.Run("ForgedUnsealedHeadNotTrusted", func(t *testing.T) {
		// A head without a MAC is never sealed as found: that would let
		// anything that can write the file delete a request and have the
		// next keyed open count what is left.
		s, path := openTest(t, &Options{Now: func() time.Time { return now }})
		for _, id := range []string{"a", "b"} {
			if err := s.CreateOfflineRequest(ctx, offlineReq(id, from, now.Add(time.Minute)), 0); err != nil {
				t.Fatal(err)
			}
		}
		for _, q := range []string{`DELETE FROM offline_requests WHERE id = 'a'`, `UPDATE offline_head SET inserted = 1, deleted = 0, mac = X''`} {
			if _, err := s.db.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		s.Close()
		s2, err := Open(ctx, path, withKey(nil))
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		if err := outstanding(s2); !errors.Is(err, ErrTampered) {
			t.Fatalf("a deleted request under a forged unsealed head: %v, want a tamper error", err)
		}
	})
}
