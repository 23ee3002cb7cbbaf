package pending_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/walletmcp/walletmcp/approval/pending"
	"github.com/walletmcp/walletmcp/approval/totp"
	"github.com/walletmcp/walletmcp/internal/approvalstate"
	"github.com/walletmcp/walletmcp/internal/store"
)

// fakeStore is a pending.Store over one approval in memory.
type fakeStore struct {
	a       *store.Approval
	decided []approvalstate.Status
}

func (f *fakeStore) Approval(_ context.Context, id string) (*store.Approval, error) {
	if f.a == nil || f.a.ID != id {
		return nil, store.ErrNotFound
	}
	c := *f.a
	return &c, nil
}

func (f *fakeStore) ListApprovals(context.Context, approvalstate.Status) ([]*store.Approval, error) {
	return nil, nil
}

func (f *fakeStore) Keyed() bool { return true }

func (f *fakeStore) CreateApproval(context.Context, *store.Approval, int) (*store.Approval, bool, error) {
	return nil, false, errors.New("fake: not used")
}

func (f *fakeStore) DecideApproval(_ context.Context, _ string, to approvalstate.Status, _ string, _ int64, _ time.Time) error {
	f.decided = append(f.decided, to)
	f.a.Status = to
	return nil
}

func (f *fakeStore) ExpireApprovals(_ context.Context, now time.Time) (int, error) {
	if f.a != nil && f.a.Status == approvalstate.Pending && !now.Before(f.a.ExpiresAt) {
		f.a.Status = approvalstate.Expired
		return 1, nil
	}
	return 0, nil
}

// countingVerifier accepts every code and counts the codes it was given.
type countingVerifier struct{ calls int }

func (v *countingVerifier) Verify(context.Context, string, totp.Scope) (int64, error) {
	v.calls++
	return 7, nil
}

type nopAudit struct{}

func (nopAudit) Append(context.Context, string, any) error { return nil }

// TestApproveChecksTheApprovalBeforeTheCode: a code typed for an unknown,
// expired or decided approval never reaches the verifier (it is not spent),
// and only a pending one is decided. A fake store is enough: no SQLite.
func TestApproveChecksTheApprovalBeforeTheCode(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	const id = "0123456789abcdef0123456789abcdef"
	for _, tt := range []struct {
		name    string
		a       *store.Approval
		wantErr error
	}{
		{"unknown", nil, pending.ErrNotFound},
		{"expired", &store.Approval{ID: id, Status: approvalstate.Pending, ExpiresAt: now}, pending.ErrExpired},
		{"decided", &store.Approval{ID: id, Status: approvalstate.Rejected, ExpiresAt: now.Add(time.Minute)}, pending.ErrNotPending},
		{"pending", &store.Approval{ID: id, Status: approvalstate.Pending, ExpiresAt: now.Add(time.Minute)}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st, v := &fakeStore{a: tt.a}, &countingVerifier{}
			svc, err := pending.New(&pending.Config{Store: st, Verifier: v, Audit: nopAudit{}, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			err = svc.Approve(ctx, id, "123456", store.ChannelCLI)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Approve: %v, want %v", err, tt.wantErr)
			}
			if wantCalls := map[bool]int{true: 1, false: 0}[tt.wantErr == nil]; v.calls != wantCalls {
				t.Fatalf("verifier called %d times, want %d", v.calls, wantCalls)
			}
			if tt.wantErr == nil && (len(st.decided) != 1 || st.decided[0] != approvalstate.Approved) {
				t.Fatalf("decisions %v", st.decided)
			}
		})
	}
}
