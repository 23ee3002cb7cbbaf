package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
)

// schemaV8Anomaly moves the anomaly detector's sliding windows into the
// store, so that every process sharing the home counts the same events and a
// restart forgets none (CONTRACT.md §9):
//   - anomaly_events: one row per observed activity of an account in one
//     series ("denials" or "activity"), numbered per account and series from 1
//     without gaps, with the caller's flags and the time, MAC'd;
//   - anomaly_heads: per account and series, the last seq, the seq below which
//     rows were pruned (low), the last time stamp (times never go back within a
//     series) and when each rule last fired (JSON), MAC'd: a window read checks
//     that the seqs it reads run without a gap from the head down;
//   - anomaly_root (MAC'd) holds the number of heads and the sum of their seqs,
//     so that a removed or rolled-back head is noticed too.
const schemaV8Anomaly = `
CREATE TABLE anomaly_events (
	account TEXT    NOT NULL,
	series  TEXT    NOT NULL CHECK (series IN ('denials', 'activity')),
	seq     INTEGER NOT NULL CHECK (seq >= 1),
	at      INTEGER NOT NULL,
	flags   INTEGER NOT NULL CHECK (flags >= 0),
	mac     BLOB    NOT NULL,
	PRIMARY KEY (account, series, seq)
) STRICT, WITHOUT ROWID;
CREATE TABLE anomaly_heads (
	account TEXT    NOT NULL,
	series  TEXT    NOT NULL CHECK (series IN ('denials', 'activity')),
	seq     INTEGER NOT NULL CHECK (seq >= 1),
	low     INTEGER NOT NULL CHECK (low >= 0),
	last_at INTEGER NOT NULL,
	fired   TEXT    NOT NULL CHECK (length(fired) <= 1024),
	mac     BLOB    NOT NULL,
	PRIMARY KEY (account, series)
) STRICT;
CREATE TABLE anomaly_root (
	id    INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
	heads INTEGER NOT NULL CHECK (heads >= 0),
	total INTEGER NOT NULL CHECK (total >= 0),
	mac   BLOB    NOT NULL
) STRICT;
`

// Anomaly series: denied transfers (a one-minute window) and every other
// transfer decision (windows up to the baseline).
const (
	SeriesDenials  = "denials"
	SeriesActivity = "activity"
)

// MaxAnomalyWindowRows bounds the events one RecordAnomaly reads back: a
// window holding more counts only the newest this many.
const MaxAnomalyWindowRows = 100_000

// anomalyPruneBatch bounds the rows one RecordAnomaly prunes: each call adds
// one row and removes up to this many expired ones, so the table stays near
// the windows' content.
const anomalyPruneBatch = 64

// AnomalyEvent is one recorded activity of an account.
type AnomalyEvent struct {
	Seq   int64
	At    time.Time
	Flags uint32 // the caller's classification (policy's event bits)
}

// AnomalyRecord is one activity to record and decide on.
type AnomalyRecord struct {
	Account common.Address
	// Series is SeriesDenials or SeriesActivity.
	Series string
	// At is when it was decided; the store keeps a series' times
	// non-decreasing (an earlier At is recorded as the series' last time).
	At    time.Time
	Flags uint32
	// Window is how far back from At the decision looks; older rows are
	// pruned. At least a second.
	Window time.Duration
}

// AnomalyDecide decides on a recorded activity inside its transaction:
// events are the series' rows within the window, newest (the one just
// recorded) first; fired holds when each rule last fired for the account and
// series, and the decision updates it in place. It returns the rule to
// freeze the account for ("" for none). It must not block.
type AnomalyDecide func(events []AnomalyEvent, fired map[string]time.Time) (freezeRule string)

func anomalyEventMAC(key []byte, account common.Address, series string, e *AnomalyEvent) []byte {
	return newMAC("walletmcp/state/anomaly-event/v1").addr(account).str(series).i64(e.Seq).time(e.At).i64(int64(e.Flags)).sum(key)
}

type anomalyHead struct {
	seq, low int64
	lastAt   time.Time
	fired    string // JSON object: rule → Unix nanoseconds
}

func anomalyHeadMAC(key []byte, account common.Address, series string, h *anomalyHead) []byte {
	return newMAC("walletmcp/state/anomaly-head/v1").addr(account).str(series).i64(h.seq).i64(h.low).time(h.lastAt).str(h.fired).sum(key)
}

func anomalyRootMAC(key []byte, heads, total int64) []byte {
	return newMAC("walletmcp/state/anomaly-root/v1").i64(heads).i64(total).sum(key)
}

// RecordAnomaly records rec and, in the same write transaction (BEGIN
// IMMEDIATE, so no other process comes between), reads the series' events
// within rec.Window, hands them to decide, stores the fired times it leaves,
// and freezes the account when it names a rule. It reports whether that
// freeze changed the account's state. It needs the state key.
//
// Every row read, the series' head and the root are verified: a row whose MAC
// does not verify, a gap in the seqs, a head that does not match its rows or a
// root that does not match the heads is a *TamperError, and nothing is
// recorded (the caller fails closed: see ResetAnomalies).
func (s *Store) RecordAnomaly(ctx context.Context, rec *AnomalyRecord, decide AnomalyDecide) (froze bool, err error) {
	if s.key == nil {
		return false, ErrNoKey
	}
	if rec.Series != SeriesDenials && rec.Series != SeriesActivity {
		return false, errors.New("store: anomaly series must be denials or activity")
	}
	if rec.Window < time.Second || rec.At.IsZero() {
		return false, errors.New("store: anomaly window or time out of range")
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		froze = false
		heads, total, err := s.checkAnomalyRoot(ctx, tx)
		if err != nil {
			return err
		}
		h, found, err := s.anomalyHead(ctx, tx, rec.Account, rec.Series)
		if err != nil {
			return err
		}
		if !found {
			heads++
		}
		ev := AnomalyEvent{Seq: h.seq + 1, At: time.Unix(0, unixNano(rec.At)).UTC(), Flags: rec.Flags}
		if ev.At.Before(h.lastAt) {
			ev.At = h.lastAt
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO anomaly_events (account, series, seq, at, flags, mac) VALUES (?, ?, ?, ?, ?, ?)`,
			encodeAddr(rec.Account), rec.Series, ev.Seq, unixNano(ev.At), int64(ev.Flags), anomalyEventMAC(s.key, rec.Account, rec.Series, &ev)); err != nil {
			return wrapDBErr("record anomaly event", err)
		}
		cut := ev.At.Add(-rec.Window)
		events, err := s.anomalyWindow(ctx, tx, rec.Account, rec.Series, ev.Seq, h.low, cut)
		if err != nil {
			return err
		}
		fired, err := decodeFired(h.fired)
		if err != nil {
			return &TamperError{Table: "anomaly_heads", ID: rec.Account.Hex() + "/" + rec.Series, What: "fired times do not parse"}
		}
		rule := decide(events, fired)
		nh := anomalyHead{seq: ev.Seq, low: h.low, lastAt: ev.At}
		if nh.fired, err = encodeFired(fired); err != nil {
			return err
		}
		if nh.low, err = s.pruneAnomaly(ctx, tx, rec.Account, rec.Series, h.low, cut); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO anomaly_heads (account, series, seq, low, last_at, fired, mac) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (account, series) DO UPDATE SET seq = excluded.seq, low = excluded.low, last_at = excluded.last_at,
			fired = excluded.fired, mac = excluded.mac`,
			encodeAddr(rec.Account), rec.Series, nh.seq, nh.low, unixNano(nh.lastAt), nh.fired,
			anomalyHeadMAC(s.key, rec.Account, rec.Series, &nh)); err != nil {
			return wrapDBErr("record anomaly head", err)
		}
		if err := s.writeAnomalyRoot(ctx, tx, heads, total+1); err != nil {
			return err
		}
		if rule != "" {
			now, err := s.timestamp()
			if err != nil {
				return err
			}
			if froze, err = s.setFrozen(ctx, tx, rec.Account, true, rule, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		froze = false
	}
	return froze, err
}

// checkAnomalyRoot verifies anomaly_root against the heads. A missing root
// with no heads is a new database.
func (s *Store) checkAnomalyRoot(ctx context.Context, q querier) (heads, total int64, err error) {
	var mac []byte
	err = q.QueryRowContext(ctx, `SELECT heads, total, mac FROM anomaly_root WHERE id = 1`).Scan(&heads, &total, &mac)
	found := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, 0, wrapDBErr("read anomaly root", err)
	}
	if found && !macEqual(mac, anomalyRootMAC(s.key, heads, total)) {
		return 0, 0, &TamperError{Table: "anomaly_root", What: "MAC does not verify"}
	}
	var n, sum int64
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(seq), 0) FROM anomaly_heads`).Scan(&n, &sum); err != nil {
		return 0, 0, wrapDBErr("read anomaly heads", err)
	}
	switch {
	case !found && n > 0:
		return 0, 0, &TamperError{Table: "anomaly_root", What: "missing, though anomaly heads exist"}
	case n != heads || sum != total:
		return 0, 0, &TamperError{Table: "anomaly_heads", What: "heads were removed, added or rolled back without the state key"}
	}
	return heads, total, nil
}

func (s *Store) writeAnomalyRoot(ctx context.Context, tx *sql.Tx, heads, total int64) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO anomaly_root (id, heads, total, mac) VALUES (1, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET heads = excluded.heads, total = excluded.total, mac = excluded.mac`,
		heads, total, anomalyRootMAC(s.key, heads, total))
	return wrapErr("write anomaly root", err)
}

// anomalyHead reads and verifies the head of account's series; a series
// never recorded has seq 0, unless rows of it exist (a removed head).
func (s *Store) anomalyHead(ctx context.Context, q querier, account common.Address, series string) (h anomalyHead, found bool, err error) {
	id := account.Hex() + "/" + series
	var last int64
	var mac []byte
	err = q.QueryRowContext(ctx, `SELECT seq, low, last_at, fired, mac FROM anomaly_heads WHERE account = ? AND series = ?`,
		encodeAddr(account), series).Scan(&h.seq, &h.low, &last, &h.fired, &mac)
	found = err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return h, false, wrapDBErr("read anomaly head", err)
	}
	if found {
		h.lastAt = time.Unix(0, last).UTC()
		if !macEqual(mac, anomalyHeadMAC(s.key, account, series, &h)) {
			return h, false, &TamperError{Table: "anomaly_heads", ID: id, What: "MAC does not verify"}
		}
	} else {
		h.fired = "{}"
	}
	var above bool
	if err := q.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM anomaly_events WHERE account = ? AND series = ? AND seq > ?)`,
		encodeAddr(account), series, h.seq).Scan(&above); err != nil {
		return h, false, wrapDBErr("read anomaly events", err)
	}
	if above {
		return h, false, &TamperError{Table: "anomaly_events", ID: id, What: "rows beyond the head (the head was removed or rolled back)"}
	}
	return h, found, nil
}

// anomalyWindow reads the series' rows from seq down, newest first, while
// they are at or after cut, verifying each and that no seq is missing. The
// first row before cut is verified too (so that rows removed from the old end
// of the window are noticed) but not returned; below low, rows were pruned.
func (s *Store) anomalyWindow(ctx context.Context, tx *sql.Tx, account common.Address, series string, seq, low int64, cut time.Time) ([]AnomalyEvent, error) {
	id := account.Hex() + "/" + series
	rows, err := tx.QueryContext(ctx, `SELECT seq, at, flags, mac FROM anomaly_events WHERE account = ? AND series = ? AND seq > ? AND seq <= ? ORDER BY seq DESC`,
		encodeAddr(account), series, low, seq)
	if err != nil {
		return nil, wrapDBErr("read anomaly window", err)
	}
	defer rows.Close()
	var out []AnomalyEvent
	want := seq
	for rows.Next() {
		var e AnomalyEvent
		var at, flags int64
		var mac []byte
		if err := rows.Scan(&e.Seq, &at, &flags, &mac); err != nil {
			return nil, wrapDBErr("read anomaly window", err)
		}
		if e.Seq != want {
			return nil, &TamperError{Table: "anomaly_events", ID: fmt.Sprintf("%s#%d", id, want), What: "missing"}
		}
		want--
		e.At = time.Unix(0, at).UTC()
		if flags < 0 || flags > 1<<31 {
			return nil, &TamperError{Table: "anomaly_events", ID: fmt.Sprintf("%s#%d", id, e.Seq), What: "bad flags"}
		}
		e.Flags = uint32(flags)
		if !macEqual(mac, anomalyEventMAC(s.key, account, series, &e)) {
			return nil, &TamperError{Table: "anomaly_events", ID: fmt.Sprintf("%s#%d", id, e.Seq), What: "MAC does not verify"}
		}
		if e.At.Before(cut) || len(out) == MaxAnomalyWindowRows {
			return out, nil
		}
		if len(out) > 0 && out[len(out)-1].At.Before(e.At) {
			return nil, &TamperError{Table: "anomaly_events", ID: fmt.Sprintf("%s#%d", id, e.Seq), What: "time goes back"}
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, wrapDBErr("read anomaly window", err)
	}
	if want != low {
		return nil, &TamperError{Table: "anomaly_events", ID: fmt.Sprintf("%s#%d", id, want), What: "missing"}
	}
	return out, nil
}

// pruneAnomaly removes up to anomalyPruneBatch of the series' oldest rows
// that are before cut (each verified first) and returns the new low.
func (s *Store) pruneAnomaly(ctx context.Context, tx *sql.Tx, account common.Address, series string, low int64, cut time.Time) (int64, error) {
	rows, err := tx.QueryContext(ctx, `SELECT seq, at, flags, mac FROM anomaly_events WHERE account = ? AND series = ? AND seq > ? ORDER BY seq LIMIT ?`,
		encodeAddr(account), series, low, anomalyPruneBatch)
	if err != nil {
		return 0, wrapDBErr("prune anomaly events", err)
	}
	newLow := low
	for rows.Next() {
		var e AnomalyEvent
		var at, flags int64
		var mac []byte
		if err := rows.Scan(&e.Seq, &at, &flags, &mac); err != nil {
			rows.Close()
			return 0, wrapDBErr("prune anomaly events", err)
		}
		e.At, e.Flags = time.Unix(0, at).UTC(), uint32(flags)
		if e.Seq != newLow+1 || int64(e.Flags) != flags || !macEqual(mac, anomalyEventMAC(s.key, account, series, &e)) {
			rows.Close()
			return 0, &TamperError{Table: "anomaly_events", ID: fmt.Sprintf("%s/%s#%d", account.Hex(), series, newLow+1), What: "missing or MAC does not verify"}
		}
		if !e.At.Before(cut) {
			break
		}
		newLow = e.Seq
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return 0, wrapDBErr("prune anomaly events", err)
	}
	rows.Close()
	if newLow == low {
		return low, nil
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM anomaly_events WHERE account = ? AND series = ? AND seq <= ?`,
		encodeAddr(account), series, newLow); err != nil {
		return 0, wrapDBErr("prune anomaly events", err)
	}
	return newLow, nil
}

// ResetAnomalies starts account's anomaly series afresh (its rows and heads
// removed) and re-seals the root over the heads that remain, each verified
// (one that does not verify is removed too and its account returned). It is
// the recovery after a *TamperError from RecordAnomaly, once the caller has
// frozen the account and audited the tamper: windows that cannot be trusted
// are not kept. It needs the state key.
func (s *Store) ResetAnomalies(ctx context.Context, account common.Address) (dropped []common.Address, err error) {
	if s.key == nil {
		return nil, ErrNoKey
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		dropped = nil
		if _, err := tx.ExecContext(ctx, `DELETE FROM anomaly_events WHERE account = ?`, encodeAddr(account)); err != nil {
			return wrapDBErr("reset anomalies", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM anomaly_heads WHERE account = ?`, encodeAddr(account)); err != nil {
			return wrapDBErr("reset anomalies", err)
		}
		rows, err := tx.QueryContext(ctx, `SELECT account, series FROM anomaly_heads ORDER BY account, series`)
		if err != nil {
			return wrapDBErr("reset anomalies", err)
		}
		type key struct{ account, series string }
		var keys []key
		for rows.Next() {
			var k key
			if err := rows.Scan(&k.account, &k.series); err != nil {
				rows.Close()
				return wrapDBErr("reset anomalies", err)
			}
			keys = append(keys, k)
		}
		rows.Close()
		var heads, total int64
		for _, k := range keys {
			addr, aerr := decodeAddr(k.account)
			var h anomalyHead
			if aerr == nil {
				h, _, err = s.anomalyHead(ctx, tx, addr, k.series)
			}
			if aerr != nil || err != nil {
				if aerr == nil && !errors.Is(err, ErrTampered) {
					return err
				}
				if aerr == nil {
					dropped = append(dropped, addr)
				}
				for _, t := range []string{"anomaly_events", "anomaly_heads"} {
					if _, err := tx.ExecContext(ctx, `DELETE FROM `+t+` WHERE account = ?`, k.account); err != nil {
						return wrapDBErr("reset anomalies", err)
					}
				}
				continue
			}
			heads++
			total += h.seq
		}
		return s.writeAnomalyRoot(ctx, tx, heads, total)
	})
	return dropped, err
}

// decodeFired parses a head's fired times.
func decodeFired(s string) (map[string]time.Time, error) {
	var raw map[string]int64
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return nil, err
	}
	out := make(map[string]time.Time, len(raw))
	for k, v := range raw {
		out[k] = time.Unix(0, v).UTC()
	}
	return out, nil
}

// encodeFired is the canonical JSON of fired times (keys sorted).
func encodeFired(fired map[string]time.Time) (string, error) {
	raw := make(map[string]int64, len(fired))
	for k, v := range fired {
		if k == "" || len(k) > 64 || strings.ContainsFunc(k, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
			return "", errors.New("store: anomaly rule name out of range")
		}
		raw[k] = unixNano(v)
	}
	b, err := json.Marshal(raw)
	if err != nil || len(b) > 1024 {
		return "", errors.New("store: anomaly fired times too long")
	}
	return string(b), nil
}
