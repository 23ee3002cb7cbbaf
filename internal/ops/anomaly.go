package ops

import (
	"context"
	"errors"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/internal/store"
	"github.com/walletmcp/walletmcp/policy"
)

// AnomalyStore is the state store as the watcher uses it: the anomaly
// windows every process sharing the home records into and decides on, and
// the freezes.
type AnomalyStore interface {
	RecordAnomaly(ctx context.Context, rec *store.AnomalyRecord, decide store.AnomalyDecide) (froze bool, err error)
	SetFrozen(ctx context.Context, account common.Address, frozen bool, rule string) (bool, error)
	ResetAnomalies(ctx context.Context, account common.Address) ([]common.Address, error)
}

var _ AnomalyStore = (*store.Store)(nil)

// Appender is the audit log as the watcher records anomalies in it.
type Appender interface {
	Append(ctx context.Context, typ string, fields any) error
}

// RuleStateTampered is the freeze rule of an account whose anomaly windows
// failed authentication.
const RuleStateTampered = "state_tampered"

// Watcher applies the policy's anomaly rules to the Guard's verdict records
// (Tee.Observe) and acts on what they find. Each activity is recorded in the
// state store, whose windows every process sharing the home feeds and which
// survive a restart; the rules are decided in the transaction that records
// it, and a severe anomaly freezes the account's automatic approval in that
// same transaction (every process reads the freeze inside its reservation
// transaction). Every anomaly is audited (and so alerted, through the tee).
//
// It fails closed: windows that fail authentication freeze the account
// (audited as state_tampered) and are started afresh; any other store error
// is audited as anomaly_failed, never dropped.
type Watcher struct {
	// Policy is the attested policy (its [anomaly] rules and limits).
	Policy *policy.Policy
	// Store keeps the windows and the freezes. Nil: nothing is watched.
	Store AnomalyStore
	// Audit records anomalies and freezes (the Tee, so that they alert).
	Audit Appender
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// OnAnomaly is called for each anomaly (metrics), nil for none.
	OnAnomaly func(a policy.Anomaly, froze bool)
}

// Observe is a Tee observer: it looks at "send" verdict records only.
func (w *Watcher) Observe(typ string, fields map[string]any) {
	if typ != "verdict" {
		return
	}
	if op, _ := fields["op"].(string); op != "send" {
		return
	}
	from, _ := fields["from"].(string)
	if !common.IsHexAddress(from) {
		return
	}
	verdict, _ := fields["verdict"].(string)
	act := policy.Activity{Account: common.HexToAddress(from), Denied: verdict != "allow" && verdict != "approval_required"}
	if reasons, ok := fields["reasons"].([]policy.Reason); ok {
		for _, r := range reasons {
			if r.Rule == policy.RuleNewRecipient && r.Verdict == "approval_required" {
				act.NewRecipient = true
			}
		}
	}
	if amt, ok := fields["amount_base_units"].(string); ok {
		if v, ok := new(big.Int).SetString(amt, 10); ok {
			act.Amount = v
		}
	}
	// The limit the decision applied, as the verdict records it; else the
	// configured asset's.
	if lim, ok := fields["auto_approve_max_base_units"].(string); ok {
		if v, ok := new(big.Int).SetString(lim, 10); ok && v.Sign() >= 0 {
			act.AutoApproveMax = v
		}
	}
	if asset, _ := fields["asset"].(string); act.AutoApproveMax == nil && w.Policy != nil {
		act.AutoApproveMax = w.autoMax(asset)
	}
	w.ObserveActivity(context.Background(), act)
}

// autoMax is auto_approve_max of asset, nil when the asset is not configured.
func (w *Watcher) autoMax(asset string) *big.Int {
	if asset == policy.NativeSymbol {
		return w.Policy.Native.AutoApproveMax
	}
	if addr, ok := policy.ParseTokenAsset(asset); ok {
		if t, ok := w.Policy.TokenByAddress(addr); ok {
			return t.Limits.AutoApproveMax
		}
	}
	return nil
}

// ObserveActivity records act (stamped now when its time is zero) in the
// store, decides the anomaly rules over the account's windows and acts on the
// anomalies, which it returns.
func (w *Watcher) ObserveActivity(ctx context.Context, act policy.Activity) []policy.Anomaly {
	if act.At.IsZero() {
		now := w.Now
		if now == nil {
			now = time.Now
		}
		act.At = now()
	}
	if w.Store == nil || w.Policy == nil {
		return nil
	}
	ev := policy.AnomalyEventOf(w.Policy, act)
	series := store.SeriesActivity
	if ev.Denied {
		series = store.SeriesDenials
	}
	var found []policy.Anomaly
	freezeRule := ""
	froze, err := w.Store.RecordAnomaly(ctx, &store.AnomalyRecord{
		Account: act.Account, Series: series, At: ev.At, Flags: ev.Bits(), Window: w.Policy.Anomaly.AnomalyWindow(ev),
	}, func(rows []store.AnomalyEvent, fired map[string]time.Time) string {
		evs := make([]policy.AnomalyEvent, len(rows))
		for i, r := range rows {
			evs[i] = policy.AnomalyEventFromBits(r.At, r.Flags)
		}
		found = policy.EvaluateAnomalies(&w.Policy.Anomaly, act.Account, evs, fired)
		freezeRule = ""
		for _, a := range found {
			if a.Severe {
				freezeRule = a.Rule
				break
			}
		}
		return freezeRule
	})
	if err != nil {
		w.failed(ctx, act.Account, err)
		return nil
	}
	for _, a := range found {
		frozeNow := froze && a.Rule == freezeRule
		sev := SeverityWarning
		if a.Severe {
			sev = SeverityCritical
		}
		w.audit(ctx, map[string]any{"event": "anomaly", "from": a.Account.Hex(), "rule": a.Rule, "severity": sev, "count": a.Count})
		if frozeNow {
			w.audit(ctx, map[string]any{"event": "account_frozen", "from": a.Account.Hex(), "rule": a.Rule})
		}
		if w.OnAnomaly != nil {
			w.OnAnomaly(a, frozeNow)
		}
	}
	return found
}

// failed acts on a store error while recording an activity of account.
func (w *Watcher) failed(ctx context.Context, account common.Address, err error) {
	var te *store.TamperError
	if !errors.As(err, &te) {
		w.audit(ctx, map[string]any{"event": "anomaly_failed", "from": account.Hex(), "reason": "the anomaly windows could not be recorded"})
		return
	}
	w.audit(ctx, map[string]any{"event": "state_tampered", "from": account.Hex(), "table": te.Table, "id": te.ID, "what": te.What})
	// The windows cannot be trusted: count it as a severe anomaly. Only
	// once the account is frozen are they started afresh.
	if !w.freeze(ctx, account) {
		return
	}
	dropped, err := w.Store.ResetAnomalies(ctx, account)
	if err != nil {
		w.audit(ctx, map[string]any{"event": "anomaly_failed", "from": account.Hex(), "reason": "the anomaly windows could not be reset"})
		return
	}
	for _, d := range dropped {
		w.audit(ctx, map[string]any{"event": "state_tampered", "from": d.Hex(), "table": "anomaly_heads", "what": "dropped by a reset"})
		w.freeze(ctx, d)
	}
}

// freeze freezes account for RuleStateTampered and reports whether it is
// frozen.
func (w *Watcher) freeze(ctx context.Context, account common.Address) bool {
	changed, err := w.Store.SetFrozen(ctx, account, true, RuleStateTampered)
	if err != nil {
		w.audit(ctx, map[string]any{"event": "freeze_failed", "from": account.Hex(), "rule": RuleStateTampered})
		return false
	}
	if changed {
		w.audit(ctx, map[string]any{"event": "account_frozen", "from": account.Hex(), "rule": RuleStateTampered})
	}
	return true
}

func (w *Watcher) audit(ctx context.Context, fields map[string]any) {
	if w.Audit != nil {
		_ = w.Audit.Append(ctx, "security", fields)
	}
}
