package policy

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestStoredSummaryDecodesAsSummary: the summary JSON a parked approval keeps
// carries the reasons and still decodes as a plain Summary (get_approval).
func TestStoredSummaryDecodesAsSummary(t *testing.T) {
	reasons := []Reason{
		{Rule: RulePerTxMax, Verdict: Allow.String(), Message: "within"},
		{Rule: RuleAutoApproveMax, Verdict: ApprovalRequired.String(), Message: "amount 1 ETH is above auto_approve_max (0.1 ETH)"},
		{Rule: RuleNewRecipient, Verdict: ApprovalRequired.String(), Message: "never paid"},
	}
	want := ApprovalReasons(reasons)
	if len(want) != 2 || want[0].Rule != RuleAutoApproveMax || want[1].Rule != RuleNewRecipient {
		t.Fatalf("ApprovalReasons = %+v", want)
	}
	sum := Summary{ChainID: 1337, From: "0xa", To: "0xb", ToTail: "b", Amount: "1", AmountBaseUnits: "1000000000000000000", Asset: "ETH", MaxFee: "0.001"}
	data, err := json.Marshal(StoredSummary{Summary: sum, Reasons: want})
	if err != nil {
		t.Fatal(err)
	}
	var plain Summary
	if err := json.Unmarshal(data, &plain); err != nil || plain != sum {
		t.Fatalf("as a Summary: %+v, %v", plain, err)
	}
	var back StoredSummary
	if err := json.Unmarshal(data, &back); err != nil || back.Summary != sum || !reflect.DeepEqual(back.Reasons, want) {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
	// A summary stored before reasons existed decodes with none.
	old, _ := json.Marshal(sum)
	var none StoredSummary
	if err := json.Unmarshal(old, &none); err != nil || none.Reasons != nil {
		t.Fatalf("old summary: %+v, %v", none, err)
	}
}
