package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
)

var anomAcct = common.HexToAddress("0x00000000000000000000000000000000000A11CE")

// countDecide is a decision that freezes for rule "burst" once the window
// holds n events, deduplicated by its fired time within the window; it
// records what it saw in *seen.
func countDecide(n int, window time.Duration, seen *[]AnomalyEvent) AnomalyDecide {
	return func(events []AnomalyEvent, fired map[string]time.Time) string {
		*seen = events
		now := events[0].At
		if len(events) < n {
			return ""
		}
		if last, ok := fired["burst"]; ok && now.Sub(last) < window {
			return ""
		}
		fired["burst"] = now
		return "burst"
	}
}

// TestRecordAnomalySharedAndDurable: two handles on one database (two
// processes) each record 15 events within a minute: the 30th, whichever
// handle records it, sees all 30 and freezes the account, once; a reopened
// store keeps the window.
func TestRecordAnomalySharedAndDurable(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s1, path := openTest(t, &Options{Now: clk.Now})
	s2, err := Open(ctx, path, withKey(&Options{Now: clk.Now}))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	var seen []AnomalyEvent
	fires := 0
	for i := range 30 {
		s := []*Store{s1, s2}[i%2]
		froze, err := s.RecordAnomaly(ctx, &AnomalyRecord{Account: anomAcct, Series: SeriesDenials, At: clk.Now(), Flags: 1, Window: time.Minute},
			countDecide(30, time.Minute, &seen))
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if froze {
			fires++
			if i != 29 {
				t.Fatalf("froze at event %d", i)
			}
		}
		clk.Advance(time.Second)
	}
	if fires != 1 || len(seen) != 30 {
		t.Fatalf("fires %d, window %d; want 1, 30", fires, len(seen))
	}
	if f, err := s1.Frozen(ctx, anomAcct); err != nil || !f.Frozen || f.Rule != "burst" {
		t.Fatalf("freeze %+v, %v", f, err)
	}
	// A further event in the same window fires nothing: the fired time is
	// shared too.
	if _, err := s2.SetFrozen(ctx, anomAcct, false, ""); err != nil {
		t.Fatal(err)
	}
	if froze, err := s1.RecordAnomaly(ctx, &AnomalyRecord{Account: anomAcct, Series: SeriesDenials, At: clk.Now(), Window: time.Minute},
		countDecide(30, time.Minute, &seen)); err != nil || froze {
		t.Fatalf("dedup: %v, %v", froze, err)
	}
	// Restart: the window is still there.
	s1.Close()
	s2.Close()
	s3, err := Open(ctx, path, withKey(&Options{Now: clk.Now}))
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	if _, err := s3.RecordAnomaly(ctx, &AnomalyRecord{Account: anomAcct, Series: SeriesDenials, At: clk.Now(), Window: time.Minute},
		countDecide(1000, time.Minute, &seen)); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 32 { // t0 … t0+30s, all within the minute
		t.Fatalf("after reopen the window holds %d events, want 32", len(seen))
	}
	if seen[0].Seq != 32 || !seen[0].At.Equal(seen[1].At) {
		t.Fatalf("newest %+v %+v", seen[0], seen[1])
	}
}

// TestRecordAnomalyPrunes: rows older than the window are removed, a bounded
// number per call, and the contiguity check still holds.
func TestRecordAnomalyPrunes(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s, _ := openTest(t, &Options{Now: clk.Now})
	var seen []AnomalyEvent
	rec := func() {
		t.Helper()
		if _, err := s.RecordAnomaly(ctx, &AnomalyRecord{Account: anomAcct, Series: SeriesActivity, At: clk.Now(), Window: time.Hour},
			countDecide(1<<30, time.Hour, &seen)); err != nil {
			t.Fatal(err)
		}
	}
	for range 100 {
		rec()
	}
	clk.Advance(2 * time.Hour)
	rec()
	rows := func() (n int) {
		s.db.QueryRow(`SELECT COUNT(*) FROM anomaly_events`).Scan(&n)
		return n
	}
	if n := rows(); n != 101-anomalyPruneBatch {
		t.Fatalf("%d rows after one pruning call, want %d", n, 101-anomalyPruneBatch)
	}
	if len(seen) != 1 {
		t.Fatalf("window %d, want 1", len(seen))
	}
	rec()
	if n := rows(); n != 2 || len(seen) != 2 {
		t.Fatalf("%d rows, window %d; want 2, 2", n, len(seen))
	}
}

// TestRecordAnomalyTamper: a removed, edited or added event row, a removed or
// rolled-back head, and a removed root are each a *TamperError, and nothing
// is recorded; ResetAnomalies starts the account afresh.
func TestRecordAnomalyTamper(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name   string
		tamper string
	}{
		{"middle row removed", `DELETE FROM anomaly_events WHERE seq = 5`},
		{"oldest row in the window removed", `DELETE FROM anomaly_events WHERE seq = 1`},
		{"newest row removed", `DELETE FROM anomaly_events WHERE seq = 10`},
		{"row flags edited", `UPDATE anomaly_events SET flags = 0 WHERE seq = 7`},
		{"row moved out of the window", `UPDATE anomaly_events SET at = 0 WHERE seq = 3`},
		{"head removed", `DELETE FROM anomaly_heads`},
		{"head and rows removed", `DELETE FROM anomaly_heads; DELETE FROM anomaly_events`},
		{"head rolled back", `UPDATE anomaly_heads SET seq = 8`},
		{"fired times edited", `UPDATE anomaly_heads SET fired = '{}'`},
		{"root removed", `DELETE FROM anomaly_root`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			s, _ := openTest(t, &Options{Now: clk.Now})
			var seen []AnomalyEvent
			rec := func() error {
				_, err := s.RecordAnomaly(ctx, &AnomalyRecord{Account: anomAcct, Series: SeriesDenials, At: clk.Now(), Flags: 1, Window: time.Hour},
					countDecide(5, time.Hour, &seen))
				clk.Advance(time.Second)
				return err
			}
			for range 10 {
				if err := rec(); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := s.db.Exec(tt.tamper); err != nil {
				t.Fatal(err)
			}
			err := rec()
			var te *TamperError
			if !errors.As(err, &te) {
				t.Fatalf("after tampering: %v, want a *TamperError", err)
			}
			if _, err := s.ResetAnomalies(ctx, anomAcct); err != nil {
				t.Fatalf("reset: %v", err)
			}
			if err := rec(); err != nil || len(seen) != 1 {
				t.Fatalf("after reset: %v, window %d", err, len(seen))
			}
		})
	}
}

// TestResetAnomaliesDropsBadHeads: a reset re-seals the root only over heads
// that verify; another account's forged head is removed and named.
func TestResetAnomaliesDropsBadHeads(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s, _ := openTest(t, &Options{Now: clk.Now})
	bob := common.HexToAddress("0x0000000000000000000000000000000000000B0B")
	var seen []AnomalyEvent
	for _, a := range []common.Address{anomAcct, bob} {
		if _, err := s.RecordAnomaly(ctx, &AnomalyRecord{Account: a, Series: SeriesActivity, At: clk.Now(), Window: time.Hour}, countDecide(9, time.Hour, &seen)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.db.Exec(`UPDATE anomaly_heads SET low = 1 WHERE account = ?`, encodeAddr(bob)); err != nil {
		t.Fatal(err)
	}
	dropped, err := s.ResetAnomalies(ctx, anomAcct)
	if err != nil || len(dropped) != 1 || dropped[0] != bob {
		t.Fatalf("reset: %v, %v; want bob dropped", dropped, err)
	}
	if _, err := s.RecordAnomaly(ctx, &AnomalyRecord{Account: bob, Series: SeriesActivity, At: clk.Now(), Window: time.Hour}, countDecide(9, time.Hour, &seen)); err != nil || len(seen) != 1 {
		t.Fatalf("bob after reset: %v, window %d", err, len(seen))
	}
}

func TestRecordAnomalyNeedsKey(t *testing.T) {
	ctx := context.Background()
	_, path := openTest(t, nil)
	s, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.RecordAnomaly(ctx, &AnomalyRecord{Account: anomAcct, Series: SeriesDenials, At: time.Now(), Window: time.Minute}, func([]AnomalyEvent, map[string]time.Time) string { return "" })
	if !errors.Is(err, ErrNoKey) {
		t.Fatalf("keyless record: %v", err)
	}
}
