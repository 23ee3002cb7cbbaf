package ops

import (
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/walletmcp/walletmcp/policy"
)

// Metrics are walletmcp's Prometheus metrics, in a registry of their own.
// They are fed from the audit records (Metrics.Observe as a Tee observer),
// so that what is counted is what was audited. No label holds a secret or a
// full address: accounts appear by their label or as "…" and the last six
// hex characters.
type Metrics struct {
	// Registry holds every metric; serve it with promhttp.HandlerFor.
	Registry *prometheus.Registry

	toolCalls    *prometheus.CounterVec
	tools        map[string]bool // the names toolCalls counts by name (MetricsConfig.Tools)
	verdicts     *prometheus.CounterVec
	transfers    *prometheus.CounterVec
	amounts      *prometheus.CounterVec
	approvals    *prometheus.CounterVec
	totpFailures prometheus.Counter
	totpLockouts prometheus.Counter
	security     *prometheus.CounterVec
	anomalies    *prometheus.CounterVec
	auditAppend  prometheus.Histogram
	chainErrors  prometheus.Counter
	chainLatency prometheus.Histogram
	signLatency  *prometheus.HistogramVec

	chainCallLatency *prometheus.HistogramVec
	chainCallErrors  *prometheus.CounterVec

	mu     sync.Mutex
	labels map[string]string // lowercase address → account label
}

// MetricsConfig gives Metrics what they read when scraped. Any field may be nil.
type MetricsConfig struct {
	// Accounts maps each account's address (any case) to its label.
	Accounts map[string]string
	// PendingApprovals counts pending approvals.
	PendingApprovals func() float64
	// FrozenAccounts counts frozen accounts.
	FrozenAccounts func() float64
	// AuditStats returns the audit log's records and fsyncs so far.
	AuditStats func() (records, syncs uint64)
	// Alerts reports alert delivery.
	Alerts *Alerter
	// Tools are the tool names tool_calls_total counts by name; a call to
	// any other name (the agent chooses it; refused calls are counted too)
	// is counted as "other", so that made-up names cannot grow the series
	// without bound. Empty: every well-formed name.
	Tools []string
}

// NewMetrics registers the metrics.
func NewMetrics(cfg *MetricsConfig) *Metrics {
	if cfg == nil {
		cfg = &MetricsConfig{}
	}
	r := prometheus.NewRegistry()
	m := &Metrics{Registry: r, labels: map[string]string{}, tools: map[string]bool{}}
	for _, t := range cfg.Tools {
		m.tools[t] = true
	}
	for a, l := range cfg.Accounts {
		m.labels[strings.ToLower(a)] = l
	}
	cv := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "walletmcp", Name: name, Help: help}, labels)
		r.MustRegister(c)
		return c
	}
	c := func(name, help string) prometheus.Counter {
		x := prometheus.NewCounter(prometheus.CounterOpts{Namespace: "walletmcp", Name: name, Help: help})
		r.MustRegister(x)
		return x
	}
	m.toolCalls = cv("tool_calls_total", "MCP tool calls by tool and result code (ok or the error code).", "tool", "code")
	m.verdicts = cv("verdicts_total", "Policy verdicts by operation, verdict and the rule that decided (none when allowed).", "op", "verdict", "rule")
	m.transfers = cv("transfers_signed_total", "Signed transfers by account and asset.", "account", "asset")
	m.amounts = cv("transfer_amount_base_units_total", "Sum of signed transfer amounts in base units, by account and asset.", "account", "asset")
	m.approvals = cv("approvals_total", "Human approvals by outcome (parked, approved, rejected, expired, ...).", "outcome")
	m.totpFailures = c("totp_failures_total", "Wrong TOTP codes.")
	m.totpLockouts = c("totp_lockouts_total", "TOTP lockouts (an approval link or the approval page).")
	m.security = cv("security_events_total", "Security events audited, by event.", "event")
	m.anomalies = cv("anomalies_total", "Anomalies detected, by rule and severity.", "rule", "severity")
	m.chainErrors = c("chain_errors_total", "Failed chain reads by the readiness probe.")
	m.auditAppend = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "walletmcp", Name: "audit_append_seconds", Help: "Time for a durable audit append.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)})
	m.chainLatency = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "walletmcp", Name: "chain_request_seconds", Help: "Latency of the readiness probe's chain read.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)})
	m.signLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "walletmcp", Name: "signing_seconds", Help: "Time to sign (transfers, messages and self-check challenges), by backend.", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}, []string{"backend"})
	m.chainCallLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "walletmcp", Name: "chain_call_seconds", Help: "Latency of the Guard's chain calls, by method.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}, []string{"method"})
	m.chainCallErrors = cv("chain_call_errors_total", "Failed chain calls of the Guard, by method (not found is not a failure).", "method")
	r.MustRegister(m.auditAppend, m.chainLatency, m.signLatency, m.chainCallLatency)
	gf := func(name, help string, f func() float64) {
		if f != nil {
			r.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "walletmcp", Name: name, Help: help}, f))
		}
	}
	gf("pending_approvals", "Approvals waiting for a human.", cfg.PendingApprovals)
	gf("frozen_accounts", "Accounts whose automatic approval is frozen.", cfg.FrozenAccounts)
	if cfg.AuditStats != nil {
		gf("audit_fsync_batch_size", "Audit records per fsync, on average since start.", func() float64 {
			recs, syncs := cfg.AuditStats()
			if syncs == 0 {
				return 0
			}
			return float64(recs) / float64(syncs)
		})
	}
	if a := cfg.Alerts; a != nil {
		cf := func(name, help string, f func(AlertStats) uint64) {
			r.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "walletmcp", Name: name, Help: help}, func() float64 { return float64(f(a.Stats())) }))
		}
		cf("alerts_raised_total", "Alerts raised.", func(s AlertStats) uint64 { return s.Raised })
		cf("alerts_delivered_total", "Alert deliveries that succeeded.", func(s AlertStats) uint64 { return s.Delivered })
		cf("alerts_failed_total", "Alert deliveries that failed (retried).", func(s AlertStats) uint64 { return s.Failed })
		cf("alerts_dropped_total", "Alerts dropped from a full queue.", func(s AlertStats) uint64 { return s.Dropped })
	}
	return m
}

// Account renders an address for a label: the account's label, else "…"
// and its last six hex characters.
func (m *Metrics) Account(addr string) string {
	m.mu.Lock()
	l, ok := m.labels[strings.ToLower(addr)]
	m.mu.Unlock()
	if ok && l != "" && len(l) <= 32 {
		return l
	}
	if len(addr) >= 6 {
		return "…" + strings.ToLower(addr[len(addr)-6:])
	}
	return "unknown"
}

// asset renders an asset for a label: ETH, or a short tail of a token address.
func (m *Metrics) asset(a string) string {
	if a == policy.NativeSymbol {
		return a
	}
	if strings.HasPrefix(a, "0x") && len(a) == 42 {
		return "…" + strings.ToLower(a[36:])
	}
	return "other"
}

// label bounds a value used as a label to a short identifier.
func label(s string) string {
	if len(s) > 48 || strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '.')
	}) >= 0 {
		return "other"
	}
	return s
}

// ObserveAppend records how long a durable audit append took.
func (m *Metrics) ObserveAppend(d time.Duration) { m.auditAppend.Observe(d.Seconds()) }

// ObserveChain records a chain read of the readiness probe.
func (m *Metrics) ObserveChain(d time.Duration, err error) {
	m.chainLatency.Observe(d.Seconds())
	if err != nil {
		m.chainErrors.Inc()
	}
}

// ObserveSign records a signature's latency by backend.
func (m *Metrics) ObserveSign(backend string, d time.Duration) {
	m.signLatency.WithLabelValues(label(backend)).Observe(d.Seconds())
}

// ObserveAnomaly counts an anomaly.
func (m *Metrics) ObserveAnomaly(a policy.Anomaly) {
	sev := SeverityWarning
	if a.Severe {
		sev = SeverityCritical
	}
	m.anomalies.WithLabelValues(label(a.Rule), sev).Inc()
}

// Observe is a Tee observer: it counts audit records.
func (m *Metrics) Observe(typ string, f map[string]any) {
	str := func(k string) string { s, _ := f[k].(string); return s }
	switch typ {
	case "tool_call":
		code := str("code")
		if code == "" {
			code = "ok"
		}
		tool := label(str("tool"))
		if len(m.tools) > 0 && !m.tools[tool] {
			tool = "other"
		}
		// A record of calls refused over the rate limit may stand for
		// several (mcpserver.auditOverLimit).
		n := 1.0
		if k, ok := f["refusals"].(int); ok && k > 1 {
			n = float64(k)
		}
		m.toolCalls.WithLabelValues(tool, label(code)).Add(n)
	case "verdict":
		if ev := str("event"); ev != "" { // the approval service's records
			m.approvals.WithLabelValues(label(strings.TrimPrefix(ev, "approval_"))).Inc()
			return
		}
		rules := map[string]bool{}
		if rs, ok := f["reasons"].([]policy.Reason); ok {
			for _, r := range rs {
				if r.Verdict != "allow" {
					rules[r.Rule] = true
				}
			}
		}
		if len(rules) == 0 {
			rules["none"] = true
		}
		for r := range rules {
			m.verdicts.WithLabelValues(label(str("op")), label(str("verdict")), label(r)).Inc()
		}
	case "signature":
		acct, asset := m.Account(str("from")), m.asset(str("asset"))
		m.transfers.WithLabelValues(acct, asset).Inc()
		if v, ok := parseFloat(str("amount_base_units")); ok {
			m.amounts.WithLabelValues(acct, asset).Add(v)
		}
	case "security":
		ev := str("event")
		m.security.WithLabelValues(label(ev)).Inc()
		switch ev {
		case "totp_failed":
			m.totpFailures.Inc()
		case "totp_lockout", "totp_page_lockout":
			m.totpLockouts.Inc()
		}
	}
}

// parseFloat parses a base-unit amount for a counter: a finite,
// non-negative number (Counter.Add panics on a negative one).
func parseFloat(s string) (float64, bool) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, false
	}
	return v, true
}
