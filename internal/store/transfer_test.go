package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
)

const usdc = "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"

var (
	alice = common.HexToAddress("0x00000000000000000000000000000000000a11ce")
	bob   = common.HexToAddress("0x0000000000000000000000000000000000000b0b")
	carol = common.HexToAddress("0x00000000000000000000000000000000000ca201")
)

func argsHash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// testTransfer is a valid ETH transfer from alice to bob of 1 wei, no key.
func testTransfer() *Transfer {
	return &Transfer{ChainID: 1337, From: alice, To: bob, Asset: AssetETH, Amount: big.NewInt(1), Kind: KindAuto}
}

func create(t *testing.T, s *Store, tr *Transfer) *Transfer {
	t.Helper()
	got, created, err := s.CreateTransfer(context.Background(), tr)
	if err != nil {
		t.Fatalf("CreateTransfer: %v", err)
	}
	if !created {
		t.Fatalf("CreateTransfer: not created")
	}
	return got
}

func get(t *testing.T, s *Store, id string) *Transfer {
	t.Helper()
	got, err := s.Transfer(context.Background(), id)
	if err != nil {
		t.Fatalf("Transfer(%s): %v", id, err)
	}
	return got
}

func TestCreateTransfer(t *testing.T) {
	clk := newClock()
	ids := bytes.NewReader(bytes.Repeat([]byte{0xab}, 16))
	s, _ := openTest(t, &Options{Now: clk.Now, Rand: ids})
	in := &Transfer{
		IdempotencyKey: "key-1",
		ArgsHash:       argsHash("a"),
		ChainID:        1337,
		From:           alice,
		To:             bob,
		Asset:          usdc,
		Amount:         big.NewInt(42),
		Kind:           KindApproved,
		Status:         StatusSubmitted, // ignored
		Error:          "ignored",
	}
	got := create(t, s, in)
	if got != in {
		t.Error("CreateTransfer did not return its argument")
	}
	if want := strings.Repeat("ab", 16); got.ID != want {
		t.Errorf("ID %q, want %q", got.ID, want)
	}
	if got.Status != StatusPending || got.Error != "" {
		t.Errorf("status %q error %q, want pending and none", got.Status, got.Error)
	}
	if !got.CreatedAt.Equal(clk.Now()) || !got.UpdatedAt.Equal(clk.Now()) {
		t.Errorf("times %v %v, want %v", got.CreatedAt, got.UpdatedAt, clk.Now())
	}
	stored := get(t, s, got.ID)
	if !reflect.DeepEqual(stored, got) {
		t.Errorf("stored\n%+v\nreturned\n%+v", stored, got)
	}

	// A caller-chosen ID is kept; an ID is random otherwise.
	s2, _ := openTest(t, nil)
	a, b := testTransfer(), testTransfer()
	a.ID = "chosen"
	create(t, s2, a)
	create(t, s2, b)
	if a.ID != "chosen" || len(b.ID) != 32 || b.ID == a.ID {
		t.Errorf("IDs %q %q", a.ID, b.ID)
	}
	if _, _, err := s2.CreateTransfer(context.Background(), &Transfer{ID: "chosen", ChainID: 1, Asset: AssetETH, Amount: big.NewInt(1), Kind: KindAuto}); err == nil {
		t.Error("a duplicate ID was accepted")
	}

	// No randomness, no transfer.
	s3, _ := openTest(t, &Options{Rand: bytes.NewReader(nil)})
	if _, _, err := s3.CreateTransfer(context.Background(), testTransfer()); err == nil {
		t.Error("created a transfer without a random ID")
	}
}

func TestCreateTransferInvalid(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Transfer)
	}{
		{"nil amount", func(t *Transfer) { t.Amount = nil }},
		{"negative amount", func(t *Transfer) { t.Amount = big.NewInt(-1) }},
		{"unknown kind", func(t *Transfer) { t.Kind = "manual" }},
		{"empty kind", func(t *Transfer) { t.Kind = "" }},
		{"lowercase eth", func(t *Transfer) { t.Asset = "eth" }},
		{"symbol", func(t *Transfer) { t.Asset = "USDC" }},
		{"checksummed contract", func(t *Transfer) { t.Asset = common.HexToAddress(usdc).Hex() }},
		{"short contract", func(t *Transfer) { t.Asset = usdc[:40] }},
		{"empty asset", func(t *Transfer) { t.Asset = "" }},
		{"key without hash", func(t *Transfer) { t.IdempotencyKey = "k" }},
		{"key with short hash", func(t *Transfer) { t.IdempotencyKey = "k"; t.ArgsHash = []byte{1} }},
		{"key too long", func(t *Transfer) { t.IdempotencyKey = strings.Repeat("k", MaxKeyLen+1); t.ArgsHash = argsHash("") }},
		{"chain id beyond int64", func(t *Transfer) { t.ChainID = 1 << 63 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTest(t, nil)
			tr := testTransfer()
			tt.modify(tr)
			got, created, err := s.CreateTransfer(context.Background(), tr)
			if err == nil || got != nil || created {
				t.Fatalf("got %v %v %v, want an error", got, created, err)
			}
			var n int
			if err := s.db.QueryRow(`SELECT COUNT(*) FROM transfers`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("%d transfers stored", n)
			}
		})
	}
}

func TestCreateTransferIdempotency(t *testing.T) {
	ctx := context.Background()
	keyed := func(key, args string) *Transfer {
		tr := testTransfer()
		tr.IdempotencyKey, tr.ArgsHash = key, argsHash(args)
		return tr
	}
	tests := []struct {
		name        string
		first       *Transfer
		second      *Transfer
		reopen      bool // Close and Open between the two calls
		failFirst   bool // mark the first one failed in between
		wantCreated bool
		wantErr     error
		wantFirst   bool // the second call returns the first transfer
	}{
		{name: "same key same args", first: keyed("k", "a"), second: keyed("k", "a"), wantFirst: true},
		{name: "same key same args after reopen", first: keyed("k", "a"), second: keyed("k", "a"), reopen: true, wantFirst: true},
		{name: "same key same args, first failed", first: keyed("k", "a"), second: keyed("k", "a"), failFirst: true, wantFirst: true},
		{name: "same key other args", first: keyed("k", "a"), second: keyed("k", "b"), wantErr: ErrConflict},
		{name: "same key other args after reopen", first: keyed("k", "a"), second: keyed("k", "b"), reopen: true, wantErr: ErrConflict},
		{name: "other key same args", first: keyed("k1", "a"), second: keyed("k2", "a"), wantCreated: true},
		{name: "no key twice", first: testTransfer(), second: testTransfer(), wantCreated: true},
		{name: "key then no key", first: keyed("k", "a"), second: testTransfer(), wantCreated: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, path := openTest(t, nil)
			first := create(t, s, tt.first)
			if tt.failFirst {
				if err := s.MarkFailed(ctx, first.ID, "x"); err != nil {
					t.Fatal(err)
				}
			}
			want := get(t, s, first.ID)
			if tt.reopen {
				s.Close()
				var err error
				if s, err = Open(ctx, path, withKey(nil)); err != nil {
					t.Fatal(err)
				}
				defer s.Close()
			}
			got, created, err := s.CreateTransfer(ctx, tt.second)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if created != tt.wantCreated {
				t.Errorf("created %v, want %v", created, tt.wantCreated)
			}
			switch {
			case tt.wantErr != nil && got != nil:
				t.Errorf("got %+v with an error", got)
			case tt.wantFirst && !reflect.DeepEqual(got, want):
				t.Errorf("got\n%+v\nwant the first\n%+v", got, want)
			case tt.wantCreated && (got != tt.second || got.ID == first.ID):
				t.Errorf("got %+v, want a new transfer", got)
			}
			var n int
			if err := s.db.QueryRow(`SELECT COUNT(*) FROM transfers`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			wantN := 1
			if tt.wantCreated {
				wantN = 2
			}
			if n != wantN {
				t.Errorf("%d transfers stored, want %d", n, wantN)
			}
			if tt.first.IdempotencyKey != "" {
				byKey, err := s.TransferByKey(ctx, tt.first.IdempotencyKey)
				if err != nil || byKey.ID != first.ID {
					t.Errorf("TransferByKey: %v %v, want %s", byKey, err, first.ID)
				}
			}
		})
	}
}

func TestCreateTransferConcurrent(t *testing.T) {
	const workers = 20
	tests := []struct {
		name      string
		args      func(i int) string
		conflicts bool // some callers use other arguments
	}{
		{name: "same arguments", args: func(int) string { return "a" }},
		{name: "mixed arguments", args: func(i int) string { return fmt.Sprint(i % 2) }, conflicts: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTest(t, nil)
			type result struct {
				tr      *Transfer
				created bool
				err     error
				args    string
			}
			results := make([]result, workers)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					tr := testTransfer()
					tr.IdempotencyKey = "same-key"
					tr.ArgsHash = argsHash(tt.args(i))
					<-start
					got, created, err := s.CreateTransfer(context.Background(), tr)
					results[i] = result{got, created, err, tt.args(i)}
				}()
			}
			close(start)
			wg.Wait()

			var winner *result
			for i := range results {
				if results[i].created {
					if winner != nil {
						t.Fatalf("two transfers created: %s and %s", winner.tr.ID, results[i].tr.ID)
					}
					winner = &results[i]
				}
			}
			if winner == nil {
				t.Fatal("no transfer created")
			}
			for i, r := range results {
				switch {
				case r.created:
				case r.args == winner.args && (r.err != nil || r.tr == nil || r.tr.ID != winner.tr.ID):
					t.Errorf("worker %d: %+v %v, want the winner %s", i, r.tr, r.err, winner.tr.ID)
				case r.args != winner.args && !errors.Is(r.err, ErrConflict):
					t.Errorf("worker %d: err %v, want ErrConflict", i, r.err)
				}
			}
			var n int
			if err := s.db.QueryRow(`SELECT COUNT(*) FROM transfers`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Errorf("%d transfers stored, want 1", n)
			}
		})
	}
}

func TestTransitions(t *testing.T) {
	ctx := context.Background()
	hash := common.HexToHash("0x1234")
	raw := []byte{0x02, 0xf8, 0x70}
	next := time.Date(2026, 3, 1, 13, 0, 0, 0, time.UTC)
	ops := map[string]func(*Store, string) error{
		"sign":    func(s *Store, id string) error { return s.MarkSigned(ctx, id, 7, hash, raw) },
		"submit":  func(s *Store, id string) error { return s.MarkSubmitted(ctx, id, next) },
		"confirm": func(s *Store, id string) error { return s.MarkConfirmed(ctx, id, 99) },
		"fail":    func(s *Store, id string) error { return s.MarkFailed(ctx, id, "boom") },
		"drop":    func(s *Store, id string) error { return s.MarkDropped(ctx, id, "nonce taken") },
	}
	signed := []string{"sign"}
	submitted := []string{"sign", "submit"}
	confirmed := []string{"sign", "submit", "confirm"}
	failed := []string{"fail"}

	tests := []struct {
		name    string
		setup   []string // operations that bring the transfer to its starting state
		op      string
		wantErr error
		want    string // status afterwards
	}{
		{name: "pending → signed", op: "sign", want: StatusSigned},
		{name: "pending → failed", op: "fail", want: StatusFailed},
		{name: "signed → submitted", setup: signed, op: "submit", want: StatusSubmitted},
		{name: "signed → failed", setup: signed, op: "fail", want: StatusFailed},
		{name: "signed → confirmed", setup: signed, op: "confirm", want: StatusConfirmed},
		{name: "signed → dropped", setup: signed, op: "drop", want: StatusFailed},
		{name: "submitted → confirmed", setup: submitted, op: "confirm", want: StatusConfirmed},
		{name: "submitted → dropped", setup: submitted, op: "drop", want: StatusFailed},
		{name: "pending ↛ submitted", op: "submit", wantErr: ErrInvalidTransition, want: StatusPending},
		{name: "pending ↛ confirmed", op: "confirm", wantErr: ErrInvalidTransition, want: StatusPending},
		{name: "pending ↛ dropped", op: "drop", wantErr: ErrInvalidTransition, want: StatusPending},
		{name: "signed ↛ signed", setup: signed, op: "sign", wantErr: ErrInvalidTransition, want: StatusSigned},
		{name: "submitted ↛ signed", setup: submitted, op: "sign", wantErr: ErrInvalidTransition, want: StatusSubmitted},
		{name: "submitted ↛ submitted", setup: submitted, op: "submit", wantErr: ErrInvalidTransition, want: StatusSubmitted},
		{name: "submitted ↛ failed", setup: submitted, op: "fail", wantErr: ErrInvalidTransition, want: StatusSubmitted},
		{name: "confirmed ↛ failed", setup: confirmed, op: "fail", wantErr: ErrInvalidTransition, want: StatusConfirmed},
		{name: "confirmed ↛ dropped", setup: confirmed, op: "drop", wantErr: ErrInvalidTransition, want: StatusConfirmed},
		{name: "confirmed ↛ confirmed", setup: confirmed, op: "confirm", wantErr: ErrInvalidTransition, want: StatusConfirmed},
		{name: "confirmed ↛ submitted", setup: confirmed, op: "submit", wantErr: ErrInvalidTransition, want: StatusConfirmed},
		{name: "failed ↛ signed", setup: failed, op: "sign", wantErr: ErrInvalidTransition, want: StatusFailed},
		{name: "failed ↛ submitted", setup: failed, op: "submit", wantErr: ErrInvalidTransition, want: StatusFailed},
		{name: "failed ↛ failed", setup: failed, op: "fail", wantErr: ErrInvalidTransition, want: StatusFailed},
		{name: "failed ↛ confirmed", setup: failed, op: "confirm", wantErr: ErrInvalidTransition, want: StatusFailed},
		{name: "failed ↛ dropped", setup: failed, op: "drop", wantErr: ErrInvalidTransition, want: StatusFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			s, _ := openTest(t, &Options{Now: clk.Now})
			tr := create(t, s, testTransfer())
			for _, op := range tt.setup {
				if err := ops[op](s, tr.ID); err != nil {
					t.Fatalf("setup %s: %v", op, err)
				}
			}
			before := get(t, s, tr.ID)
			from := before.Status
			clk.Advance(time.Minute)
			err := ops[tt.op](s, tr.ID)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			after := get(t, s, tr.ID)
			if after.Status != tt.want {
				t.Errorf("status %s, want %s", after.Status, tt.want)
			}
			if !after.Verified {
				t.Error("record read back unverified")
			}
			if tt.wantErr != nil {
				var te *TransitionError
				if !errors.As(err, &te) || te.From != from || te.ID != tr.ID {
					t.Errorf("error %v is not a TransitionError from %s", err, from)
				}
				if !strings.Contains(err.Error(), from) || !strings.Contains(err.Error(), te.To) {
					t.Errorf("error %q does not name both states", err)
				}
				if !reflect.DeepEqual(before, after) {
					t.Errorf("refused transition changed the record:\n%+v\n%+v", before, after)
				}
				return
			}
			if !after.UpdatedAt.Equal(clk.Now()) || !after.CreatedAt.Equal(before.CreatedAt) {
				t.Errorf("times created %v updated %v, want %v %v", after.CreatedAt, after.UpdatedAt, before.CreatedAt, clk.Now())
			}
			if after.Seq != before.Seq || after.Version <= before.Version {
				t.Errorf("seq %d→%d version %d→%d, want the same seq and a later version", before.Seq, after.Seq, before.Version, after.Version)
			}
			switch tt.op {
			case "submit":
				if !after.NextCheck.Equal(next) {
					t.Errorf("next check %v, want %v", after.NextCheck, next)
				}
			case "confirm":
				if after.BlockNumber == nil || *after.BlockNumber != 99 {
					t.Errorf("block %v, want 99", after.BlockNumber)
				}
			case "fail", "drop":
				if after.Error == "" || after.Counted() {
					t.Errorf("failed record: error %q, counted %v", after.Error, after.Counted())
				}
			}
		})
	}
}

func TestTransitionArguments(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t, nil)
	tr := create(t, s, testTransfer())
	hash := common.HexToHash("0xfeed")
	tests := []struct {
		name    string
		call    func() error
		wantErr error // nil: any error
	}{
		{"sign unknown id", func() error { return s.MarkSigned(ctx, "nope", 1, hash, []byte{1}) }, ErrNotFound},
		{"submit unknown id", func() error { return s.MarkSubmitted(ctx, "nope", time.Time{}) }, ErrNotFound},
		{"confirm unknown id", func() error { return s.MarkConfirmed(ctx, "nope", 1) }, ErrNotFound},
		{"fail unknown id", func() error { return s.MarkFailed(ctx, "nope", "") }, ErrNotFound},
		{"drop unknown id", func() error { return s.MarkDropped(ctx, "nope", "") }, ErrNotFound},
		{"sign with zero hash", func() error { return s.MarkSigned(ctx, tr.ID, 1, common.Hash{}, []byte{1}) }, nil},
		{"sign without raw tx", func() error { return s.MarkSigned(ctx, tr.ID, 1, hash, nil) }, nil},
		{"sign with nonce beyond int64", func() error { return s.MarkSigned(ctx, tr.ID, 1<<63, hash, []byte{1}) }, nil},
		{"confirm with block beyond int64", func() error { return s.MarkConfirmed(ctx, tr.ID, 1<<63) }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if got := get(t, s, tr.ID); got.Status != StatusPending {
				t.Errorf("status %s after a refused call", got.Status)
			}
		})
	}
}

func TestSignedRecord(t *testing.T) {
	ctx := context.Background()
	s, path := openTest(t, nil)
	tr := create(t, s, testTransfer())
	hash := common.HexToHash("0xc0ffee")
	raw := bytes.Repeat([]byte{0xde, 0xad}, 100)
	if err := s.MarkSigned(ctx, tr.ID, 1<<40, hash, raw); err != nil {
		t.Fatal(err)
	}
	// A second transfer cannot claim the same transaction hash.
	other := create(t, s, testTransfer())
	if err := s.MarkSigned(ctx, other.ID, 1, hash, raw); err == nil {
		t.Error("two transfers share a tx hash")
	}
	s.Close()
	s, err := Open(ctx, path, withKey(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	got, err := s.TransferByHash(ctx, hash)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != tr.ID || got.Nonce == nil || *got.Nonce != 1<<40 || got.TxHash == nil || *got.TxHash != hash || !bytes.Equal(got.RawTx, raw) {
		t.Errorf("got %+v", got)
	}
	if _, err := s.TransferByHash(ctx, common.HexToHash("0x01")); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown hash: %v", err)
	}
	if _, err := s.Transfer(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown id: %v", err)
	}
	if _, err := s.TransferByKey(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown key: %v", err)
	}
	if _, err := s.TransferByKey(ctx, ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("empty key: %v", err)
	}
}

func TestMarkFailedReason(t *testing.T) {
	tests := []struct {
		name, reason, want string
	}{
		{"short", "nonce too low", "nonce too low"},
		{"empty", "", ""},
		{"long", strings.Repeat("x", MaxErrorLen+10), strings.Repeat("x", MaxErrorLen)},
		{"long, multibyte at the cut", strings.Repeat("x", MaxErrorLen-1) + "é", strings.Repeat("x", MaxErrorLen-1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTest(t, nil)
			tr := create(t, s, testTransfer())
			if err := s.MarkFailed(context.Background(), tr.ID, tt.reason); err != nil {
				t.Fatal(err)
			}
			if got := get(t, s, tr.ID).Error; got != tt.want {
				t.Errorf("error %q (%d bytes), want %d bytes", got, len(got), len(tt.want))
			}
		})
	}
}

// ledger creates, one minute apart from clk's time, the transfers below and
// returns the time of the first and their IDs in order. Failed ones are
// marked failed; signed, submitted and confirmed ones are signed with nonce i.
//
//	0  alice→bob   ETH  10 auto
//	1  alice→bob   ETH  20 approved
//	2  alice→carol ETH  40 auto      failed
//	3  alice→carol USDC 80 auto
//	4  bob→alice   ETH  160 auto
//	5  alice→bob   ETH  320 auto     signed
//	6  alice→carol ETH  640 approved submitted
//	7  alice→bob   ETH  1280 auto    confirmed
func ledger(t *testing.T, s *Store, clk *clock) (time.Time, []string) {
	t.Helper()
	ctx := context.Background()
	start := clk.Now()
	var ids []string
	for i, r := range ledgerRows {
		tr := create(t, s, &Transfer{ChainID: 1337, From: r.from, To: r.to, Asset: r.asset, Amount: big.NewInt(r.amount), Kind: r.kind})
		ids = append(ids, tr.ID)
		var err error
		switch r.status {
		case StatusFailed:
			err = s.MarkFailed(ctx, tr.ID, "x")
		case StatusSigned, StatusSubmitted, StatusConfirmed:
			err = s.MarkSigned(ctx, tr.ID, uint64(i), common.BigToHash(big.NewInt(int64(i+1))), []byte{1})
			if err == nil && r.status != StatusSigned {
				err = s.MarkSubmitted(ctx, tr.ID, clk.Now())
			}
			if err == nil && r.status == StatusConfirmed {
				err = s.MarkConfirmed(ctx, tr.ID, 100)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Minute)
	}
	return start, ids
}

// ledgerRows are the transfers ledger creates.
var ledgerRows = [...]struct {
	from, to common.Address
	asset    string
	amount   int64
	kind     string
	status   string
}{
	{alice, bob, AssetETH, 10, KindAuto, StatusPending},
	{alice, bob, AssetETH, 20, KindApproved, StatusPending},
	{alice, carol, AssetETH, 40, KindAuto, StatusFailed},
	{alice, carol, usdc, 80, KindAuto, StatusPending},
	{bob, alice, AssetETH, 160, KindAuto, StatusPending},
	{alice, bob, AssetETH, 320, KindAuto, StatusSigned},
	{alice, carol, AssetETH, 640, KindApproved, StatusSubmitted},
	{alice, bob, AssetETH, 1280, KindAuto, StatusConfirmed},
}

// TestLoadLedger: the window a Guard loads at start is every transfer created
// at or after since, failed ones included (with their status), verified, in
// sequence order, with the head.
func TestLoadLedger(t *testing.T) {
	clk := newClock()
	s, _ := openTest(t, &Options{Now: clk.Now})
	t0, ids := ledger(t, s, clk)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
	last := len(ids) - 1
	tests := []struct {
		name  string
		since time.Time
		want  []string
	}{
		{"zero time: all", time.Time{}, ids},
		{"far past", time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC), ids},
		{"at the first", at(0), ids},
		{"just after the first", at(0).Add(time.Nanosecond), ids[1:]},
		{"at the failed one", at(2), ids[2:]},
		{"at the last", at(last), ids[last:]},
		{"after the last", at(last).Add(time.Nanosecond), nil},
		{"far future", time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), nil},
		{"in another zone", at(4).In(time.FixedZone("X", 5*3600)), ids[4:]},
	}
	var maxVersion int64
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, head, err := s.LoadLedger(context.Background(), tt.since)
			if err != nil {
				t.Fatal(err)
			}
			var gotIDs []string
			for _, tr := range got {
				gotIDs = append(gotIDs, tr.ID)
				if !tr.Verified {
					t.Errorf("%s unverified", tr.ID)
				}
				maxVersion = max(maxVersion, tr.Version)
			}
			if !reflect.DeepEqual(gotIDs, tt.want) {
				t.Errorf("got\n%v\nwant\n%v", gotIDs, tt.want)
			}
			if head.Seq != int64(len(ids)) {
				t.Errorf("head seq %d, want %d", head.Seq, len(ids))
			}
		})
	}
	all, head, err := s.LoadLedger(context.Background(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if head.Version != maxVersion {
		t.Errorf("head version %d, want the last change %d", head.Version, maxVersion)
	}
	for i, tr := range all {
		r := ledgerRows[i]
		if tr.Seq != int64(i+1) || tr.From != r.from || tr.To != r.to || tr.Asset != r.asset ||
			tr.Amount.Int64() != r.amount || tr.Kind != r.kind || tr.Status != r.status {
			t.Errorf("row %d: %+v, want %+v at seq %d", i, tr, r, i+1)
		}
		if tr.Counted() != (r.status != StatusFailed) {
			t.Errorf("row %d (%s): counted %v", i, tr.Status, tr.Counted())
		}
	}
}

func TestHasPaid(t *testing.T) {
	clk := newClock()
	s, _ := openTest(t, &Options{Now: clk.Now})
	ledger(t, s, clk)
	// dave was only ever paid by a failed transfer.
	dave := common.HexToAddress("0x000000000000000000000000000000000000da7e")
	tr := create(t, s, &Transfer{ChainID: 1337, From: alice, To: dave, Asset: AssetETH, Amount: big.NewInt(1), Kind: KindAuto})
	if err := s.MarkFailed(context.Background(), tr.ID, "x"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		from, to common.Address
		want     bool
	}{
		{"paid", alice, bob, true},
		{"paid in a token", alice, carol, true},
		{"other direction", bob, alice, true},
		{"never", bob, carol, false},
		{"only failed", alice, dave, false},
		{"to self", alice, alice, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.HasPaid(context.Background(), tt.from, tt.to)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("HasPaid = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLargeAmounts(t *testing.T) {
	ctx := context.Background()
	pow := func(n uint) *big.Int { return new(big.Int).Lsh(big.NewInt(1), n) }
	tests := []struct {
		name    string
		amounts []*big.Int
	}{
		{"zero", []*big.Int{big.NewInt(0)}},
		{"2^64", []*big.Int{pow(64)}},
		{"2^64+1 twice", []*big.Int{new(big.Int).Add(pow(64), big.NewInt(1)), new(big.Int).Add(pow(64), big.NewInt(1))}},
		{"2^256-1", []*big.Int{new(big.Int).Sub(pow(256), big.NewInt(1))}},
		{"int64 max and one", []*big.Int{big.NewInt(1<<63 - 1), big.NewInt(1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTest(t, nil)
			sum := new(big.Int)
			for _, a := range tt.amounts {
				tr := testTransfer()
				tr.Amount = new(big.Int).Set(a)
				tr = create(t, s, tr)
				if got := get(t, s, tr.ID).Amount; got.Cmp(a) != 0 {
					t.Errorf("stored %v, read %v", a, got)
				}
				sum.Add(sum, a)
			}
			spends, _, err := s.LoadLedger(ctx, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			if len(spends) != len(tt.amounts) {
				t.Fatalf("%d transfers in the ledger, want %d", len(spends), len(tt.amounts))
			}
			total := new(big.Int)
			for i, sp := range spends {
				if sp.Amount.Cmp(tt.amounts[i]) != 0 {
					t.Errorf("spend %d: %v, want %v", i, sp.Amount, tt.amounts[i])
				}
				total.Add(total, sp.Amount)
			}
			if total.Cmp(sum) != 0 {
				t.Errorf("ledger total %v, want %v", total, sum)
			}
		})
	}
}

// TestCorruptRowsAreErrors: a value that does not decode is an error on read,
// never a zero, with the state key and without it (a handle opened by a
// command that does not know the passphrase).
func TestCorruptRowsAreErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		update string
	}{
		{"amount not a number", `UPDATE transfers SET amount = 'lots'`},
		{"negative amount", `UPDATE transfers SET amount = '-5'`},
		{"empty amount", `UPDATE transfers SET amount = ''`},
		{"bad address", `UPDATE transfers SET from_addr = '0x12', to_addr = '0x12'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, path := openTest(t, nil)
			tr := create(t, s, testTransfer())
			if _, err := s.db.Exec(tt.update); err != nil {
				t.Fatal(err)
			}
			keyless, err := Open(ctx, path, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer keyless.Close()
			for name, h := range map[string]*Store{"keyed": s, "keyless": keyless} {
				if _, err := h.Transfer(ctx, tr.ID); err == nil {
					t.Errorf("%s: Transfer succeeded", name)
				}
				if _, _, err := h.LoadLedger(ctx, time.Time{}); err == nil {
					t.Errorf("%s: LoadLedger succeeded", name)
				}
				if _, _, err := h.Changes(ctx, 0, 0); err == nil {
					t.Errorf("%s: Changes succeeded", name)
				}
				if _, err := h.Unfinished(ctx); err == nil {
					t.Errorf("%s: Unfinished succeeded", name)
				}
				if paid, err := h.HasPaid(ctx, alice, bob); err == nil && paid {
					t.Errorf("%s: HasPaid read a corrupt row as a payment", name)
				}
			}
		})
	}
}

func TestUnfinished(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		sameTime bool // all created in the same instant: insertion order decides
	}{
		{name: "distinct times"},
		{name: "same instant", sameTime: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			s, path := openTest(t, &Options{Now: clk.Now})
			if got, err := s.Unfinished(ctx); err != nil || len(got) != 0 {
				t.Fatalf("empty store: %v %v", got, err)
			}
			var want []string
			for i, final := range []string{StatusSigned, StatusPending, StatusFailed, StatusSubmitted, StatusPending, StatusConfirmed, StatusSigned} {
				tr := create(t, s, testTransfer())
				var err error
				if final != StatusPending {
					if final == StatusFailed {
						err = s.MarkFailed(ctx, tr.ID, "x")
					} else {
						err = s.MarkSigned(ctx, tr.ID, uint64(i), common.BigToHash(big.NewInt(int64(i+1))), []byte{byte(i)})
					}
				}
				if err == nil && (final == StatusSubmitted || final == StatusConfirmed) {
					err = s.MarkSubmitted(ctx, tr.ID, clk.Now())
				}
				if err == nil && final == StatusConfirmed {
					err = s.MarkConfirmed(ctx, tr.ID, 1)
				}
				if err != nil {
					t.Fatal(err)
				}
				if final == StatusPending || final == StatusSigned {
					want = append(want, tr.ID)
				}
				if !tt.sameTime {
					clk.Advance(time.Second)
				}
			}
			s.Close()
			s, err := Open(ctx, path, withKey(&Options{Now: clk.Now}))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			got, err := s.Unfinished(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, tr := range got {
				ids = append(ids, tr.ID)
				if tr.Status == StatusSigned && len(tr.RawTx) == 0 {
					t.Errorf("signed transfer %s without its raw tx", tr.ID)
				}
			}
			if !reflect.DeepEqual(ids, want) {
				t.Errorf("Unfinished = %v, want %v", ids, want)
			}
		})
	}
}

func BenchmarkCreateTransfer(b *testing.B) {
	s, _ := openTest(b, nil)
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		tr := testTransfer()
		tr.IdempotencyKey = fmt.Sprint("bench-", i)
		tr.ArgsHash = argsHash(tr.IdempotencyKey)
		if _, _, err := s.CreateTransfer(ctx, tr); err != nil {
			b.Fatal(err)
		}
	}
}

// TestFailedHashCanBeSignedAgain: a transfer that failed before broadcast and
// a later transfer of the same intent may carry the same transaction (same
// nonce, deterministic signature); the later one must be recordable, and a
// lookup by hash finds the live one.
func TestFailedHashCanBeSignedAgain(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t, nil)
	hash := common.HexToHash("0x" + strings.Repeat("ab", 32))
	mk := func() *Transfer {
		tr, _, err := s.CreateTransfer(ctx, &Transfer{ChainID: 1337, From: common.HexToAddress("0x01"), To: common.HexToAddress("0x02"), Asset: AssetETH, Amount: big.NewInt(1), Kind: KindAuto})
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	first, second := mk(), mk()
	if err := s.MarkSigned(ctx, first.ID, 0, hash, []byte{1}); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkSigned(ctx, second.ID, 0, hash, []byte{1}); err == nil {
		t.Fatal("two live transfers with one hash")
	}
	if err := s.MarkFailed(ctx, first.ID, "broadcast failed"); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkSigned(ctx, second.ID, 0, hash, []byte{1}); err != nil {
		t.Fatalf("re-signing after a failure: %v", err)
	}
	got, err := s.TransferByHash(ctx, hash)
	if err != nil || got.ID != second.ID {
		t.Fatalf("TransferByHash = %v, %v; want the live transfer", got, err)
	}
	if err := s.MarkFailed(ctx, second.ID, "x"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.TransferByHash(ctx, hash); err != nil || got.Status != StatusFailed {
		t.Fatalf("TransferByHash of failed-only = %v, %v", got, err)
	}
}
