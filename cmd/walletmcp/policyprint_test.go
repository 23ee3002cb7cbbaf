package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/walletmcp/walletmcp/policy"
)

// TestPrintPolicyShowsEveryRule: what `policy check` and `policy attest`
// show is what the human attests. The [anomaly] table and the unknown-token
// windows were not shown, so a policy with every anomaly rule off and the
// unknown-token windows at 1e9 printed exactly like the template.
func TestPrintPolicyShowsEveryRule(t *testing.T) {
	unknown := "\n[unknown_tokens]\nallow = true\nauto_approve_max = \"10\"\nper_tx_max = \"100\"\n"
	base := policy.PolicyTemplate(1337) + unknown + "window_auto_max = \"50\"\nwindow_max = \"500\"\n"
	loose := policy.PolicyTemplate(1337) + unknown + "window_auto_max = \"1000000000\"\nwindow_max = \"1000000000\"\n" +
		"\n[anomaly]\ndenials_per_minute = 0\nnear_limit_repeats = 0\nfreeze_on = []\n"
	show := func(doc string) string {
		p, err := policy.ParsePolicy([]byte(doc), "")
		if err != nil {
			t.Fatalf("%v\n%s", err, doc)
		}
		var b bytes.Buffer
		printPolicy(&b, p)
		return b.String()
	}
	a, b := show(base), show(loose)
	if a == b {
		t.Fatalf("two policies that differ print alike:\n%s", a)
	}
	for _, want := range []string{"freeze_on: none", "denials_per_minute 0", "total 1000000000"} {
		if !strings.Contains(b, want) {
			t.Fatalf("%q not shown:\n%s", want, b)
		}
	}
}
