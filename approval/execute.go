package approval

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/walletmcp/walletmcp/internal/audit"
	"github.com/walletmcp/walletmcp/internal/erc20"
	"github.com/walletmcp/walletmcp/internal/store"
	"github.com/walletmcp/walletmcp/signer"
)

// executeReserved signs and broadcasts a reserved transfer, undoing the
// ledger reservation if nothing was sent.
func (g *Guard) executeReserved(ctx context.Context, t *store.Transfer, p *plan, h LedgerHandle) (*Outcome, error) {
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
	out, err, sent := g.execute(ctx, t, p)
	if !sent {
		g.ledger.Remove(h)
	}
	return out, err
}

// execute builds, signs, records and broadcasts the transaction of a
// reserved transfer. sent reports whether the transaction may have left the
// process (then the spend stays counted).
func (g *Guard) execute(ctx context.Context, t *store.Transfer, p *plan) (out *Outcome, err error, sent bool) {
	// Finish the bookkeeping even if the agent goes away mid-way.
	ctx = context.WithoutCancel(ctx)
	fail := func(code Code, reason string) (*Outcome, error, bool) {
		_ = g.cfg.Store.MarkFailed(ctx, t.ID, reason)
		return nil, Errorf(code, "%s", reason), false
	}
	s, ok := g.cfg.Keys.Signer(p.intent.From)
	if !ok {
		return fail(CodeUnknownAccount, "from: no key for this account")
	}
	ticket, err := g.nonces.Acquire(ctx, p.intent.From)
	if err != nil {
		return fail(CodeChainError, "reading the account nonce failed: "+chainMsg(err))
	}
	defer ticket.Release()
	chainID := new(big.Int).SetUint64(p.intent.ChainID)
	txTo, value := p.intent.To, p.intent.Amount
	if tok := p.intent.TokenAddress(); tok != nil {
		txTo, value = *tok, new(big.Int)
	}
	tx := types.NewTx(&types.DynamicFeeTx{
		ChainID: chainID, Nonce: ticket.Nonce(), GasTipCap: p.tipCap, GasFeeCap: p.feeCap, Gas: p.gas,
		To: &txTo, Value: value, Data: p.intent.Calldata,
	})
	if err := checkTxMatches(tx, p.intent); err != nil {
		return fail(CodeInternal, err.Error())
	}
	signed, err := signer.SignTx(ctx, s, tx, chainID)
	if err != nil {
		return fail(CodeInternal, "signing failed")
	}
	hash := signed.Hash()
	if err := g.cfg.Audit.Append(ctx, audit.TypeSignature, map[string]any{
		"transfer_id": t.ID, "kind": t.Kind, "tx_hash": hash.Hex(), "nonce": signed.Nonce(), "chain_id": p.intent.ChainID,
		"from": p.intent.From.Hex(), "to": p.intent.To.Hex(), "asset": p.intent.Asset, "amount_base_units": p.intent.Amount.String(),
		"tx_to": txTo.Hex(), "value_wei": value.String(),
		"gas": p.gas, "max_fee_per_gas": p.feeCap.String(), "max_priority_fee_per_gas": p.tipCap.String(),
	}); err != nil {
		// The signature is dropped: it never leaves the process unrecorded.
		return fail(CodeInternal, "audit log unavailable; nothing was sent")
	}
	raw, err := signed.MarshalBinary()
	if err != nil {
		return fail(CodeInternal, "encoding the transaction failed")
	}
	if err := g.cfg.Store.MarkSigned(ctx, t.ID, signed.Nonce(), hash, raw); err != nil {
		return fail(CodeInternal, "recording the signed transaction failed; nothing was sent")
	}
	sendErr := ticket.Broadcast(ctx, func() error { return g.cfg.Chain.Send(ctx, signed) })
	if sendErr != nil && !g.landed(ctx, hash) {
		_ = g.cfg.Audit.Enqueue(audit.TypeBroadcast, map[string]any{"transfer_id": t.ID, "tx_hash": hash.Hex(), "ok": false, "error": chainMsg(sendErr)})
		return fail(CodeChainError, "broadcast failed: "+chainMsg(sendErr))
	}
	if err := g.cfg.Store.MarkSubmitted(ctx, t.ID); err != nil {
		return nil, Errorf(CodeInternal, "transaction %s was sent but recording it failed", hash.Hex()), true
	}
	_ = g.cfg.Audit.Enqueue(audit.TypeBroadcast, map[string]any{"transfer_id": t.ID, "tx_hash": hash.Hex(), "ok": true})
	return &Outcome{Status: "submitted", TxHash: hash, TransferID: t.ID, Summary: p.decision.Summary}, nil, true
}

// landed reports whether the node knows the transaction despite a send
// error (for example a timeout after the node accepted it).
func (g *Guard) landed(ctx context.Context, hash common.Hash) bool {
	st, err := g.cfg.Chain.TxStatus(ctx, hash)
	return err == nil && st.Status != "not_found"
}

// checkTxMatches re-derives what is about to be signed from the intent: for
// ETH the recipient and value; for a token, a call to the token contract with
// zero value whose calldata is exactly transfer(intent.To, intent.Amount).
func checkTxMatches(tx *types.Transaction, in *Intent) error {
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

// recover finishes transfers left unfinished by a crash: unsigned ones are
// failed (nothing was sent), signed ones are re-broadcast byte for byte.
func (g *Guard) recover(ctx context.Context) error {
	list, err := g.cfg.Store.Unfinished(ctx)
	if err != nil {
		return fmt.Errorf("approval: read unfinished transfers: %w", err)
	}
	for _, t := range list {
		switch t.Status {
		case store.StatusPending:
			if err := g.cfg.Store.MarkFailed(ctx, t.ID, "interrupted before signing; nothing was sent"); err != nil {
				return fmt.Errorf("approval: recover %s: %w", t.ID, err)
			}
		case store.StatusSigned:
			tx, err := decodeTx(t.RawTx)
			if err != nil {
				return fmt.Errorf("approval: recover %s: stored transaction does not decode: %w", t.ID, err)
			}
			sendErr := g.cfg.Chain.Send(ctx, tx)
			ok := sendErr == nil || g.landed(ctx, tx.Hash())
			_ = g.cfg.Audit.Append(ctx, audit.TypeBroadcast, map[string]any{"transfer_id": t.ID, "tx_hash": tx.Hash().Hex(), "ok": ok, "recovery": true})
			if ok {
				err = g.cfg.Store.MarkSubmitted(ctx, t.ID)
			} else {
				err = g.cfg.Store.MarkFailed(ctx, t.ID, "re-broadcast after restart failed: "+chainMsg(sendErr))
			}
			if err != nil {
				return fmt.Errorf("approval: recover %s: %w", t.ID, err)
			}
		}
	}
	return nil
}

// chainMsg shortens a chain error for a tool message: node errors are text
// from outside, so they are cut and stripped to printable ASCII.
func chainMsg(err error) string {
	if err == nil {
		return ""
	}
	return Sanitize(err.Error(), 160)
}

// Sanitize keeps printable ASCII of s, at most n bytes: for text that comes
// from outside (node errors) before it reaches an agent.
func Sanitize(s string, n int) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= n {
			b.WriteString("…")
			break
		}
		if r >= 0x20 && r < 0x7f {
			b.WriteRune(r)
		} else {
			b.WriteByte('?')
		}
	}
	return b.String()
}
