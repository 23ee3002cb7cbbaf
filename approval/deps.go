package approval

import (
	"context"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/walletmcp/walletmcp/internal/chain"
	"github.com/walletmcp/walletmcp/internal/erc20"
	"github.com/walletmcp/walletmcp/internal/store"
)

// The chain as the Guard uses it, by concern. internal/chain's Chain (RPC,
// Dev) implements them all.
type (
	// AccountReader reads an account's balance and nonces.
	AccountReader interface {
		// ChainID is the chain's id (checked against the policy's).
		ChainID() *big.Int
		// Balance returns addr's balance and the block it was read at.
		Balance(ctx context.Context, addr common.Address) (wei *big.Int, block uint64, err error)
		// Nonce returns addr's nonce at the latest block.
		Nonce(ctx context.Context, addr common.Address) (uint64, error)
		// PendingNonce returns addr's next nonce, the pool included.
		PendingNonce(ctx context.Context, addr common.Address) (uint64, error)
	}
	// FeeEstimator prices a transaction.
	FeeEstimator interface {
		// SuggestFees suggests EIP-1559 fees.
		SuggestFees(ctx context.Context) (chain.Fees, error)
		// EstimateGas estimates the gas msg needs.
		EstimateGas(ctx context.Context, msg ethereum.CallMsg) (uint64, error)
	}
	// Broadcaster sends signed transactions and follows them.
	Broadcaster interface {
		// Send broadcasts a signed transaction.
		Send(ctx context.Context, tx *types.Transaction) error
		// TxStatus reports where a sent transaction is.
		TxStatus(ctx context.Context, hash common.Hash) (chain.TxStatus, error)
	}
	// Chain is everything the Guard needs of the chain: token reads
	// (erc20.Caller) besides the above.
	Chain interface {
		AccountReader
		FeeEstimator
		Broadcaster
		erc20.Caller
	}
)

var _ Chain = chain.Chain(nil)

// The state database as the Guard uses it, by concern. *store.Store
// implements them all; the ledger's transactions stay in the store
// (Ledger runs one).
type (
	// LedgerStore reserves and reloads the spend ledger.
	LedgerStore interface {
		// Ledger runs fn in one write transaction over the ledger.
		Ledger(ctx context.Context, fn func(*store.LedgerTx) error) error
		// LoadLedger returns the transfers since since and the ledger head.
		LoadLedger(ctx context.Context, since time.Time) ([]*store.Transfer, store.LedgerHead, error)
		// Changes returns the transfers changed after the head seq/version.
		Changes(ctx context.Context, seq, version int64) ([]*store.Transfer, store.LedgerHead, error)
		// HasPaid reports whether from sent to to before.
		HasPaid(ctx context.Context, from, to common.Address) (bool, error)
	}
	// FreezeReader reads whether a severe anomaly froze an account's
	// automatic approval (the reservation reads it in its LedgerTx).
	FreezeReader interface {
		// Frozen returns the account's freeze state, verified.
		Frozen(ctx context.Context, account common.Address) (*store.Freeze, error)
	}
	// TransferReader finds recorded transfers.
	TransferReader interface {
		// Transfer returns transfer id.
		Transfer(ctx context.Context, id string) (*store.Transfer, error)
		// TransferByKey returns the transfer with an idempotency key.
		TransferByKey(ctx context.Context, key string) (*store.Transfer, error)
		// TransferByHash returns the transfer with a transaction hash.
		TransferByHash(ctx context.Context, hash common.Hash) (*store.Transfer, error)
		// TransferByApproval returns the transfer executing an approval.
		TransferByApproval(ctx context.Context, id string) (*store.Transfer, error)
	}
	// TransferWriter records a transfer's progress.
	TransferWriter interface {
		// MarkSigned records the signed transaction.
		MarkSigned(ctx context.Context, id string, nonce uint64, hash common.Hash, raw []byte) error
		// MarkSubmitted records the broadcast and the next check.
		MarkSubmitted(ctx context.Context, id string, next time.Time) error
		// MarkFailed records a failure.
		MarkFailed(ctx context.Context, id string, reason string) error
		// MarkDropped fails a broadcast transfer whose nonce another
		// transaction used.
		MarkDropped(ctx context.Context, id string, reason string) error
		// ScheduleCheck sets when the transfer is checked next.
		ScheduleCheck(ctx context.Context, id string, next time.Time) error
	}
	// Settler finds and settles what a crash or the chain left open.
	Settler interface {
		// Abandoned returns reservations whose lease ran out.
		Abandoned(ctx context.Context, now time.Time, limit int) ([]*store.Transfer, error)
		// Unsettled returns broadcasts due for a check.
		Unsettled(ctx context.Context, now time.Time, limit int) ([]*store.Transfer, error)
		// MarkConfirmedAll records confirmations (transfer id → block).
		MarkConfirmedAll(ctx context.Context, blocks map[string]uint64) (int, error)
	}
	// ApprovalQueue finds the approvals to execute and leases them.
	ApprovalQueue interface {
		// ApprovalByKey returns the approval with an idempotency key.
		ApprovalByKey(ctx context.Context, key string) (*store.Approval, error)
		// ApprovedToExecute returns the approved, unexecuted approvals.
		ApprovedToExecute(ctx context.Context) ([]*store.Approval, error)
		// ClaimApproval leases approval id to owner until until.
		ClaimApproval(ctx context.Context, id, owner string, now, until time.Time) (bool, error)
		// ExpireApprovals marks the approvals past their expiry expired.
		ExpireApprovals(ctx context.Context, now time.Time) (int, error)
	}
	// ApprovalResults records how an approval's execution ended.
	ApprovalResults interface {
		// MarkApprovalExecuted records the transfer and hash that executed it.
		MarkApprovalExecuted(ctx context.Context, id, transferID string, hash common.Hash) error
		// MarkApprovalFailed records why executing it failed.
		MarkApprovalFailed(ctx context.Context, id, reason string) error
	}
	// Store is everything the Guard needs of the state database.
	Store interface {
		LedgerStore
		FreezeReader
		TransferReader
		TransferWriter
		Settler
		ApprovalQueue
		ApprovalResults
	}
)

var _ Store = (*store.Store)(nil)
