// Package pending keeps the transfers that wait for a human: it parks them in
// internal/store, bound to the digest of their intent, lets a human approve
// one with a TOTP code or reject it, and expires the ones nobody decided.
//
// A parked approval comes with a link token: 32 random bytes (base64url) that
// make the approval page's URL unguessable. Only its SHA-256 is stored;
// CheckLink compares in constant time.
//
// At most MaxPending approvals wait per sending account: the count and the
// insert are one store transaction, so the limit holds across processes, and
// a flood beyond it is refused (ErrTooManyPending, a security event
// "approval_flood") instead of burying a real request among junk.
//
// # Security model
//
// The agent can park approvals (by asking for a transfer the policy sends to
// a human) but never decide one: Approve needs a TOTP code, which only the
// human has, and neither Approve nor Reject is reachable over MCP. An approval
// covers exactly the intent it was parked with: its digest, chain, accounts,
// asset and amount are stored with it, and the executor re-derives the intent
// from them. A decision is taken once: pending → approved or rejected in one
// write transaction, refused after ExpiresAt (the approval is then marked
// expired), and never changed afterwards.
//
// Approve checks that the approval exists, is pending and is unexpired before
// it looks at the code, so that a code typed for an unknown, decided or
// expired approval is not spent. The code is then verified by the
// CodeVerifier (approval/totp), which accepts each time step once: a code used
// for one approval cannot approve another. The code is verified in the scope
// of its channel and approval, so that wrong codes on the approval page lock
// that approval's link (and, past a budget, the page), never the human's
// terminal. A wrong link token is a security
// event in the audit log; so is a refused code. Every decision is audited
// (type "verdict": event approval_approved or approval_rejected) with the
// approval's digest and intent, never with the code or the link token.
// Anything unexpected (store, audit log, clock, randomness) is a refusal.
package pending

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/walletmcp/walletmcp/approval/totp"
	"github.com/walletmcp/walletmcp/internal/audit"
	"github.com/walletmcp/walletmcp/internal/store"

	"github.com/walletmcp/walletmcp/internal/approvalstate"
)

// DefaultTTL is how long an approval waits for a decision by default.
const DefaultTTL = 10 * time.Minute

// DefaultMaxPending is how many approvals may wait per account by default.
const DefaultMaxPending = 20

// TokenSize is the size in bytes of a link token before encoding.
const TokenSize = 32

// maxTokenLen bounds the link token CheckLink hashes.
const maxTokenLen = 128

// Errors returned by the Service, besides the totp errors of Approve.
var (
	ErrNotFound   = errors.New("pending: no such approval")
	ErrExpired    = errors.New("pending: approval expired")
	ErrNotPending = errors.New("pending: approval already decided")
	ErrBadLink    = errors.New("pending: invalid approval link")
	// ErrTooManyPending is Park's refusal when the sending account already
	// has MaxPending approvals waiting.
	ErrTooManyPending = errors.New("pending: too many pending approvals for this account")
)

// NotPendingError reports an approval that was already decided. It matches
// ErrNotPending.
type NotPendingError struct {
	ID     string // the approval
	Status string // its status
}

// Error implements error.
func (e *NotPendingError) Error() string {
	return fmt.Sprintf("pending: approval %s is already %s", e.ID, e.Status)
}

// Is reports whether target is ErrNotPending.
func (e *NotPendingError) Is(target error) bool { return target == ErrNotPending }

// CodeVerifier checks a human's TOTP code, entered in scope, accepting each
// time step at most once, and returns the accepted step (*totp.Verifier).
type CodeVerifier interface {
	Verify(ctx context.Context, code string, scope totp.Scope) (step int64, err error)
}

var _ CodeVerifier = (*totp.Verifier)(nil)

// Auditor is the audit log as the Service uses it.
type Auditor interface {
	// Append records an event and returns once it is on disk.
	Append(ctx context.Context, typ string, fields any) error
}

var _ Auditor = (*audit.Log)(nil)

// Config wires a Service. A nil Config is refused: Store and Audit are required.
type Config struct {
	// Store holds the approvals. Required.
	Store Store
	// Verifier checks TOTP codes. Default nil: every Approve fails with
	// totp.ErrNotEnrolled (rejecting still works).
	Verifier CodeVerifier
	// Audit records every decision. Required.
	Audit Auditor
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// TTL is how long a parked approval waits for a decision. Default 10 minutes.
	TTL time.Duration
	// Rand is the source of link tokens. Default crypto/rand.Reader.
	Rand io.Reader
	// MaxPending is how many approvals may be pending per sending account
	// (config.toml approval.max_pending). Default 20.
	MaxPending int
}

// Service parks, lists, approves and rejects approvals. It is safe for
// concurrent use, and Services in several processes over the same state
// database may decide the same approvals: the store arbitrates.
type Service struct {
	st       Store
	verifier CodeVerifier
	lg       Auditor
	now      func() time.Time
	ttl      time.Duration
	rand     io.Reader
	max      int
}

// New returns a Service.
func New(cfg *Config) (*Service, error) {
	if cfg == nil || cfg.Store == nil || cfg.Audit == nil {
		return nil, errors.New("pending: a store and an audit log are required")
	}
	s := &Service{st: cfg.Store, verifier: cfg.Verifier, lg: cfg.Audit, now: cfg.Now, ttl: cfg.TTL, rand: cfg.Rand, max: cfg.MaxPending}
	if s.now == nil {
		s.now = time.Now
	}
	if s.ttl == 0 {
		s.ttl = DefaultTTL
	}
	if s.ttl < 0 {
		return nil, errors.New("pending: negative TTL")
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.max == 0 {
		s.max = DefaultMaxPending
	}
	if s.max < 0 {
		return nil, errors.New("pending: negative MaxPending")
	}
	return s, nil
}

// Park stores a as a pending approval that expires TTL from now, with a new
// link token; it returns the stored approval and the token (base64url, to put
// in the approval page's URL; only its SHA-256 is stored). a must carry the
// intent (Digest, ChainID, From, To, Asset, Amount) and the Summary shown to
// the human; its ID, status and times are set here. a is not modified.
//
// If a.IdempotencyKey was used before with the same ArgsHash, Park returns
// that approval, whatever its status, and an empty token: the link was given
// out with the first answer and cannot be rebuilt. With other arguments it
// returns store.ErrConflict. When a.From already has MaxPending approvals
// pending it stores nothing and returns ErrTooManyPending.
func (s *Service) Park(ctx context.Context, a *store.Approval) (*store.Approval, string, error) {
	if a == nil {
		return nil, "", errors.New("pending: nil approval")
	}
	raw := make([]byte, TokenSize)
	if _, err := io.ReadFull(s.rand, raw); err != nil {
		return nil, "", fmt.Errorf("pending: random link token: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(raw)
	sum := sha256.Sum256([]byte(token))
	now := s.now()
	c := *a
	c.ID, c.LinkTokenHash = "", sum[:]
	c.CreatedAt, c.ExpiresAt, c.DecidedAt = now, now.Add(s.ttl), nil
	got, created, err := s.st.CreateApproval(ctx, &c, s.max)
	if errors.Is(err, store.ErrTooManyPending) {
		if aerr := s.lg.Append(ctx, audit.TypeSecurity, map[string]any{
			"event": "approval_flood", "from": a.From.Hex(), "max_pending": s.max,
		}); aerr != nil {
			return nil, "", errors.Join(ErrTooManyPending, aerr)
		}
		return nil, "", ErrTooManyPending
	}
	if err != nil {
		return nil, "", err
	}
	if !created {
		return got, "", nil
	}
	fields := intentFields(got, "approval_parked")
	fields["expires_at"] = got.ExpiresAt.Format(time.RFC3339)
	if err := s.lg.Append(ctx, audit.TypeVerdict, fields); err != nil {
		return nil, "", err
	}
	return got, token, nil
}

// Get returns the approval with the given ID, marking it expired first if it
// is pending past its ExpiresAt.
func (s *Service) Get(ctx context.Context, id string) (*store.Approval, error) {
	a, err := s.st.Approval(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if a.Status == approvalstate.Pending && !s.now().Before(a.ExpiresAt) {
		if !s.st.Keyed() {
			// Read-only (no state key): show it as what it is.
			a.Status = approvalstate.Expired
			return a, nil
		}
		if _, err := s.st.ExpireApprovals(ctx, s.now()); err != nil {
			return nil, err
		}
		if a, err = s.st.Approval(ctx, id); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// List returns the pending approvals, newest first, after expiring the ones
// whose time is up (on a store opened without the state key, which cannot
// record that, they are left out).
func (s *Service) List(ctx context.Context) ([]*store.Approval, error) {
	if s.st.Keyed() {
		if _, err := s.st.ExpireApprovals(ctx, s.now()); err != nil {
			return nil, err
		}
	}
	list, err := s.st.ListApprovals(ctx, approvalstate.Pending)
	if err != nil {
		return nil, err
	}
	now := s.now()
	return slices.DeleteFunc(list, func(a *store.Approval) bool { return !now.Before(a.ExpiresAt) }), nil
}

// CheckLink returns the approval if token is its link token (compared as
// SHA-256 digests in constant time). A wrong token is ErrBadLink and a
// security event in the audit log; an unknown ID is ErrNotFound.
func (s *Service) CheckLink(ctx context.Context, id, token string) (*store.Approval, error) {
	a, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	ok := false
	if len(token) <= maxTokenLen {
		sum := sha256.Sum256([]byte(token))
		ok = subtle.ConstantTimeCompare(sum[:], a.LinkTokenHash) == 1
	}
	if !ok {
		if err := s.lg.Append(ctx, audit.TypeSecurity, map[string]any{"event": "approval_bad_link", "approval_id": a.ID}); err != nil {
			return nil, errors.Join(ErrBadLink, err)
		}
		return nil, ErrBadLink
	}
	return a, nil
}

// Approve approves a pending, unexpired approval with a TOTP code, recording
// who approved it (store.ChannelCLI, ChannelWeb or ChannelElicitation). The
// approval is checked before the code, so that a code typed for an unknown
// (ErrNotFound), expired (ErrExpired) or decided (ErrNotPending) approval is
// not spent; then the code must verify, in the scope of channel and this
// approval (else the CodeVerifier's error: totp.ErrWrongCode, ErrReplay,
// ErrLocked, ErrMalformed, ErrNotEnrolled, ErrStateInvalid). The decision
// records the accepted time step.
func (s *Service) Approve(ctx context.Context, id, code, channel string) error {
	if !validChannel(channel) {
		return errors.New("pending: unknown approval channel")
	}
	a, err := s.decidable(ctx, id)
	if err != nil {
		return err
	}
	if s.verifier == nil {
		return totp.ErrNotEnrolled
	}
	step, err := s.verifier.Verify(ctx, code, totp.Scope{Channel: channel, ApprovalID: a.ID})
	if err != nil {
		if aerr := s.lg.Append(ctx, audit.TypeSecurity, map[string]any{
			"event": "approval_code_refused", "approval_id": a.ID, "channel": channel,
		}); aerr != nil {
			return errors.Join(err, aerr)
		}
		return err
	}
	return s.decide(ctx, a, approvalstate.Approved, channel, "approval_approved", step)
}

// Reject rejects a pending, unexpired approval; no code is needed to refuse.
func (s *Service) Reject(ctx context.Context, id, channel string) error {
	if !validChannel(channel) {
		return errors.New("pending: unknown approval channel")
	}
	a, err := s.decidable(ctx, id)
	if err != nil {
		return err
	}
	return s.decide(ctx, a, approvalstate.Rejected, channel, "approval_rejected", -1)
}

// decidable returns the approval if it is pending and unexpired.
func (s *Service) decidable(ctx context.Context, id string) (*store.Approval, error) {
	a, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	switch {
	case a.Status == approvalstate.Expired:
		return nil, ErrExpired
	case a.Status != approvalstate.Pending:
		return nil, &NotPendingError{ID: a.ID, Status: string(a.Status)}
	}
	return a, nil
}

// decide records the decision and audits it. step is the TOTP time step
// that approved it, -1 for a rejection; the store MACs it with the decision.
func (s *Service) decide(ctx context.Context, a *store.Approval, to approvalstate.Status, channel, event string, step int64) error {
	err := s.st.DecideApproval(ctx, a.ID, to, channel, step, s.now())
	switch {
	case errors.Is(err, store.ErrExpired):
		return ErrExpired
	case errors.Is(err, store.ErrNotFound):
		return ErrNotFound
	case errors.Is(err, store.ErrInvalidTransition):
		status := "decided"
		if cur, gerr := s.st.Approval(ctx, a.ID); gerr == nil {
			status = string(cur.Status)
		}
		return &NotPendingError{ID: a.ID, Status: status}
	case err != nil:
		return err
	}
	fields := intentFields(a, event)
	fields["channel"] = channel
	if step >= 0 {
		fields["totp_step"] = step
	}
	return s.lg.Append(ctx, audit.TypeVerdict, fields)
}

// intentFields are the audit fields that name an approval and its intent.
func intentFields(a *store.Approval, event string) map[string]any {
	return map[string]any{
		"event":       event,
		"approval_id": a.ID,
		"digest":      hex.EncodeToString(a.Digest),
		"chain_id":    a.ChainID,
		"from":        a.From.Hex(),
		"to":          a.To.Hex(),
		"asset":       a.Asset,
		"amount":      a.Amount.String(),
	}
}

func validChannel(c string) bool {
	switch c {
	case store.ChannelCLI, store.ChannelWeb, store.ChannelElicitation:
		return true
	}
	return false
}
