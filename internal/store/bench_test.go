package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/internal/benchcpu"
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

// BenchmarkTransferWrites measures the store's share of one auto-approved
// transfer, as the Guard makes it: a Ledger transaction that reads what a
// verdict needs (has-paid, the freeze state, the next
// nonce) and inserts the reservation, then the signed bytes (MarkSigned),
// then its confirmation (MarkConfirmedAll), with 16 callers over 4 accounts
// so that the group commit works as in the server. It reports the process's
// CPU time per transfer, which a busy machine moves less than ns/op, and
// the WAL frames written per transfer (pages: what a COMMIT writes).
func BenchmarkTransferWrites(b *testing.B) {
	ctx := context.Background()
	s, path := openTest(b, nil)
	accounts := []common.Address{alice, bob, common.HexToAddress("0xc0"), common.HexToAddress("0xd0")}
	var next atomic.Int64
	var floors [4]atomic.Int64 // the node's pending nonce, as it would be
	walSize := func() int64 {
		fi, err := os.Stat(path + "-wal")
		if err != nil {
			return 0
		}
		return fi.Size()
	}
	if _, err := s.db.ExecContext(ctx, `PRAGMA wal_autocheckpoint = 0`); err != nil {
		b.Fatal(err)
	}
	wal0 := walSize()
	cpu0, cpuOK := benchcpu.Process()
	b.SetParallelism(8) // 16 callers on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := next.Add(1)
			a := n % int64(len(accounts))
			from := accounts[a]
			var id string
			var nonce uint64
			err := s.Ledger(ctx, func(lt *LedgerTx) error {
				if _, err := lt.TransferByKey(""); !errors.Is(err, ErrNotFound) {
					return fmt.Errorf("by key: %v", err)
				}
				if _, err := lt.HasPaid(from, bob); err != nil {
					return err
				}
				if _, err := lt.Frozen(from); err != nil {
					return err
				}
				var err error
				nonce, err = lt.AllocateNonce(1337, from, uint64(floors[a].Load()))
				if err != nil {
					return err
				}
				t, _, err := lt.Insert(&Transfer{ChainID: 1337, From: from, To: bob,
					Asset: AssetETH, Amount: big.NewInt(1e12), Kind: KindAuto, Nonce: &nonce, LeaseUntil: lt.Now().Add(time.Minute)})
				if err != nil {
					return err
				}
				id = t.ID
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			floors[a].Store(int64(nonce) + 1)
			var h common.Hash
			h[0], h[1], h[2], h[3], h[31] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n), 7
			if err := s.MarkSigned(ctx, id, nonce, h, make([]byte, 110)); err != nil {
				b.Fatal(err)
			}
			if _, err := s.MarkConfirmedAll(ctx, map[string]uint64{id: uint64(n)}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.StopTimer()
	if cpu1, ok := benchcpu.Process(); ok && cpuOK {
		b.ReportMetric(float64(cpu1-cpu0)/float64(time.Millisecond)/float64(b.N), "cpu-ms/transfer")
	}
	b.ReportMetric(float64(walSize()-wal0)/(4096+24)/float64(b.N), "wal-frames/transfer")
	w, c := s.Stats()
	b.ReportMetric(float64(w)/float64(c), "writes/commit")
}
