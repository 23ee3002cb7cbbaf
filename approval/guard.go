package approval

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/approval/pending"
	"github.com/walletmcp/walletmcp/internal/audit"
	"github.com/walletmcp/walletmcp/internal/chain"
	"github.com/walletmcp/walletmcp/internal/store"
	"github.com/walletmcp/walletmcp/signer"
)

// Keyring finds the signer of an account.
type Keyring interface {
	// Signer returns the signer for addr, or false when the server holds no key for it.
	Signer(addr common.Address) (signer.Signer, bool)
}

// Auditor is the audit log as the Guard uses it.
type Auditor interface {
	// Append records an event and returns once it is on disk.
	Append(ctx context.Context, typ string, fields any) error
	// Enqueue records an event without waiting for the disk; a later Append
	// makes it durable (records are written in order).
	Enqueue(typ string, fields any) error
}

// Config wires a Guard. Policy, Chain, Store, Audit and Keys are required.
type Config struct {
	// Policy is the attested policy.
	Policy *Policy
	// Chain is where balances are read and transactions sent.
	Chain chain.Chain
	// Store holds transfers (the spend ledger and idempotency keys) and approvals.
	Store *store.Store
	// Audit records verdicts, signatures and broadcasts.
	Audit Auditor
	// Keys holds the signers of the accounts the server may spend from.
	Keys Keyring
	// Approvals parks transfers that need a human. Nil: no human approval is
	// available, and such transfers are denied.
	Approvals *pending.Service
	// ApprovalURL builds the approval page link of a parked approval; nil
	// means there is no page (the CLI remains).
	ApprovalURL func(id, token string) string
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// TransferArgs are a transfer request as an agent sends it, unparsed.
type TransferArgs struct {
	From, To, Amount, Asset string
	IdempotencyKey          string
}

// Outcome is what Send did.
type Outcome struct {
	// Status is "submitted" or "approval_required".
	Status     string
	TxHash     common.Hash
	TransferID string
	// ApprovalID, ApprovalURL and ExpiresAt describe a parked approval.
	ApprovalID  string
	ApprovalURL string
	ExpiresAt   time.Time
	Summary     Summary
	// Replayed is set when an idempotency key returned an earlier outcome.
	Replayed bool
}

// Guard evaluates and executes transfers. It is safe for concurrent use.
type Guard struct {
	cfg    Config
	now    func() time.Time
	nonces *chain.Nonces
	ledger *Ledger
	kick   chan struct{}

	mu       sync.Mutex
	accounts map[common.Address]*sync.Mutex
	inflight map[string]chan struct{}
	recent   []time.Time // signing times in the last hour, oldest first
}

// NewGuard builds a Guard, loads the spend ledger and finishes transfers a
// crash left unfinished.
func NewGuard(ctx context.Context, cfg *Config) (*Guard, error) {
	if cfg == nil || cfg.Policy == nil || cfg.Chain == nil || cfg.Store == nil || cfg.Audit == nil || cfg.Keys == nil {
		return nil, errors.New("approval: guard config is incomplete")
	}
	if cfg.Chain.ChainID() == nil || cfg.Chain.ChainID().Cmp(new(big.Int).SetUint64(cfg.Policy.ChainID)) != 0 {
		return nil, fmt.Errorf("approval: chain id %v does not match the policy's chain_id %d", cfg.Chain.ChainID(), cfg.Policy.ChainID)
	}
	g := &Guard{
		cfg:      *cfg,
		now:      cfg.Now,
		nonces:   chain.NewNonces(cfg.Chain),
		ledger:   NewLedger(cfg.Policy.LongestWindow()),
		kick:     make(chan struct{}, 1),
		accounts: map[common.Address]*sync.Mutex{},
		inflight: map[string]chan struct{}{},
	}
	if g.now == nil {
		g.now = time.Now
	}
	if err := g.recover(ctx); err != nil {
		return nil, err
	}
	// Every spend ever: the ledger needs them to know which recipients were
	// paid before; only the longest window's worth is kept for the sums.
	spends, err := cfg.Store.SpendsSince(ctx, time.Unix(0, 0))
	if err != nil {
		return nil, fmt.Errorf("approval: load ledger: %w", err)
	}
	if err := g.ledger.Load(spends); err != nil {
		return nil, fmt.Errorf("approval: load ledger: %w", err)
	}
	hourAgo := g.now().Add(-time.Hour)
	for _, s := range spends {
		if !s.At.Before(hourAgo) {
			g.recent = append(g.recent, s.At)
		}
	}
	return g, nil
}

// Policy returns the policy the guard enforces.
func (g *Guard) Policy() *Policy { return g.cfg.Policy }

func (g *Guard) accountLock(a common.Address) *sync.Mutex {
	g.mu.Lock()
	defer g.mu.Unlock()
	m := g.accounts[a]
	if m == nil {
		m = &sync.Mutex{}
		g.accounts[a] = m
	}
	return m
}

// plan is a transfer ready to sign: its intent, the fee terms and the decision.
type plan struct {
	intent   *Intent
	decision Decision
	gas      uint64
	tipCap   *big.Int
	feeCap   *big.Int
}

func (g *Guard) transfersLastHour(now time.Time) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	cut := now.Add(-time.Hour)
	i := 0
	for i < len(g.recent) && g.recent[i].Before(cut) {
		i++
	}
	g.recent = g.recent[i:]
	return len(g.recent)
}

func (g *Guard) noteTransfer(at time.Time) {
	g.mu.Lock()
	g.recent = append(g.recent, at)
	g.mu.Unlock()
}

// Prepare evaluates a transfer without reserving, signing or sending anything.
func (g *Guard) Prepare(ctx context.Context, args TransferArgs) (*Decision, error) {
	in, lim, err := g.resolve(ctx, args)
	if err != nil {
		return nil, err
	}
	cf, err := g.readChain(ctx, in)
	if err != nil {
		return nil, err
	}
	p := g.decide(in, lim, cf)
	if p.decision.Verdict == ApprovalRequired && g.cfg.Approvals == nil {
		denyNoApproval(&p.decision)
	}
	g.auditVerdict("prepare", "", p)
	return &p.decision, nil
}

// denyNoApproval turns approval_required into deny when no human channel exists.
func denyNoApproval(d *Decision) {
	d.Verdict = Deny
	d.Reasons = append(d.Reasons, Reason{Rule: "approval", Verdict: Deny.String(), Message: "human approval is not available yet"})
}

// auditVerdict queues the verdict record. It becomes durable with the next
// durable record, at the latest the signature's, which is written before any
// transaction leaves the process.
func (g *Guard) auditVerdict(op, id string, p *plan) {
	_ = g.cfg.Audit.Enqueue(audit.TypeVerdict, map[string]any{
		"op": op, "id": id, "verdict": p.decision.Verdict.String(), "reasons": p.decision.Reasons,
		"chain_id": p.intent.ChainID, "from": p.intent.From.Hex(), "to": p.intent.To.Hex(), "asset": p.intent.Asset,
		"amount_base_units": p.intent.Amount.String(), "policy_sha256": g.cfg.Policy.SHA256,
	})
}

// argsHash binds an idempotency key to the exact request.
func argsHash(in *Intent) []byte {
	d := in.Digest()
	h := sha256.Sum256(append([]byte("walletmcp-idempotency-v1"), d[:]...))
	return h[:]
}

// DenyError is the error of a denied transfer: policy_denied (or
// rate_limited) with every denying reason, wrapping ErrDenied.
type DenyError struct {
	Decision Decision
}

// Error lists the denying reasons.
func (e *DenyError) Error() string { return e.toolError().Error() }

// Unwrap lets callers match ErrDenied and *Error.
func (e *DenyError) Unwrap() []error { return []error{ErrDenied, e.toolError()} }

func (e *DenyError) toolError() *Error {
	var msgs []string
	for _, r := range e.Decision.Reasons {
		if r.Verdict == Deny.String() {
			msgs = append(msgs, r.Rule+": "+r.Message)
		}
	}
	code := CodePolicyDenied
	if e.Decision.RateLimited {
		code = CodeRateLimited
	}
	if len(msgs) == 1 && strings.HasPrefix(msgs[0], "approval: ") {
		return &Error{Code: code, Msg: strings.TrimPrefix(msgs[0], "approval: ")}
	}
	return &Error{Code: code, Msg: strings.Join(msgs, "; ")}
}

// Send evaluates a transfer and, if the policy allows it, signs and broadcasts
// it; if it needs a human, parks it as a pending approval. A denial returns a
// *DenyError. With an idempotency key, a repeated request returns the first
// outcome and never moves funds twice.
func (g *Guard) Send(ctx context.Context, args TransferArgs) (*Outcome, error) {
	in, lim, err := g.resolve(ctx, args)
	if err != nil {
		return nil, err
	}
	cf, err := g.readChain(ctx, in)
	if err != nil {
		return nil, err
	}
	lock := g.accountLock(in.From)
	lock.Lock()
	locked := true
	unlock := func() {
		if locked {
			locked = false
			lock.Unlock()
		}
	}
	defer unlock()

	ah := argsHash(in)
	if args.IdempotencyKey != "" {
		if out, err, done := g.replayKey(ctx, args.IdempotencyKey, ah, unlock); done {
			return out, err
		}
	}
	p := g.decide(in, lim, cf)
	switch p.decision.Verdict {
	case Deny:
		g.auditVerdict("send", "", p)
		return nil, &DenyError{Decision: p.decision}
	case ApprovalRequired:
		if g.cfg.Approvals == nil {
			denyNoApproval(&p.decision)
			g.auditVerdict("send", "", p)
			return nil, &DenyError{Decision: p.decision}
		}
		return g.park(ctx, p, args.IdempotencyKey, ah)
	}
	t, h, err := g.reserve(ctx, p, args.IdempotencyKey, ah, store.KindAuto)
	if err != nil {
		return nil, err
	}
	unlock()
	return g.executeReserved(ctx, t, p, h)
}

// replayKey answers a request whose idempotency key was used before: the
// earlier transfer or approval. done is false when the key is new.
func (g *Guard) replayKey(ctx context.Context, key string, ah []byte, unlock func()) (*Outcome, error, bool) {
	prev, err := g.cfg.Store.TransferByKey(ctx, key)
	switch {
	case err == nil:
		unlock()
		out, err := g.replay(ctx, prev, ah)
		return out, err, true
	case !errors.Is(err, store.ErrNotFound):
		return nil, Errorf(CodeInternal, "reading the idempotency record failed"), true
	}
	a, err := g.cfg.Store.ApprovalByKey(ctx, key)
	switch {
	case err == nil:
		if string(a.ArgsHash) != string(ah) {
			return nil, Errorf(CodeConflict, "idempotency_key: already used with different arguments"), true
		}
		out, err := g.approvalOutcome(ctx, a.ID, "")
		if out != nil {
			out.Replayed = true
		}
		return out, err, true
	case !errors.Is(err, store.ErrNotFound):
		return nil, Errorf(CodeInternal, "reading the idempotency record failed"), true
	}
	return nil, nil, false
}

// reserve records the spend in the ledger and the store. The caller holds
// the account lock.
func (g *Guard) reserve(ctx context.Context, p *plan, key string, ah []byte, kind string) (*store.Transfer, LedgerHandle, error) {
	in := p.intent
	now := g.now()
	t := &store.Transfer{
		IdempotencyKey: key, ArgsHash: ah, ChainID: in.ChainID,
		From: in.From, To: in.To, Asset: in.Asset, Amount: in.Amount, Kind: kind,
	}
	created, isNew, err := g.cfg.Store.CreateTransfer(ctx, t)
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, LedgerHandle{}, Errorf(CodeConflict, "idempotency_key: already used with different arguments")
		}
		return nil, LedgerHandle{}, Errorf(CodeInternal, "recording the transfer failed")
	}
	if !isNew {
		return nil, LedgerHandle{}, Errorf(CodeConflict, "idempotency_key: the first request with this key is still being processed")
	}
	h, err := g.ledger.Add(store.Spend{From: in.From, To: in.To, Asset: in.Asset, Amount: in.Amount, Kind: kind, At: now})
	if err != nil {
		_ = g.cfg.Store.MarkFailed(context.WithoutCancel(ctx), created.ID, "ledger refused the spend")
		return nil, LedgerHandle{}, Errorf(CodeInternal, "recording the spend failed")
	}
	g.noteTransfer(now)
	g.auditVerdict("send", created.ID, p)
	return created, h, nil
}

// park stores a transfer that needs a human as a pending approval.
func (g *Guard) park(ctx context.Context, p *plan, key string, ah []byte) (*Outcome, error) {
	sum, err := json.Marshal(p.decision.Summary)
	if err != nil {
		return nil, Errorf(CodeInternal, "encoding the summary failed")
	}
	d := p.intent.Digest()
	a, token, err := g.cfg.Approvals.Park(ctx, &store.Approval{
		IdempotencyKey: key, ArgsHash: ah, Digest: d[:], ChainID: p.intent.ChainID,
		From: p.intent.From, To: p.intent.To, Asset: p.intent.Asset, Amount: p.intent.Amount, Summary: sum,
	})
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, Errorf(CodeConflict, "idempotency_key: already used with different arguments")
		}
		if errors.Is(err, pending.ErrTooManyPending) {
			return nil, Errorf(CodeRateLimited, "approval.max_pending: this account already has as many transfers waiting for a human as allowed; wait until they are decided or expire")
		}
		return nil, Errorf(CodeInternal, "parking the approval failed")
	}
	g.auditVerdict("send", a.ID, p)
	out := &Outcome{Status: "approval_required", ApprovalID: a.ID, ExpiresAt: a.ExpiresAt, Summary: p.decision.Summary}
	if token != "" && g.cfg.ApprovalURL != nil {
		out.ApprovalURL = g.cfg.ApprovalURL(a.ID, token)
	}
	return out, nil
}

// replay returns the outcome of an earlier transfer with the same key.
func (g *Guard) replay(ctx context.Context, t *store.Transfer, wantHash []byte) (*Outcome, error) {
	if string(t.ArgsHash) != string(wantHash) {
		return nil, Errorf(CodeConflict, "idempotency_key: already used with different arguments")
	}
	g.mu.Lock()
	done := g.inflight[t.ID]
	g.mu.Unlock()
	if done != nil {
		select {
		case <-done:
		case <-ctx.Done():
			return nil, Errorf(CodeInternal, "cancelled while the first request with this idempotency_key was in flight")
		}
		var err error
		if t, err = g.cfg.Store.Transfer(ctx, t.ID); err != nil {
			return nil, Errorf(CodeInternal, "reading the idempotency record failed")
		}
	}
	switch t.Status {
	case store.StatusSubmitted, store.StatusSigned:
		if t.TxHash == nil {
			return nil, Errorf(CodeInternal, "idempotency record has no transaction")
		}
		return &Outcome{Status: "submitted", TxHash: *t.TxHash, TransferID: t.ID, Replayed: true, Summary: g.summaryOf(t)}, nil
	case store.StatusFailed:
		return nil, Errorf(CodeConflict, "idempotency_key: the first request with this key failed (%s); use a new key to retry", t.Error)
	default:
		return nil, Errorf(CodeConflict, "idempotency_key: the first request with this key is still being processed")
	}
}

// summaryOf rebuilds the summary of a stored transfer.
func (g *Guard) summaryOf(t *store.Transfer) Summary {
	in := &Intent{ChainID: t.ChainID, From: t.From, To: t.To, Asset: t.Asset, Amount: t.Amount, Decimals: NativeDecimals, Symbol: NativeSymbol}
	if t.Asset != NativeSymbol {
		in.Symbol, in.Decimals = t.Asset, 0
		if tok, ok := g.cfg.Policy.TokenByAddress(common.HexToAddress(t.Asset)); ok {
			in.Symbol, in.Decimals = tok.Symbol, tok.Decimals
		}
	}
	fee := new(big.Int)
	if len(t.RawTx) > 0 {
		if tx, err := decodeTx(t.RawTx); err == nil {
			fee.Mul(tx.GasFeeCap(), new(big.Int).SetUint64(tx.Gas()))
		}
	}
	return NewSummary(in, fee)
}
