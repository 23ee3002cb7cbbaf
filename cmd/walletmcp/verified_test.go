package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/approval/pending"
	"github.com/walletmcp/walletmcp/approval/web"
	"github.com/walletmcp/walletmcp/internal/approvalstate"
	"github.com/walletmcp/walletmcp/internal/store"
	"github.com/walletmcp/walletmcp/policy"
)

// alteredSummaries change what the human reads and leave what is signed
// (the stored columns and digest): each must be refused where it is shown.
var alteredSummaries = map[string]func(s *policy.Summary){
	"to": func(s *policy.Summary) {
		to := common.HexToAddress("0x9999999999999999999999999999999999999999").Hex()
		s.To, s.ToTail = to, to[len(to)-6:]
	},
	"to_tail": func(s *policy.Summary) { s.ToTail = "c0ffee" },
	"amount":  func(s *policy.Summary) { s.Amount = "0.001" },
}

// storeAltered writes a pending approval of 1 ETH whose summary was altered by
// mut, and returns its link token.
func storeAltered(t *testing.T, st *store.Store, mut func(s *policy.Summary)) (*store.Approval, string) {
	t.Helper()
	in := &policy.Intent{
		ChainID: 1337, From: common.HexToAddress("0x1111111111111111111111111111111111111111"),
		To: common.HexToAddress("0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"), Asset: policy.NativeSymbol,
		Amount: big.NewInt(1e18), Decimals: policy.NativeDecimals, Symbol: policy.NativeSymbol,
	}
	sum := policy.NewSummary(in, big.NewInt(21000*2e9))
	if mut != nil {
		mut(&sum)
	}
	js, err := json.Marshal(policy.StoredSummary{Summary: sum})
	if err != nil {
		t.Fatal(err)
	}
	token := "link-token-of-the-test"
	link := sha256.Sum256([]byte(token))
	d := in.Digest()
	a, _, err := st.CreateApproval(context.Background(), &store.Approval{
		LinkTokenHash: link[:], Digest: d[:], ChainID: in.ChainID, From: in.From, To: in.To,
		Asset: store.AssetETH, Amount: in.Amount, Summary: js, ExpiresAt: time.Now().Add(10 * time.Minute),
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	return a, token
}

type nopAudit struct{}

func (nopAudit) Append(context.Context, string, any) error { return nil }

// TestAlteredSummaryRefusedByPageAndCLI: an approval whose stored summary
// does not describe the transfer it executes is neither shown for approval
// by the page (pageDecider over approval/web) nor printed by the CLI as if
// it were checked.
func TestAlteredSummaryRefusedByPageAndCLI(t *testing.T) {
	for name, mut := range alteredSummaries {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st, err := store.Open(ctx, filepath.Join(t.TempDir(), "state.db"), &store.Options{Key: make([]byte, 32)})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			svc, err := pending.New(&pending.Config{Store: st, Audit: nopAudit{}})
			if err != nil {
				t.Fatal(err)
			}
			a, token := storeAltered(t, st, mut)
			kicked := false
			page, err := web.New(pageDecider{svc: svc, kick: func() { kicked = true }}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := page.Start(); err != nil {
				t.Fatal(err)
			}
			defer page.Close(ctx)

			if _, err := (pageDecider{svc: svc}).CheckLink(ctx, a.ID, token); err == nil {
				t.Fatal("CheckLink accepted an altered summary")
			}
			resp, err := http.Get(page.URL(a.ID, token))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusInternalServerError || strings.Contains(string(body), "<form") {
				t.Fatalf("page: status %d\n%s", resp.StatusCode, body)
			}
			u := page.URL(a.ID, token)
			origin := u[:strings.Index(u, "/a/")]
			req, _ := http.NewRequest("POST", u+"/reject", strings.NewReader(url.Values{"csrf": {"x"}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", origin)
			if resp, err := http.DefaultClient.Do(req); err != nil {
				t.Fatal(err)
			} else if resp.Body.Close(); resp.StatusCode != http.StatusInternalServerError {
				t.Fatalf("post: status %d", resp.StatusCode)
			}
			if got, err := st.Approval(ctx, a.ID); err != nil || got.Status != approvalstate.Pending || kicked {
				t.Fatalf("after a post: %v %v, kicked %v", got.Status, err, kicked)
			}

			var out strings.Builder
			c := &cli{stdout: &out}
			c.printApproval(a, time.Now())
			if !strings.Contains(out.String(), "WARNING") || strings.Contains(out.String(), "0.001") || strings.Contains(out.String(), "c0ffee") {
				t.Fatalf("CLI printed:\n%s", out.String())
			}
		})
	}
}
