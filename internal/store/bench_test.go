package store

import (
	"context"
	"database/sql"
	"fmt"
	"math/big"
	"path/filepath"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
)

// benchLedger fills a new state database at path with history transfers
// created more than a day before now and recent ones within the last hour,
// every one with a valid MAC, in one transaction, and closes it.
func benchLedger(b *testing.B, path string, history, recent int, now time.Time) {
	b.Helper()
	ctx := context.Background()
	s, err := Open(ctx, path, withKey(&Options{Now: func() time.Time { return now }}))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	err = s.write(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO transfers
			(id, seq, version, chain_id, from_addr, to_addr, asset, amount, kind, status, nonce, tx_hash, raw_tx, created_at, updated_at, mac)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		total := history + recent
		for i := range total {
			at := now.Add(-48 * time.Hour).Add(time.Duration(i) * time.Millisecond)
			if i >= history {
				at = now.Add(-time.Hour).Add(time.Duration(i-history) * time.Second)
			}
			at = time.Unix(0, at.UnixNano()).UTC()
			nonce := uint64(i)
			var h common.Hash
			h[0], h[1], h[2], h[31] = byte(i>>16), byte(i>>8), byte(i), 1
			t := &Transfer{
				ID: fmt.Sprintf("%032x", i), Seq: int64(i + 1), Version: int64(i + 1), ChainID: 1337,
				From: alice, To: bob, Asset: AssetETH, Amount: big.NewInt(1e15), Kind: KindAuto, Status: StatusConfirmed,
				Nonce: &nonce, TxHash: &h, RawTx: []byte{0x02, byte(i)}, CreatedAt: at,
			}
			if _, err := stmt.ExecContext(ctx, t.ID, t.Seq, t.Version, 1337, encodeAddr(alice), encodeAddr(bob), AssetETH,
				t.Amount.String(), KindAuto, StatusConfirmed, int64(nonce), encodeHash(h), t.RawTx, unixNano(at), unixNano(at),
				transferMAC(s.key, t)); err != nil {
				return err
			}
		}
		lt := &LedgerTx{s: s, tx: tx, ctx: ctx}
		return lt.writeHead(LedgerHead{Seq: int64(total), Version: int64(total)})
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkStartLedger measures what a Guard reads from the store before
// it is ready: Open (with the state key: schema check, ledger head) and
// LoadLedger of the last 24 hours (the window, verified, with its
// contiguity checks), on a home with 1,000,000 ledger rows of older
// history and on one with little history, 100 recent transfers each.
// Start-up must not grow with the history.
func BenchmarkStartLedger(b *testing.B) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	for _, history := range []int{100, 1_000_000} {
		path := filepath.Join(b.TempDir(), "state.db")
		benchLedger(b, path, history, 100, now)
		b.Run(fmt.Sprintf("history=%d", history), func(b *testing.B) {
			ctx := context.Background()
			for b.Loop() {
				s, err := Open(ctx, path, withKey(&Options{Now: func() time.Time { return now }}))
				if err != nil {
					b.Fatal(err)
				}
				ts, _, err := s.LoadLedger(ctx, now.Add(-24*time.Hour))
				if err != nil {
					b.Fatal(err)
				}
				if len(ts) != 100 {
					b.Fatalf("loaded %d transfers, want the 100 recent ones", len(ts))
				}
				s.Close()
			}
		})
	}
}
