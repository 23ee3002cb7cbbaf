package store

import (
	"context"
	"errors"
	"math/big"
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
	// Expired requests no longer count, and are purged a day later.
	now = now.Add(2 * time.Minute)
	if err := s.CreateOfflineRequest(ctx, offlineReq("d", from, now.Add(time.Minute)), 2); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	now = now.Add(25 * time.Hour)
	if err := s.CreateOfflineRequest(ctx, offlineReq("e", from, now.Add(time.Minute)), 2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.OfflineRequestByID(ctx, "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("old expired request: %v", err)
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
