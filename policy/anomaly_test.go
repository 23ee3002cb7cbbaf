package policy_test

import (
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/walletmcp/walletmcp/policy"
)

func TestFrozenAccountNeedsHuman(t *testing.T) {
	p := apEvalPolicy(t, apBasePolicy)
	f := apBaseFacts()
	if d := policy.Evaluate(p, apEthIntent("0.01"), &p.Native, f); d.Verdict != policy.Allow {
		t.Fatalf("unfrozen small transfer: %v %s", d.Verdict, apReasonList(d.Reasons))
	}
	f.Frozen = true
	d := policy.Evaluate(p, apEthIntent("0.01"), &p.Native, f)
	if d.Verdict != policy.ApprovalRequired || !strings.Contains(apReasonList(d.Reasons), policy.RuleAccountFrozen) {
		t.Fatalf("frozen small transfer: %v %s", d.Verdict, apReasonList(d.Reasons))
	}
	if d := policy.Evaluate(p, apEthIntent("6"), &p.Native, f); d.Verdict != policy.Deny {
		t.Fatalf("frozen does not soften a denial: %v", d.Verdict)
	}
}

func TestAnomalyDefaultsAndParse(t *testing.T) {
	p := apEvalPolicy(t, apBasePolicy)
	if p.Anomaly.DenialsPerMinute != 30 || len(p.Anomaly.FreezeOn) == 0 {
		t.Fatalf("defaults: %+v", p.Anomaly)
	}
	p = apEvalPolicy(t, apBasePolicy+"\n[anomaly]\ndenials_per_minute = 5\nfreeze_on = [\"new_recipients_per_hour\"]\n")
	if p.Anomaly.DenialsPerMinute != 5 || len(p.Anomaly.FreezeOn) != 1 || p.Anomaly.NearLimitPercent != 90 {
		t.Fatalf("parsed: %+v", p.Anomaly)
	}
	for _, bad := range []string{"denials_per_minute = -1", "freeze_on = [\"nope\"]", "near_limit_percent = 101", "unknown = 1"} {
		if _, err := policy.ParsePolicy([]byte(apBasePolicy+"\n[anomaly]\n"+bad+"\n"), ""); err == nil || !strings.Contains(err.Error(), "anomaly") {
			t.Errorf("%s: err = %v", bad, err)
		}
	}
}

// windows keeps events as the state store does (per account and kind, the
// newest first, within the rule windows) and applies EvaluateAnomalies.
type windows struct {
	p      *policy.Policy
	events map[string][]policy.AnomalyEvent
	fired  map[string]map[string]time.Time
}

func newWindows(p *policy.Policy) *windows {
	return &windows{p: p, events: map[string][]policy.AnomalyEvent{}, fired: map[string]map[string]time.Time{}}
}

func (w *windows) Observe(a policy.Activity) []policy.Anomaly {
	ev := policy.AnomalyEventOf(w.p, a)
	key := a.Account.Hex()
	if ev.Denied {
		key += "/denials"
	}
	cut := ev.At.Add(-w.p.Anomaly.AnomalyWindow(ev))
	in := []policy.AnomalyEvent{ev}
	for _, e := range w.events[key] {
		if !e.At.Before(cut) {
			in = append(in, e)
		}
	}
	w.events[key] = in
	if w.fired[key] == nil {
		w.fired[key] = map[string]time.Time{}
	}
	// Through the stored form.
	stored := make([]policy.AnomalyEvent, len(in))
	for i, e := range in {
		stored[i] = policy.AnomalyEventFromBits(e.At, e.Bits())
	}
	return policy.EvaluateAnomalies(&w.p.Anomaly, a.Account, stored, w.fired[key])
}

func TestAnomalyEventBits(t *testing.T) {
	for b := range uint32(16) {
		e := policy.AnomalyEventFromBits(time.Unix(1, 0), b)
		if e.Bits() != b {
			t.Fatalf("bits %b round-trip to %b", b, e.Bits())
		}
	}
}

func TestEvaluateAnomalies(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	p := apEvalPolicy(t, apBasePolicy)
	t.Run("30 denials in a minute is severe, once", func(t *testing.T) {
		d := newWindows(p)
		var got []policy.Anomaly
		for i := range 40 {
			got = append(got, d.Observe(policy.Activity{At: t0.Add(time.Duration(i) * time.Second), Account: apAlice, Denied: true})...)
		}
		if len(got) != 1 || got[0].Rule != policy.AnomalyDenials || !got[0].Severe || got[0].Count != 30 || got[0].Account != apAlice {
			t.Fatalf("anomalies %+v", got)
		}
	})
	t.Run("29 a minute, or 30 spread out, is not", func(t *testing.T) {
		d := newWindows(p)
		for i := range 29 {
			if a := d.Observe(policy.Activity{At: t0.Add(time.Duration(i) * time.Second), Account: apAlice, Denied: true}); len(a) > 0 {
				t.Fatalf("fired at %d: %+v", i, a)
			}
		}
		for i := range 60 {
			if a := d.Observe(policy.Activity{At: t0.Add(time.Minute + time.Duration(i)*3*time.Second), Account: apBob, Denied: true}); len(a) > 0 {
				t.Fatalf("spread out fired at %d: %+v", i, a)
			}
		}
	})
	t.Run("near limit repeats", func(t *testing.T) {
		d := newWindows(p)
		lim := apEth("0.1")
		var got []policy.Anomaly
		for i := range 5 {
			got = append(got, d.Observe(policy.Activity{At: t0.Add(time.Duration(i) * time.Minute), Account: apAlice, Amount: apEth("0.095"), AutoApproveMax: lim})...)
			got = append(got, d.Observe(policy.Activity{At: t0.Add(time.Duration(i) * time.Minute), Account: apBob, Amount: apEth("0.05"), AutoApproveMax: lim})...)
		}
		if len(got) != 1 || got[0].Rule != policy.AnomalyNearLimit || !got[0].Severe || got[0].Account != apAlice {
			t.Fatalf("anomalies %+v", got)
		}
	})
	t.Run("transfer rate against baseline", func(t *testing.T) {
		d := newWindows(p)
		// 2 per hour for 23 hours, then 11 in an hour.
		at := t0
		for range 46 {
			if a := d.Observe(policy.Activity{At: at, Account: apAlice, Amount: big.NewInt(1)}); len(a) > 0 {
				t.Fatalf("baseline fired: %+v", a)
			}
			at = at.Add(30 * time.Minute)
		}
		var got []policy.Anomaly
		for range 11 {
			at = at.Add(time.Minute)
			got = append(got, d.Observe(policy.Activity{At: at, Account: apAlice, Amount: big.NewInt(1)})...)
		}
		if len(got) != 1 || got[0].Rule != policy.AnomalyTransferRate || got[0].Severe {
			t.Fatalf("anomalies %+v", got)
		}
	})
	t.Run("new recipients and quiet hours", func(t *testing.T) {
		q := apEvalPolicy(t, apBasePolicy+"\n[quiet_hours]\nstart = \"22:00\"\nend = \"06:00\"\n")
		d := newWindows(q)
		night := time.Date(2026, 5, 1, 23, 0, 0, 0, time.UTC)
		a := d.Observe(policy.Activity{At: night, Account: apAlice, NewRecipient: true})
		if len(a) != 1 || a[0].Rule != policy.AnomalyQuietHours {
			t.Fatalf("quiet hours: %+v", a)
		}
		var got []policy.Anomaly
		for i := range 10 {
			got = append(got, d.Observe(policy.Activity{At: t0.Add(time.Duration(i) * time.Minute), Account: apBob, NewRecipient: true})...)
		}
		n := 0
		for _, a := range got {
			if a.Rule == policy.AnomalyNewRecipients {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("new recipients: %+v", got)
		}
	})
}
