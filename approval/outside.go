package approval

import (
	"context"
	"crypto/sha256"
	"errors"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/walletmcp/walletmcp/internal/audit"
	"github.com/walletmcp/walletmcp/internal/chain"
	"github.com/walletmcp/walletmcp/internal/store"
	"github.com/walletmcp/walletmcp/policy"
)

// An agent holds an offline request's unsigned transaction and, once the
// human signed on the device, the signature: it can assemble the signed
// transaction and broadcast it without submit_offline_signature. What the
// wallet cannot see it treats as the costly outcome: a request whose nonce
// the chain shows used, while the wallet sent nothing at that nonce, is
// counted as spent (KindApproved, a row marked store.OfflineOutsideKey) and
// audited as the security event "offline_broadcast_outside".

// EventOfflineBroadcastOutside is the "event" of the security record of an
// offline request found spent outside submit_offline_signature.
const EventOfflineBroadcastOutside = "offline_broadcast_outside"

const (
	// offlineSweepEvery spaces the sweeps (each reads one account nonce per
	// offline account with open requests).
	offlineSweepEvery = firstCheck
	// offlineSweepBatch bounds the requests one sweep records.
	offlineSweepBatch = 32
)

// outsideArgsHash is the args hash of an outside spend's row (its key is in
// a namespace no agent reaches, so nothing replays it).
func outsideArgsHash(id string) []byte {
	h := sha256.Sum256([]byte("walletmcp-offline-outside-v1/" + id))
	return h[:]
}

// outsideConflict is the error of a request whose transaction was broadcast
// outside walletmcp.
func outsideConflict(hash common.Hash) error {
	return policy.Errorf(policy.CodeConflict, "request_id: its transaction %s was broadcast outside walletmcp; it is counted as spent, and a request is used once", hash.Hex())
}

// nonceUsedAtSubmit answers a submission whose nonce the account used
// meanwhile. When the node knows this very transaction (mined, or in its
// pool), the agent broadcast it itself: the spend is recorded (once, however
// many times this runs), audited, and the answer is a conflict naming the
// transaction. Otherwise another transaction used the nonce: conflict, and
// the sweep decides whether the request counts.
func (g *Guard) nonceUsedAtSubmit(ctx context.Context, r *store.OfflineRequest, signed *types.Transaction) error {
	st, err := g.cfg.Chain.TxStatus(ctx, signed.Hash())
	if err != nil {
		return policy.Errorf(policy.CodeChainError, "the nonce this request fixes (%d) was used meanwhile, and reading whether by its transaction failed: %s", r.Nonce, chainMsg(err))
	}
	switch st.Status {
	case chain.StatusSuccess, chain.StatusReverted, chain.StatusPending:
	default:
		return policy.Errorf(policy.CodeConflict, "request_id: the nonce this request fixes (%d) was used meanwhile; create a new request", r.Nonce)
	}
	if _, err := g.recordOutside(ctx, r, signed, st, "submit"); err != nil {
		return err
	}
	return outsideConflict(signed.Hash())
}

// recordOutside records offline request r as spent outside the wallet, once:
// with its signed transaction when known (signed, as the node reports it in
// st), otherwise without. It reports whether this call recorded it (false:
// the request was used already, or, without a transaction, a live transfer of
// the wallet holds its nonce); a new record is audited as a security event.
func (g *Guard) recordOutside(ctx context.Context, r *store.OfflineRequest, signed *types.Transaction, st chain.TxStatus, via string) (bool, error) {
	ctx = context.WithoutCancel(ctx)
	var rec *store.Transfer
	err := g.ledgerTx(ctx, func(lt *store.LedgerTx) error {
		rec = nil
		if err := g.syncIn(lt); err != nil {
			return err
		}
		approvalID := store.OfflineApprovalID(r.ID)
		prev, err := lt.TransferByApproval(approvalID)
		switch {
		case err == nil && prev.Counted():
			// Sent by the wallet, and counted.
			return nil
		case err == nil:
			// Submitted, but failed: before the wallet signed or sent
			// anything, or once sent (the node refused it, or its nonce was
			// used by another transaction). The agent holds the device's
			// signature all the same, and the device may have signed the
			// request twice: what used the nonce may be this request. The
			// approval id stays the failed transfer's.
			approvalID = ""
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		if _, err := lt.TransferByKey(store.OfflineOutsideKey(r.ID)); err == nil {
			return nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		t := &store.Transfer{
			ApprovalID: approvalID, IdempotencyKey: store.OfflineOutsideKey(r.ID), ArgsHash: outsideArgsHash(r.ID),
			ChainID: r.ChainID, From: r.From, To: r.To, Asset: r.Asset, Amount: r.Amount, Kind: store.KindApproved,
		}
		_, err = lt.LiveAtNonce(r.ChainID, r.From, r.Nonce)
		switch {
		case err == nil && signed == nil:
			// The wallet's own transfer holds the nonce: it is counted.
			return nil
		case err == nil:
			// Another transfer holds the nonce; this transaction used it
			// (the settling loop fails the other): the row holds none.
		case !errors.Is(err, store.ErrNotFound):
			return err
		case signed != nil:
			n := r.Nonce
			t.Nonce = &n
		}
		if signed != nil {
			raw, err := signed.MarshalBinary()
			if err != nil {
				return err
			}
			h := signed.Hash()
			t.TxHash, t.RawTx = &h, raw
			if st.Status == chain.StatusSuccess || st.Status == chain.StatusReverted {
				b := st.BlockNumber
				t.BlockNumber = &b
			}
		}
		rec, err = lt.RecordOutside(t)
		return err
	})
	if err != nil {
		g.tampered(err)
		return false, policy.Errorf(policy.CodeInternal, "recording the spend failed")
	}
	if rec == nil {
		return false, nil
	}
	fields := map[string]any{
		"event": EventOfflineBroadcastOutside, "request_id": r.ID, "transfer_id": rec.ID, "found_by": via,
		"chain_id": r.ChainID, "from": r.From.Hex(), "to": r.To.Hex(), "asset": r.Asset,
		"amount_base_units": r.Amount.String(), "nonce": r.Nonce, "status": rec.Status,
	}
	if rec.TxHash != nil {
		fields["tx_hash"] = rec.TxHash.Hex()
	}
	_ = g.cfg.Audit.Append(ctx, audit.TypeSecurity, fields)
	return true, nil
}

// sweepOffline is the settling loop's look at offline requests (at most
// every offlineSweepEvery, offlineSweepBatch records a pass): for each
// offline account with requests the wallet does not count (never submitted,
// or whose submission failed), however long ago they expired, the account's
// nonce on chain is read, and each such request whose nonce it shows used,
// while no live transfer of the wallet holds that nonce, is recorded as
// spent (recordOutside). A request whose nonce is still free stays
// uncounted, and watched: its signed transaction does not expire (the store
// keeps it until its nonce is used).
func (g *Guard) sweepOffline(ctx context.Context) {
	if len(g.cfg.Offline) == 0 {
		return
	}
	ost, ok := g.cfg.Store.(OfflineStore)
	if !ok {
		return
	}
	now := g.now()
	g.mu.Lock()
	due := !now.Before(g.nextSweep)
	if due {
		g.nextSweep = now.Add(offlineSweepEvery)
	}
	g.mu.Unlock()
	if !due {
		return
	}
	accounts := make(map[common.Address]bool, len(g.cfg.Offline))
	for a := range g.cfg.Offline {
		accounts[a] = true
	}
	budget := offlineSweepBatch
	for _, addr := range policy.SortedAddresses(accounts) {
		if budget <= 0 || ctx.Err() != nil {
			return
		}
		open, err := ost.HasOpenOffline(ctx, addr)
		if err != nil || !open {
			continue
		}
		used, err := g.cfg.Chain.Nonce(ctx, addr)
		if err != nil {
			continue
		}
		list, err := ost.OfflineUsedElsewhere(ctx, g.cfg.Policy.ChainID, addr, used, budget)
		if err != nil {
			g.tampered(err)
			continue
		}
		for _, r := range list {
			budget--
			_, _ = g.recordOutside(ctx, r, nil, chain.TxStatus{}, "sweep")
		}
	}
}
