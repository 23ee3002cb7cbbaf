package approval

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/google/uuid"

	"github.com/walletmcp/walletmcp/internal/audit"
	"github.com/walletmcp/walletmcp/internal/chain"
	"github.com/walletmcp/walletmcp/internal/store"
	"github.com/walletmcp/walletmcp/policy"
	"github.com/walletmcp/walletmcp/signer"
	"github.com/walletmcp/walletmcp/signer/offline"
)

// Bounds of SubmitOfflineSignature's arguments.
const (
	// OfflineRequestIDLen is the length of a request id: a UUID in
	// canonical text form.
	OfflineRequestIDLen = 36
	// MaxOfflineSignatureLen bounds a signature's text: a one-part
	// ur:eth-signature is about 250 characters, 0x hex 132.
	MaxOfflineSignatureLen = 1024
)

// Defaults of the offline request settings (Config).
const (
	defaultOfflineTTL     = 10 * time.Minute
	defaultOfflineMaxOpen = 20
)

// OfflineStore is the optional capability of a Store that keeps offline
// requests (*store.Store does); without it the offline tools are unsupported.
type OfflineStore interface {
	// CreateOfflineRequest stores a request, at most maxOpen unexpired per account.
	CreateOfflineRequest(ctx context.Context, r *store.OfflineRequest, maxOpen int) error
	// OfflineRequestByID returns a verified request, or store.ErrNotFound.
	OfflineRequestByID(ctx context.Context, id string) (*store.OfflineRequest, error)
	// HasOpenOffline reports whether an account has a request the wallet
	// does not count whose nonce may still be free, however long ago it
	// expired.
	HasOpenOffline(ctx context.Context, from common.Address) (bool, error)
	// OfflineUsedElsewhere lists requests the wallet does not count whose
	// nonce is below used and held by no live transfer
	// (store.Store.OfflineUsedElsewhere).
	OfflineUsedElsewhere(ctx context.Context, chainID uint64, from common.Address, used uint64, limit int) ([]*store.OfflineRequest, error)
}

var _ OfflineStore = (*store.Store)(nil)

// offlineStore returns the store's offline capability.
func (g *Guard) offlineStore() (OfflineStore, error) {
	if o, ok := g.cfg.Store.(OfflineStore); ok {
		return o, nil
	}
	return nil, policy.Errorf(policy.CodeUnsupported, "offline requests: this server's state store does not keep them")
}

// errNonceTaken aborts a reservation whose exact nonce is not the account's
// next free one.
var errNonceTaken = errors.New("approval: the nonce is taken")

// OfflineRequest is an unsigned transfer handed out for an offline account
// (create_offline_request): the eth-sign-request as UR parts and one QR PNG
// per part.
type OfflineRequest struct {
	// ID is the request id: a random UUID in canonical text form, the same
	// 16 bytes as the UR's request-id.
	ID string
	// UR is the ur:eth-sign-request, one element per part (one QR each).
	UR []string
	// QR holds one PNG image per element of UR.
	QR [][]byte
	// Summary is the clear-signing view of the transfer.
	Summary policy.Summary
	// Verdict is the policy's verdict at creation: allow or
	// approval_required (the device's signature is the human's approval).
	Verdict policy.Verdict
	// Nonce is the nonce the transaction fixes.
	Nonce uint64
	// ExpiresAt is when the request stops being accepted.
	ExpiresAt time.Time
}

// CreateOfflineRequest evaluates a transfer from an offline account like
// Send does and, unless the policy denies it, returns the unsigned EIP-1559
// transaction (nonce and fees fixed) as an eth-sign-request, stored for
// SubmitOfflineSignature. No nonce is reserved: the nonce is the account's
// next free one now, and the limits are counted again at submission, where
// a nonce used meanwhile is a conflict. The window counts the account's
// earlier requests the wallet does not count yet (offlineExposure): the
// agent may hold them signed, and broadcast them itself.
func (g *Guard) CreateOfflineRequest(ctx context.Context, args TransferArgs) (*OfflineRequest, error) {
	args.IdempotencyKey = ""
	if _, err := g.offlineStore(); err != nil {
		return nil, err
	}
	in, lim, err := g.resolveFor(ctx, args, offlineAccount)
	if err != nil {
		return nil, err
	}
	path := g.cfg.Offline[in.From]
	cf, err := g.readChain(ctx, in)
	if err != nil {
		return nil, err
	}
	if cf.nonceFloor, err = g.cfg.Chain.PendingNonce(ctx, in.From); err != nil {
		return nil, policy.Errorf(policy.CodeChainError, "reading the account nonce failed: %s", chainMsg(err))
	}
	u, err := uuid.NewRandomFromReader(g.cfg.Rand)
	if err != nil {
		return nil, policy.Errorf(policy.CodeInternal, "making a request id failed")
	}
	raw, id := [16]byte(u), u.String()
	chainID := new(big.Int).SetUint64(in.ChainID)
	txTo, value := in.To, in.Amount
	if tok := in.TokenAddress(); tok != nil {
		txTo, value = *tok, new(big.Int)
	}
	var (
		p      *plan
		nonce  uint64
		parts  []string
		stored *store.OfflineRequest
	)
	// The decision and the stored request are one ledger transaction: a
	// request decided by this process or another after it counts it
	// (OfflineOutstanding), as this one counts every earlier request the
	// agent may hold signed.
	err = g.ledgerTx(ctx, func(lt *store.LedgerTx) error {
		parts = nil
		if err := g.syncIn(lt); err != nil {
			return err
		}
		paid, err := lt.HasPaid(in.From, in.To)
		if err != nil {
			return err
		}
		fz, err := lt.Frozen(in.From)
		if err != nil {
			return err
		}
		if nonce, err = lt.AllocateNonce(in.ChainID, in.From, cf.nonceFloor); err != nil {
			return err
		}
		list, err := lt.OfflineOutstanding(in.ChainID, in.From)
		if err != nil {
			return err
		}
		p = g.decide(in, lim, cf, paid, fz.Frozen, lt.Now(), offlineExposure(list, in.Asset, nonce, in.Amount, ""))
		if p.decision.Verdict == policy.Deny {
			return nil
		}
		tx := types.NewTx(&types.DynamicFeeTx{
			ChainID: chainID, Nonce: nonce, GasTipCap: p.tipCap, GasFeeCap: p.feeCap, Gas: p.gas,
			To: &txTo, Value: value, Data: in.Calldata,
		})
		if err := checkTxMatches(tx, in); err != nil {
			return err
		}
		req, err := offline.NewTxSignRequest(tx, in.From, chainID, path, raw)
		if err != nil {
			return fmt.Errorf("building the sign request: %w", err)
		}
		payload, err := req.MarshalCBOR()
		if err != nil {
			return fmt.Errorf("encoding the sign request: %w", err)
		}
		if parts, err = req.UR(offline.DefaultMaxFragmentLen); err != nil {
			return fmt.Errorf("encoding the sign request: %w", err)
		}
		sum, err := json.Marshal(p.decision.Summary)
		if err != nil {
			return fmt.Errorf("encoding the summary: %w", err)
		}
		stored = &store.OfflineRequest{
			ID: id, ChainID: in.ChainID, From: in.From, To: in.To, Asset: in.Asset, Amount: in.Amount, Nonce: nonce,
			Request: payload, Summary: sum, ExpiresAt: g.now().Add(g.cfg.OfflineTTL).UTC().Truncate(time.Second),
		}
		return lt.CreateOfflineRequest(stored, g.cfg.OfflineMaxOpen)
	})
	switch {
	case errors.Is(err, store.ErrTooManyOffline):
		return nil, policy.Errorf(policy.CodeRateLimited, "approval.max_pending: this account already has as many unexpired offline requests as allowed; submit or let them expire")
	case err != nil:
		g.tampered(err)
		return nil, policy.Errorf(policy.CodeInternal, "recording the offline request failed")
	}
	if p.decision.Verdict == policy.Deny {
		g.auditVerdict("offline_request", "", p)
		return nil, &DenyError{Decision: p.decision}
	}
	out := &OfflineRequest{ID: id, UR: parts, Summary: p.decision.Summary, Verdict: p.decision.Verdict, Nonce: nonce, ExpiresAt: stored.ExpiresAt}
	for _, part := range parts {
		png, err := offline.QRPNG(part, 0)
		if err != nil {
			return nil, policy.Errorf(policy.CodeInternal, "drawing the QR code failed")
		}
		out.QR = append(out.QR, png)
	}
	g.auditVerdict("offline_request", id, p)
	_ = g.cfg.Audit.Enqueue(audit.TypeVerdict, map[string]any{
		"op": "offline_request_created", "id": id, "nonce": nonce, "chain_id": in.ChainID, "from": in.From.Hex(),
		"tx_to": txTo.Hex(), "value_wei": value.String(), "gas": p.gas, "max_fee_per_gas": p.feeCap.String(),
		"max_priority_fee_per_gas": p.tipCap.String(), "expires_at": out.ExpiresAt.Format(time.RFC3339), "parts": len(parts),
	})
	return out, nil
}

// SubmitOfflineSignature broadcasts the transaction of offline request
// requestID signed with signature (ur:eth-signature, or 0x and 65 bytes of
// hex). The request must be known (else not_found), unexpired (expired) and
// unused (conflict); the signature must recover to the request's account over
// exactly its transaction (invalid_argument, and the request stays usable);
// the policy is evaluated again with the spend window as it is now, under
// the ledger lock (a deny leaves the request unused); and the nonce it fixes
// must still be the account's next one (conflict). Then the request is used
// up, the signed transaction recorded and broadcast like send_transfer's.
func (g *Guard) SubmitOfflineSignature(ctx context.Context, requestID, signature string) (*Outcome, error) {
	rid, ok := parseUUID(requestID)
	if !ok {
		return nil, policy.Errorf(policy.CodeInvalidArgument, "request_id: must be a UUID (8-4-4-4-12 hex digits) from create_offline_request")
	}
	id := uuid.UUID(rid).String()
	if len(signature) > MaxOfflineSignatureLen {
		return nil, policy.Errorf(policy.CodeInvalidArgument, "signature: longer than %d characters", MaxOfflineSignatureLen)
	}
	sigID, sig, err := offline.ParseSignature(signature)
	if err != nil {
		return nil, policy.Errorf(policy.CodeInvalidArgument, "signature: must be a ur:eth-signature or 0x followed by a 65-byte hex signature")
	}
	ost, err := g.offlineStore()
	if err != nil {
		return nil, err
	}
	r, err := ost.OfflineRequestByID(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, policy.Errorf(policy.CodeNotFound, "request_id: no such offline request")
	case err != nil:
		g.tampered(err)
		return nil, policy.Errorf(policy.CodeInternal, "reading the offline request failed")
	}
	if sigID != ([16]byte{}) && sigID != rid {
		return nil, policy.Errorf(policy.CodeInvalidArgument, "signature: it was made for another request (its request-id differs)")
	}
	if prev, err := g.cfg.Store.TransferByApproval(ctx, store.OfflineApprovalID(id)); err == nil {
		if prev.OutsideBroadcast() && prev.TxHash == nil {
			// Counted by the sweep without its transaction: name it when
			// this signature makes it and the node knows it.
			if req, err := offline.ParseSignRequest(r.Request); err == nil && req.RequestID == rid {
				if signed, err := req.SignedTx(sig); err == nil {
					if st, err := g.cfg.Chain.TxStatus(ctx, signed.Hash()); err == nil && st.Status != chain.StatusNotFound {
						return nil, outsideConflict(signed.Hash())
					}
				}
			}
		}
		return nil, usedConflict(prev)
	} else if !errors.Is(err, store.ErrNotFound) {
		g.tampered(err)
		return nil, policy.Errorf(policy.CodeInternal, "reading the spend ledger failed")
	}
	if g.now().After(r.ExpiresAt) {
		return nil, policy.Errorf(policy.CodeExpired, "request_id: the offline request expired at %s; create a new one", r.ExpiresAt.Format(time.RFC3339))
	}
	if _, off := g.cfg.Offline[r.From]; !off {
		return nil, policy.Errorf(policy.CodeUnknownAccount, "from: %s is no longer an offline account of this server", r.From.Hex())
	}
	req, err := offline.ParseSignRequest(r.Request)
	if err != nil || req.Address == nil || *req.Address != r.From || req.ChainID != r.ChainID || req.RequestID != rid {
		return nil, policy.Errorf(policy.CodeInternal, "the stored request does not decode")
	}
	signed, err := req.SignedTx(sig)
	if errors.Is(err, signer.ErrWrongSigner) || errors.Is(err, signer.ErrInvalidSignature) || errors.Is(err, offline.ErrSignature) {
		_ = g.cfg.Audit.Enqueue(audit.TypeVerdict, map[string]any{"op": "offline_submit", "id": id, "verdict": "deny", "reason": "signature refused"})
		return nil, policy.Errorf(policy.CodeInvalidArgument, "signature: does not recover to %s over this request's transaction", r.From.Hex())
	}
	if err != nil || signed.Nonce() != r.Nonce {
		return nil, policy.Errorf(policy.CodeInternal, "the stored request does not decode")
	}
	ref, err := g.resolveAsset(ctx, "asset", assetArg(r.Asset), false)
	if err != nil {
		return nil, err
	}
	in, lim, err := g.intentFor(r.From, r.To, ref, r.Amount)
	if err != nil {
		return nil, err
	}
	if err := checkTxMatches(signed, in); err != nil {
		return nil, policy.Errorf(policy.CodeInternal, "the stored request does not match its transfer")
	}
	cf, err := g.readChain(ctx, in)
	if err != nil {
		return nil, err
	}
	// The fee terms are the signed ones: the policy judges what was signed.
	cf.gas, cf.tipCap, cf.feeCap = signed.Gas(), new(big.Int).Set(signed.GasTipCap()), new(big.Int).Set(signed.GasFeeCap())
	if cf.nonceFloor, err = g.cfg.Chain.PendingNonce(ctx, in.From); err != nil {
		return nil, policy.Errorf(policy.CodeChainError, "reading the account nonce failed: %s", chainMsg(err))
	}
	nonce := signed.Nonce()
	if cf.nonceFloor > nonce {
		return nil, g.nonceUsedAtSubmit(ctx, r, signed)
	}
	cf.exactNonce = &nonce
	p, t, prev, err := g.reserve(ctx, in, lim, cf, &store.Transfer{ApprovalID: store.OfflineApprovalID(id), ArgsHash: argsHash(in), Kind: store.KindApproved}, "")
	switch {
	case err != nil:
		return nil, err
	case prev != nil:
		return nil, usedConflict(prev)
	case t == nil:
		g.auditVerdict("offline_submit", id, p)
		return nil, &DenyError{Decision: p.decision}
	}
	g.auditVerdict("offline_submit", id, p)
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
	fail := func(code policy.Code, reason string) (*Outcome, error) {
		_ = g.cfg.Store.MarkFailed(context.WithoutCancel(ctx), t.ID, reason)
		return nil, policy.Errorf(code, "%s", reason)
	}
	return g.sendSigned(ctx, t, p, signed, fail, true)
}

// offlineExposure is the most that offline requests in list (OfflineOutstanding),
// other than request exclude, may still spend in asset, beside a transfer
// of amount at nonce: each request at another nonce in full (any of them
// may be signed and mined; the offline sweep counts each), and, of those at
// the same nonce, which compete with the transfer (one transaction per
// nonce), what the largest adds to amount.
func offlineExposure(list []*store.OfflineRequest, asset string, nonce uint64, amount *big.Int, exclude string) *big.Int {
	total, rival := new(big.Int), new(big.Int)
	for _, r := range list {
		if r.ID == exclude || r.Asset != asset {
			continue
		}
		switch {
		case r.Nonce != nonce:
			total.Add(total, r.Amount)
		case r.Amount.Cmp(rival) > 0:
			rival.Set(r.Amount)
		}
	}
	if rival.Cmp(amount) > 0 {
		total.Add(total, rival.Sub(rival, amount))
	}
	return total
}

// usedConflict is the error of a request that was submitted before.
func usedConflict(t *store.Transfer) error {
	if t.OutsideBroadcast() && t.TxHash != nil {
		return outsideConflict(*t.TxHash)
	}
	if t.OutsideBroadcast() {
		return policy.Errorf(policy.CodeConflict, "request_id: its nonce was used by a transaction broadcast outside walletmcp; it is counted as spent, and a request is used once")
	}
	if t.TxHash != nil {
		return policy.Errorf(policy.CodeConflict, "request_id: already submitted (transaction %s); a request is used once", t.TxHash.Hex())
	}
	return policy.Errorf(policy.CodeConflict, "request_id: already submitted; a request is used once")
}

// parseUUID parses a UUID in canonical text form (8-4-4-4-12, either case);
// uuid.Parse alone also takes the braced, urn: and dashless forms.
func parseUUID(s string) ([16]byte, bool) {
	if len(s) != OfflineRequestIDLen {
		return [16]byte{}, false
	}
	u, err := uuid.Parse(s)
	if err != nil {
		return [16]byte{}, false
	}
	return [16]byte(u), true
}
