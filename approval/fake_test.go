package approval_test

import (
	"context"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/walletmcp/walletmcp/approval"
	"github.com/walletmcp/walletmcp/approval/pending"
	"github.com/walletmcp/walletmcp/internal/approvalstate"
	"github.com/walletmcp/walletmcp/internal/store"
	"github.com/walletmcp/walletmcp/policy"
)

// idleChain is a chain that only knows its id: any other call panics (the
// test would fail), so it shows what a Pass does not touch.
type idleChain struct{ approval.Chain }

func (idleChain) ChainID() *big.Int { return big.NewInt(1337) }

// queueStore is a state database holding one approved approval whose MACs
// did not verify, and nothing else; it counts claims.
type queueStore struct {
	guardStore
	approvalsStore
	mu     sync.Mutex
	claims int
	a      *store.Approval
	passes chan struct{} // if set, gets a value at each pass
}

func (s *queueStore) LoadLedger(context.Context, time.Time) ([]*store.Transfer, store.LedgerHead, error) {
	return nil, store.LedgerHead{}, nil
}
func (s *queueStore) Abandoned(context.Context, time.Time, int) ([]*store.Transfer, error) {
	return nil, nil
}
func (s *queueStore) Unsettled(context.Context, time.Time, int) ([]*store.Transfer, error) {
	return nil, nil
}
func (s *queueStore) MarkConfirmedAll(context.Context, map[string]uint64) (int, error) { return 0, nil }
func (s *queueStore) ExpireApprovals(ctx context.Context, _ time.Time) (int, error) {
	if s.passes != nil {
		select {
		case s.passes <- struct{}{}:
		case <-ctx.Done():
		}
	}
	return 0, nil
}
func (s *queueStore) ApprovedToExecute(context.Context) ([]*store.Approval, error) {
	return []*store.Approval{s.a}, nil
}
func (s *queueStore) ClaimApproval(context.Context, string, string, time.Time, time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.claims++
	return true, nil
}

type (
	guardStore     interface{ approval.Store }
	approvalsStore interface{ pending.Store }
)

// eventLog keeps the audit events.
type eventLog struct {
	mu     sync.Mutex
	events []string
}

func (l *eventLog) Append(_ context.Context, typ string, fields any) error {
	return l.Enqueue(typ, fields)
}
func (l *eventLog) Start(typ string, fields any) (func(context.Context) error, func()) {
	err := l.Enqueue(typ, fields)
	return func(context.Context) error { return err }, func() {}
}
func (l *eventLog) Enqueue(typ string, fields any) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if m, ok := fields.(map[string]any); ok {
		if e, ok := m["event"].(string); ok {
			typ += "/" + e
		}
	}
	l.events = append(l.events, typ)
	return nil
}

// TestPassSkipsUnverifiedApproval: one executor pass (called, not waited
// for) never claims nor executes an approved approval whose MACs did not
// verify; it reports it once. Small fakes stand for the chain and the store.
func TestPassSkipsUnverifiedApproval(t *testing.T) {
	ctx := context.Background()
	text := policy.PolicyTemplate(1337)
	pol, err := policy.ParsePolicy([]byte(text), "")
	if err != nil {
		t.Fatal(err)
	}
	st := &queueStore{a: &store.Approval{ID: "0123456789abcdef0123456789abcdef", Status: approvalstate.Approved, Verified: false, TamperReason: "the status's MAC does not verify"}}
	lg := &eventLog{}
	svc, err := pending.New(&pending.Config{Store: st, Audit: lg})
	if err != nil {
		t.Fatal(err)
	}
	g, err := approval.NewGuard(ctx, &approval.Config{
		Policy: pol, Chain: idleChain{}, Store: st, Audit: lg, Keys: approval.KeyMap{}, Approvals: svc,
	})
	if err != nil {
		t.Fatal(err)
	}
	g.Pass(ctx)
	g.Pass(ctx)
	if st.claims != 0 {
		t.Fatalf("an unverified approval was claimed %d times", st.claims)
	}
	if len(lg.events) != 1 {
		t.Fatalf("events %v, want one report", lg.events)
	}
}

// TestWakeRunsAPass: a Wake made before the Guard (as serve hands it to the
// approval page first) makes RunApprovals pass at once, not at its Tick.
func TestWakeRunsAPass(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pol, err := policy.ParsePolicy([]byte(policy.PolicyTemplate(1337)), "")
	if err != nil {
		t.Fatal(err)
	}
	st := &queueStore{a: &store.Approval{ID: "0123456789abcdef0123456789abcdef", Status: approvalstate.Approved}}
	lg := &eventLog{}
	svc, err := pending.New(&pending.Config{Store: st, Audit: lg})
	if err != nil {
		t.Fatal(err)
	}
	wake := approval.NewWake()
	g, err := approval.NewGuard(ctx, &approval.Config{
		Policy: pol, Chain: idleChain{}, Store: st, Audit: lg, Keys: approval.KeyMap{}, Approvals: svc,
		Tick: time.Hour, Wake: wake,
	})
	if err != nil {
		t.Fatal(err)
	}
	st.passes = make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); g.RunApprovals(ctx) }()
	defer func() { cancel(); <-done }()
	waitPass := func(what string) {
		t.Helper()
		select {
		case <-st.passes:
		case <-time.After(time.Minute): // a Tick is an hour: only the Wake can do it
			t.Fatalf("no pass %s", what)
		}
	}
	waitPass("at start")
	wake.Kick()
	waitPass("after a kick")
	wake.Kick()
	wake.Kick() // merged, never blocks
	waitPass("after two kicks")
}
