package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"time"

	"github.com/ethereum/go-ethereum/common"
)

// schemaV7Ops creates the operations state (CONTRACT.md §9):
//   - alerts: the bounded queue of security alerts not yet delivered, one row
//     per alert and target ("webhook" or "command"), MAC'd, with the next
//     attempt and a delivery lease so that two processes sharing the home do
//     not send one alert twice;
//   - freezes: per account, whether automatic approval is frozen by a severe
//     anomaly, MAC'd; rows are never deleted (an unfreeze is a new version), and
//     ops_head (MAC'd) holds the number of rows and the last version, so that
//     a removed or rolled-back freeze is a *TamperError, like a removed transfer;
//   - ops_marks: MAC'd named time stamps (the last key self-check).
const schemaV7Ops = `
CREATE TABLE alerts (
	seq          INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	target       TEXT    NOT NULL CHECK (target IN ('webhook', 'command')),
	body         BLOB    NOT NULL CHECK (length(body) BETWEEN 2 AND 65536),
	attempts     INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
	next_attempt INTEGER NOT NULL,
	lease_until  INTEGER NOT NULL DEFAULT 0,
	created_at   INTEGER NOT NULL,
	mac          BLOB    NOT NULL
) STRICT;
CREATE INDEX alerts_due ON alerts (next_attempt);
CREATE TABLE freezes (
	account    TEXT    NOT NULL PRIMARY KEY,
	frozen     INTEGER NOT NULL CHECK (frozen IN (0, 1)),
	rule       TEXT    NOT NULL CHECK (length(rule) <= 64),
	version    INTEGER NOT NULL CHECK (version >= 1),
	changed_at INTEGER NOT NULL,
	mac        BLOB    NOT NULL
) STRICT;
CREATE TABLE ops_head (
	id      INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
	rows    INTEGER NOT NULL CHECK (rows >= 0),
	version INTEGER NOT NULL CHECK (version >= 0),
	mac     BLOB    NOT NULL
) STRICT;
CREATE TABLE ops_marks (
	name  TEXT    NOT NULL PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 64),
	at    INTEGER NOT NULL,
	value TEXT    NOT NULL CHECK (length(value) <= 256),
	mac   BLOB    NOT NULL
) STRICT;
`

// Alert queue targets.
const (
	AlertWebhook = "webhook"
	AlertCommand = "command"
)

// MaxAlertSize bounds an alert's body.
const MaxAlertSize = 64 << 10

// QueuedAlert is one alert waiting for delivery to one target.
type QueuedAlert struct {
	Seq       int64
	Target    string // AlertWebhook or AlertCommand
	Body      []byte // the alert's JSON, as delivered
	Attempts  int    // failed deliveries so far
	CreatedAt time.Time
}

func alertMAC(key []byte, seq int64, target string, body []byte, created time.Time) []byte {
	return newMAC("walletmcp/state/alert/v1").i64(seq).str(target).bytes(body).time(created).sum(key)
}

// EnqueueAlert queues body for target. The queue holds at most max alerts
// (max ≥ 1): beyond, the oldest are dropped and their number returned. It
// needs the state key.
func (s *Store) EnqueueAlert(ctx context.Context, target string, body []byte, max int) (dropped int, err error) {
	if s.key == nil {
		return 0, ErrNoKey
	}
	if target != AlertWebhook && target != AlertCommand {
		return 0, errors.New("store: alert target must be webhook or command")
	}
	if len(body) < 2 || len(body) > MaxAlertSize || max < 1 {
		return 0, errors.New("store: alert body size or queue bound out of range")
	}
	now, err := s.timestamp()
	if err != nil {
		return 0, err
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO alerts (target, body, next_attempt, created_at, mac) VALUES (?, ?, ?, ?, x'')`,
			target, body, unixNano(now), unixNano(now))
		if err != nil {
			return wrapDBErr("enqueue alert", err)
		}
		seq, err := res.LastInsertId()
		if err != nil {
			return wrapDBErr("enqueue alert", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE alerts SET mac = ? WHERE seq = ?`, alertMAC(s.key, seq, target, body, now), seq); err != nil {
			return wrapDBErr("enqueue alert", err)
		}
		res, err = tx.ExecContext(ctx, `DELETE FROM alerts WHERE seq IN (SELECT seq FROM alerts WHERE target = ? ORDER BY seq DESC LIMIT -1 OFFSET ?)`, target, max)
		if err != nil {
			return wrapDBErr("enqueue alert", err)
		}
		n, _ := res.RowsAffected()
		dropped = int(n)
		return nil
	})
	return dropped, err
}

// ClaimAlerts leases up to limit alerts that are due (next attempt at or
// before now, not leased by another process) for lease, oldest first. A row
// whose MAC does not verify is deleted and counted in tampered, never returned.
func (s *Store) ClaimAlerts(ctx context.Context, lease time.Duration, limit int) (due []QueuedAlert, tampered int, err error) {
	if s.key == nil {
		return nil, 0, ErrNoKey
	}
	now, err := s.timestamp()
	if err != nil {
		return nil, 0, err
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		due, tampered = nil, 0
		rows, err := tx.QueryContext(ctx, `SELECT seq, target, body, attempts, created_at, mac FROM alerts
			WHERE next_attempt <= ? AND lease_until <= ? ORDER BY seq LIMIT ?`, unixNano(now), unixNano(now), limit)
		if err != nil {
			return wrapDBErr("claim alerts", err)
		}
		var bad []int64
		for rows.Next() {
			var a QueuedAlert
			var created int64
			var mac []byte
			if err := rows.Scan(&a.Seq, &a.Target, &a.Body, &a.Attempts, &created, &mac); err != nil {
				rows.Close()
				return wrapDBErr("claim alerts", err)
			}
			a.CreatedAt = time.Unix(0, created).UTC()
			if !macEqual(mac, alertMAC(s.key, a.Seq, a.Target, a.Body, a.CreatedAt)) {
				bad = append(bad, a.Seq)
				continue
			}
			due = append(due, a)
		}
		if err := rows.Err(); err != nil {
			return wrapDBErr("claim alerts", err)
		}
		rows.Close()
		for _, seq := range bad {
			if _, err := tx.ExecContext(ctx, `DELETE FROM alerts WHERE seq = ?`, seq); err != nil {
				return wrapDBErr("claim alerts", err)
			}
		}
		tampered = len(bad)
		for _, a := range due {
			if _, err := tx.ExecContext(ctx, `UPDATE alerts SET lease_until = ? WHERE seq = ?`, unixNano(now.Add(lease)), a.Seq); err != nil {
				return wrapDBErr("claim alerts", err)
			}
		}
		return nil
	})
	return due, tampered, err
}

// AlertDelivered removes a delivered alert from the queue.
func (s *Store) AlertDelivered(ctx context.Context, seq int64) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM alerts WHERE seq = ?`, seq)
		return wrapErr("alert delivered", err)
	})
}

// AlertFailed records a failed delivery: the alert is tried again at next.
func (s *Store) AlertFailed(ctx context.Context, seq int64, next time.Time) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE alerts SET attempts = attempts + 1, next_attempt = ?, lease_until = 0 WHERE seq = ?`, unixNano(next), seq)
		return wrapErr("alert failed", err)
	})
}

// AlertQueue returns how many alerts wait for delivery and when the next is
// due (zero when none).
func (s *Store) AlertQueue(ctx context.Context) (n int, next time.Time, err error) {
	var nx sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*), MIN(MAX(next_attempt, lease_until)) FROM alerts`).Scan(&n, &nx); err != nil {
		return 0, time.Time{}, wrapDBErr("alert queue", err)
	}
	if nx.Valid {
		next = time.Unix(0, nx.Int64).UTC()
	}
	return n, next, nil
}

func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return wrapDBErr(op, err)
}

// Freeze is an account's freeze state.
type Freeze struct {
	Account   common.Address
	Frozen    bool
	Rule      string    // the anomaly rule that froze it ("" once unfrozen)
	Version   int64     // bumped by every change
	ChangedAt time.Time // when it last changed
}

func freezeMAC(key []byte, f *Freeze) []byte {
	fr := int64(0)
	if f.Frozen {
		fr = 1
	}
	return newMAC("walletmcp/state/freeze/v1").addr(f.Account).i64(fr).str(f.Rule).i64(f.Version).time(f.ChangedAt).sum(key)
}

// opsHeadMAC authenticates the ops head: the freezes' row count and the sum
// of their versions. Each change bumps one row's version by one, so the sum
// only grows: any row put back to an older copy lowers it (with the highest
// version, as v1 kept, a row could go back while another held the highest).
func opsHeadMAC(key []byte, rows, sum int64) []byte {
	return newMAC("walletmcp/state/ops-head/v2").i64(rows).i64(sum).sum(key)
}

// opsHeadMACv1 is the head's MAC before v2: the row count and the highest
// version. A keyed open upgrades a head that verifies with it (ensureOpsHead).
func opsHeadMACv1(key []byte, rows, maxVersion int64) []byte {
	return newMAC("walletmcp/state/ops-head/v1").i64(rows).i64(maxVersion).sum(key)
}

// checkOpsHead verifies ops_head against the freezes table: a removed row,
// or one added, changed or put back to an older copy without the key, is a
// *TamperError. It returns the row count and the sum of the versions. A
// missing head with no rows is a new database only without the key: a keyed
// open makes the head (ensureOpsHead), so a keyed store without one lost it.
func (s *Store) checkOpsHead(ctx context.Context, q querier) (rows, version int64, err error) {
	var mac []byte
	err = s.queryRow(ctx, q, `SELECT rows, version, mac FROM ops_head WHERE id = 1`).Scan(&rows, &version, &mac)
	found := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, 0, wrapDBErr("read ops head", err)
	}
	var n, maxV int64
	if err := s.queryRow(ctx, q, `SELECT COUNT(*), COALESCE(SUM(version), 0) FROM freezes`).Scan(&n, &maxV); err != nil {
		return 0, 0, wrapDBErr("read freezes", err)
	}
	if err := s.verifyOpsHead(found, rows, version, mac, n, maxV, isDB(q)); err != nil {
		return 0, 0, err
	}
	return rows, version, nil
}

// isDB reports whether q reads committed data (the database, not a
// transaction that may still roll back, with a group commit's other writes).
func isDB(q querier) bool {
	_, ok := q.(*sql.DB)
	return ok
}

// verifyOpsHead checks the ops head read (found, rows, version, mac)
// against the freezes table's row count n and version sum maxV, and, with
// the key, against the furthest head this Store saw (opsSeen), which a
// committed read (committed) moves forward.
func (s *Store) verifyOpsHead(found bool, rows, version int64, mac []byte, n, maxV int64, committed bool) error {
	if found && s.key != nil && !macEqual(mac, opsHeadMAC(s.key, rows, version)) {
		return &TamperError{Table: "ops_head", What: "MAC does not verify"}
	}
	switch {
	case !found && (n > 0 || s.key != nil):
		return &TamperError{Table: "ops_head", What: "missing (removed without the state key)"}
	case n != rows || maxV != version:
		return &TamperError{Table: "freezes", What: "rows were removed, added, changed or rolled back without the state key"}
	case s.key != nil && version < s.opsSeen.Load():
		return &TamperError{Table: "freezes", What: "went back to an older copy"}
	}
	if s.key != nil && committed {
		s.seeOps(version)
	}
	return nil
}

// seeOps moves opsSeen forward to sum.
func (s *Store) seeOps(sum int64) {
	for {
		cur := s.opsSeen.Load()
		if sum <= cur || s.opsSeen.CompareAndSwap(cur, sum) {
			return
		}
	}
}

// qFrozen reads in one statement what frozen checks (a reservation asks it
// every time): the ops head, the freezes' row count and last version, and
// the account's freeze row, NULL where there is no head or no row.
const qFrozen = `SELECT h.rows, h.version, h.mac, c.n, c.v, f.frozen, f.rule, f.version, f.changed_at, f.mac
	FROM (SELECT COUNT(*) AS n, COALESCE(SUM(version), 0) AS v FROM freezes) AS c
	LEFT JOIN ops_head AS h ON h.id = 1
	LEFT JOIN freezes AS f ON f.account = ?`

// frozen reads and verifies account's freeze state inside q, with the ops
// head (checkOpsHead's checks).
func (s *Store) frozen(ctx context.Context, q querier, account common.Address) (*Freeze, error) {
	var (
		hRows, hVersion, fr, version, changed sql.NullInt64
		rule                                  sql.NullString
		hMAC, mac                             []byte
		n, maxV                               int64
	)
	err := s.queryRow(ctx, q, qFrozen, encodeAddr(account)).
		Scan(&hRows, &hVersion, &hMAC, &n, &maxV, &fr, &rule, &version, &changed, &mac)
	if err != nil {
		return nil, wrapDBErr("read freeze", err)
	}
	if err := s.verifyOpsHead(hRows.Valid, hRows.Int64, hVersion.Int64, hMAC, n, maxV, isDB(q)); err != nil {
		return nil, err
	}
	f := &Freeze{Account: account}
	if !fr.Valid {
		return f, nil
	}
	f.Frozen, f.Rule, f.Version, f.ChangedAt = fr.Int64 == 1, rule.String, version.Int64, time.Unix(0, changed.Int64).UTC()
	if s.key != nil && !macEqual(mac, freezeMAC(s.key, f)) {
		return nil, &TamperError{Table: "freezes", ID: account.Hex(), What: "MAC does not verify"}
	}
	return f, nil
}

// Frozen returns account's freeze state, verified (a *TamperError when the
// freeze rows or their head were changed without the key: callers treat that
// as frozen).
func (s *Store) Frozen(ctx context.Context, account common.Address) (*Freeze, error) {
	return s.frozen(ctx, s.db, account)
}

// Frozen reads account's freeze state inside the ledger transaction, so that
// a freeze committed by any process before it is seen by the decision.
func (lt *LedgerTx) Frozen(account common.Address) (*Freeze, error) {
	return lt.s.frozen(lt.ctx, lt.tx, account)
}

// Freezes lists every account ever frozen, verified.
func (s *Store) Freezes(ctx context.Context) ([]*Freeze, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT account FROM freezes ORDER BY account`)
	if err != nil {
		return nil, wrapDBErr("list freezes", err)
	}
	var accts []common.Address
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			rows.Close()
			return nil, wrapDBErr("list freezes", err)
		}
		addr, err := decodeAddr(a)
		if err != nil {
			rows.Close()
			return nil, &TamperError{Table: "freezes", What: "bad account"}
		}
		accts = append(accts, addr)
	}
	rows.Close()
	var out []*Freeze
	for _, a := range accts {
		f, err := s.Frozen(ctx, a)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// SetFrozen freezes (rule names the anomaly) or unfreezes account, and
// reports whether that changed anything. It needs the state key.
func (s *Store) SetFrozen(ctx context.Context, account common.Address, frozen bool, rule string) (changed bool, err error) {
	if s.key == nil {
		return false, ErrNoKey
	}
	if len(rule) > 64 {
		return false, errors.New("store: freeze rule longer than 64 bytes")
	}
	now, err := s.timestamp()
	if err != nil {
		return false, err
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		changed, err = s.setFrozen(ctx, tx, account, frozen, rule, now)
		return err
	})
	return changed, err
}

// setFrozen is SetFrozen inside tx.
func (s *Store) setFrozen(ctx context.Context, tx *sql.Tx, account common.Address, frozen bool, rule string, now time.Time) (changed bool, err error) {
	if len(rule) > 64 {
		return false, errors.New("store: freeze rule longer than 64 bytes")
	}
	rows, version, err := s.checkOpsHead(ctx, tx)
	if err != nil {
		return false, err
	}
	cur, err := s.frozen(ctx, tx, account)
	if err != nil {
		return false, err
	}
	if cur.Frozen == frozen {
		return false, nil
	}
	if !frozen {
		rule = ""
	}
	if cur.Version == 0 {
		rows++
	}
	version++ // the sum: this row's version goes up by one
	f := &Freeze{Account: account, Frozen: frozen, Rule: rule, Version: cur.Version + 1, ChangedAt: now}
	fr := 0
	if frozen {
		fr = 1
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO freezes (account, frozen, rule, version, changed_at, mac) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (account) DO UPDATE SET frozen = excluded.frozen, rule = excluded.rule, version = excluded.version,
		changed_at = excluded.changed_at, mac = excluded.mac`,
		encodeAddr(account), fr, rule, f.Version, unixNano(now), freezeMAC(s.key, f)); err != nil {
		return false, wrapDBErr("set freeze", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO ops_head (id, rows, version, mac) VALUES (1, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET rows = excluded.rows, version = excluded.version, mac = excluded.mac`,
		rows, version, opsHeadMAC(s.key, rows, version)); err != nil {
		return false, wrapDBErr("set freeze", err)
	}
	return true, nil
}

// ensureOpsHead gives a keyed store its ops head, as ensureHead does the
// ledger's, and upgrades a head of v1 (the highest version) that verifies to
// v2 (the sum of the versions).
func (s *Store) ensureOpsHead(ctx context.Context) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM ops_head`).Scan(&n); err != nil {
			return wrapDBErr("read ops head", err)
		}
		if n > 0 {
			var rows, version, count, maxV, sum int64
			var mac []byte
			if err := tx.QueryRowContext(ctx, `SELECT rows, version, mac FROM ops_head WHERE id = 1`).Scan(&rows, &version, &mac); err != nil {
				return wrapDBErr("read ops head", err)
			}
			if macEqual(mac, opsHeadMAC(s.key, rows, version)) {
				return nil
			}
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(MAX(version), 0), COALESCE(SUM(version), 0) FROM freezes`).Scan(&count, &maxV, &sum); err != nil {
				return wrapDBErr("read freezes", err)
			}
			if rows != count || version != maxV || !macEqual(mac, opsHeadMACv1(s.key, rows, version)) {
				return nil // not a v1 head either: every read refuses it
			}
			_, err := tx.ExecContext(ctx, `UPDATE ops_head SET version = ?, mac = ? WHERE id = 1`, sum, opsHeadMAC(s.key, rows, sum))
			return wrapErr("upgrade ops head", err)
		}
		var rows int64
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM freezes`).Scan(&rows); err != nil {
			return wrapDBErr("read freezes", err)
		}
		if rows > 0 {
			return &TamperError{Table: "ops_head", What: "missing, though freezes hold rows"}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO ops_head (id, rows, version, mac) VALUES (1, 0, 0, ?)`, opsHeadMAC(s.key, 0, 0))
		return wrapErr("write ops head", err)
	})
}

func markMAC(key []byte, name string, at time.Time, value string) []byte {
	return newMAC("walletmcp/state/ops-mark/v1").str(name).time(at).str(value).sum(key)
}

// SetMark records a named time stamp with a short value (the last key
// self-check and its outcome). It needs the state key.
func (s *Store) SetMark(ctx context.Context, name, value string) error {
	if s.key == nil {
		return ErrNoKey
	}
	if name == "" || len(name) > 64 || len(value) > 256 {
		return errors.New("store: mark name or value too long")
	}
	now, err := s.timestamp()
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO ops_marks (name, at, value, mac) VALUES (?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET at = excluded.at, value = excluded.value, mac = excluded.mac`,
			name, unixNano(now), value, markMAC(s.key, name, now, value))
		return wrapErr("set mark", err)
	})
}

// Mark returns a named time stamp and its value; ErrNotFound when never set.
// Without the key it is read unverified.
func (s *Store) Mark(ctx context.Context, name string) (time.Time, string, error) {
	var at int64
	var value string
	var mac []byte
	err := s.db.QueryRowContext(ctx, `SELECT at, value, mac FROM ops_marks WHERE name = ?`, name).Scan(&at, &value, &mac)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, "", ErrNotFound
	}
	if err != nil {
		return time.Time{}, "", wrapDBErr("read mark", err)
	}
	t := time.Unix(0, at).UTC()
	if s.key != nil && !macEqual(mac, markMAC(s.key, name, t, value)) {
		return time.Time{}, "", &TamperError{Table: "ops_marks", ID: strconv.Quote(name), What: "MAC does not verify"}
	}
	return t, value, nil
}
