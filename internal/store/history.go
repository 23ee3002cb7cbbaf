package store

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"
)

// FillHistory writes n confirmed ETH transfers of 0.001 ETH from → to on
// chainID into an empty ledger, created one millisecond apart and ending two
// days before `before` (outside every policy window), each with a valid
// MAC, and moves the ledger head over them, in one transaction: a long
// history for start-up benchmarks and load tests, made in seconds rather
// than by a million sends. It needs the state key and refuses a ledger that
// holds transfers.
func (s *Store) FillHistory(ctx context.Context, n int, chainID uint64, from, to common.Address, before time.Time) error {
	if s.key == nil {
		return ErrNoKey
	}
	if n <= 0 {
		return errors.New("store: fill history: n must be positive")
	}
	return s.Ledger(ctx, func(lt *LedgerTx) error {
		if h := lt.Head(); h.Seq != 0 || h.Version != 0 {
			return errors.New("store: fill history: the ledger is not empty")
		}
		tx := lt.tx
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO transfers
			(id, seq, version, chain_id, from_addr, to_addr, asset, amount, kind, status, nonce, tx_hash, raw_tx, created_at, updated_at, mac)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return wrapDBErr("fill history", err)
		}
		defer stmt.Close()
		start := before.Add(-48 * time.Hour).Add(-time.Duration(n) * time.Millisecond)
		amount := big.NewInt(1e15)
		for i := range n {
			at := time.Unix(0, start.Add(time.Duration(i)*time.Millisecond).UnixNano()).UTC()
			nonce := uint64(i)
			var h common.Hash
			h[0], h[1], h[2], h[3], h[31] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i), 0xfe
			t := &Transfer{
				ID: fmt.Sprintf("%032x", i), Seq: int64(i + 1), Version: int64(i + 1), ChainID: chainID,
				From: from, To: to, Asset: AssetETH, Amount: amount, Kind: KindAuto, Status: StatusConfirmed,
				Nonce: &nonce, TxHash: &h, RawTx: []byte{0x02, byte(i)}, CreatedAt: at,
			}
			if _, err := stmt.ExecContext(ctx, t.ID, t.Seq, t.Version, int64(chainID), encodeAddr(from), encodeAddr(to), AssetETH,
				amount.String(), KindAuto, StatusConfirmed, int64(nonce), encodeHash(h), t.RawTx, unixNano(at), unixNano(at),
				transferMAC(s.key, t)); err != nil {
				return wrapDBErr("fill history", err)
			}
		}
		return lt.writeHead(LedgerHead{Seq: int64(n), Version: int64(n)})
	})
}
