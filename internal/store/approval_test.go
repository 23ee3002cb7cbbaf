package store

import (
	"context"
	"errors"
	"math/big"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/internal/approvalstate"
)

// testApproval is a valid pending approval of 1 ETH from alice to bob that
// expires 10 minutes after clk's time.
func testApproval(clk *clock) *Approval {
	return &Approval{
		LinkTokenHash: argsHash("token"),
		Digest:        argsHash("digest"),
		ChainID:       1337, From: alice, To: bob, Asset: AssetETH, Amount: big.NewInt(1e18),
		Summary:   []byte(`{"chain_id":1337,"to_tail":"000b0b"}`),
		ExpiresAt: clk.Now().Add(10 * time.Minute),
	}
}

func createApproval(t *testing.T, s *Store, a *Approval) *Approval {
	t.Helper()
	got, created, err := s.CreateApproval(context.Background(), a, 0)
	if err != nil {
		t.Fatalf("CreateApproval: %v", err)
	}
	if !created {
		t.Fatal("CreateApproval: not created")
	}
	return got
}

func getApproval(t *testing.T, s *Store, id string) *Approval {
	t.Helper()
	got, err := s.Approval(context.Background(), id)
	if err != nil {
		t.Fatalf("Approval(%s): %v", id, err)
	}
	return got
}

func TestCreateApproval(t *testing.T) {
	clk := newClock()
	s, _ := openTest(t, &Options{Now: clk.Now})
	a := testApproval(clk)
	a.Channel, a.TransferID, a.Error, a.Status = "web", "t", "e", approvalstate.Approved // cleared
	got := createApproval(t, s, a)
	if len(got.ID) != 32 {
		t.Errorf("ID %q, want 32 hex digits", got.ID)
	}
	if got.Status != approvalstate.Pending || got.Channel != "" || got.TransferID != "" || got.Error != "" || got.DecidedAt != nil || got.TxHash != nil {
		t.Errorf("new approval not clean: %+v", got)
	}
	if !got.CreatedAt.Equal(clk.Now()) || !got.ExpiresAt.Equal(clk.Now().Add(10*time.Minute)) {
		t.Errorf("times %v %v", got.CreatedAt, got.ExpiresAt)
	}
	stored := getApproval(t, s, got.ID)
	if len(stored.mac) == 0 || len(stored.stateMAC) == 0 {
		t.Errorf("stored without its MACs: %x %x", stored.mac, stored.stateMAC)
	}
	// The MACs are the store's business: the returned value does not carry them.
	stored.mac, stored.stateMAC = got.mac, got.stateMAC
	if !reflect.DeepEqual(stored, got) {
		t.Errorf("stored\n%+v\nreturned\n%+v", stored, got)
	}
	if _, err := s.Approval(context.Background(), "missing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown id: %v, want ErrNotFound", err)
	}
	// A caller-chosen CreatedAt is kept.
	b := testApproval(clk)
	b.CreatedAt = clk.Now().Add(-time.Minute)
	if got := createApproval(t, s, b); !got.CreatedAt.Equal(clk.Now().Add(-time.Minute)) {
		t.Errorf("CreatedAt %v", got.CreatedAt)
	}
}

func TestCreateApprovalInvalid(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Approval)
	}{
		{"no link hash", func(a *Approval) { a.LinkTokenHash = nil }},
		{"short link hash", func(a *Approval) { a.LinkTokenHash = []byte{1} }},
		{"no digest", func(a *Approval) { a.Digest = nil }},
		{"short digest", func(a *Approval) { a.Digest = make([]byte, 31) }},
		{"nil amount", func(a *Approval) { a.Amount = nil }},
		{"negative amount", func(a *Approval) { a.Amount = big.NewInt(-1) }},
		{"symbol asset", func(a *Approval) { a.Asset = "USDC" }},
		{"checksummed contract", func(a *Approval) { a.Asset = common.HexToAddress(usdc).Hex() }},
		{"key without hash", func(a *Approval) { a.IdempotencyKey = "k" }},
		{"key too long", func(a *Approval) { a.IdempotencyKey = strings.Repeat("k", MaxKeyLen+1); a.ArgsHash = argsHash("") }},
		{"id too long", func(a *Approval) { a.ID = strings.Repeat("i", MaxKeyLen+1) }},
		{"chain id beyond int64", func(a *Approval) { a.ChainID = 1 << 63 }},
		{"no summary", func(a *Approval) { a.Summary = nil }},
		{"summary not JSON", func(a *Approval) { a.Summary = []byte("send 1 ETH") }},
		{"summary too large", func(a *Approval) { a.Summary = []byte(`"` + strings.Repeat("x", MaxSummaryLen) + `"`) }},
		{"no expiry", func(a *Approval) { a.ExpiresAt = time.Time{} }},
		{"expires at creation", func(a *Approval) { a.ExpiresAt = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC) }},
		{"expired at creation", func(a *Approval) { a.ExpiresAt = time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			s, _ := openTest(t, &Options{Now: clk.Now})
			a := testApproval(clk)
			tt.modify(a)
			got, created, err := s.CreateApproval(context.Background(), a, 0)
			if err == nil || got != nil || created {
				t.Fatalf("got %v %v %v, want an error", got, created, err)
			}
			all, err := s.ListApprovals(context.Background(), "")
			if err != nil || len(all) != 0 {
				t.Fatalf("%d approvals stored after a refused one (%v)", len(all), err)
			}
		})
	}
}

func TestCreateApprovalIdempotency(t *testing.T) {
	clk := newClock()
	s, _ := openTest(t, &Options{Now: clk.Now})
	a := testApproval(clk)
	a.IdempotencyKey, a.ArgsHash = "key-1", argsHash("args")
	first := createApproval(t, s, a)

	again := testApproval(clk)
	again.IdempotencyKey, again.ArgsHash = "key-1", argsHash("args")
	got, created, err := s.CreateApproval(context.Background(), again, 0)
	if err != nil || created || got.ID != first.ID {
		t.Fatalf("same key and args: %v %v %v, want the first approval", got, created, err)
	}
	other := testApproval(clk)
	other.IdempotencyKey, other.ArgsHash = "key-1", argsHash("other")
	if _, _, err := s.CreateApproval(context.Background(), other, 0); !errors.Is(err, ErrConflict) {
		t.Fatalf("same key, other args: %v, want ErrConflict", err)
	}
	byKey, err := s.ApprovalByKey(context.Background(), "key-1")
	if err != nil || byKey.ID != first.ID {
		t.Fatalf("ApprovalByKey: %v %v", byKey, err)
	}
	if _, err := s.ApprovalByKey(context.Background(), ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("empty key: %v", err)
	}
	all, _ := s.ListApprovals(context.Background(), "")
	if len(all) != 1 {
		t.Errorf("%d approvals, want 1", len(all))
	}
}

// TestOneKeyTransferOrApproval: a key a transfer holds cannot be parked as
// an approval (ErrKeyIsTransfer, nothing stored), and a ledger transaction
// sees a key an approval holds (ApprovalKeyUsed).
func TestOneKeyTransferOrApproval(t *testing.T) {
	clk := newClock()
	s, _ := openTest(t, &Options{Now: clk.Now})
	ctx := context.Background()
	if _, _, err := s.CreateTransfer(ctx, &Transfer{IdempotencyKey: "sent", ArgsHash: argsHash("args"), ChainID: 1337, From: alice, To: bob, Asset: AssetETH, Amount: big.NewInt(1), Kind: KindAuto}); err != nil {
		t.Fatal(err)
	}
	a := testApproval(clk)
	a.IdempotencyKey, a.ArgsHash = "sent", argsHash("args")
	if _, _, err := s.CreateApproval(ctx, a, 0); !errors.Is(err, ErrKeyIsTransfer) {
		t.Fatalf("parking a transfer's key: %v, want ErrKeyIsTransfer", err)
	}
	if all, _ := s.ListApprovals(ctx, ""); len(all) != 0 {
		t.Fatalf("%d approvals stored", len(all))
	}
	b := testApproval(clk)
	b.IdempotencyKey, b.ArgsHash = "parked", argsHash("args")
	createApproval(t, s, b)
	err := s.Ledger(ctx, func(lt *LedgerTx) error {
		for key, want := range map[string]bool{"parked": true, "sent": false, "": false, "other": false} {
			if got, err := lt.ApprovalKeyUsed(key); err != nil || got != want {
				t.Errorf("ApprovalKeyUsed(%q) = %v, %v; want %v", key, got, err, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCreateApprovalConcurrentKey(t *testing.T) {
	clk := newClock()
	_, path := openTest(t, &Options{Now: clk.Now})
	var wg sync.WaitGroup
	ids := make([]string, 8)
	errs := make([]error, 8)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Open(context.Background(), path, withKey(&Options{Now: clk.Now}))
			if err != nil {
				errs[i] = err
				return
			}
			defer s.Close()
			a := testApproval(clk)
			a.IdempotencyKey, a.ArgsHash = "same", argsHash("args")
			got, _, err := s.CreateApproval(context.Background(), a, 0)
			if err == nil {
				ids[i] = got.ID
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i := range ids {
		if errs[i] != nil {
			t.Fatalf("writer %d: %v", i, errs[i])
		}
		if ids[i] != ids[0] {
			t.Fatalf("writers got different approvals: %v", ids)
		}
	}
}

func TestDecideApproval(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		setup    func(t *testing.T, s *Store, id string) // run before the decision
		to       approvalstate.Status
		channel  string
		step     int64         // the TOTP step of the deciding code; -1 for none
		after    time.Duration // decision time relative to creation
		wantErr  error
		wantStat approvalstate.Status
	}{
		{name: "approve", to: approvalstate.Approved, channel: ChannelCLI, step: 5, after: time.Minute, wantStat: approvalstate.Approved},
		{name: "approve at step 0", to: approvalstate.Approved, channel: ChannelWeb, step: 0, after: time.Minute, wantStat: approvalstate.Approved},
		{name: "reject", to: approvalstate.Rejected, channel: ChannelWeb, step: -1, after: time.Minute, wantStat: approvalstate.Rejected},
		{name: "reject with a code", to: approvalstate.Rejected, channel: ChannelCLI, step: 9, after: time.Minute, wantStat: approvalstate.Rejected},
		{name: "just before expiry", to: approvalstate.Approved, channel: ChannelElicitation, step: 7, after: 10*time.Minute - time.Nanosecond, wantStat: approvalstate.Approved},
		{name: "at expiry", to: approvalstate.Approved, channel: ChannelCLI, step: 7, after: 10 * time.Minute, wantErr: ErrExpired, wantStat: approvalstate.Expired},
		{name: "after expiry, reject", to: approvalstate.Rejected, channel: ChannelCLI, step: -1, after: time.Hour, wantErr: ErrExpired, wantStat: approvalstate.Expired},
		{
			name: "already expired", to: approvalstate.Approved, channel: ChannelCLI, step: 7, after: time.Minute, wantErr: ErrExpired, wantStat: approvalstate.Expired,
			setup: func(t *testing.T, s *Store, id string) {
				if _, err := s.ExpireApprovals(ctx, time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "approve after reject", to: approvalstate.Approved, channel: ChannelCLI, step: 7, after: time.Minute, wantErr: ErrInvalidTransition, wantStat: approvalstate.Rejected,
			setup: func(t *testing.T, s *Store, id string) {
				if err := s.DecideApproval(ctx, id, approvalstate.Rejected, ChannelCLI, -1, time.Date(2026, 3, 1, 12, 0, 1, 0, time.UTC)); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "approve twice", to: approvalstate.Approved, channel: ChannelWeb, step: 7, after: time.Minute, wantErr: ErrInvalidTransition, wantStat: approvalstate.Approved,
			setup: func(t *testing.T, s *Store, id string) {
				if err := s.DecideApproval(ctx, id, approvalstate.Approved, ChannelCLI, 1, time.Date(2026, 3, 1, 12, 0, 1, 0, time.UTC)); err != nil {
					t.Fatal(err)
				}
			},
		},
		{name: "approve without a step", to: approvalstate.Approved, channel: ChannelCLI, step: -1, after: time.Minute, wantErr: errAny, wantStat: approvalstate.Pending},
		{name: "approve with a negative step", to: approvalstate.Approved, channel: ChannelWeb, step: -2, after: time.Minute, wantErr: errAny, wantStat: approvalstate.Pending},
		{name: "to executed", to: approvalstate.Executed, channel: ChannelCLI, step: 7, after: time.Minute, wantErr: errAny, wantStat: approvalstate.Pending},
		{name: "to expired", to: approvalstate.Expired, channel: ChannelCLI, step: 7, after: time.Minute, wantErr: errAny, wantStat: approvalstate.Pending},
		{name: "no channel", to: approvalstate.Approved, channel: "", step: 7, after: time.Minute, wantErr: errAny, wantStat: approvalstate.Pending},
		{name: "unknown channel", to: approvalstate.Approved, channel: "mcp", step: 7, after: time.Minute, wantErr: errAny, wantStat: approvalstate.Pending},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			s, _ := openTest(t, &Options{Now: clk.Now})
			a := createApproval(t, s, testApproval(clk))
			if tt.setup != nil {
				tt.setup(t, s, a.ID)
			}
			at := a.CreatedAt.Add(tt.after)
			err := s.DecideApproval(ctx, a.ID, tt.to, tt.channel, tt.step, at)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("DecideApproval: %v", err)
			case tt.wantErr == errAny && err == nil:
				t.Fatal("DecideApproval succeeded, want an error")
			case tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Fatalf("DecideApproval: %v, want %v", err, tt.wantErr)
			}
			got := getApproval(t, s, a.ID)
			if got.Status != tt.wantStat {
				t.Errorf("status %q, want %q", got.Status, tt.wantStat)
			}
			if tt.wantErr == nil {
				if got.Channel != tt.channel || got.Step != tt.step || got.DecidedAt == nil || !got.DecidedAt.Equal(at) {
					t.Errorf("channel %q step %d decided %v, want %q %d at %v", got.Channel, got.Step, got.DecidedAt, tt.channel, tt.step, at)
				}
			}
			if !got.Verified {
				t.Errorf("approval read back unverified: %s", got.TamperReason)
			}
		})
	}
	clk := newClock()
	s, _ := openTest(t, &Options{Now: clk.Now})
	if err := s.DecideApproval(ctx, "missing", approvalstate.Approved, ChannelCLI, 1, clk.Now()); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown id: %v, want ErrNotFound", err)
	}
}

// errAny in a table means "some error".
var errAny = errors.New("any error")

func TestDecideApprovalConcurrent(t *testing.T) {
	// Approve and reject race over two handles of one file: exactly one wins.
	clk := newClock()
	s1, path := openTest(t, &Options{Now: clk.Now})
	s2, err := Open(context.Background(), path, withKey(&Options{Now: clk.Now}))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	for i := 0; i < 20; i++ {
		a := createApproval(t, s1, testApproval(clk))
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for j, s := range []*Store{s1, s2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				to := []approvalstate.Status{approvalstate.Approved, approvalstate.Rejected}[j]
				errs[j] = s.DecideApproval(context.Background(), a.ID, to, ChannelCLI, int64(i), clk.Now())
			}()
		}
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("round %d: errors %v and %v, want exactly one success", i, errs[0], errs[1])
		}
		for _, e := range errs {
			if e != nil && !errors.Is(e, ErrInvalidTransition) {
				t.Fatalf("loser's error %v, want a transition error", e)
			}
		}
	}
}

func TestExpireAndList(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s, _ := openTest(t, &Options{Now: clk.Now})
	var ids []string
	for i := 0; i < 4; i++ {
		a := testApproval(clk)
		a.ExpiresAt = clk.Now().Add(time.Duration(i+1) * time.Minute)
		ids = append(ids, createApproval(t, s, a).ID)
		clk.Advance(time.Second)
	}
	// ids[3] is rejected: not expired later.
	if err := s.DecideApproval(ctx, ids[3], approvalstate.Rejected, ChannelCLI, -1, clk.Now()); err != nil {
		t.Fatal(err)
	}
	n, err := s.ExpireApprovals(ctx, getApproval(t, s, ids[1]).ExpiresAt)
	if err != nil || n != 2 {
		t.Fatalf("ExpireApprovals: %d %v, want 2", n, err)
	}
	want := map[string]approvalstate.Status{ids[0]: approvalstate.Expired, ids[1]: approvalstate.Expired, ids[2]: approvalstate.Pending, ids[3]: approvalstate.Rejected}
	for id, st := range want {
		if got := getApproval(t, s, id).Status; got != st {
			t.Errorf("%s: %s, want %s", id, got, st)
		}
	}
	tests := []struct {
		status approvalstate.Status
		want   []string
	}{
		{"", []string{ids[3], ids[2], ids[1], ids[0]}},
		{approvalstate.Pending, []string{ids[2]}},
		{approvalstate.Expired, []string{ids[1], ids[0]}},
		{approvalstate.Approved, nil},
	}
	for _, tt := range tests {
		t.Run("list "+string(tt.status), func(t *testing.T) {
			got, err := s.ListApprovals(ctx, tt.status)
			if err != nil {
				t.Fatal(err)
			}
			var gotIDs []string
			for _, a := range got {
				gotIDs = append(gotIDs, a.ID)
			}
			if !reflect.DeepEqual(gotIDs, tt.want) {
				t.Errorf("got %v, want %v", gotIDs, tt.want)
			}
		})
	}
	if _, err := s.ListApprovals(ctx, "bogus"); err == nil {
		t.Error("unknown status accepted")
	}
	if n, err := s.ExpireApprovals(ctx, clk.Now().Add(time.Hour)); err != nil || n != 1 {
		t.Errorf("second ExpireApprovals: %d %v, want 1", n, err)
	}
}

func TestListApprovalsBounded(t *testing.T) {
	clk := newClock()
	s, _ := openTest(t, &Options{Now: clk.Now})
	for i := 0; i < MaxListApprovals+3; i++ {
		createApproval(t, s, testApproval(clk))
	}
	got, err := s.ListApprovals(context.Background(), "")
	if err != nil || len(got) != MaxListApprovals {
		t.Fatalf("%d approvals (%v), want %d", len(got), err, MaxListApprovals)
	}
}

func TestApprovalExecution(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s, _ := openTest(t, &Options{Now: clk.Now})
	hash := common.HexToHash("0x1234")
	var ids []string
	for i := 0; i < 3; i++ {
		a := createApproval(t, s, testApproval(clk))
		ids = append(ids, a.ID)
		clk.Advance(time.Second)
	}
	// Not approved yet: nothing to execute, and neither mark applies.
	if got, err := s.ApprovedToExecute(ctx); err != nil || len(got) != 0 {
		t.Fatalf("ApprovedToExecute before approval: %v %v", got, err)
	}
	if err := s.MarkApprovalExecuted(ctx, ids[0], "tr", hash); !errors.Is(err, ErrInvalidTransition) {
		t.Errorf("executing a pending approval: %v", err)
	}
	if err := s.MarkApprovalFailed(ctx, ids[0], "x"); !errors.Is(err, ErrInvalidTransition) {
		t.Errorf("failing a pending approval: %v", err)
	}
	// Approve in reverse order; execution is oldest first by creation.
	for i := len(ids) - 1; i >= 0; i-- {
		if err := s.DecideApproval(ctx, ids[i], approvalstate.Approved, ChannelCLI, int64(i), clk.Now()); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.ApprovedToExecute(ctx)
	if err != nil || len(got) != 3 || got[0].ID != ids[0] || got[2].ID != ids[2] {
		t.Fatalf("ApprovedToExecute: %v %v", got, err)
	}
	tests := []struct {
		name    string
		run     func() error
		wantErr bool
	}{
		{"empty transfer id", func() error { return s.MarkApprovalExecuted(ctx, ids[0], "", hash) }, true},
		{"zero hash", func() error { return s.MarkApprovalExecuted(ctx, ids[0], "tr", common.Hash{}) }, true},
		{"unknown", func() error { return s.MarkApprovalExecuted(ctx, "missing", "tr", hash) }, true},
		{"executed", func() error { return s.MarkApprovalExecuted(ctx, ids[0], "tr-0", hash) }, false},
		{"executed twice", func() error { return s.MarkApprovalExecuted(ctx, ids[0], "tr-0", hash) }, true},
		{"failed after executed", func() error { return s.MarkApprovalFailed(ctx, ids[0], "late") }, true},
		{"failed", func() error { return s.MarkApprovalFailed(ctx, ids[1], strings.Repeat("é", MaxErrorLen)) }, false},
		{"executed after failed", func() error { return s.MarkApprovalExecuted(ctx, ids[1], "tr-1", hash) }, true},
	}
	for _, tt := range tests {
		if err := tt.run(); (err != nil) != tt.wantErr {
			t.Errorf("%s: err %v, wantErr %v", tt.name, err, tt.wantErr)
		}
	}
	a0 := getApproval(t, s, ids[0])
	if a0.Status != approvalstate.Executed || a0.TransferID != "tr-0" || a0.TxHash == nil || *a0.TxHash != hash {
		t.Errorf("executed approval: %+v", a0)
	}
	a1 := getApproval(t, s, ids[1])
	if a1.Status != approvalstate.Failed || len(a1.Error) > MaxErrorLen || !strings.HasPrefix(a1.Error, "é") {
		t.Errorf("failed approval: status %s, error of %d bytes", a1.Status, len(a1.Error))
	}
	if got, _ := s.ApprovedToExecute(ctx); len(got) != 1 || got[0].ID != ids[2] {
		t.Errorf("left to execute: %v", got)
	}
}

func TestApprovalQueriesUseIndexes(t *testing.T) {
	s, _ := openTest(t, nil)
	tests := []struct {
		name  string
		query string
		args  []any
		index string
	}{
		{"by id", qApprovalByID, []any{"x"}, "sqlite_autoindex_approvals_1"},
		{"by key", qApprovalByKey, []any{"k"}, "approvals_idempotency_key"},
		{"all", qApprovalsAll, []any{10}, "approvals_created"},
		{"by status", qApprovalsByStatus, []any{"pending", 10}, "approvals_status_created"},
		{"approved", qApprovedToExecute, nil, "approvals_status_created"},
		{"due", qApprovalsDue, []any{int64(0)}, "approvals_status_created"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			joined := queryPlan(t, s, tt.query, tt.args...)
			if !strings.Contains(joined, "INDEX "+tt.index) {
				t.Errorf("plan %q does not use index %s", joined, tt.index)
			}
			if strings.Contains(joined, "USE TEMP B-TREE") {
				t.Errorf("plan %q sorts in a temporary b-tree", joined)
			}
		})
	}
}

func TestCorruptApprovalRowsAreErrors(t *testing.T) {
	tests := []struct {
		name, set string
	}{
		{"amount", `amount = 'lots'`},
		{"negative amount", `amount = '-1'`},
		{"address", `to_addr = '0x12'`},
		{"tx hash", `tx_hash = 'zz'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			s, _ := openTest(t, &Options{Now: clk.Now})
			a := createApproval(t, s, testApproval(clk))
			if _, err := s.db.Exec(`UPDATE approvals SET `+tt.set+` WHERE id = ?`, a.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Approval(context.Background(), a.ID); err == nil || errors.Is(err, ErrNotFound) {
				t.Errorf("corrupt row read as %v", err)
			}
			if _, err := s.ListApprovals(context.Background(), ""); err == nil {
				t.Error("corrupt row listed without error")
			}
		})
	}
}
