package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"

	"github.com/walletmcp/walletmcp/policy"
)

func TestHealthReadyMetrics(t *testing.T) {
	var chainDown atomic.Bool
	m := NewMetrics(&MetricsConfig{
		Accounts:         map[string]string{"0x00000000000000000000000000000000000000AA": "agent"},
		PendingApprovals: func() float64 { return 2 },
		FrozenAccounts:   func() float64 { return 1 },
		Tools:            []string{"send_transfer", "get_balance"},
	})
	h, err := NewHealth(&HealthConfig{Addr: "127.0.0.1:0", Metrics: m, Checks: map[string]Check{
		"chain": func(ctx context.Context) error {
			if chainDown.Load() {
				return errors.New("chain unreachable")
			}
			return nil
		},
		"store": func(context.Context) error { return nil },
	}})
	if err != nil {
		t.Fatal(err)
	}
	h.Serve()
	defer h.Close(context.Background())
	base := "http://" + h.Addr()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("/healthz %d", code)
	}
	if code, body := get("/readyz"); code != 200 || !strings.Contains(body, `"ready":true`) {
		t.Fatalf("/readyz %d %s", code, body)
	}
	chainDown.Store(true)
	code, body := get("/readyz")
	var rz struct {
		Ready  bool
		Checks map[string]string
	}
	json.Unmarshal([]byte(body), &rz)
	if code != 503 || rz.Ready || rz.Checks["chain"] != "chain unreachable" || rz.Checks["store"] != "ok" {
		t.Fatalf("/readyz with the chain down: %d %s", code, body)
	}

	scrape := func() map[string]float64 {
		t.Helper()
		_, body := get("/metrics")
		fams, err := new(expfmt.TextParser).TextToMetricFamilies(strings.NewReader(body))
		if err != nil {
			t.Fatalf("parsing /metrics: %v", err)
		}
		out := map[string]float64{}
		for name, f := range fams {
			for _, mt := range f.Metric {
				key := name
				for _, l := range mt.Label {
					key += "," + l.GetName() + "=" + l.GetValue()
					if strings.Contains(l.GetValue(), "0x") {
						t.Errorf("a full address in a label: %s", key)
					}
				}
				switch {
				case mt.Counter != nil:
					out[key] = mt.Counter.GetValue()
				case mt.Gauge != nil:
					out[key] = mt.Gauge.GetValue()
				}
			}
		}
		return out
	}
	before := scrape()
	tee := &Tee{Log: nopLog{}, Observe: m.Observe}
	ctx := context.Background()
	tee.Enqueue("tool_call", map[string]any{"tool": "send_transfer", "outcome": "error", "code": "policy_denied"})
	for i := range 50 { // names the agent made up: one "other" series, not fifty
		tee.Enqueue("tool_call", map[string]any{"tool": fmt.Sprint("made_up_", i), "outcome": "error", "code": "rate_limited"})
	}
	tee.Enqueue("verdict", map[string]any{"op": "send", "verdict": "deny", "reasons": []policy.Reason{{Rule: "per_tx_max", Verdict: "deny"}}})
	tee.Append(ctx, "signature", map[string]any{"from": "0x00000000000000000000000000000000000000aa", "asset": "ETH", "amount_base_units": "1000"})
	tee.Append(ctx, "signature", map[string]any{"from": "0x00000000000000000000000000000000001234bb", "asset": "ETH", "amount_base_units": "5"})
	tee.Append(ctx, "security", map[string]any{"event": "totp_failed"})
	tee.Append(ctx, "security", map[string]any{"event": "totp_lockout"})
	tee.Append(ctx, "verdict", map[string]any{"event": "approval_parked"})
	m.ObserveAnomaly(policy.Anomaly{Rule: policy.AnomalyDenials, Severe: true})
	after := scrape()
	for key, want := range map[string]float64{
		"walletmcp_tool_calls_total,code=policy_denied,tool=send_transfer":    1,
		"walletmcp_tool_calls_total,code=rate_limited,tool=other":             50,
		"walletmcp_verdicts_total,op=send,rule=per_tx_max,verdict=deny":       1,
		"walletmcp_transfers_signed_total,account=agent,asset=ETH":            1,
		"walletmcp_transfer_amount_base_units_total,account=agent,asset=ETH":  1000,
		"walletmcp_transfers_signed_total,account=…1234bb,asset=ETH":          1,
		"walletmcp_totp_failures_total":                                       1,
		"walletmcp_totp_lockouts_total":                                       1,
		"walletmcp_approvals_total,outcome=parked":                            1,
		"walletmcp_anomalies_total,rule=denials_per_minute,severity=critical": 1,
		"walletmcp_security_events_total,event=totp_failed":                   1,
	} {
		if got := after[key] - before[key]; got != want {
			t.Errorf("%s moved by %v, want %v", key, got, want)
		}
	}
	for key := range after {
		if strings.Contains(key, "made_up_") {
			t.Errorf("a made-up tool name became a series: %s", key)
		}
	}
	if after["walletmcp_pending_approvals"] != 2 || after["walletmcp_frozen_accounts"] != 1 {
		t.Errorf("gauges: pending %v frozen %v", after["walletmcp_pending_approvals"], after["walletmcp_frozen_accounts"])
	}
}

func TestHealthRefusesNonLoopback(t *testing.T) {
	if _, err := NewHealth(&HealthConfig{Addr: "0.0.0.0:0"}); !errors.Is(err, ErrNotLoopback) {
		t.Fatalf("0.0.0.0: %v", err)
	}
}

// TestCachedCheck: within the TTL the result is reused, not recomputed.
func TestCachedCheck(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	runs := 0
	c := CachedCheck(func(context.Context) error { runs++; return nil }, 5*time.Second, func() time.Time { return now })
	ctx := context.Background()
	for range 100 {
		if err := c(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if runs != 1 {
		t.Fatalf("%d runs within the TTL, want 1", runs)
	}
	now = now.Add(5 * time.Second)
	c(ctx)
	if runs != 2 {
		t.Fatalf("%d runs after the TTL, want 2", runs)
	}
}

func TestParseFloat(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want float64
		ok   bool
	}{
		{"0", 0, true}, {"1000000000000000000", 1e18, true}, {"123456789012345678901234567890", 1.2345678901234568e29, true},
		{"", 0, false}, {"-1", 0, false}, {"NaN", 0, false}, {"Inf", 0, false}, {"1e400", 0, false}, {"0x10", 0, false}, {"1.5.2", 0, false},
	} {
		v, ok := parseFloat(tt.in)
		if ok != tt.ok || v != tt.want {
			t.Errorf("parseFloat(%q) = %v, %v; want %v, %v", tt.in, v, ok, tt.want, tt.ok)
		}
	}
}
