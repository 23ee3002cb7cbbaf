package web_test

import (
	"strings"
	"testing"

	"github.com/walletmcp/walletmcp/approval/web"
)

// TestPageShowsReasons: the human sees why the transfer needs them, one list
// item per rule, escaped; without reasons there is no list.
func TestPageShowsReasons(t *testing.T) {
	h := newHarness(t)
	r := h.do(t, "GET", "/a/"+testID+"/"+testToken, "", nil, nil)
	if strings.Contains(r.body, `id="reasons"`) {
		t.Fatal("a list of reasons without reasons")
	}
	h.f.set(testID, func(a *web.Approval) {
		a.Reasons = []string{
			"amount 1250.5 USDC is above auto_approve_max (100 USDC): needs human approval",
			`the sender has never paid <b>x</b>: a first transfer to a new recipient needs human approval`,
		}
	})
	r = h.do(t, "GET", "/a/"+testID+"/"+testToken, "", nil, nil)
	for _, want := range []string{
		`<ul id="reasons">`,
		"<li>amount 1250.5 USDC is above auto_approve_max (100 USDC): needs human approval</li>",
		"<li>the sender has never paid &lt;b&gt;x&lt;/b&gt;: a first transfer",
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("page lacks %s:\n%s", want, r.body)
		}
	}
}
