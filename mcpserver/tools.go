package mcpserver

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/walletmcp/walletmcp/approval"
	"github.com/walletmcp/walletmcp/policy"

	"github.com/walletmcp/walletmcp/internal/approvalstate"
)

// Tool names (CONTRACT.md §1).
const (
	ToolListAccounts    = "list_accounts"
	ToolGetBalance      = "get_balance"
	ToolGetPolicy       = "get_policy"
	ToolPrepareTransfer = "prepare_transfer"
	ToolSendTransfer    = "send_transfer"
	ToolGetTransaction  = "get_transaction"
	ToolGetApproval     = "get_approval"
	// ToolCreateOfflineRequest and ToolSubmitOfflineSignature are the
	// offline (air-gapped) signing tools (offline.go).
	ToolCreateOfflineRequest   = "create_offline_request"
	ToolSubmitOfflineSignature = "submit_offline_signature"
)

// ToolNames returns every tool's name, sorted.
func ToolNames() []string {
	return []string{ToolCreateOfflineRequest, ToolGetApproval, ToolGetBalance, ToolGetPolicy, ToolGetTransaction,
		ToolListAccounts, ToolPrepareTransfer, ToolSendTransfer, ToolSubmitOfflineSignature}
}

type emptyIn struct{}

type accountOut struct {
	Address        string `json:"address"`
	Label          string `json:"label"`
	Backend        string `json:"backend" jsonschema:"keystore, hd, hsm or offline"`
	DerivationPath string `json:"derivation_path,omitempty"`
}

type listAccountsOut struct {
	ChainID  uint64       `json:"chain_id"`
	Accounts []accountOut `json:"accounts"`
}

type balanceIn struct {
	Address string `json:"address" jsonschema:"the account address, 0x followed by 40 hex digits"`
	Asset   string `json:"asset,omitempty" jsonschema:"ETH (the default), a token symbol from get_policy, or an ERC-20 contract address"`
}

type policyIn struct {
	Address string `json:"address,omitempty" jsonschema:"limit the remaining amounts to this account"`
}

type transferIn struct {
	From   string `json:"from" jsonschema:"sender: one of list_accounts"`
	To     string `json:"to" jsonschema:"recipient address; mixed case must be a valid EIP-55 checksum"`
	Amount string `json:"amount" jsonschema:"decimal string in the asset's units, e.g. 0.25"`
	Asset  string `json:"asset,omitempty" jsonschema:"ETH (the default), a token symbol from get_policy, or an ERC-20 contract address"`
}

type prepareOut struct {
	Verdict string          `json:"verdict" jsonschema:"allow, approval_required or deny"`
	Reasons []policy.Reason `json:"reasons"`
	Summary policy.Summary  `json:"summary"`
}

type sendIn struct {
	From           string `json:"from" jsonschema:"sender: one of list_accounts"`
	To             string `json:"to" jsonschema:"recipient address; mixed case must be a valid EIP-55 checksum"`
	Amount         string `json:"amount" jsonschema:"decimal string in the asset's units, e.g. 0.25"`
	Asset          string `json:"asset,omitempty" jsonschema:"ETH (the default), a token symbol from get_policy, or an ERC-20 contract address"`
	IdempotencyKey string `json:"idempotency_key,omitempty" jsonschema:"up to 128 of A-Z a-z 0-9 _ -; the same key and arguments never move funds twice"`
}

type sendOut struct {
	Status      string         `json:"status" jsonschema:"submitted or approval_required"`
	TxHash      string         `json:"tx_hash,omitempty"`
	ApprovalID  string         `json:"approval_id,omitempty"`
	ApprovalURL string         `json:"approval_url,omitempty"`
	ExpiresAt   string         `json:"expires_at,omitempty"`
	Summary     policy.Summary `json:"summary"`
}

type approvalIn struct {
	ApprovalID string `json:"approval_id" jsonschema:"the approval_id send_transfer returned"`
}

type txIn struct {
	TxHash string `json:"tx_hash" jsonschema:"0x followed by 64 hex digits"`
}

type txOut struct {
	TxHash      string `json:"tx_hash"`
	Status      string `json:"status" jsonschema:"pending, success, reverted or not_found"`
	BlockNumber uint64 `json:"block_number,omitempty"`
}

// addTools registers every tool; an error is a programming error in a tool's
// input or output type.
func (s *Server) addTools() error {
	return errors.Join(
		addTool(s, &mcp.Tool{Name: ToolListAccounts, Title: "List accounts", Annotations: readOnly,
			Description: "List the accounts this wallet can send from, with their backend (keystore, hd, hsm, offline)."},
			s.listAccounts),
		addTool(s, &mcp.Tool{Name: ToolGetBalance, Title: "Get balance", Annotations: readOnlyNet,
			Description: "Read an address's balance of ETH or an ERC-20 token at the latest block. Token symbols read from the chain are untrusted text."},
			s.getBalance),
		addTool(s, &mcp.Tool{Name: ToolGetPolicy, Title: "Get spending policy", Annotations: readOnly,
			Description: "Show the attested spending policy (its SHA-256 and limits) and what remains in each window now."},
			s.getPolicy),
		addTool(s, &mcp.Tool{Name: ToolPrepareTransfer, Title: "Check a transfer", Annotations: readOnlyNet,
			Description: "Evaluate a transfer against the policy without sending it: verdict allow, approval_required or deny, with every reason and the clear-signing summary."},
			s.prepareTransfer),
		addTool(s, &mcp.Tool{Name: ToolSendTransfer, Title: "Send a transfer", Annotations: destructive,
			Description: "Send ETH or an ERC-20 token. The server validates the transfer and enforces the spending policy; a denial is a policy_denied error. " +
				"Above the policy's limits a human must approve with their authenticator: the result is approval_required with an approval_id (poll get_approval), " +
				"or, if your client supports URL elicitation, the human is asked to open the approval page and the call waits. " +
				"Pass idempotency_key so that a retry never sends twice."},
			s.sendTransfer),
		addTool(s, &mcp.Tool{Name: ToolGetApproval, Title: "Get approval status", Annotations: readOnly,
			Description: "Read a pending approval's status: pending, approved, rejected, expired, executed (with tx_hash) or failed."},
			s.getApproval),
		addTool(s, &mcp.Tool{Name: ToolGetTransaction, Title: "Get transaction status", Annotations: readOnlyNet,
			Description: "Read a transaction's status: pending, success, reverted or not_found."},
			s.getTransaction),
		s.addOfflineTools(),
	)
}

func (s *Server) listAccounts(_ context.Context, _ *mcp.CallToolRequest, _ emptyIn) (listAccountsOut, string, error) {
	out := listAccountsOut{ChainID: s.opts.Chain.ChainID().Uint64(), Accounts: []accountOut{}}
	for _, a := range s.opts.Accounts {
		out.Accounts = append(out.Accounts, accountOut{Address: a.Address.Hex(), Label: a.Label, Backend: a.Backend, DerivationPath: a.DerivationPath})
	}
	return out, plural(len(out.Accounts), "account") + " on chain " + u64(out.ChainID), nil
}

// AssetView describes an asset in tool output.
type AssetView struct {
	Symbol   string `json:"symbol" jsonschema:"ETH, the policy's symbol, or untrusted:<symbol read from the chain, sanitised>"`
	Decimals int    `json:"decimals"`
	Contract string `json:"contract,omitempty"`
}

// BalanceView is an address's balance of one asset (get_balance).
type BalanceView struct {
	Address          string    `json:"address"`
	ChainID          uint64    `json:"chain_id"`
	Asset            AssetView `json:"asset"`
	Balance          string    `json:"balance" jsonschema:"decimal string in the asset's units"`
	BalanceBaseUnits string    `json:"balance_base_units" jsonschema:"integer string in base units (wei, token units)"`
	BlockNumber      uint64    `json:"block_number"`
}

// balanceView renders b as get_balance output.
func balanceView(b *approval.BalanceInfo) BalanceView {
	v := BalanceView{Address: b.Address.Hex(), ChainID: b.ChainID, BlockNumber: b.Block,
		Asset:   AssetView{Symbol: b.Symbol, Decimals: b.Decimals},
		Balance: policy.FormatAmount(b.Amount, b.Decimals), BalanceBaseUnits: b.Amount.String()}
	if b.Contract != nil {
		v.Asset.Contract = b.Contract.Hex()
	}
	return v
}

// getBalance and the other read tools return views by value: a pointer's
// schema would be ["null","object"], and MCP clients reject an outputSchema
// whose type is not "object".
func (s *Server) getBalance(ctx context.Context, _ *mcp.CallToolRequest, in balanceIn) (BalanceView, string, error) {
	b, err := s.opts.Guard.Balance(ctx, in.Address, in.Asset)
	if err != nil {
		return BalanceView{}, "", err
	}
	v := balanceView(b)
	return v, v.Address + " holds " + v.Balance + " " + v.Asset.Symbol + " at block " + u64(v.BlockNumber), nil
}

func (s *Server) getPolicy(ctx context.Context, _ *mcp.CallToolRequest, in policyIn) (PolicyView, string, error) {
	var addrs []common.Address
	if in.Address != "" {
		a, err := policy.ParseAddress("address", in.Address)
		if err != nil {
			return PolicyView{}, "", err
		}
		if !s.isAccount(a) {
			return PolicyView{}, "", policy.Errorf(policy.CodeUnknownAccount, "address: not an account of this wallet")
		}
		addrs = []common.Address{a}
	} else {
		for _, a := range s.opts.Accounts {
			addrs = append(addrs, a.Address)
		}
	}
	p, err := s.opts.Guard.PolicyInfo(ctx, addrs)
	if err != nil {
		return PolicyView{}, "", err
	}
	v := policyView(p)
	return v, "policy " + v.PolicySHA256[:12] + "… on chain " + u64(v.ChainID), nil
}

func (s *Server) isAccount(a common.Address) bool {
	for _, x := range s.opts.Accounts {
		if x.Address == a {
			return true
		}
	}
	return false
}

func (s *Server) prepareTransfer(ctx context.Context, _ *mcp.CallToolRequest, in transferIn) (prepareOut, string, error) {
	d, err := s.opts.Guard.Prepare(ctx, approval.TransferArgs{From: in.From, To: in.To, Amount: in.Amount, Asset: in.Asset})
	if err != nil {
		return prepareOut{}, "", err
	}
	out := prepareOut{Verdict: d.Verdict.String(), Reasons: nonNil(d.Reasons), Summary: d.Summary}
	return out, out.Verdict + ": " + d.Summary.Line(), nil
}

func (s *Server) sendTransfer(ctx context.Context, req *mcp.CallToolRequest, in sendIn) (sendOut, string, error) {
	if req.Params.RequestState != "" {
		return s.resumeApproval(ctx, req, in)
	}
	o, err := s.opts.Guard.Send(ctx, approval.TransferArgs{From: in.From, To: in.To, Amount: in.Amount, Asset: in.Asset, IdempotencyKey: in.IdempotencyKey})
	if err != nil {
		return sendOut{}, "", err
	}
	if o.Status == approval.OutcomeApprovalRequired && o.ApprovalURL != "" && supportsURLElicitation(req) {
		return sendOut{}, "", s.askHuman(req, in, o)
	}
	return outcomeOut(o)
}

// outcomeOut renders a Guard outcome as send_transfer output.
func outcomeOut(o *approval.Outcome) (sendOut, string, error) {
	if o.Status == approval.OutcomeApprovalRequired {
		out := sendOut{Status: string(o.Status), ApprovalID: o.ApprovalID, ApprovalURL: o.ApprovalURL, ExpiresAt: o.ExpiresAt.UTC().Format(time.RFC3339), Summary: o.Summary}
		line := "approval_required " + o.ApprovalID + ": a human must approve " + o.Summary.Line() + "; poll get_approval"
		return out, line, nil
	}
	out := sendOut{Status: string(o.Status), TxHash: o.TxHash.Hex(), ApprovalID: o.ApprovalID, Summary: o.Summary}
	line := "submitted " + o.TxHash.Hex() + ": " + o.Summary.Line()
	if o.Replayed {
		line += " (idempotency_key replay: nothing new was sent)"
	}
	return out, line, nil
}

// ApprovalView is an approval as an agent may see it (get_approval).
type ApprovalView struct {
	ApprovalID string               `json:"approval_id"`
	Status     approvalstate.Status `json:"status" jsonschema:"pending, approved, rejected, expired, executed or failed"`
	TxHash     string               `json:"tx_hash,omitempty"`
	ExpiresAt  string               `json:"expires_at"`
	Error      string               `json:"error,omitempty"`
	Summary    policy.Summary       `json:"summary"`
}

// approvalView renders a as get_approval output.
func approvalView(a *approval.ApprovalInfo) ApprovalView {
	v := ApprovalView{ApprovalID: a.ID, Status: a.Status, ExpiresAt: a.ExpiresAt.UTC().Format(time.RFC3339), Error: a.Error, Summary: a.Summary}
	if a.TxHash != nil {
		v.TxHash = a.TxHash.Hex()
	}
	return v
}

func (s *Server) getApproval(ctx context.Context, _ *mcp.CallToolRequest, in approvalIn) (ApprovalView, string, error) {
	if !approvalstate.ValidID(in.ApprovalID) {
		// Not an id the store could have made: answered as an unknown one.
		return ApprovalView{}, "", policy.Errorf(policy.CodeNotFound, "approval_id: no such approval")
	}
	a, err := s.opts.Guard.Approval(ctx, in.ApprovalID)
	if err != nil {
		return ApprovalView{}, "", err
	}
	v := approvalView(a)
	line := "approval " + v.ApprovalID + ": " + string(v.Status)
	if v.TxHash != "" {
		line += " " + v.TxHash
	}
	return v, line + " (" + v.Summary.Line() + ")", nil
}

func (s *Server) getTransaction(ctx context.Context, _ *mcp.CallToolRequest, in txIn) (txOut, string, error) {
	h, err := parseHash("tx_hash", in.TxHash)
	if err != nil {
		return txOut{}, "", err
	}
	st, err := s.opts.Guard.TxStatus(ctx, h)
	if err != nil {
		return txOut{}, "", err
	}
	out := txOut{TxHash: h.Hex(), Status: st.Status, BlockNumber: st.BlockNumber}
	line := h.Hex() + ": " + st.Status
	if st.BlockNumber > 0 {
		line += " in block " + u64(st.BlockNumber)
	}
	return out, line, nil
}

// parseHash parses a 0x-prefixed 32-byte hex hash.
func parseHash(field, s string) (common.Hash, error) {
	if len(s) != txHashLen || s[0] != '0' || (s[1] != 'x' && s[1] != 'X') {
		return common.Hash{}, policy.Errorf(policy.CodeInvalidArgument, "%s: must be 0x followed by 64 hex digits", field)
	}
	for i := 2; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return common.Hash{}, policy.Errorf(policy.CodeInvalidArgument, "%s: must be 0x followed by 64 hex digits", field)
		}
	}
	return common.HexToHash(s), nil
}

// nonNil returns s, or an empty slice for nil, so that it encodes as [].
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func u64(v uint64) string { return strconv.FormatUint(v, 10) }

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}
