package ops

import (
	"context"
	"errors"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/walletmcp/walletmcp/internal/chain"
	"github.com/walletmcp/walletmcp/signer"
)

// Chain method labels: a fixed set, so no address, hash or node URL ever
// reaches a label.
const (
	methodBalance      = "balance"
	methodNonce        = "nonce"
	methodPendingNonce = "pending_nonce"
	methodSuggestFees  = "suggest_fees"
	methodEstimateGas  = "estimate_gas"
	methodSend         = "send"
	methodReceipt      = "receipt"
	methodTxStatus     = "tx_status"
	methodCodeAt       = "code_at"
	methodCall         = "call"
)

// InstrumentChain wraps c so that every call (ChainID, which is local,
// aside) observes walletmcp_chain_call_seconds and, when it fails,
// walletmcp_chain_call_errors_total, both by method. Errors are returned
// unchanged (a *chain.RejectedError stays one); chain.ErrNotFound, the
// normal answer for a transaction not yet mined, is not counted as an error.
func (m *Metrics) InstrumentChain(c chain.Chain) chain.Chain {
	return &instrumentedChain{c: c, m: m}
}

// instrumentedChain is InstrumentChain's wrapper.
type instrumentedChain struct {
	c chain.Chain
	m *Metrics
}

var _ chain.Chain = (*instrumentedChain)(nil)

// observe records one call that began at start.
func (w *instrumentedChain) observe(method string, start time.Time, err error) {
	w.m.chainCallLatency.WithLabelValues(method).Observe(time.Since(start).Seconds())
	if err != nil && !errors.Is(err, chain.ErrNotFound) {
		w.m.chainCallErrors.WithLabelValues(method).Inc()
	}
}

func (w *instrumentedChain) ChainID() *big.Int { return w.c.ChainID() }

func (w *instrumentedChain) Balance(ctx context.Context, addr common.Address) (*big.Int, uint64, error) {
	start := time.Now()
	wei, block, err := w.c.Balance(ctx, addr)
	w.observe(methodBalance, start, err)
	return wei, block, err
}

func (w *instrumentedChain) PendingNonce(ctx context.Context, addr common.Address) (uint64, error) {
	start := time.Now()
	n, err := w.c.PendingNonce(ctx, addr)
	w.observe(methodPendingNonce, start, err)
	return n, err
}

func (w *instrumentedChain) Nonce(ctx context.Context, addr common.Address) (uint64, error) {
	start := time.Now()
	n, err := w.c.Nonce(ctx, addr)
	w.observe(methodNonce, start, err)
	return n, err
}

func (w *instrumentedChain) SuggestFees(ctx context.Context) (chain.Fees, error) {
	start := time.Now()
	f, err := w.c.SuggestFees(ctx)
	w.observe(methodSuggestFees, start, err)
	return f, err
}

func (w *instrumentedChain) EstimateGas(ctx context.Context, msg ethereum.CallMsg) (uint64, error) {
	start := time.Now()
	g, err := w.c.EstimateGas(ctx, msg)
	w.observe(methodEstimateGas, start, err)
	return g, err
}

func (w *instrumentedChain) Send(ctx context.Context, tx *types.Transaction) error {
	start := time.Now()
	err := w.c.Send(ctx, tx)
	w.observe(methodSend, start, err)
	return err
}

func (w *instrumentedChain) Receipt(ctx context.Context, hash common.Hash) (*types.Receipt, error) {
	start := time.Now()
	r, err := w.c.Receipt(ctx, hash)
	w.observe(methodReceipt, start, err)
	return r, err
}

func (w *instrumentedChain) TxStatus(ctx context.Context, hash common.Hash) (chain.TxStatus, error) {
	start := time.Now()
	s, err := w.c.TxStatus(ctx, hash)
	w.observe(methodTxStatus, start, err)
	return s, err
}

func (w *instrumentedChain) CodeAt(ctx context.Context, addr common.Address) ([]byte, error) {
	start := time.Now()
	b, err := w.c.CodeAt(ctx, addr)
	w.observe(methodCodeAt, start, err)
	return b, err
}

func (w *instrumentedChain) Call(ctx context.Context, msg ethereum.CallMsg) ([]byte, error) {
	start := time.Now()
	b, err := w.c.Call(ctx, msg)
	w.observe(methodCall, start, err)
	return b, err
}

// TimeSigner wraps s so that every signature it makes (transfers, messages,
// self-check challenges) observes walletmcp_signing_seconds under backend
// ("keystore", "hd", "hsm").
func (m *Metrics) TimeSigner(s signer.Signer, backend string) signer.Signer {
	return &timedSigner{Signer: s, backend: backend, m: m}
}

// timedSigner is TimeSigner's wrapper.
type timedSigner struct {
	signer.Signer
	backend string
	m       *Metrics
}

// SignDigest signs with the wrapped signer and observes how long it took.
func (t *timedSigner) SignDigest(ctx context.Context, digest []byte) ([]byte, error) {
	start := time.Now()
	sig, err := t.Signer.SignDigest(ctx, digest)
	t.m.ObserveSign(t.backend, time.Since(start))
	return sig, err
}

// SignsNow is the wrapped signer's (signer.Immediate).
func (t *timedSigner) SignsNow() bool { return signer.SignsNow(t.Signer) }
