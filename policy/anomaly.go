package policy

import (
	"math/big"
	"slices"
	"time"

	"github.com/ethereum/go-ethereum/common"
)

// Anomaly rules (Anomaly.Rule, [anomaly] freeze_on).
const (
	AnomalyDenials       = "denials_per_minute"
	AnomalyTransferRate  = "transfers_per_hour"
	AnomalyNewRecipients = "new_recipients_per_hour"
	AnomalyQuietHours    = "quiet_hours_activity"
	AnomalyNearLimit     = "near_limit_amounts"
	// RuleAccountFrozen is the evaluation rule of a frozen account: what
	// would be automatic needs a human.
	RuleAccountFrozen = "account_frozen"
)

// AnomalyRules is the [anomaly] table: per-account rules over sliding
// windows. A rule set to 0 is off. An anomaly of a rule in FreezeOn is
// severe: it freezes automatic approval for the account.
type AnomalyRules struct {
	// DenialsPerMinute: this many denied transfers of one account within a
	// minute. Default 30.
	DenialsPerMinute int
	// TransfersPerHourFactor: transfers in the last hour above this many
	// times the account's hourly average over the BaselineHours before it
	// (at least MinTransfersPerHour of them). Default 5.
	TransfersPerHourFactor int
	// MinTransfersPerHour is the floor under which the transfer rate is
	// never anomalous. Default 10.
	MinTransfersPerHour int
	// BaselineHours is how far back the baseline reaches. Default 24.
	BaselineHours int
	// NewRecipientsPerHour: this many transfers to recipients the account
	// never paid, within an hour. Default 10.
	NewRecipientsPerHour int
	// QuietHoursActivity: any transfer attempt inside [quiet_hours] is an
	// anomaly. Default true.
	QuietHoursActivity bool
	// NearLimitRepeats: this many transfers within an hour whose amount is at
	// least NearLimitPercent % of auto_approve_max (and within it). Default 5.
	NearLimitRepeats int
	// NearLimitPercent: see NearLimitRepeats. Default 90.
	NearLimitPercent int
	// FreezeOn lists the severe rules. Default denials_per_minute and
	// near_limit_amounts.
	FreezeOn []string
}

// DefaultAnomalyRules are the rules of a policy without [anomaly].
func DefaultAnomalyRules() AnomalyRules {
	return AnomalyRules{
		DenialsPerMinute: 30, TransfersPerHourFactor: 5, MinTransfersPerHour: 10, BaselineHours: 24,
		NewRecipientsPerHour: 10, QuietHoursActivity: true, NearLimitRepeats: 5, NearLimitPercent: 90,
		FreezeOn: []string{AnomalyDenials, AnomalyNearLimit},
	}
}

type rawAnomaly struct {
	DenialsPerMinute       *int64   `toml:"denials_per_minute"`
	TransfersPerHourFactor *int64   `toml:"transfers_per_hour_factor"`
	MinTransfersPerHour    *int64   `toml:"min_transfers_per_hour"`
	BaselineHours          *int64   `toml:"baseline_hours"`
	NewRecipientsPerHour   *int64   `toml:"new_recipients_per_hour"`
	QuietHoursActivity     *bool    `toml:"quiet_hours_activity"`
	NearLimitRepeats       *int64   `toml:"near_limit_repeats"`
	NearLimitPercent       *int64   `toml:"near_limit_percent"`
	FreezeOn               []string `toml:"freeze_on"`
}

// parseAnomaly parses [anomaly] over the defaults.
func parseAnomaly(r *rawAnomaly, errAt errAtFunc) (AnomalyRules, error) {
	a := DefaultAnomalyRules()
	if r == nil {
		return a, nil
	}
	for _, f := range []struct {
		key    string
		v      *int64
		dst    *int
		lo, hi int64
	}{
		{"denials_per_minute", r.DenialsPerMinute, &a.DenialsPerMinute, 0, 100000},
		{"transfers_per_hour_factor", r.TransfersPerHourFactor, &a.TransfersPerHourFactor, 0, 1000},
		{"min_transfers_per_hour", r.MinTransfersPerHour, &a.MinTransfersPerHour, 1, 100000},
		{"baseline_hours", r.BaselineHours, &a.BaselineHours, 2, 24 * 31},
		{"new_recipients_per_hour", r.NewRecipientsPerHour, &a.NewRecipientsPerHour, 0, 100000},
		{"near_limit_repeats", r.NearLimitRepeats, &a.NearLimitRepeats, 0, 100000},
		{"near_limit_percent", r.NearLimitPercent, &a.NearLimitPercent, 1, 100},
	} {
		if f.v == nil {
			continue
		}
		if *f.v < f.lo || *f.v > f.hi {
			return a, errAt("anomaly", 0, f.key, "must be from %d to %d", f.lo, f.hi)
		}
		*f.dst = int(*f.v)
	}
	if r.QuietHoursActivity != nil {
		a.QuietHoursActivity = *r.QuietHoursActivity
	}
	if r.FreezeOn != nil {
		a.FreezeOn = nil
		for _, rule := range r.FreezeOn {
			switch rule {
			case AnomalyDenials, AnomalyTransferRate, AnomalyNewRecipients, AnomalyQuietHours, AnomalyNearLimit:
			default:
				return a, errAt("anomaly", 0, "freeze_on", "unknown rule (rules: denials_per_minute, transfers_per_hour, new_recipients_per_hour, quiet_hours_activity, near_limit_amounts)")
			}
			if !slices.Contains(a.FreezeOn, rule) {
				a.FreezeOn = append(a.FreezeOn, rule)
			}
		}
	}
	return a, nil
}

// Activity is one transfer decision of an account, as the anomaly detector
// sees it.
type Activity struct {
	// At is when it was decided.
	At time.Time
	// Account is the sender.
	Account common.Address
	// Denied says the policy denied it; otherwise it was allowed or parked.
	Denied bool
	// NewRecipient says the account never paid the recipient before.
	NewRecipient bool
	// Amount is the amount in base units and AutoApproveMax the asset's
	// auto_approve_max (nil when unknown: no near-limit check).
	Amount, AutoApproveMax *big.Int
}

// Anomaly is one rule that fired for an account.
type Anomaly struct {
	Account common.Address
	Rule    string
	// Severe anomalies (rule in freeze_on) freeze automatic approval.
	Severe bool
	// Count is the number of events in the window that fired it.
	Count int
}

// AnomalyEvent is one activity of an account as the anomaly windows keep
// it: when, and which windows it counts in.
type AnomalyEvent struct {
	At time.Time
	// Denied is a denied transfer (the denials window); every other event
	// is a transfer (the transfer-rate windows).
	Denied bool
	// NewRecipient, Quiet and NearLimit put a transfer in those windows.
	NewRecipient, Quiet, NearLimit bool
}

// Event bits (AnomalyEvent.Bits), as the state store keeps them.
const (
	eventDenied uint32 = 1 << iota
	eventNewRecipient
	eventQuiet
	eventNearLimit
)

// Bits encodes e's flags (not its time) for storage.
func (e AnomalyEvent) Bits() uint32 {
	var b uint32
	for _, f := range []struct {
		on  bool
		bit uint32
	}{{e.Denied, eventDenied}, {e.NewRecipient, eventNewRecipient}, {e.Quiet, eventQuiet}, {e.NearLimit, eventNearLimit}} {
		if f.on {
			b |= f.bit
		}
	}
	return b
}

// AnomalyEventFromBits is the event at at with the flags of Bits.
func AnomalyEventFromBits(at time.Time, bits uint32) AnomalyEvent {
	return AnomalyEvent{At: at, Denied: bits&eventDenied != 0, NewRecipient: bits&eventNewRecipient != 0,
		Quiet: bits&eventQuiet != 0, NearLimit: bits&eventNearLimit != 0}
}

// AnomalyEventOf classifies a under p's [anomaly] rules and quiet hours.
func AnomalyEventOf(p *Policy, a Activity) AnomalyEvent {
	r := &p.Anomaly
	e := AnomalyEvent{At: a.At, Denied: a.Denied}
	if a.Denied {
		return e
	}
	e.NewRecipient = a.NewRecipient
	e.Quiet = r.QuietHoursActivity && p.QuietHours.Contains(a.At)
	if lim := a.AutoApproveMax; r.NearLimitRepeats > 0 && lim != nil && lim.Sign() > 0 && a.Amount != nil && a.Amount.Cmp(lim) <= 0 {
		// amount × 100 ≥ percent × limit
		lhs := new(big.Int).Mul(a.Amount, big.NewInt(100))
		rhs := new(big.Int).Mul(lim, big.NewInt(int64(r.NearLimitPercent)))
		e.NearLimit = lhs.Cmp(rhs) >= 0
	}
	return e
}

// AnomalyWindow is how far back the rules look from an event like e: a
// minute for a denial, BaselineHours for a transfer. Older events of its
// kind matter to no rule.
func (r *AnomalyRules) AnomalyWindow(e AnomalyEvent) time.Duration {
	if e.Denied {
		return time.Minute
	}
	return time.Duration(max(1, r.BaselineHours)) * time.Hour
}

// EvaluateAnomalies applies r to one account's events, newest first: the
// first is the event just observed, the others those of its kind
// (denials, or transfers) within r.AnomalyWindow of it. fired holds when each
// rule last fired for the account; it is updated for each rule that fires.
// A rule fires once per window: again only after the window that fired it
// has passed. EvaluateAnomalies is pure: the state store hands it the
// windows and keeps fired, in the transaction that records the event.
func EvaluateAnomalies(r *AnomalyRules, account common.Address, events []AnomalyEvent, fired map[string]time.Time) []Anomaly {
	if len(events) == 0 {
		return nil
	}
	ev := events[0]
	now := ev.At
	var out []Anomaly
	fire := func(rule string, n int, window time.Duration) {
		if last, ok := fired[rule]; ok && now.Sub(last) < window {
			return
		}
		fired[rule] = now
		out = append(out, Anomaly{Account: account, Rule: rule, Severe: slices.Contains(r.FreezeOn, rule), Count: n})
	}
	// count counts the events of ev's kind from since on that match.
	count := func(since time.Time, match func(AnomalyEvent) bool) int {
		n := 0
		for _, e := range events {
			if e.Denied == ev.Denied && !e.At.Before(since) && match(e) {
				n++
			}
		}
		return n
	}
	all := func(AnomalyEvent) bool { return true }
	hour := now.Add(-time.Hour)
	if ev.Denied {
		if n := count(now.Add(-time.Minute), all); r.DenialsPerMinute > 0 && n >= r.DenialsPerMinute {
			fire(AnomalyDenials, n, time.Minute)
		}
		return out
	}
	if r.TransfersPerHourFactor > 0 {
		lastHour := count(hour, all)
		before := count(now.Add(-r.AnomalyWindow(ev)), all) - lastHour
		// The baseline is the hourly average before the last hour; with no
		// history, one per hour.
		base := max(1, (before+r.BaselineHours-2)/max(1, r.BaselineHours-1))
		if lastHour >= r.MinTransfersPerHour && lastHour > r.TransfersPerHourFactor*base {
			fire(AnomalyTransferRate, lastHour, time.Hour)
		}
	}
	if ev.NewRecipient {
		if n := count(hour, func(e AnomalyEvent) bool { return e.NewRecipient }); r.NewRecipientsPerHour > 0 && n >= r.NewRecipientsPerHour {
			fire(AnomalyNewRecipients, n, time.Hour)
		}
	}
	if ev.Quiet && r.QuietHoursActivity {
		fire(AnomalyQuietHours, count(hour, func(e AnomalyEvent) bool { return e.Quiet }), time.Hour)
	}
	if ev.NearLimit && r.NearLimitRepeats > 0 {
		if n := count(hour, func(e AnomalyEvent) bool { return e.NearLimit }); n >= r.NearLimitRepeats {
			fire(AnomalyNearLimit, n, time.Hour)
		}
	}
	return out
}
