package main_test

import (
	"encoding/json"
	"testing"
)

// TestTwoServesShareAnomalyWindows: two serve processes on one home each
// see 15 denied transfers within a minute. The anomaly windows are in the
// state store, so the 30 together are a denial burst: the account freezes,
// and a small transfer that was automatic now parks, in either process.
// (With windows in each process's memory, neither reached 30.)
func TestTwoServesShareAnomalyWindows(t *testing.T) {
	node, home, addr := gethHome(t)
	servers := []*server{startServe(t, home, "--rpc", node.URL), startServe(t, home, "--rpc", node.URL)}
	defer func() {
		for _, s := range servers {
			s.stop()
		}
	}()
	send := func(s *server, amount string) (string, bool) {
		var out struct{ Status string }
		res := s.call("send_transfer", map[string]any{"from": addr.Hex(), "to": recipient, "amount": amount}, &out)
		return out.Status, res.IsError
	}
	if st, isErr := send(servers[0], "0.01"); isErr || st != "submitted" {
		t.Fatalf("before the burst: %s %v", st, isErr)
	}
	for i := range 30 {
		if _, isErr := send(servers[i%2], "6"); !isErr {
			t.Fatalf("send %d of 6 ETH was not denied", i)
		}
	}
	for i, s := range servers {
		if st, isErr := send(s, "0.01"); isErr || st != "approval_required" {
			t.Fatalf("process %d after the burst: %s %v; want approval_required", i, st, isErr)
		}
	}
	r := walletmcp(t, home, "status", "--json")
	var status struct {
		Accounts []struct {
			Frozen bool
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &status); err != nil || len(status.Accounts) != 1 || !status.Accounts[0].Frozen {
		t.Fatalf("status --json: %v %s%s", err, r.stdout, r.stderr)
	}
}
