package policy_test

import (
	"testing"

	"github.com/walletmcp/walletmcp/policy"
)

// TestContradictionsShowBothValues: a limit that contradicts another names
// both keys and both values, in the asset's units.
func TestContradictionsShowBothValues(t *testing.T) {
	b := apBasePolicy
	for _, c := range []struct{ name, doc, want string }{
		{"auto above window_auto", apWith(b, `auto_approve_max = "0.1"`, `auto_approve_max = "2"`), "auto_approve_max 2 is above window_auto_max 1"},
		{"auto above per_tx", apWith(b, `auto_approve_max = "0.1"`, `auto_approve_max = "6"`), "auto_approve_max 6 is above per_tx_max 5"},
		{"window_auto above window", apWith(b, `window_auto_max = "1"`, `window_auto_max = "11"`), "window_auto_max 11 is above window_max 10"},
		{"per_tx above window", apWith(b, `per_tx_max = "5"`, `per_tx_max = "10.5"`), "per_tx_max 10.5 is above window_max 10: a single transfer may not exceed the window total"},
		{"token units", b + apWith(apUsdcToken, `auto_approve_max = "10"`, `auto_approve_max = "600.5"`), "auto_approve_max 600.5 is above per_tx_max 500"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := policy.ParsePolicy([]byte(c.doc), "sha")
			pe, ok := err.(*policy.PolicyError)
			if !ok || pe.Msg != c.want {
				t.Fatalf("err = %v, want the message %q", err, c.want)
			}
		})
	}
}
