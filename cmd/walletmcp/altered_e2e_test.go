//go:build unix

package main_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/internal/approvalstate"
	"github.com/walletmcp/walletmcp/internal/store"
	"github.com/walletmcp/walletmcp/policy"
)

// TestApproveRefusesAlteredSummary: `approve` refuses, before asking for a
// code, an approval whose stored summary shows another recipient than the
// one it sends to, and `approvals` flags it; it stays pending.
func TestApproveRefusesAlteredSummary(t *testing.T) {
	home, addr := newHome(t, 1337)
	st := openState(t, home)
	a := pendingApproval(t, st, addr, func(sum *policy.Summary) {
		shown := common.HexToAddress("0x9999999999999999999999999999999999999999").Hex()
		sum.To, sum.ToTail = shown, shown[len(shown)-6:]
	})

	r := runCLI(t, home, nil, nil, "approvals")
	if r.code != 0 || !strings.Contains(r.stdout, "WARNING") || !strings.Contains(r.stdout, "does not match") {
		t.Fatalf("approvals: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, home, nil, nil, "approve", a.ID, "--code", "123456")
	if r.code == 0 || !strings.Contains(r.stderr, "not approving") {
		t.Fatalf("approve: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if got := approvalStatus(t, st, a.ID); got != approvalstate.Pending {
		t.Fatalf("status %s, want pending", got)
	}
}

// TestListingsStripControlSequences: `approvals` reads state.db without the
// state key, and `account list` and `status` read accounts.json; anything
// that can write those files could put terminal control sequences in an
// approval's id or asset, or an account's label (a clipboard write, a
// cleared screen, hidden lines). None reaches the terminal.
func TestListingsStripControlSequences(t *testing.T) {
	home, addr := newHome(t, 1337)
	st := openState(t, home)
	a := pendingApproval(t, st, addr, nil)
	const esc = "\x1b]52;c;ZWNobyBwd25lZAo=\a\x1b[2J\x1b[H"
	db, err := sql.Open("sqlite", filepath.Join(home, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE approvals SET id = ?, asset = ? WHERE id = ?`, a.ID+esc, "eth"+esc, a.ID); err != nil {
		t.Fatal(err)
	}
	accts := filepath.Join(home, "accounts.json")
	raw, err := os.ReadFile(accts)
	if err != nil {
		t.Fatal(err)
	}
	label, _ := json.Marshal("agent" + esc)
	raw = []byte(strings.Replace(string(raw), `"agent"`, string(label), 1))
	if err := os.WriteFile(accts, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"approvals"}, {"account", "list"}, {"status"}} {
		r := runCLI(t, home, nil, nil, args...)
		if strings.ContainsAny(r.stdout+r.stderr, "\x1b\a") {
			t.Fatalf("%v printed a control sequence:\n%q\n%q", args, r.stdout, r.stderr)
		}
	}
}

// pendingApproval stores a pending approval of 1 ETH from addr to
// recipient, its summary changed by mut (nil: as made).
func pendingApproval(t *testing.T, st *store.Store, addr common.Address, mut func(*policy.Summary)) *store.Approval {
	t.Helper()
	in := &policy.Intent{
		ChainID: 1337, From: addr, To: common.HexToAddress(recipient), Asset: policy.NativeSymbol,
		Amount: big.NewInt(1e18), Decimals: policy.NativeDecimals, Symbol: policy.NativeSymbol,
	}
	sum := policy.NewSummary(in, big.NewInt(21000*2e9))
	if mut != nil {
		mut(&sum)
	}
	js, err := json.Marshal(sum)
	if err != nil {
		t.Fatal(err)
	}
	d := in.Digest()
	link := sha256.Sum256([]byte("link"))
	a, _, err := st.CreateApproval(context.Background(), &store.Approval{
		LinkTokenHash: link[:], Digest: d[:], ChainID: in.ChainID, From: in.From, To: in.To,
		Asset: store.AssetETH, Amount: in.Amount, Summary: js, ExpiresAt: time.Now().Add(10 * time.Minute),
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
