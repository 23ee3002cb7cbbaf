package approval

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/walletmcp/walletmcp/approval/pending"
	"github.com/walletmcp/walletmcp/internal/audit"
	"github.com/walletmcp/walletmcp/internal/store"
	"github.com/walletmcp/walletmcp/policy"
	"github.com/walletmcp/walletmcp/signer"
	"github.com/walletmcp/walletmcp/signer/offline"
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
	// Start queues an event as Append does and returns at once, with wait,
	// which waits until it is on disk and returns Append's outcome, and
	// seen, for whatever else the Auditor does with a record (alerts,
	// observers). The Guard calls Start inside a store transaction (the
	// reservation an immediate key signs in) and makes the transaction's
	// commit wait for wait; it calls seen after the transaction. Start and
	// wait must neither use the state store nor call anything that does.
	Start(typ string, fields any) (wait func(context.Context) error, seen func())
}

// Config wires a Guard. Policy, Chain, Store, Audit and Keys are required.
type Config struct {
	// Policy is the attested policy.
	Policy *policy.Policy
	// Chain is where balances are read and transactions sent.
	Chain Chain
	// Store holds transfers (the spend ledger and idempotency keys) and approvals.
	Store Store
	// Audit records verdicts, signatures and broadcasts.
	Audit Auditor
	// Keys holds the signers of the accounts the server may spend from.
	Keys Keyring
	// Offline lists the offline accounts (the key is on an air-gapped
	// device) with the derivation path their requests carry. Nil: none.
	Offline map[common.Address]offline.KeyPath
	// OfflineTTL is how long an offline request may be submitted; default
	// 10 minutes (serve passes approval.ttl).
	OfflineTTL time.Duration
	// OfflineMaxOpen bounds the unexpired offline requests per account;
	// default 20 (serve passes approval.max_pending).
	OfflineMaxOpen int
	// Rand is the source of offline request ids; default crypto/rand.Reader.
	Rand io.Reader
	// Approvals parks transfers that need a human. Nil: no human approval is
	// available, and such transfers are denied.
	Approvals *pending.Service
	// ApprovalURL builds the approval page link of a parked approval; nil
	// means there is no page (the CLI remains).
	ApprovalURL func(id, token string) string
	// OnPark, when set, is called once for each newly parked approval (not
	// for an idempotent replay) with its ID, what the human sees and the
	// page link ("" without a page): `serve` logs it for a person watching.
	OnPark func(id string, s policy.StoredSummary, url string)
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Tick is how often RunApprovals looks for approved transfers, expired
	// approvals, abandoned reservations and unsettled broadcasts; default
	// 400ms.
	Tick time.Duration
	// ID names this process in executor leases; default a random id.
	ID string
	// Wake is how a decision taken in this process (the approval page)
	// asks RunApprovals to look now rather than at the next Tick; default a
	// new one (Guard.Kick). Made before the Guard, it can be handed to the
	// page first: the page, then the Guard with the page's URL, no cycle.
	Wake *Wake
}

// TransferArgs are a transfer request as an agent sends it, unparsed.
type TransferArgs struct {
	From, To, Amount, Asset string
	IdempotencyKey          string
}

// OutcomeStatus is the status send_transfer reports.
type OutcomeStatus string

// The statuses of an Outcome (CONTRACT.md §1, send_transfer).
const (
	OutcomeSubmitted        OutcomeStatus = "submitted"         // signed and broadcast (or its broadcast's outcome unknown)
	OutcomeApprovalRequired OutcomeStatus = "approval_required" // parked for a human decision
)

// Outcome is what Send did.
type Outcome struct {
	Status     OutcomeStatus
	TxHash     common.Hash
	TransferID string
	// ApprovalID, ApprovalURL and ExpiresAt describe a parked approval.
	ApprovalID  string
	ApprovalURL string
	ExpiresAt   time.Time
	Summary     policy.Summary
	// Replayed is set when an idempotency key returned an earlier outcome.
	Replayed bool
}

// Guard evaluates and executes transfers. It is safe for concurrent use, and
// several Guards (in several processes) may share one store: every limit is
// checked and reserved in one store transaction, against the ledger as every
// process left it.
type Guard struct {
	cfg    Config
	now    func() time.Time
	id     string
	ledger *Ledger
	kick   *Wake
	// read is the store's change mark at the last catch-up (catchup.go).
	read readMark
	// staticInfo is the policy's part of PolicyInfo, built once (view.go).
	staticOnce sync.Once
	staticInfo *policyStatic

	mu       sync.Mutex
	inflight map[string]chan struct{}
	reported map[string]bool // state authentication failures already audited
	// nextSweep is when the offline sweep runs next (sweepOffline).
	nextSweep time.Time
}

// Timing of reservations and settling.
const (
	// reservationLease is how long a reservation may stay unsigned before any
	// process may fail it as abandoned (its owner crashed).
	reservationLease = 2 * time.Minute
	// approvalLease is how long an executor's claim on an approval lasts.
	approvalLease = time.Minute
	// firstCheck and maxCheck bound the delay before a broadcast
	// transaction is next checked and re-broadcast (doubling in between).
	firstCheck = 2 * time.Second
	maxCheck   = 5 * time.Minute
	// settleBatch bounds the transfers one settling pass looks at.
	settleBatch = 64
	// replayWait bounds how long a repeated request waits for the first one
	// with its idempotency key to be signed; replayPoll is how often it looks
	// when the first runs in another process.
	replayWait = 30 * time.Second
	replayPoll = 20 * time.Millisecond
)

// NewGuard builds a Guard, loads the spend window from the store (only the
// window: start-up does not grow with history) and settles what a crash may
// have left unfinished.
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
		id:       cfg.ID,
		ledger:   NewLedger(cfg.Policy.LongestWindow()),
		kick:     cfg.Wake,
		inflight: map[string]chan struct{}{},
		reported: map[string]bool{},
	}
	if g.now == nil {
		g.now = time.Now
	}
	if g.cfg.OfflineTTL <= 0 {
		g.cfg.OfflineTTL = defaultOfflineTTL
	}
	if g.cfg.OfflineMaxOpen <= 0 {
		g.cfg.OfflineMaxOpen = defaultOfflineMaxOpen
	}
	if g.cfg.Rand == nil {
		g.cfg.Rand = rand.Reader
	}
	if g.cfg.Tick <= 0 {
		g.cfg.Tick = executorInterval
	}
	if g.kick == nil {
		g.kick = NewWake()
	}
	if g.id == "" {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("approval: random id: %w", err)
		}
		g.id = hex.EncodeToString(b[:])
	}
	now := g.now()
	ts, head, err := cfg.Store.LoadLedger(ctx, now.Add(-g.ledger.Retention()))
	if err != nil {
		g.tampered(err)
		return nil, fmt.Errorf("approval: load ledger: %w", err)
	}
	if err := g.ledger.Apply(ts, head, now); err != nil {
		return nil, fmt.Errorf("approval: load ledger: %w", err)
	}
	g.settleDue(ctx, now.Add(store.SignedGrace))
	return g, nil
}

// Policy returns the policy the guard enforces.
func (g *Guard) Policy() *policy.Policy { return g.cfg.Policy }

// plan is a transfer ready to sign: its intent, the fee terms and the decision.
type plan struct {
	intent   *policy.Intent
	decision policy.Decision
	gas      uint64
	tipCap   *big.Int
	feeCap   *big.Int
	// autoMax is the auto_approve_max the decision applied (base units).
	autoMax *big.Int
	// signed is the transaction signed inside the reservation (an
	// immediate key, see reserve); its bytes are stored with the row.
	// seen finishes the audit of its verdict and signature records, which
	// were queued in the reservation's transaction and made durable before
	// it committed (Auditor.Start).
	signed     *types.Transaction
	transferID string
	seen       []func()
}

// finishAudit finishes the audit of the records queued in the reservation
// (p.seen), outside its store transaction.
func (p *plan) finishAudit() {
	for _, seen := range p.seen {
		seen()
	}
}

// catchUp brings the ledger up to date with every process's spends, for a
// verdict that reserves nothing.
// When nothing was committed to the store since an earlier catch-up found it
// at the ledger's head, the read is skipped (caughtUp).
func (g *Guard) catchUp(ctx context.Context) error {
	m, marked, current := g.caughtUp(ctx)
	if current {
		return nil
	}
	h := g.ledger.Head()
	ts, head, err := g.cfg.Store.Changes(ctx, h.Seq, h.Version)
	if err != nil {
		g.tampered(err)
		return policy.Errorf(policy.CodeInternal, "reading the spend ledger failed")
	}
	if err := g.ledger.Apply(ts, head, g.now()); err != nil {
		return policy.Errorf(policy.CodeInternal, "reading the spend ledger failed")
	}
	if marked {
		g.read.set(m, head)
	}
	return nil
}

// ledgerTx runs fn in a ledger transaction of the store (Store.Ledger). When
// the transaction's group did not commit (store.ErrNotCommitted), whether fn
// succeeded or failed, the in-memory ledger is read again from the store:
// syncIn inside fn may have applied rows or changes that other writes of the
// same group made (a reservation's, or a plain transition's, which no
// ledgerTx of this Guard reloads for), and a group that did not commit
// wrote none of them (left in memory, they would count spends that never
// were, or un-count ones that are, and put the ledger's head ahead of the
// store's, where another process may commit other rows). An error of fn
// itself in a group that committed (a refusal, a reused key) needs no
// reload: what syncIn applied was written.
func (g *Guard) ledgerTx(ctx context.Context, fn func(*store.LedgerTx) error) error {
	defer func() {
		// fn panicked (the store raises it here, after rolling fn's
		// writes back): what it applied to the ledger may not be written.
		if p := recover(); p != nil {
			g.reloadLedger(ctx)
			panic(p)
		}
	}()
	fnOK := false
	err := g.cfg.Store.Ledger(ctx, func(lt *store.LedgerTx) error {
		ferr := fn(lt)
		fnOK = ferr == nil
		return ferr
	})
	if err != nil && (fnOK || errors.Is(err, store.ErrNotCommitted)) {
		g.reloadLedger(ctx)
	}
	return err
}

// reloadLedger replaces the in-memory ledger with the store's.
func (g *Guard) reloadLedger(ctx context.Context) {
	now := g.now()
	ts, head, err := g.cfg.Store.LoadLedger(context.WithoutCancel(ctx), now.Add(-g.ledger.Retention()))
	if err != nil {
		g.tampered(err)
		return
	}
	_ = g.ledger.Reset(ts, head, now)
}

// syncIn brings the ledger up to date inside a ledger transaction.
func (g *Guard) syncIn(lt *store.LedgerTx) error {
	h := g.ledger.Head()
	ts, head, err := lt.Changes(h.Seq, h.Version)
	if err != nil {
		return err
	}
	return g.ledger.Apply(ts, head, lt.Now())
}

// tampered audits a state authentication failure as a security event, once
// per process for each row and failure (the loops that meet it run every
// tick).
func (g *Guard) tampered(err error) {
	var te *store.TamperError
	if !errors.As(err, &te) {
		return
	}
	key := te.Table + "/" + te.ID + "/" + te.What
	g.mu.Lock()
	seen := g.reported[key]
	if !seen && len(g.reported) < maxReported {
		g.reported[key] = true
	}
	g.mu.Unlock()
	if !seen {
		_ = g.cfg.Audit.Append(context.Background(), audit.TypeSecurity, map[string]any{
			"event": "state_tampered", "table": te.Table, "id": te.ID, "what": te.What,
		})
	}
}

// maxReported bounds the tampering reports remembered for deduplication.
const maxReported = 10_000

// Prepare evaluates a transfer without reserving, signing or sending anything.
func (g *Guard) Prepare(ctx context.Context, args TransferArgs) (*policy.Decision, error) {
	in, lim, err := g.resolveFor(ctx, args, anyAccount)
	if err != nil {
		return nil, err
	}
	cf, err := g.readChain(ctx, in)
	if err != nil {
		return nil, err
	}
	if err := g.catchUp(ctx); err != nil {
		return nil, err
	}
	paid, err := g.cfg.Store.HasPaid(ctx, in.From, in.To)
	if err != nil {
		g.tampered(err)
		return nil, policy.Errorf(policy.CodeInternal, "reading the spend ledger failed")
	}
	fz, err := g.cfg.Store.Frozen(ctx, in.From)
	if err != nil {
		g.tampered(err)
		return nil, policy.Errorf(policy.CodeInternal, "reading the account's freeze state failed")
	}
	p := g.decide(in, lim, cf, paid, fz.Frozen, g.now(), nil)
	if p.decision.Verdict == policy.ApprovalRequired && g.cfg.Approvals == nil {
		denyNoApproval(&p.decision)
	}
	g.auditVerdict("prepare", "", p)
	return &p.decision, nil
}

// denyNoApproval turns approval_required into deny when no human channel exists.
func denyNoApproval(d *policy.Decision) {
	d.Verdict = policy.Deny
	d.Reasons = append(d.Reasons, policy.Reason{Rule: "approval", Verdict: policy.Deny.String(), Message: "human approval is not available yet"})
}

// auditVerdict queues the verdict record. It becomes durable with the next
// durable record, at the latest the signature's, which is written before any
// transaction leaves the process.
func (g *Guard) auditVerdict(op, id string, p *plan) {
	_ = g.cfg.Audit.Enqueue(audit.TypeVerdict, g.verdictFields(op, id, p))
}

// verdictFields is the verdict record of plan p for operation op on
// transfer or approval id.
func (g *Guard) verdictFields(op, id string, p *plan) map[string]any {
	fields := map[string]any{
		"op": op, "id": id, "verdict": p.decision.Verdict.String(), "reasons": p.decision.Reasons,
		"chain_id": p.intent.ChainID, "from": p.intent.From.Hex(), "to": p.intent.To.Hex(), "asset": p.intent.Asset,
		"amount_base_units": p.intent.Amount.String(), "policy_sha256": g.cfg.Policy.SHA256,
	}
	// The limit applied, for the anomaly watcher's near-limit rule: an
	// unknown token's comes from [unknown_tokens], scaled to its decimals,
	// which the watcher cannot look up by the asset alone.
	if p.autoMax != nil {
		fields["auto_approve_max_base_units"] = p.autoMax.String()
	}
	return fields
}

// argsHash binds an idempotency key to the exact request.
func argsHash(in *policy.Intent) []byte {
	d := in.Digest()
	h := sha256.Sum256(append([]byte("walletmcp-idempotency-v1"), d[:]...))
	return h[:]
}

// ErrDenied is the sentinel a denial wraps for callers that branch on it.
var ErrDenied = errors.New("approval: request denied")

// DenyError is the error of a denied transfer: policy_denied (or
// rate_limited) with every denying reason, wrapping ErrDenied.
type DenyError struct {
	Decision policy.Decision
}

// Error lists the denying reasons.
func (e *DenyError) Error() string { return e.toolError().Error() }

// Unwrap lets callers match ErrDenied and *Error.
func (e *DenyError) Unwrap() []error { return []error{ErrDenied, e.toolError()} }

func (e *DenyError) toolError() *policy.Error {
	var msgs []string
	for _, r := range e.Decision.Reasons {
		if r.Verdict == policy.Deny.String() {
			msgs = append(msgs, r.Rule+": "+r.Message)
		}
	}
	code := policy.CodePolicyDenied
	if e.Decision.RateLimited {
		code = policy.CodeRateLimited
	}
	if len(msgs) == 1 && strings.HasPrefix(msgs[0], "approval: ") {
		return &policy.Error{Code: code, Msg: strings.TrimPrefix(msgs[0], "approval: ")}
	}
	return &policy.Error{Code: code, Msg: strings.Join(msgs, "; ")}
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
	ah := argsHash(in)
	if args.IdempotencyKey != "" {
		if out, err, done := g.replayKey(ctx, args.IdempotencyKey, ah); done {
			return out, err
		}
	}
	cf, err := g.readChain(ctx, in)
	if err != nil {
		return nil, err
	}
	if cf.nonceFloor, err = g.cfg.Chain.PendingNonce(ctx, in.From); err != nil {
		return nil, policy.Errorf(policy.CodeChainError, "reading the account nonce failed: %s", chainMsg(err))
	}
	p, t, prev, err := g.reserve(ctx, in, lim, cf, &store.Transfer{IdempotencyKey: args.IdempotencyKey, ArgsHash: ah, Kind: store.KindAuto}, "send")
	switch {
	case errors.Is(err, errKeyParked):
		return g.replayDecided(ctx, args.IdempotencyKey, ah)
	case err != nil:
		return nil, err
	case prev != nil:
		return g.replay(ctx, prev, ah)
	}
	switch p.decision.Verdict {
	case policy.Deny:
		g.auditVerdict("send", "", p)
		return nil, &DenyError{Decision: p.decision}
	case policy.ApprovalRequired:
		if g.cfg.Approvals == nil {
			denyNoApproval(&p.decision)
			g.auditVerdict("send", "", p)
			return nil, &DenyError{Decision: p.decision}
		}
		out, err := g.park(ctx, p, args.IdempotencyKey, ah)
		if errors.Is(err, store.ErrKeyIsTransfer) {
			return g.replayDecided(ctx, args.IdempotencyKey, ah)
		}
		return out, err
	}
	if p.signed == nil { // else queued in the reservation
		g.auditVerdict("send", t.ID, p)
	}
	return g.executeReserved(ctx, t, p)
}

// errKeyParked is reserve's answer when an approval already holds the
// transfer's idempotency key.
var errKeyParked = errors.New("approval: the idempotency key is an approval's")

// replayDecided answers a call whose idempotency key another call decided
// while this one was being decided: with that call's outcome.
func (g *Guard) replayDecided(ctx context.Context, key string, ah []byte) (*Outcome, error) {
	if out, err, done := g.replayKey(ctx, key, ah); done {
		return out, err
	}
	return nil, policy.Errorf(policy.CodeInternal, "reading the idempotency record failed")
}

// replayKey answers a request whose idempotency key was used before: the
// earlier transfer or approval. done is false when the key is new.
func (g *Guard) replayKey(ctx context.Context, key string, ah []byte) (*Outcome, error, bool) {
	prev, err := g.cfg.Store.TransferByKey(ctx, key)
	switch {
	case err == nil:
		out, err := g.replay(ctx, prev, ah)
		return out, err, true
	case !errors.Is(err, store.ErrNotFound):
		g.tampered(err)
		return nil, policy.Errorf(policy.CodeInternal, "reading the idempotency record failed"), true
	}
	if g.cfg.Approvals == nil {
		return nil, nil, false
	}
	a, err := g.cfg.Store.ApprovalByKey(ctx, key)
	switch {
	case err == nil:
		if string(a.ArgsHash) != string(ah) {
			return nil, policy.Errorf(policy.CodeConflict, "idempotency_key: already used with different arguments"), true
		}
		out, err := g.approvalOutcome(ctx, a.ID, "")
		if out != nil {
			out.Replayed = true
		}
		return out, err, true
	case !errors.Is(err, store.ErrNotFound):
		g.tampered(err)
		return nil, policy.Errorf(policy.CodeInternal, "reading the idempotency record failed"), true
	}
	return nil, nil, false
}

// reserve decides a transfer against the ledger as every process left it
// and, when the verdict allows it, records the spend with its nonce, in one
// store transaction: no other reservation, in this process or another, can
// come between the check and the record. want carries the idempotency key or
// approval, the args hash and the kind. When the key (or approval) was used
// before, prev is that transfer and nothing is decided.
//
// With a verdictOp (the operation a verdict record names), when the
// sender's key is immediate (signer.SignsNow: a key unlocked in memory), an
// allowed transfer's transaction is signed in the same store transaction,
// once the verdict and the nonce are in it, and stored signed (p.signed):
// the reservation and the signed bytes are one durable write, not two. Its
// verdict and signature records are queued in that transaction
// (Auditor.Start), in that order, and the transaction commits only once
// they are on disk (LedgerTx.CommitAfter): the signed bytes, readable in the
// store by anyone who can read the home, never exist there without their
// signature record. The caller audits no verdict of its own; sendStored
// finishes the records' audit (p.seen). A signature that fails, or whose
// records cannot be made durable, stores nothing; a transaction that does
// not commit leaves records of a signature that was never stored, and a
// broadcast record saying it was not sent. Neither leaves the process. A
// COMMIT that fails may still have reached the disk (store.ErrCommitUnknown):
// then the record and the answer say the outcome is unknown (if it did, the
// transfer is counted and recovery sends it), never that nothing will be. Any
// other key (an HSM, a key still being unlocked) signs after the commit
// (execute), so that no slow signature holds the store's write lock.
func (g *Guard) reserve(ctx context.Context, in *policy.Intent, lim *policy.Limits, cf *chainFacts, want *store.Transfer, verdictOp string) (p *plan, t, prev *store.Transfer, err error) {
	var key signer.Signer
	if verdictOp != "" {
		if s, ok := g.cfg.Keys.Signer(in.From); ok && signer.SignsNow(s) {
			key = s
		}
	}
	var audited *plan // a plan whose records were queued in the transaction
	var txErr error   // the transaction's own error
	defer func() {
		if err == nil || audited == nil {
			return
		}
		audited.finishAudit()
		rec := map[string]any{"transfer_id": audited.transferID, "tx_hash": audited.signed.Hash().Hex(), "ok": false}
		if errors.Is(txErr, store.ErrCommitUnknown) {
			// The signed row may be on disk: if it is, it is counted
			// and the settling loop sends it after the next open.
			rec["outcome_unknown"], rec["error"] = true, "the store's commit failed; whether the signed transfer reached the disk is unknown"
		} else {
			// Not stored: the signature never leaves the process.
			rec["not_sent"], rec["error"] = true, "recording the transfer failed"
		}
		_ = g.cfg.Audit.Enqueue(audit.TypeBroadcast, rec)
	}()
	err = g.ledgerTx(ctx, func(lt *store.LedgerTx) error {
		if err := g.syncIn(lt); err != nil {
			return err
		}
		for _, find := range []func() (*store.Transfer, error){
			func() (*store.Transfer, error) { return lt.TransferByKey(want.IdempotencyKey) },
			func() (*store.Transfer, error) { return lt.TransferByApproval(want.ApprovalID) },
		} {
			if e, err := find(); err == nil {
				prev = e
				return nil
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		// One key is one outcome: a call with the same key that was parked
		// for a human meanwhile (its facts differed: a balance, the window)
		// is that approval, never also a transfer.
		if want.Kind == store.KindAuto {
			if parked, err := lt.ApprovalKeyUsed(want.IdempotencyKey); err != nil {
				return err
			} else if parked {
				return errKeyParked
			}
		}
		paid, err := lt.HasPaid(in.From, in.To)
		if err != nil {
			return err
		}
		// A freeze committed by any process sharing the home is seen here,
		// in the transaction that reserves.
		fz, err := lt.Frozen(in.From)
		if err != nil {
			return err
		}
		// An offline request's submission counts the account's other
		// requests that may still be spent (CreateOfflineRequest does the
		// same when it hands one out).
		var outstanding *big.Int
		if id, ok := strings.CutPrefix(want.ApprovalID, store.OfflineApprovalID("")); ok && cf.exactNonce != nil {
			list, err := lt.OfflineOutstanding(in.ChainID, in.From)
			if err != nil {
				return err
			}
			outstanding = offlineExposure(list, in.Asset, *cf.exactNonce, in.Amount, id)
		}
		p = g.decide(in, lim, cf, paid, fz.Frozen, lt.Now(), outstanding)
		for tries := 0; g.ledger.Head() != lt.Head(); tries++ {
			// A reload of the ledger (another transaction of this
			// process did not commit) put it behind this transaction
			// while it decided, without the rows this transaction sees:
			// catch up again and decide again.
			if tries == 3 {
				return errors.New("approval: the in-memory ledger kept moving back")
			}
			if err := g.syncIn(lt); err != nil {
				return err
			}
			p = g.decide(in, lim, cf, paid, fz.Frozen, lt.Now(), outstanding)
		}
		if p.decision.Verdict != policy.Allow && !(want.Kind == store.KindApproved && p.decision.Verdict == policy.ApprovalRequired) {
			return nil
		}
		nonce, err := lt.AllocateNonce(in.ChainID, in.From, cf.nonceFloor)
		if err != nil {
			return err
		}
		if cf.exactNonce != nil && nonce != *cf.exactNonce {
			return errNonceTaken
		}
		n := *want
		n.ChainID, n.From, n.To, n.Asset, n.Amount = in.ChainID, in.From, in.To, in.Asset, in.Amount
		n.Nonce, n.LeaseUntil = &nonce, lt.Now().Add(reservationLease)
		// The new row goes into the in-memory ledger now, as the next
		// syncIn would read it back (ledgerTx reloads the ledger if the
		// transaction does not commit); if a reload moved the ledger
		// meanwhile, the next syncIn reads it.
		before := lt.Head()
		if key == nil {
			if t, _, err = lt.Insert(&n); err != nil {
				return err
			}
			return g.ledger.ApplyAt(before, []*store.Transfer{t}, lt.Head(), lt.Now())
		}
		signed, err := signTransfer(ctx, key, p, nonce)
		if err != nil {
			return err
		}
		raw, err := signed.MarshalBinary()
		if err != nil {
			return errSigning
		}
		if t, _, err = lt.InsertSigned(&n, signed.Hash(), raw); err != nil {
			return err
		}
		if err := g.ledger.ApplyAt(before, []*store.Transfer{t}, lt.Head(), lt.Now()); err != nil {
			return err
		}
		p.signed, p.transferID = signed, t.ID
		// Records are committed in order: the signature's being on disk
		// means the verdict's is.
		_, verdictSeen := g.cfg.Audit.Start(audit.TypeVerdict, g.verdictFields(verdictOp, t.ID, p))
		signatureDurable, signatureSeen := g.cfg.Audit.Start(audit.TypeSignature, signatureFields(t, signed))
		p.seen = []func(){verdictSeen, signatureSeen}
		lt.CommitAfter(signatureDurable)
		audited = p
		return nil
	})
	if err != nil {
		txErr = err
		if errors.Is(err, errKeyParked) {
			return nil, nil, nil, err
		}
		if audited != nil && errors.Is(err, store.ErrCommitUnknown) {
			return nil, nil, nil, policy.Errorf(policy.CodeInternal, "recording the transfer failed, and whether it reached the disk is unknown: if it did, it is counted and is sent after the wallet restarts; nothing was sent now")
		}
		g.tampered(err)
		if errors.Is(err, store.ErrConflict) {
			return nil, nil, nil, policy.Errorf(policy.CodeConflict, "idempotency_key: already used with different arguments")
		}
		if errors.Is(err, errSigning) {
			return nil, nil, nil, policy.Errorf(policy.CodeInternal, "signing failed; nothing was recorded or sent")
		}
		if errors.Is(err, store.ErrCommitCondition) {
			return nil, nil, nil, policy.Errorf(policy.CodeInternal, "audit log unavailable; nothing was recorded or sent")
		}
		if errors.Is(err, errNonceTaken) {
			return nil, nil, nil, policy.Errorf(policy.CodeConflict, "request_id: the nonce this request fixes was used meanwhile, or is no longer the account's next one; create a new request")
		}
		return nil, nil, nil, policy.Errorf(policy.CodeInternal, "recording the transfer failed")
	}
	return p, t, prev, nil
}

// park stores a transfer that needs a human as a pending approval.
func (g *Guard) park(ctx context.Context, p *plan, key string, ah []byte) (*Outcome, error) {
	stored := policy.StoredSummary{Summary: p.decision.Summary, Reasons: policy.ApprovalReasons(p.decision.Reasons)}
	sum, err := json.Marshal(stored)
	if err != nil {
		return nil, policy.Errorf(policy.CodeInternal, "encoding the summary failed")
	}
	d := p.intent.Digest()
	a, token, err := g.cfg.Approvals.Park(ctx, &store.Approval{
		IdempotencyKey: key, ArgsHash: ah, Digest: d[:], ChainID: p.intent.ChainID,
		From: p.intent.From, To: p.intent.To, Asset: p.intent.Asset, Amount: p.intent.Amount, Summary: sum,
		MaxFee: p.maxFee(),
	})
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, policy.Errorf(policy.CodeConflict, "idempotency_key: already used with different arguments")
		}
		if errors.Is(err, store.ErrKeyIsTransfer) {
			return nil, err
		}
		if errors.Is(err, pending.ErrTooManyPending) {
			return nil, policy.Errorf(policy.CodeRateLimited, "approval.max_pending: this account already has as many transfers waiting for a human as allowed; wait until they are decided or expire")
		}
		return nil, policy.Errorf(policy.CodeInternal, "parking the approval failed")
	}
	g.auditVerdict("send", a.ID, p)
	out := &Outcome{Status: OutcomeApprovalRequired, ApprovalID: a.ID, ExpiresAt: a.ExpiresAt, Summary: p.decision.Summary}
	if token != "" && g.cfg.ApprovalURL != nil {
		out.ApprovalURL = g.cfg.ApprovalURL(a.ID, token)
	}
	if token != "" && g.cfg.OnPark != nil {
		g.cfg.OnPark(a.ID, stored, out.ApprovalURL)
	}
	return out, nil
}

// replay returns the outcome of an earlier transfer with the same key.
func (g *Guard) replay(ctx context.Context, t *store.Transfer, wantHash []byte) (*Outcome, error) {
	if string(t.ArgsHash) != string(wantHash) {
		return nil, policy.Errorf(policy.CodeConflict, "idempotency_key: already used with different arguments")
	}
	// The first request may still be signing, in this process or another:
	// wait (bounded) for it to leave "pending" rather than answer conflict.
	deadline := g.now().Add(replayWait)
	for t.Status == store.StatusPending && g.now().Before(deadline) {
		g.mu.Lock()
		done := g.inflight[t.ID]
		g.mu.Unlock()
		timer := time.NewTimer(replayPoll)
		var wake <-chan time.Time
		if done == nil {
			wake = timer.C
		}
		select {
		case <-done:
		case <-wake:
		case <-ctx.Done():
			timer.Stop()
			return nil, policy.Errorf(policy.CodeInternal, "cancelled while the first request with this idempotency_key was in flight")
		}
		timer.Stop()
		var err error
		if t, err = g.cfg.Store.Transfer(ctx, t.ID); err != nil {
			g.tampered(err)
			return nil, policy.Errorf(policy.CodeInternal, "reading the idempotency record failed")
		}
	}
	switch t.Status {
	case store.StatusSubmitted, store.StatusSigned, store.StatusConfirmed:
		if t.TxHash == nil {
			return nil, policy.Errorf(policy.CodeInternal, "idempotency record has no transaction")
		}
		return &Outcome{Status: OutcomeSubmitted, TxHash: *t.TxHash, TransferID: t.ID, Replayed: true, Summary: g.summaryOf(t)}, nil
	case store.StatusFailed:
		return nil, policy.Errorf(policy.CodeConflict, "idempotency_key: the first request with this key failed (%s); use a new key to retry", policy.Sanitize(t.Error, 300))
	default:
		return nil, policy.Errorf(policy.CodeConflict, "idempotency_key: the first request with this key is still being processed")
	}
}

// summaryOf rebuilds the summary of a stored transfer.
func (g *Guard) summaryOf(t *store.Transfer) policy.Summary {
	in := &policy.Intent{ChainID: t.ChainID, From: t.From, To: t.To, Asset: t.Asset, Amount: t.Amount, Decimals: policy.NativeDecimals, Symbol: policy.NativeSymbol}
	if t.Asset != policy.NativeSymbol {
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
	return policy.NewSummary(in, fee)
}
