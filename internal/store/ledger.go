package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/ethereum/go-ethereum/common"
)

// LedgerHead is the ledger's position: the sequence of the last transfer
// inserted and the version of the last change. Both only grow.
type LedgerHead struct {
	Seq     int64
	Version int64
}

// LedgerTx is one write transaction on the ledger. Everything read through it
// is fresh (written by any process that shares the database) and verified,
// and nothing another writer does can come between its reads and its writes:
// SQLite lets one writer at a time into the database (BEGIN IMMEDIATE), and a
// PostgreSQL store would take the ledger head's row lock. A check of a limit
// and the reservation that relies on it therefore belong in one LedgerTx.
type LedgerTx struct {
	s    *Store
	tx   *sql.Tx
	ctx  context.Context
	head LedgerHead
	now  time.Time
	// deferHead marks a LedgerTx of a group commit (Ledger): its head
	// moves in memory only, and the group writes it once (Store.headDirty).
	deferHead, moved bool
	// conds are the commit conditions set by CommitAfter.
	conds []func(context.Context) error
}

// CommitAfter makes the transaction's commit wait for cond: once every
// write of the group has run, and before the COMMIT, cond is called (with a
// context bounded by BusyTimeout, holding the database's write lock); if it
// fails, nothing of the group is written and every write of it fails with
// ErrCommitCondition (and ErrNotCommitted). A condition set by an fn that
// fails is dropped with its writes. cond runs on the goroutine committing
// the group, inside its transaction: it must not use the store. It is
// meant for a record that must be durable elsewhere before what this
// transaction writes can be read (the audit log's signature record before
// the signed bytes it describes).
func (lt *LedgerTx) CommitAfter(cond func(context.Context) error) {
	lt.conds = append(lt.conds, cond)
}

// Ledger runs fn in one write transaction on the ledger and commits when fn
// returns nil. It first checks the ledger head's MAC and that the rows
// match it (a transfer removed from the end, or one added without the key,
// is a *TamperError), once per group commit: a later Ledger write of the
// same transaction starts from the head the earlier ones left. The head row
// is written once per group commit too, before its COMMIT (or before a
// write of another kind joins the group), not once per change. It needs
// the state key.
func (s *Store) Ledger(ctx context.Context, fn func(*LedgerTx) error) error {
	if s.key == nil {
		return ErrNoKey
	}
	now, err := s.timestamp()
	if err != nil {
		return err
	}
	return s.enqueue(ctx, func(tx *sql.Tx) error {
		lt := &LedgerTx{s: s, tx: tx, ctx: ctx, now: now, deferHead: true}
		if s.groupHead != nil {
			// An earlier Ledger write of this transaction verified the
			// head and left it here; no other writer came in since.
			lt.head = *s.groupHead
		} else {
			h, err := s.checkHead(ctx, tx)
			if err != nil {
				return err
			}
			lt.head = h
		}
		if err := fn(lt); err != nil {
			return err
		}
		s.groupConds = append(s.groupConds, lt.conds...)
		h := lt.head
		s.groupHead = &h
		if lt.moved {
			s.headDirty = true
		}
		return nil
	}, true)
}

// Head returns the ledger head as of the start of the transaction plus its
// own changes.
func (lt *LedgerTx) Head() LedgerHead { return lt.head }

// Now is the transaction's time stamp (the store's clock).
func (lt *LedgerTx) Now() time.Time { return lt.now }

// readHead reads and verifies the ledger head. found is false when the
// database has none (a database the state key never opened).
func (s *Store) readHead(ctx context.Context, q querier) (h LedgerHead, found bool, err error) {
	var mac []byte
	err = s.queryRow(ctx, q, `SELECT seq, version, mac FROM ledger_head WHERE id = 1`).Scan(&h.Seq, &h.Version, &mac)
	if errors.Is(err, sql.ErrNoRows) {
		return LedgerHead{}, false, nil
	}
	if err != nil {
		return LedgerHead{}, false, wrapDBErr("read ledger head", err)
	}
	if s.key != nil && !macEqual(mac, headMAC(s.key, h.Seq, h.Version)) {
		return LedgerHead{}, true, &TamperError{Table: "ledger_head", What: "MAC does not verify"}
	}
	return h, true, nil
}

// checkHead reads the head and checks that the last sequence and version in
// the table are the head's: a transfer removed from the end, or a row added
// or changed without the key, does not match.
func (s *Store) checkHead(ctx context.Context, q querier) (LedgerHead, error) {
	h, found, err := s.readHead(ctx, q)
	if err != nil {
		return LedgerHead{}, err
	}
	var maxSeq, maxVersion int64
	if err := s.queryRow(ctx, q, qLedgerEnd).
		Scan(&maxSeq, &maxVersion); err != nil {
		return LedgerHead{}, wrapDBErr("read ledger end", err)
	}
	switch {
	case !found:
		return LedgerHead{}, &TamperError{Table: "ledger_head", What: "missing"}
	case maxSeq < h.Seq:
		return LedgerHead{}, &TamperError{Table: "transfers", What: fmt.Sprintf("the last %d transfers were removed", h.Seq-maxSeq)}
	case maxSeq > h.Seq || maxVersion > h.Version:
		return LedgerHead{}, &TamperError{Table: "transfers", What: "rows were added or changed without the state key"}
	}
	return h, nil
}

// writeHead moves the head to h: in the table, or, in a group commit's
// Ledger write, in memory until the group writes it (flushHead).
func (lt *LedgerTx) writeHead(h LedgerHead) error {
	if lt.deferHead {
		lt.head, lt.moved = h, true
		return nil
	}
	if err := lt.s.putHead(lt.ctx, lt.tx, h); err != nil {
		return err
	}
	lt.head = h
	return nil
}

// putHead writes h, with its MAC, as the ledger head.
func (s *Store) putHead(ctx context.Context, tx *sql.Tx, h LedgerHead) error {
	_, err := s.exec(ctx, tx, `INSERT INTO ledger_head (id, seq, version, mac) VALUES (1, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, version = excluded.version, mac = excluded.mac`,
		h.Seq, h.Version, headMAC(s.key, h.Seq, h.Version))
	if err != nil {
		return wrapDBErr("write ledger head", err)
	}
	return nil
}

// flushHead writes the head the group's Ledger writes left in memory
// (groupHead), if they moved it: before the COMMIT, and before any other
// write of the group runs, so that the table and its head agree whenever
// anything but a Ledger write of the group could read them. Only the
// committer calls it.
func (s *Store) flushHead(tx *sql.Tx) error {
	if !s.headDirty || s.groupHead == nil {
		return nil
	}
	if err := s.putHead(context.Background(), tx, *s.groupHead); err != nil {
		return err
	}
	s.headDirty = false
	return nil
}

// get reads one transfer (verified) inside the transaction.
func (lt *LedgerTx) get(q string, args ...any) (*Transfer, error) {
	return lt.s.readTransfer(lt.s.queryRow(lt.ctx, lt.tx, q, args...))
}

// TransferByKey returns the transfer with the agent's idempotency key, or
// ErrNotFound.
func (lt *LedgerTx) TransferByKey(key string) (*Transfer, error) {
	if key == "" {
		return nil, ErrNotFound
	}
	return lt.get(qByKey, key)
}

// ApprovalKeyUsed reports whether an approval holds the agent's
// idempotency key (see CreateApproval: one key is one outcome).
func (lt *LedgerTx) ApprovalKeyUsed(key string) (bool, error) {
	if key == "" {
		return false, nil
	}
	var used bool
	if err := lt.s.queryRow(lt.ctx, lt.tx, `SELECT EXISTS (SELECT 1 FROM approvals WHERE idempotency_key = ?)`, key).Scan(&used); err != nil {
		return false, wrapDBErr("read approvals", err)
	}
	return used, nil
}

// TransferByApproval returns the transfer that executes approval id, or
// ErrNotFound.
func (lt *LedgerTx) TransferByApproval(id string) (*Transfer, error) {
	if id == "" {
		return nil, ErrNotFound
	}
	return lt.get(qByApproval, id)
}

// HasPaid reports whether from has a live transfer to `to` (verified).
func (lt *LedgerTx) HasPaid(from, to common.Address) (bool, error) {
	return hasPaid(lt.ctx, lt.s, lt.tx, from, to)
}

// Changes returns every transfer inserted after seq or changed after
// version, verified, in sequence order, and the head they bring the caller
// to. The inserts must be contiguous up to the head: a gap is a removed row.
func (lt *LedgerTx) Changes(seq, version int64) ([]*Transfer, LedgerHead, error) {
	out, err := lt.s.changes(lt.ctx, lt.tx, seq, version, lt.head)
	return out, lt.head, err
}

func (s *Store) changes(ctx context.Context, q querier, seq, version int64, head LedgerHead) ([]*Transfer, error) {
	if seq > head.Seq || version > head.Version {
		return nil, &TamperError{Table: "ledger_head", What: "went back"}
	}
	if seq == head.Seq && version == head.Version {
		return nil, nil
	}
	rows, err := s.queryRows(ctx, q, qSince, seq, version)
	if err != nil {
		return nil, wrapDBErr("read ledger changes", err)
	}
	defer rows.Close()
	var out []*Transfer
	next := seq + 1
	for rows.Next() {
		t, err := s.readTransfer(rows)
		if err != nil {
			return nil, err
		}
		if t.Seq > seq {
			if t.Seq != next {
				return nil, &TamperError{Table: "transfers", ID: fmt.Sprint(next), What: "missing from the ledger"}
			}
			next++
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, wrapDBErr("read ledger changes", err)
	}
	if next-1 != head.Seq {
		return nil, &TamperError{Table: "transfers", ID: fmt.Sprint(next), What: "missing from the ledger"}
	}
	return out, nil
}

// LoadLedger returns, verified, every transfer created at or after since and
// every later one (by sequence), with the head. It checks that none is
// missing: the sequence is contiguous from the first of them to the head, and
// the one just before them exists. This is all a Guard reads at start, so
// start-up does not grow with the ledger's history.
func (s *Store) LoadLedger(ctx context.Context, since time.Time) ([]*Transfer, LedgerHead, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, LedgerHead{}, wrapDBErr("begin", err)
	}
	defer tx.Rollback()
	h, err := s.checkHead(ctx, tx)
	if err != nil {
		return nil, LedgerHead{}, err
	}
	var first sql.NullInt64
	if err := tx.QueryRowContext(ctx, qFirstSince, unixNano(since)).Scan(&first); err != nil {
		return nil, LedgerHead{}, wrapDBErr("load ledger", err)
	}
	if !first.Valid {
		return nil, h, nil
	}
	if first.Int64 > 1 {
		if _, err := s.readTransfer(tx.QueryRowContext(ctx, qBySeq, first.Int64-1)); err != nil {
			if errors.Is(err, ErrNotFound) {
				return nil, LedgerHead{}, &TamperError{Table: "transfers", ID: fmt.Sprint(first.Int64 - 1), What: "missing from the ledger"}
			}
			return nil, LedgerHead{}, err
		}
	}
	rows, err := tx.QueryContext(ctx, qWindow, first.Int64)
	if err != nil {
		return nil, LedgerHead{}, wrapDBErr("load ledger", err)
	}
	defer rows.Close()
	var out []*Transfer
	next := first.Int64
	for rows.Next() {
		t, err := s.readTransfer(rows)
		if err != nil {
			return nil, LedgerHead{}, err
		}
		if t.Seq != next {
			return nil, LedgerHead{}, &TamperError{Table: "transfers", ID: fmt.Sprint(next), What: "missing from the ledger"}
		}
		next++
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, LedgerHead{}, wrapDBErr("load ledger", err)
	}
	if next-1 != h.Seq {
		return nil, LedgerHead{}, &TamperError{Table: "transfers", ID: fmt.Sprint(next), What: "missing from the ledger"}
	}
	return out, h, nil
}

// Changes is LedgerTx.Changes outside a write transaction, for readers that
// only need to catch up (a verdict that reserves nothing).
func (s *Store) Changes(ctx context.Context, seq, version int64) ([]*Transfer, LedgerHead, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, LedgerHead{}, wrapDBErr("begin", err)
	}
	defer tx.Rollback()
	h, err := s.checkHead(ctx, tx)
	if err != nil {
		return nil, LedgerHead{}, err
	}
	out, err := s.changes(ctx, tx, seq, version, h)
	return out, h, err
}

// AllocateNonce returns the lowest nonce at or above floor (the node's
// pending nonce) that no live transfer of from on chainID holds. A nonce
// held by a transaction that may have left the process is never handed out
// again; one freed by a transfer that provably never left is.
func (lt *LedgerTx) AllocateNonce(chainID uint64, from common.Address, floor uint64) (uint64, error) {
	if floor > math.MaxInt64 || chainID > math.MaxInt64 {
		return 0, errors.New("store: nonce out of range")
	}
	rows, err := lt.s.queryRows(lt.ctx, lt.tx, qNonces, int64(chainID), encodeAddr(from), int64(floor))
	if err != nil {
		return 0, wrapDBErr("allocate nonce", err)
	}
	defer rows.Close()
	n := floor
	for rows.Next() {
		var held int64
		if err := rows.Scan(&held); err != nil {
			return 0, wrapDBErr("allocate nonce", err)
		}
		if uint64(held) > n {
			break
		}
		n = uint64(held) + 1
	}
	if err := rows.Err(); err != nil {
		return 0, wrapDBErr("allocate nonce", err)
	}
	if n > math.MaxInt64 {
		return 0, errors.New("store: nonce out of range")
	}
	return n, nil
}

// Insert records t as a new pending transfer (see CreateTransfer for the
// fields it sets and the idempotency rules), with the next sequence and
// version and its MAC.
func (lt *LedgerTx) Insert(t *Transfer) (*Transfer, bool, error) {
	return lt.insert(t, nil)
}

// InsertSigned records t as a new transfer already signed: a reservation
// and its signed transaction in one change, as Insert followed by MarkSigned
// would leave it (status "signed", due for settling SignedGrace later). t
// must hold the nonce the transaction was signed with (AllocateNonce's).
// With the idempotency key or approval used before, it answers as Insert
// does and writes nothing.
func (lt *LedgerTx) InsertSigned(t *Transfer, hash common.Hash, raw []byte) (*Transfer, bool, error) {
	if t == nil {
		return nil, false, errors.New("store: nil transfer")
	}
	switch {
	case t.Nonce == nil:
		return nil, false, errors.New("store: a signed transfer needs its nonce")
	case *t.Nonce > math.MaxInt64:
		return nil, false, errors.New("store: nonce out of range")
	case hash == (common.Hash{}):
		return nil, false, errors.New("store: zero transaction hash")
	case len(raw) == 0:
		return nil, false, errors.New("store: empty signed transaction")
	}
	return lt.insert(t, &signedTx{hash: hash, raw: raw})
}

// signedTx is what InsertSigned stores with the row.
type signedTx struct {
	hash common.Hash
	raw  []byte
}

func (lt *LedgerTx) insert(t *Transfer, signed *signedTx) (*Transfer, bool, error) {
	if t == nil {
		return nil, false, errors.New("store: nil transfer")
	}
	if err := validateTransfer(t); err != nil {
		return nil, false, err
	}
	if e, err := lt.TransferByKey(t.IdempotencyKey); err == nil {
		return existing(e, t)
	} else if !errors.Is(err, ErrNotFound) {
		return nil, false, err
	}
	if e, err := lt.TransferByApproval(t.ApprovalID); err == nil {
		return existing(e, t)
	} else if !errors.Is(err, ErrNotFound) {
		return nil, false, err
	}
	id := t.ID
	if id == "" {
		var err error
		if id, err = lt.s.newID(); err != nil {
			return nil, false, err
		}
	}
	n := *t
	n.ID = id
	n.Seq, n.Version = lt.head.Seq+1, lt.head.Version+1
	n.Status = StatusPending
	n.TxHash, n.RawTx, n.Error, n.BlockNumber = nil, nil, "", nil
	n.NextCheck, n.Checks = time.Time{}, 0
	n.CreatedAt, n.UpdatedAt = lt.now, lt.now
	var nonce sql.NullInt64
	if n.Nonce != nil {
		v := *n.Nonce
		n.Nonce = &v
		nonce = sql.NullInt64{Int64: int64(v), Valid: true}
	}
	var hash sql.NullString
	if signed != nil {
		h := signed.hash
		n.Status, n.TxHash, n.RawTx = StatusSigned, &h, append([]byte(nil), signed.raw...)
		n.NextCheck = lt.now.Add(SignedGrace)
		hash = sql.NullString{String: encodeHash(h), Valid: true}
	}
	_, err := lt.s.exec(lt.ctx, lt.tx, `INSERT INTO transfers
		(id, seq, version, approval_id, idempotency_key, args_hash, chain_id, from_addr, to_addr, asset, amount, kind,
		 status, nonce, tx_hash, raw_tx, next_check, lease_until, created_at, updated_at, mac)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		n.ID, n.Seq, n.Version, nullString(n.ApprovalID), nullString(n.IdempotencyKey), n.ArgsHash, int64(n.ChainID),
		encodeAddr(n.From), encodeAddr(n.To), n.Asset, n.Amount.String(), n.Kind, n.Status, nonce,
		hash, n.RawTx, optTime(n.NextCheck), optTime(n.LeaseUntil), unixNano(n.CreatedAt), unixNano(n.UpdatedAt), transferMAC(lt.s.key, &n))
	if err != nil {
		return nil, false, wrapDBErr("create transfer", err)
	}
	if err := lt.writeHead(LedgerHead{Seq: n.Seq, Version: n.Version}); err != nil {
		return nil, false, err
	}
	n.Verified = true
	*t = n
	return t, true, nil
}

// existing answers an insert whose idempotency key or approval was used.
func existing(e, t *Transfer) (*Transfer, bool, error) {
	if string(e.ArgsHash) != string(t.ArgsHash) {
		return nil, false, ErrConflict
	}
	return e, false, nil
}

// update writes t's mutable fields with the next version and a new MAC.
func (lt *LedgerTx) update(t *Transfer) error {
	t.Version = lt.head.Version + 1
	var nonce, block sql.NullInt64
	if t.Nonce != nil {
		nonce = sql.NullInt64{Int64: int64(*t.Nonce), Valid: true}
	}
	if t.BlockNumber != nil {
		block = sql.NullInt64{Int64: int64(*t.BlockNumber), Valid: true}
	}
	var hash sql.NullString
	if t.TxHash != nil {
		hash = sql.NullString{String: encodeHash(*t.TxHash), Valid: true}
	}
	_, err := lt.s.exec(lt.ctx, lt.tx, `UPDATE transfers SET version = ?, status = ?, nonce = ?, tx_hash = ?, raw_tx = ?,
		error = ?, next_check = ?, block_number = ?, updated_at = ?, mac = ? WHERE id = ?`,
		t.Version, t.Status, nonce, hash, t.RawTx, t.Error, optTime(t.NextCheck), block, unixNano(t.UpdatedAt),
		transferMAC(lt.s.key, t), t.ID)
	if err != nil {
		return wrapDBErr("update transfer", err)
	}
	return lt.writeHead(LedgerHead{Seq: lt.head.Seq, Version: t.Version})
}

// optTime is t in Unix nanoseconds, 0 for the zero time.
func optTime(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return unixNano(t)
}

// ensureHead runs when a store is opened with the state key: a database
// without a ledger head gets one if it holds no transfer and no approval (a
// database created without the key). One that holds rows but no head had its
// head removed: that is a *TamperError. (Rows written by an earlier version
// are sealed by the migration that introduces the head, sealLegacy, in the
// same transaction, so no state ever has rows and no head legitimately.)
func (s *Store) ensureHead(ctx context.Context) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if _, found, err := s.readHead(ctx, tx); err != nil || found {
			return err
		}
		var rows bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM transfers) OR EXISTS (SELECT 1 FROM approvals)`).Scan(&rows); err != nil {
			return wrapDBErr("read ledger head", err)
		}
		if rows {
			return &TamperError{Table: "ledger_head", What: "missing, though the ledger holds rows"}
		}
		lt := &LedgerTx{s: s, tx: tx, ctx: ctx}
		return lt.writeHead(LedgerHead{})
	})
}

// sealLegacy gives every row written before the ledger was authenticated its
// MAC and creates the head, inside the transaction of the migration that
// adds them (schemaV3Ledger), and returns how many rows it sealed.
// Approvals that were approved before are not trusted: they become failed,
// and the human approves again.
func (s *Store) sealLegacy(ctx context.Context, tx *sql.Tx) (int, error) {
	n := 0
	lt := &LedgerTx{s: s, tx: tx, ctx: ctx}
	var ts []*Transfer
	rows, err := tx.QueryContext(ctx, selectTransfer+` ORDER BY seq`)
	if err != nil {
		return 0, wrapDBErr("seal ledger", err)
	}
	for rows.Next() {
		t, _, err := scanTransfer(rows)
		if err != nil {
			rows.Close()
			return 0, err
		}
		ts = append(ts, t)
	}
	rows.Close()
	var head LedgerHead
	for _, t := range ts {
		if _, err := tx.ExecContext(ctx, `UPDATE transfers SET mac = ? WHERE id = ?`, transferMAC(s.key, t), t.ID); err != nil {
			return 0, wrapDBErr("seal ledger", err)
		}
		head.Seq, head.Version = max(head.Seq, t.Seq), max(head.Version, t.Version)
		n++
	}
	if err := lt.writeHead(head); err != nil {
		return 0, err
	}
	sealed, err := s.sealApprovals(ctx, tx)
	return n + sealed, err
}
