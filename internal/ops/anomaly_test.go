package ops

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/internal/store"
	"github.com/walletmcp/walletmcp/policy"
)

var watchAcct = common.HexToAddress("0x00000000000000000000000000000000000A11CE")

// recLog records what the watcher audits.
type recLog struct {
	mu   sync.Mutex
	recs []map[string]any
}

func (l *recLog) Append(_ context.Context, _ string, fields any) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, fields.(map[string]any))
	return nil
}

// events returns the audited events named ev.
func (l *recLog) events(ev string) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, r := range l.recs {
		if r["event"] == ev {
			out = append(out, r)
		}
	}
	return out
}

func watchPolicy() *policy.Policy { return &policy.Policy{Anomaly: policy.DefaultAnomalyRules()} }

func denied(at time.Time) policy.Activity {
	return policy.Activity{At: at, Account: watchAcct, Denied: true}
}

// TestWatchersShareWindows: two serve processes on one home (two store
// handles, two watchers) each see 15 denied transfers within a minute: the
// 30 together freeze the account, audited once. (With windows in each
// process's memory, neither reached 30.)
func TestWatchersShareWindows(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	lg := &recLog{}
	var ws []*Watcher
	var stores []*store.Store
	for range 2 {
		st := openStore(t, path)
		defer st.Close()
		stores = append(stores, st)
		ws = append(ws, &Watcher{Policy: watchPolicy(), Store: st, Audit: lg})
	}
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	var frozeMetric int
	for _, w := range ws {
		w.OnAnomaly = func(a policy.Anomaly, froze bool) {
			if froze {
				frozeMetric++
			}
		}
	}
	for i := range 40 {
		ws[i%2].ObserveActivity(ctx, denied(t0.Add(time.Duration(i)*time.Second)))
	}
	an := lg.events("anomaly")
	if len(an) != 1 || an[0]["rule"] != policy.AnomalyDenials || an[0]["count"] != 30 || an[0]["severity"] != SeverityCritical {
		t.Fatalf("anomalies %v", an)
	}
	if fz := lg.events("account_frozen"); len(fz) != 1 || frozeMetric != 1 {
		t.Fatalf("account_frozen %v, OnAnomaly froze %d", fz, frozeMetric)
	}
	for i, st := range stores {
		if f, err := st.Frozen(ctx, watchAcct); err != nil || !f.Frozen || f.Rule != policy.AnomalyDenials {
			t.Fatalf("store %d: %+v, %v", i, f, err)
		}
	}
}

// TestWatcherWindowsSurviveRestart: 20 denials, a restart, 10 more within
// the minute: the account freezes.
func TestWatcherWindowsSurviveRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	lg := &recLog{}
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	st := openStore(t, path)
	w := &Watcher{Policy: watchPolicy(), Store: st, Audit: lg}
	for i := range 20 {
		w.ObserveActivity(ctx, denied(t0.Add(time.Duration(i)*time.Second)))
	}
	st.Close()
	st = openStore(t, path)
	defer st.Close()
	w = &Watcher{Policy: watchPolicy(), Store: st, Audit: lg}
	for i := 20; i < 30; i++ {
		w.ObserveActivity(ctx, denied(t0.Add(time.Duration(i)*time.Second)))
	}
	if f, err := st.Frozen(ctx, watchAcct); err != nil || !f.Frozen {
		t.Fatalf("after a restart: %+v, %v; want frozen", f, err)
	}
}

// TestWatcherTamperFreezes: a removed or edited event row is a state MAC
// failure: audited, the account frozen; the windows start afresh.
func TestWatcherTamperFreezes(t *testing.T) {
	for _, tamper := range []string{
		`DELETE FROM anomaly_events WHERE seq = 3`,
		`UPDATE anomaly_events SET flags = 0 WHERE seq = 4`,
	} {
		t.Run(tamper, func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "state.db")
			st := openStore(t, path)
			defer st.Close()
			lg := &recLog{}
			w := &Watcher{Policy: watchPolicy(), Store: st, Audit: lg}
			t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
			for i := range 5 {
				w.ObserveActivity(ctx, denied(t0.Add(time.Duration(i)*time.Second)))
			}
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(tamper); err != nil {
				t.Fatal(err)
			}
			db.Close()
			w.ObserveActivity(ctx, denied(t0.Add(6*time.Second)))
			if te := lg.events("state_tampered"); len(te) != 1 || te[0]["table"] != "anomaly_events" {
				t.Fatalf("state_tampered %v", te)
			}
			if f, err := st.Frozen(ctx, watchAcct); err != nil || !f.Frozen || f.Rule != RuleStateTampered {
				t.Fatalf("freeze %+v, %v", f, err)
			}
			if fz := lg.events("account_frozen"); len(fz) != 1 {
				t.Fatalf("account_frozen %v", fz)
			}
			// Afresh: the next activity is recorded without error.
			w.ObserveActivity(ctx, denied(t0.Add(7*time.Second)))
			if n := len(lg.events("state_tampered")) + len(lg.events("anomaly_failed")); n != 1 {
				t.Fatalf("after the reset: %d failure records", n)
			}
		})
	}
}

// failingStore fails every record.
type failingStore struct{ AnomalyStore }

func (failingStore) RecordAnomaly(context.Context, *store.AnomalyRecord, store.AnomalyDecide) (bool, error) {
	return false, errors.New("store: begin: database is locked")
}

// TestWatcherStoreErrorAudited: a store error is audited as anomaly_failed
// (a critical alert), not dropped.
func TestWatcherStoreErrorAudited(t *testing.T) {
	lg := &recLog{}
	w := &Watcher{Policy: watchPolicy(), Store: failingStore{}, Audit: lg}
	w.ObserveActivity(context.Background(), denied(time.Now()))
	f := lg.events("anomaly_failed")
	if len(f) != 1 || f[0]["from"] != watchAcct.Hex() {
		t.Fatalf("anomaly_failed %v", f)
	}
	if ev, ok := AlertFor("anomaly_failed", f[0]); !ok || ev.Severity != SeverityCritical {
		t.Fatalf("alert %+v %v", ev, ok)
	}
}

// TestWatcherObserveVerdict: a "send" verdict record becomes an activity.
func TestWatcherObserveVerdict(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	st := openStore(t, path)
	defer st.Close()
	lg := &recLog{}
	p := watchPolicy()
	p.Anomaly.DenialsPerMinute = 2
	w := &Watcher{Policy: p, Store: st, Audit: lg}
	for range 2 {
		w.Observe("verdict", map[string]any{"op": "send", "from": watchAcct.Hex(), "verdict": "deny"})
		w.Observe("verdict", map[string]any{"op": "prepare", "from": watchAcct.Hex(), "verdict": "deny"})
	}
	if an := lg.events("anomaly"); len(an) != 1 {
		t.Fatalf("anomalies %v", an)
	}
}

// TestWatcherNearLimitUnknownToken: the near-limit rule took
// auto_approve_max from the configured assets only, so transfers of an
// unknown token (allowed by [unknown_tokens]) at 99 % of the limit applied
// to them never counted, and the freeze it exists for never came. The
// verdict records the limit it applied, and the watcher uses it.
func TestWatcherNearLimitUnknownToken(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "state.db"))
	defer st.Close()
	lg := &recLog{}
	p := watchPolicy()
	p.Anomaly.NearLimitRepeats = 3
	w := &Watcher{Policy: p, Store: st, Audit: lg}
	token := "0x00000000000000000000000000000000000000cc"
	for range 3 {
		w.Observe("verdict", map[string]any{"op": "send", "from": watchAcct.Hex(), "verdict": "allow", "asset": token,
			"amount_base_units": "99000000000000000000", "auto_approve_max_base_units": "100000000000000000000"})
	}
	an := lg.events("anomaly")
	if len(an) != 1 || an[0]["rule"] != policy.AnomalyNearLimit {
		t.Fatalf("anomalies %v, want one %s", an, policy.AnomalyNearLimit)
	}
}
