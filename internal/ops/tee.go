package ops

import (
	"context"
	"time"
)

// Auditor is the audit log as the tee forwards to it.
type Auditor interface {
	Append(ctx context.Context, typ string, fields any) error
	Enqueue(typ string, fields any) error
	Start(typ string, fields any) (wait func(context.Context) error, seen func())
}

// Tee is an audit log that also turns every security event into an alert
// and shows every record to Observe (metrics, anomaly detection). It is what
// serve hands to the Guard, the approval service, the TOTP verifier and the
// MCP server in place of the log itself, so that no event is audited without
// being alerted.
type Tee struct {
	// Log is the audit log every record goes to first.
	Log Auditor
	// Alerts receives the alerts (nil: none).
	Alerts *Alerter
	// Observe sees every record after it was handed to Log (nil: none). It
	// must not block.
	Observe func(typ string, fields map[string]any)
	// OnAppend gets the duration of each durable Append (nil: none).
	OnAppend func(time.Duration)
}

// Append records fields in the log, then raises the alert it stands for.
func (t *Tee) Append(ctx context.Context, typ string, fields any) error {
	start := time.Now()
	err := t.Log.Append(ctx, typ, fields)
	if t.OnAppend != nil {
		t.OnAppend(time.Since(start))
	}
	t.see(typ, fields)
	return err
}

// Start queues fields in the log at once and returns the log's wait for
// their commit, which does nothing else (a caller may wait inside a store
// transaction, approval.Auditor), and seen, which raises the alert and
// shows the record to the observers (the anomaly watcher writes the state
// store): the caller calls it once, outside any store transaction.
func (t *Tee) Start(typ string, fields any) (wait func(context.Context) error, seen func()) {
	start := time.Now()
	w, logSeen := t.Log.Start(typ, fields)
	return w, func() {
		logSeen()
		if t.OnAppend != nil {
			t.OnAppend(time.Since(start))
		}
		t.see(typ, fields)
	}
}

// Enqueue queues fields in the log, then raises the alert it stands for.
func (t *Tee) Enqueue(typ string, fields any) error {
	err := t.Log.Enqueue(typ, fields)
	t.see(typ, fields)
	return err
}

func (t *Tee) see(typ string, fields any) {
	m, ok := fields.(map[string]any)
	if !ok {
		return
	}
	if t.Observe != nil {
		t.Observe(typ, m)
	}
	if typ != "security" || t.Alerts == nil {
		return
	}
	event, _ := m["event"].(string)
	if ev, ok := AlertFor(event, m); ok {
		t.Alerts.Notify(ev)
	}
}

// AlertFor maps a security audit record (its "event" and fields) to the
// alert it raises; ok is false for events that raise none (an accepted code).
// Only the event's name and typed fields are used, never free text.
func AlertFor(event string, fields map[string]any) (ev Event, ok bool) {
	account, _ := fields["from"].(string)
	switch event {
	case "totp_failed":
		ev = Event{Kind: KindTOTPFailure, Message: "a wrong TOTP code was entered"}
	case "totp_lockout", "totp_page_lockout":
		ev = Event{Kind: KindTOTPLockout, Severity: SeverityCritical, Rule: event, Message: "repeated wrong TOTP codes locked approvals"}
	case "totp_state_invalid", "state_tampered", "state_sealed_mismatch":
		ev = Event{Kind: KindStateMAC, Severity: SeverityCritical, Message: "state failed authentication (changed without the home passphrase)"}
	case "approval_flood":
		ev = Event{Kind: KindApprovalFlood, Severity: SeverityCritical, Account: account, Message: "too many pending approvals for one account"}
	case "panic":
		ev = Event{Kind: KindPanic, Severity: SeverityCritical, Message: "a request handler panicked and was recovered"}
	case "policy_changed":
		ev = Event{Kind: KindPolicyChanged, Severity: SeverityCritical, Message: "policy.toml changed on disk while serving"}
	case "chain_id_changed":
		ev = Event{Kind: KindChainIDChanged, Severity: SeverityCritical, Message: "the node's chain id changed"}
	case "anomaly_failed":
		ev = Event{Kind: KindAnomaly, Severity: SeverityCritical, Account: account, Message: "anomaly detection could not record an account's activity"}
	case "freeze_failed":
		ev = Event{Kind: KindAnomaly, Severity: SeverityCritical, Account: account, Message: "a severe anomaly could not freeze the account"}
	case "self_check_failed":
		ev = Event{Kind: KindSelfCheckFailed, Severity: SeverityCritical, Account: account, Message: "a key failed its self-check; its account is disabled"}
	case "offline_broadcast_outside":
		ev = Event{Kind: KindAnomaly, Severity: SeverityCritical, Account: account, Rule: event, Message: "an offline request's transaction was broadcast outside walletmcp; counted as spent"}
	case "audit_break":
		ev = Event{Kind: KindAuditBreak, Severity: SeverityCritical, Message: "the audit chain does not verify"}
	case "anomaly":
		rule, _ := fields["rule"].(string)
		sev := SeverityWarning
		if s, _ := fields["severity"].(string); s == SeverityCritical {
			sev = SeverityCritical
		}
		ev = Event{Kind: KindAnomaly, Severity: sev, Account: account, Rule: rule, Message: "anomalous activity on an account"}
		if rule == "denials_per_minute" {
			ev.Kind, ev.Message = KindDenialBurst, "a burst of denied transfers on an account"
		}
	case "account_frozen":
		rule, _ := fields["rule"].(string)
		ev = Event{Kind: KindFrozen, Severity: SeverityCritical, Account: account, Rule: rule, Message: "automatic approval frozen: every transfer needs a human until walletmcp unfreeze"}
	case "account_unfrozen":
		ev = Event{Kind: KindUnfrozen, Account: account, Message: "automatic approval restored with a TOTP code"}
	default:
		return Event{}, false
	}
	if n, ok := fields["count"].(int); ok {
		ev.Count = n
	}
	return ev, true
}
