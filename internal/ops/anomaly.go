package ops

import (
	"context"
	"math/big"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/policy"
)

// FreezeStore records freezes (the state store).
type FreezeStore interface {
	SetFrozen(ctx context.Context, account common.Address, frozen bool, rule string) (bool, error)
}

// Appender is the audit log as the watcher records anomalies in it.
type Appender interface {
	Append(ctx context.Context, typ string, fields any) error
}

// Watcher feeds the policy's anomaly Detector from the Guard's verdict
// records (Tee.Observe) and acts on what it finds: every anomaly is audited
// (and so alerted, through the tee); a severe one freezes the account's
// automatic approval in the store, where every process sharing the home
// reads it inside its reservation transaction.
type Watcher struct {
	// Policy is the attested policy (its [anomaly] rules and limits).
	Policy *policy.Policy
	// Store records freezes.
	Store FreezeStore
	// Audit records anomalies and freezes (the Tee, so that they alert).
	Audit Appender
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// OnAnomaly is called for each anomaly (metrics), nil for none.
	OnAnomaly func(a policy.Anomaly, froze bool)

	once sync.Once
	mu   sync.Mutex
	det  *policy.Detector
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
	if asset, _ := fields["asset"].(string); w.Policy != nil {
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

// ObserveActivity applies the detector to act (stamped now when its time is
// zero) and acts on the anomalies.
func (w *Watcher) ObserveActivity(ctx context.Context, act policy.Activity) []policy.Anomaly {
	w.once.Do(func() {
		if w.Now == nil {
			w.Now = time.Now
		}
		w.det = policy.NewDetector(w.Policy)
	})
	if act.At.IsZero() {
		act.At = w.Now()
	}
	w.mu.Lock()
	found := w.det.Observe(act)
	w.mu.Unlock()
	for _, a := range found {
		froze := false
		if a.Severe && w.Store != nil {
			changed, err := w.Store.SetFrozen(ctx, a.Account, true, a.Rule)
			froze = err == nil && changed
			if err != nil && w.Audit != nil {
				_ = w.Audit.Append(ctx, "security", map[string]any{"event": "freeze_failed", "from": a.Account.Hex(), "rule": a.Rule})
			}
		}
		if w.Audit != nil {
			sev := SeverityWarning
			if a.Severe {
				sev = SeverityCritical
			}
			_ = w.Audit.Append(ctx, "security", map[string]any{"event": "anomaly", "from": a.Account.Hex(), "rule": a.Rule, "severity": sev, "count": a.Count})
			if froze {
				_ = w.Audit.Append(ctx, "security", map[string]any{"event": "account_frozen", "from": a.Account.Hex(), "rule": a.Rule})
			}
		}
		if w.OnAnomaly != nil {
			w.OnAnomaly(a, froze)
		}
	}
	return found
}
