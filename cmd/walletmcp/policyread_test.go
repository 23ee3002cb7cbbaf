package main_test

import (
	"testing"
)

// TestTwoServesGetPolicySeesSpend: get_policy of one serve shows, in its
// very next answer, a transfer that another serve on the same home has just
// made, although the first answered get_policy before (when nothing had
// changed, it does not read the ledger again: a commit by any process must
// still be seen).
func TestTwoServesGetPolicySeesSpend(t *testing.T) {
	node, home, addr := gethHome(t)
	reader, spender := startServe(t, home, "--rpc", node.URL), startServe(t, home, "--rpc", node.URL)
	used := func(step, want string, count int) {
		t.Helper()
		var out struct {
			TransfersLastHour int `json:"transfers_last_hour"`
			Remaining         []struct {
				Asset     string `json:"asset"`
				AutoUsed  string `json:"auto_used"`
				TotalUsed string `json:"total_used"`
			} `json:"remaining"`
		}
		reader.mustCall("get_policy", map[string]any{}, &out)
		for _, r := range out.Remaining {
			if r.Asset == "ETH" && r.AutoUsed == want && r.TotalUsed == want && out.TransfersLastHour == count {
				return
			}
		}
		t.Fatalf("%s: get_policy %+v, want ETH %s used by %d transfers", step, out, want, count)
	}
	send := func(s *server, key string) {
		t.Helper()
		var out struct {
			Status string `json:"status"`
		}
		s.mustCall("send_transfer", map[string]any{"from": addr.Hex(), "to": recipient, "amount": "0.1", "idempotency_key": key}, &out)
		if out.Status != "submitted" {
			t.Fatalf("send_transfer %s: status %q", key, out.Status)
		}
	}
	used("start", "0", 0)
	used("nothing changed", "0", 0)
	send(spender, "other-1")
	used("after the other serve's transfer", "0.1", 1)
	used("again", "0.1", 1)
	send(reader, "own-1")
	used("after its own transfer", "0.2", 2)
	send(spender, "other-2")
	used("after the other serve's second transfer", "0.3", 3)
	reader.stop()
	spender.stop()
}
