package totp

import (
	"context"
	"time"

	"github.com/walletmcp/walletmcp/internal/store"
)

// Store is the TOTP state as this package uses it: the enrolment and the
// page's failure counters, each changed in one transaction.
// *store.Store implements it.
type Store interface {
	// TOTP returns the enrolment, or store.ErrNotFound.
	TOTP(ctx context.Context) (*store.TOTPState, error)
	// UpdateTOTP runs fn on the state (and the counter of scope, when not
	// "") in one write transaction and stores what fn leaves.
	UpdateTOTP(ctx context.Context, scope string, fn func(u *store.TOTPUpdate) error) error
	// PruneTOTPCounters deletes the counters last changed, and unlocked,
	// before before.
	PruneTOTPCounters(ctx context.Context, before time.Time) (int, error)
	// DeleteTOTPCounters deletes every counter.
	DeleteTOTPCounters(ctx context.Context) error
}

var _ Store = (*store.Store)(nil)
