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

// Detector applies the anomaly rules to a stream of activity. It is pure
// (time comes from the activity) and not safe for concurrent use. Each rule
// fires once per account and window: it fires again only after the window
// that fired it has passed.
type Detector struct {
	rules AnomalyRules
	quiet QuietHours
	accts map[common.Address]*acctWindows
}

// maxEventsPerAccount bounds the time stamps kept per account and series.
const maxEventsPerAccount = 100_000

type acctWindows struct {
	denials, transfers, newRecipients, nearLimit []time.Time
	quiet                                        []time.Time
	fired                                        map[string]time.Time
}

// NewDetector returns a detector for p's [anomaly] rules and quiet hours.
func NewDetector(p *Policy) *Detector {
	return &Detector{rules: p.Anomaly, quiet: p.QuietHours, accts: map[common.Address]*acctWindows{}}
}

// trim drops the time stamps before cut and bounds the series.
func trim(ts []time.Time, cut time.Time) []time.Time {
	i := 0
	for i < len(ts) && ts[i].Before(cut) {
		i++
	}
	ts = ts[i:]
	if len(ts) > maxEventsPerAccount {
		ts = ts[len(ts)-maxEventsPerAccount:]
	}
	return ts
}

// Observe records a and returns the anomalies it completes.
func (d *Detector) Observe(a Activity) []Anomaly {
	w := d.accts[a.Account]
	if w == nil {
		w = &acctWindows{fired: map[string]time.Time{}}
		d.accts[a.Account] = w
	}
	r := &d.rules
	var out []Anomaly
	fire := func(rule string, n int, window time.Duration) {
		if last, ok := w.fired[rule]; ok && a.At.Sub(last) < window {
			return
		}
		w.fired[rule] = a.At
		out = append(out, Anomaly{Account: a.Account, Rule: rule, Severe: slices.Contains(r.FreezeOn, rule), Count: n})
	}
	hour := a.At.Add(-time.Hour)
	if a.Denied {
		w.denials = append(trim(w.denials, a.At.Add(-time.Minute)), a.At)
		if r.DenialsPerMinute > 0 && len(w.denials) >= r.DenialsPerMinute {
			fire(AnomalyDenials, len(w.denials), time.Minute)
		}
		return out
	}
	w.transfers = append(trim(w.transfers, a.At.Add(-time.Duration(r.BaselineHours)*time.Hour)), a.At)
	if r.TransfersPerHourFactor > 0 {
		lastHour := 0
		for _, t := range w.transfers {
			if !t.Before(hour) {
				lastHour++
			}
		}
		before := len(w.transfers) - lastHour
		// The baseline is the hourly average before the last hour; with no
		// history, one per hour.
		base := max(1, (before+r.BaselineHours-2)/max(1, r.BaselineHours-1))
		if lastHour >= r.MinTransfersPerHour && lastHour > r.TransfersPerHourFactor*base {
			fire(AnomalyTransferRate, lastHour, time.Hour)
		}
	}
	if a.NewRecipient {
		w.newRecipients = append(trim(w.newRecipients, hour), a.At)
		if r.NewRecipientsPerHour > 0 && len(w.newRecipients) >= r.NewRecipientsPerHour {
			fire(AnomalyNewRecipients, len(w.newRecipients), time.Hour)
		}
	}
	if r.QuietHoursActivity && d.quiet.Contains(a.At) {
		w.quiet = append(trim(w.quiet, hour), a.At)
		fire(AnomalyQuietHours, len(w.quiet), time.Hour)
	}
	if lim := a.AutoApproveMax; r.NearLimitRepeats > 0 && lim != nil && lim.Sign() > 0 && a.Amount != nil && a.Amount.Cmp(lim) <= 0 {
		// amount × 100 ≥ percent × limit
		lhs := new(big.Int).Mul(a.Amount, big.NewInt(100))
		rhs := new(big.Int).Mul(lim, big.NewInt(int64(r.NearLimitPercent)))
		if lhs.Cmp(rhs) >= 0 {
			w.nearLimit = append(trim(w.nearLimit, hour), a.At)
			if len(w.nearLimit) >= r.NearLimitRepeats {
				fire(AnomalyNearLimit, len(w.nearLimit), time.Hour)
			}
		}
	}
	return out
}
