package pending

import (
	"context"
	"time"

	"github.com/walletmcp/walletmcp/internal/approvalstate"
	"github.com/walletmcp/walletmcp/internal/store"
)

// ApprovalReader reads parked approvals. *store.Store implements it.
type ApprovalReader interface {
	// Approval returns approval id, or store.ErrNotFound; with the state
	// key, a row whose MACs do not verify is a *store.TamperError.
	Approval(ctx context.Context, id string) (*store.Approval, error)
	// ListApprovals returns the approvals with status ("" for all).
	ListApprovals(ctx context.Context, status approvalstate.Status) ([]*store.Approval, error)
	// Keyed reports whether the store holds the state key (decisions need it).
	Keyed() bool
}

// ApprovalWriter parks, decides and expires approvals, each in one store
// transaction. *store.Store implements it.
type ApprovalWriter interface {
	// CreateApproval parks a (or returns the one with its idempotency key),
	// refusing beyond maxPending pending approvals of its sender.
	CreateApproval(ctx context.Context, a *store.Approval, maxPending int) (*store.Approval, bool, error)
	// DecideApproval moves a pending, unexpired approval to a decided status.
	DecideApproval(ctx context.Context, id string, to approvalstate.Status, channel string, step int64, at time.Time) error
	// ExpireApprovals marks the pending approvals past their expiry expired.
	ExpireApprovals(ctx context.Context, now time.Time) (int, error)
}

// Store is what the Service needs of the state database.
type Store interface {
	ApprovalReader
	ApprovalWriter
}

var (
	_ ApprovalReader = (*store.Store)(nil)
	_ ApprovalWriter = (*store.Store)(nil)
)
