package approval

import (
	"bytes"
	"context"
	"errors"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/walletmcp/walletmcp/internal/audit"
	"github.com/walletmcp/walletmcp/internal/chain"
	"github.com/walletmcp/walletmcp/internal/erc20"
	"github.com/walletmcp/walletmcp/internal/store"
	"github.com/walletmcp/walletmcp/policy"
	"github.com/walletmcp/walletmcp/signer"
)

// executeReserved signs and broadcasts a reserved transfer. Other calls
// with the same idempotency key in this process wait for it.
func (g *Guard) executeReserved(ctx context.Context, t *store.Transfer, p *plan) (*Outcome, error) {
	done := make(chan struct{})
	g.mu.Lock()
	g.inflight[t.ID] = done
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		delete(g.inflight, t.ID)
		g.mu.Unlock()
		close(done)
	}()
	return g.execute(ctx, t, p)
}

// execute builds, signs, records and broadcasts the transaction of a
// reserved transfer, with the nonce the reservation holds; a transfer that
// reserve already signed and stored (p.signed) is audited and broadcast
// (sendStored).
//
// Until the signed bytes are stored, a failure fails the transfer (nothing
// left the process; its amount and nonce are freed). From then on, only the
// node's definite refusal does: a timeout, a transport error or any other
// answer leaves the outcome unknown, and a transaction that may have left is
// a spend. It stays counted (status "signed" in the store, "submitted" to the
// agent, with its hash), and the settling loop re-broadcasts the stored bytes
// until the chain settles it.
func (g *Guard) execute(ctx context.Context, t *store.Transfer, p *plan) (*Outcome, error) {
	// Finish the bookkeeping even if the agent goes away mid-way.
	ctx = context.WithoutCancel(ctx)
	if p.signed != nil {
		return g.sendStored(ctx, t, p)
	}
	fail := func(code policy.Code, reason string) (*Outcome, error) {
		_ = g.cfg.Store.MarkFailed(ctx, t.ID, reason)
		return nil, policy.Errorf(code, "%s", reason)
	}
	s, ok := g.cfg.Keys.Signer(p.intent.From)
	if !ok {
		return fail(policy.CodeUnknownAccount, "from: no key for this account")
	}
	if t.Nonce == nil {
		return fail(policy.CodeInternal, "the reservation holds no nonce")
	}
	signed, err := signTransfer(ctx, s, p, *t.Nonce)
	if err != nil {
		if !errors.Is(err, errSigning) {
			return fail(policy.CodeInternal, err.Error())
		}
		return fail(policy.CodeInternal, "signing failed")
	}
	return g.sendSigned(ctx, t, p, signed, fail, false)
}

// errSigning is signTransfer's error when the key did not sign.
var errSigning = errors.New("approval: signing failed")

// signTransfer builds the transaction of plan p with nonce, checks it
// against the intent and signs it with s (signer.SignTx, which checks the
// signature recovers to the account). A key that does not sign is
// errSigning; a transaction that does not match the intent is another error.
func signTransfer(ctx context.Context, s signer.Signer, p *plan, nonce uint64) (*types.Transaction, error) {
	chainID := new(big.Int).SetUint64(p.intent.ChainID)
	txTo, value := p.intent.To, p.intent.Amount
	if tok := p.intent.TokenAddress(); tok != nil {
		txTo, value = *tok, new(big.Int)
	}
	tx := types.NewTx(&types.DynamicFeeTx{
		ChainID: chainID, Nonce: nonce, GasTipCap: p.tipCap, GasFeeCap: p.feeCap, Gas: p.gas,
		To: &txTo, Value: value, Data: p.intent.Calldata,
	})
	if err := checkTxMatches(tx, p.intent); err != nil {
		return nil, err
	}
	signed, err := signer.SignTx(ctx, s, tx, chainID)
	if err != nil {
		return nil, errSigning
	}
	return signed, nil
}

// auditSignature records, durably, the signature of transfer t's
// transaction signed: what was signed (the transaction's own recipient,
// value, nonce and fees) and what it pays (the transfer's).
func (g *Guard) auditSignature(ctx context.Context, t *store.Transfer, signed *types.Transaction) error {
	return g.cfg.Audit.Append(ctx, audit.TypeSignature, signatureFields(t, signed))
}

// signatureFields is the signature record of transfer t's transaction
// signed (see auditSignature).
func signatureFields(t *store.Transfer, signed *types.Transaction) map[string]any {
	txTo := ""
	if to := signed.To(); to != nil {
		txTo = to.Hex()
	}
	fields := map[string]any{
		"transfer_id": t.ID, "kind": t.Kind, "tx_hash": signed.Hash().Hex(), "nonce": signed.Nonce(), "chain_id": t.ChainID,
		"from": t.From.Hex(), "to": t.To.Hex(), "asset": t.Asset, "amount_base_units": t.Amount.String(),
		"tx_to": txTo, "value_wei": signed.Value().String(),
		"gas": signed.Gas(), "max_fee_per_gas": signed.GasFeeCap().String(), "max_priority_fee_per_gas": signed.GasTipCap().String(),
	}
	return fields
}

// sendStored broadcasts the transaction that reserve signed and stored with
// the row (p.signed). Its verdict and signature records were on disk before
// the row committed; their audit is finished first (finishAudit).
func (g *Guard) sendStored(ctx context.Context, t *store.Transfer, p *plan) (*Outcome, error) {
	ctx = context.WithoutCancel(ctx)
	p.finishAudit()
	return g.broadcast(ctx, t, p, p.signed, false)
}

// sendSigned audits, records and broadcasts the signed transaction of a
// reserved transfer (see execute); fail fails the transfer with a reason.
// With keepRefused (an offline transfer: the agent holds the signed bytes
// and may broadcast them later), a transaction the node refuses is not
// failed: it stays counted like a broadcast whose reply was lost, and the
// settling loop resolves it (mined: confirmed; its nonce used by another
// transaction: failed).
func (g *Guard) sendSigned(ctx context.Context, t *store.Transfer, p *plan, signed *types.Transaction, fail func(policy.Code, string) (*Outcome, error), keepRefused bool) (*Outcome, error) {
	ctx = context.WithoutCancel(ctx)
	if signed.To() == nil {
		return fail(policy.CodeInternal, "the signed transaction has no recipient")
	}
	hash := signed.Hash()
	if err := g.auditSignature(ctx, t, signed); err != nil {
		// The signature is dropped: it never leaves the process unrecorded.
		return fail(policy.CodeInternal, "audit log unavailable; nothing was sent")
	}
	raw, err := signed.MarshalBinary()
	if err != nil {
		return fail(policy.CodeInternal, "encoding the transaction failed")
	}
	if err := g.cfg.Store.MarkSigned(ctx, t.ID, signed.Nonce(), hash, raw); err != nil {
		// Not stored, so never sent. (A reservation whose lease ran out may
		// have been failed by another process meanwhile: then this fails.)
		_ = g.cfg.Store.MarkFailed(ctx, t.ID, "recording the signed transaction failed; nothing was sent")
		return nil, policy.Errorf(policy.CodeInternal, "recording the signed transaction failed; nothing was sent")
	}
	return g.broadcast(ctx, t, p, signed, keepRefused)
}

// broadcast sends the signed transaction of transfer t, whose signed bytes
// and signature record are on disk, and answers with its outcome (see
// execute and sendSigned).
func (g *Guard) broadcast(ctx context.Context, t *store.Transfer, p *plan, signed *types.Transaction, keepRefused bool) (*Outcome, error) {
	hash := signed.Hash()
	sendErr := g.cfg.Chain.Send(ctx, signed)
	var rej *chain.RejectedError
	if errors.As(sendErr, &rej) && g.unknownToNode(ctx, hash) {
		_ = g.cfg.Audit.Enqueue(audit.TypeBroadcast, map[string]any{"transfer_id": t.ID, "tx_hash": hash.Hex(), "ok": false, "rejected": true, "kept_counted": keepRefused, "error": chainMsg(sendErr)})
		if keepRefused {
			// The signed bytes exist outside the wallet: counted until the
			// settling loop sees them mined or their nonce used by another
			// transaction. The answer is the node's refusal.
			_ = g.cfg.Store.MarkSubmitted(ctx, t.ID, g.now().Add(firstCheck))
			return nil, policy.Errorf(policy.CodeChainError, "the node rejected the transaction: %s", chainMsg(sendErr))
		}
		// The node refused it: it did not take the bytes, so they did not
		// leave through it.
		if err := g.cfg.Store.MarkFailed(ctx, t.ID, "the node rejected the transaction: "+chainMsg(sendErr)); err != nil {
			if errors.Is(err, store.ErrInvalidTransition) {
				// The settling loop claimed the row and sent the same bytes
				// again while this send was in flight: that send may be
				// taken and mined, so the transfer stays counted and its
				// outcome is the settling loop's to find.
				_ = g.cfg.Audit.Enqueue(audit.TypeBroadcast, map[string]any{"transfer_id": t.ID, "tx_hash": hash.Hex(), "rejected_then_rebroadcast": true})
				return &Outcome{Status: OutcomeSubmitted, TxHash: hash, TransferID: t.ID, Summary: p.decision.Summary}, nil
			}
			return nil, policy.Errorf(policy.CodeInternal, "transaction %s was rejected by the node, and recording that failed", hash.Hex())
		}
		return nil, policy.Errorf(policy.CodeChainError, "the node rejected the transaction: %s", chainMsg(sendErr))
	}
	fields := map[string]any{"transfer_id": t.ID, "tx_hash": hash.Hex(), "ok": sendErr == nil}
	if sendErr != nil {
		// Unknown outcome: the node may have taken it. Counted; settled later.
		fields["outcome_unknown"], fields["error"] = true, chainMsg(sendErr)
	}
	// The row stays "signed": counted, and looked at by the settling loop
	// SignedGrace after signing (a commit saved on the hot path; "signed"
	// and "submitted" are counted and settled alike).
	_ = g.cfg.Audit.Enqueue(audit.TypeBroadcast, fields)
	return &Outcome{Status: OutcomeSubmitted, TxHash: hash, TransferID: t.ID, Summary: p.decision.Summary}, nil
}

// checkTxMatches re-derives what is about to be signed from the intent: for
// ETH the recipient and value; for a token, a call to the token contract with
// zero value whose calldata is exactly transfer(intent.To, intent.Amount).
func checkTxMatches(tx *types.Transaction, in *policy.Intent) error {
	bad := errors.New("approval: built transaction does not match the intent")
	if tx.To() == nil || tx.ChainId().Uint64() != in.ChainID {
		return bad
	}
	tok := in.TokenAddress()
	if tok == nil {
		if *tx.To() != in.To || tx.Value().Cmp(in.Amount) != 0 || len(tx.Data()) != 0 {
			return bad
		}
		return nil
	}
	to, amount, err := erc20.DecodeTransfer(tx.Data())
	if err != nil || *tx.To() != *tok || tx.Value().Sign() != 0 || to != in.To || amount.Cmp(in.Amount) != 0 ||
		!bytes.Equal(tx.Data(), in.Calldata) {
		return bad
	}
	return nil
}

func decodeTx(raw []byte) (*types.Transaction, error) {
	var tx types.Transaction
	if err := tx.UnmarshalBinary(raw); err != nil {
		return nil, err
	}
	return &tx, nil
}

// settle does one settling pass over what this and every other process
// sharing the store left open:
//   - a reservation whose lease ran out before it was signed (its process
//     crashed) is failed: nothing was sent, so its amount and nonce are freed;
//   - a signed or submitted transaction due for a check is looked up on the
//     chain: mined (success or reverted) settles it for good; a nonce that,
//     by the node's word, a mined transaction used stops the re-broadcasts
//     (it stays counted until it leaves the window); otherwise the stored
//     bytes are re-broadcast, never re-signed, and the next check is put off
//     (doubling, up to maxCheck); an offline transfer whose nonce another
//     transaction used is failed (settleOfflineNonceUsed);
//   - offline requests never submitted whose nonce the chain shows used
//     are counted as spent (sweepOffline).
//
// Several processes may settle the same transfer at once: re-broadcasting
// the same bytes is harmless, and each status change is conditional.
func (g *Guard) settle(ctx context.Context) { g.settleDue(ctx, g.now()) }

// settleDue settles what is due at due (NewGuard looks ahead, so that a
// transfer signed just before a crash is re-broadcast at once).
func (g *Guard) settleDue(ctx context.Context, due time.Time) {
	now := g.now()
	abandoned, err := g.cfg.Store.Abandoned(ctx, now, settleBatch)
	g.tampered(err)
	for _, t := range abandoned {
		if err := g.cfg.Store.MarkFailed(ctx, t.ID, "interrupted before signing; nothing was sent"); err == nil {
			_ = g.cfg.Audit.Enqueue(audit.TypeBroadcast, map[string]any{"transfer_id": t.ID, "ok": false, "recovery": true, "error": "abandoned before signing"})
		}
	}
	list, err := g.cfg.Store.Unsettled(ctx, due, settleBatch)
	g.tampered(err)
	mined := map[string]uint64{}
	for _, t := range list {
		if ctx.Err() != nil {
			break
		}
		g.settleOne(ctx, t, now, mined)
	}
	// What was found mined is confirmed in one commit.
	if n, err := g.cfg.Store.MarkConfirmedAll(ctx, mined); err == nil && n > 0 {
		for id, block := range mined {
			_ = g.cfg.Audit.Enqueue(audit.TypeBroadcast, map[string]any{"transfer_id": id, "mined": true, "block": block})
		}
	}
	// After the settling: a transfer failed just now frees its nonce for
	// the sweep's look at the requests that fix it.
	g.sweepOffline(ctx)
}

// settleOne checks and, if needed, re-broadcasts one transfer; a mined one
// is added to mined (id → block) for the caller to confirm.
func (g *Guard) settleOne(ctx context.Context, t *store.Transfer, now time.Time, mined map[string]uint64) {
	tx, err := decodeTx(t.RawTx)
	if err != nil || t.TxHash == nil || tx.Hash() != *t.TxHash {
		// Counted, never re-signed: it stays open and is looked at rarely.
		_ = g.cfg.Store.ScheduleCheck(ctx, t.ID, now.Add(maxCheck))
		return
	}
	next := now.Add(checkDelay(t.Checks))
	st, err := g.cfg.Chain.TxStatus(ctx, tx.Hash())
	if err != nil {
		_ = g.cfg.Store.ScheduleCheck(ctx, t.ID, next)
		return
	}
	switch st.Status {
	case chain.StatusSuccess, chain.StatusReverted:
		mined[t.ID] = st.BlockNumber
		return
	case chain.StatusPending:
		_ = g.cfg.Store.ScheduleCheck(ctx, t.ID, next)
		return
	}
	if used, err := g.cfg.Chain.Nonce(ctx, t.From); err == nil && used > tx.Nonce() {
		if store.IsOfflineApprovalID(t.ApprovalID) {
			g.settleOfflineNonceUsed(ctx, t, tx, now, next, mined)
			return
		}
		// The node says mined transactions used its nonce and it was not one
		// of them. No transfer of ours can hold that nonce too (one live
		// holder per nonce), so only the node's word says it will never be
		// mined: it stays counted until it leaves the window, and is no
		// longer re-broadcast (checked again rarely, in case the node lied).
		_ = g.cfg.Store.ScheduleCheck(ctx, t.ID, now.Add(maxCheck))
		_ = g.cfg.Audit.Enqueue(audit.TypeBroadcast, map[string]any{"transfer_id": t.ID, "tx_hash": tx.Hash().Hex(), "nonce_used_elsewhere": true})
		return
	}
	// A signed row is claimed (signed → submitted) before it is sent again:
	// its first send may still be in flight, and a refusal of that send
	// fails the row (signed → failed) only if the claim has not happened.
	// Exactly one of the two wins, so that a transfer the node refused at
	// first is never failed (un-counted) while this re-broadcast may be
	// taken and mined.
	if t.Status == store.StatusSigned {
		if err := g.cfg.Store.MarkSubmitted(ctx, t.ID, next); err != nil {
			return // failed, confirmed, or claimed by another pass meanwhile
		}
	}
	sendErr := g.cfg.Chain.Send(ctx, tx)
	_ = g.cfg.Audit.Enqueue(audit.TypeBroadcast, map[string]any{"transfer_id": t.ID, "tx_hash": tx.Hash().Hex(), "ok": sendErr == nil, "rebroadcast": true, "error": chainMsg(sendErr)})
	if t.Status != store.StatusSigned {
		_ = g.cfg.Store.ScheduleCheck(ctx, t.ID, next)
	}
}

// settleOfflineNonceUsed settles an offline transfer whose nonce the node
// says a mined transaction used. Asked again (it may have been mined between
// the two reads), a transaction the node still does not know was replaced by
// one the device's key signed elsewhere: it can never be mined, so the
// transfer fails. What used the nonce is counted by the offline sweep, which
// then records this request as spent outside the wallet (its failed
// submission leaves it watched): it may be this very request signed again
// (a device whose signatures are randomised), or another request.
func (g *Guard) settleOfflineNonceUsed(ctx context.Context, t *store.Transfer, tx *types.Transaction, now, next time.Time, mined map[string]uint64) {
	st, err := g.cfg.Chain.TxStatus(ctx, tx.Hash())
	switch {
	case err != nil || st.Status == chain.StatusPending:
		_ = g.cfg.Store.ScheduleCheck(ctx, t.ID, next)
	case st.Status == chain.StatusSuccess || st.Status == chain.StatusReverted:
		mined[t.ID] = st.BlockNumber
	default:
		if err := g.cfg.Store.MarkDropped(ctx, t.ID, "its nonce was used by another transaction"); err == nil {
			_ = g.cfg.Audit.Enqueue(audit.TypeBroadcast, map[string]any{"transfer_id": t.ID, "tx_hash": tx.Hash().Hex(), "nonce_used_elsewhere": true, "dropped": true})
		} else {
			_ = g.cfg.Store.ScheduleCheck(ctx, t.ID, now.Add(maxCheck))
		}
	}
}

// unknownToNode reports whether the node, asked after refusing a
// transaction, says it does not know it. Anything else (it knows it, or it
// cannot say) means the refusal may not be the whole story (a slow send that
// a re-broadcast overtook, a node that lies): the transfer is then treated as
// possibly sent, and stays counted.
func (g *Guard) unknownToNode(ctx context.Context, hash common.Hash) bool {
	st, err := g.cfg.Chain.TxStatus(ctx, hash)
	return err == nil && st.Status == chain.StatusNotFound
}

// checkDelay is the delay before the next check of a transaction checked n
// times: firstCheck doubling up to maxCheck.
func checkDelay(n int) time.Duration {
	d := firstCheck
	for i := 0; i < n && d < maxCheck; i++ {
		d *= 2
	}
	return min(d, maxCheck)
}

// TxStatus reports a transaction's status as the node sees it, except that
// a transaction of ours that may have left (signed or submitted, not settled)
// is "pending" even when the node does not know it: the node may have lost
// it, or lie, and the settling loop keeps re-broadcasting it.
func (g *Guard) TxStatus(ctx context.Context, hash common.Hash) (chain.TxStatus, error) {
	st, err := g.cfg.Chain.TxStatus(ctx, hash)
	if err != nil {
		return chain.TxStatus{}, policy.Errorf(policy.CodeChainError, "reading the transaction failed: %s", chainMsg(err))
	}
	if st.Status == chain.StatusNotFound {
		if t, err := g.cfg.Store.TransferByHash(ctx, hash); err == nil && (t.Status == store.StatusSigned || t.Status == store.StatusSubmitted) {
			st.Status = chain.StatusPending
		}
	}
	return st, nil
}

// chainMsg renders a chain error for a tool message or the audit log: node
// errors are text from outside (a node can put instructions in them), so
// they are cut, stripped to printable ASCII and marked "untrusted:".
func chainMsg(err error) string {
	if err == nil {
		return ""
	}
	return "untrusted:" + policy.Sanitize(err.Error(), 160)
}
