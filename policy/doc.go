// Package policy is the spending policy of walletmcp, written to be read by
// an auditor: the policy file (policy.toml, CONTRACT.md §3) and its template,
// the intent a verdict is bound to and its digest, amounts, the evaluator
// with its verdicts and named reasons, and the summary a human is shown.
//
// The package does no I/O. ParsePolicy takes the file's bytes, Evaluate
// takes facts that the caller (approval.Guard) gathered from the chain and
// the ledger; neither touches a network, a disk or a clock of its own. The
// one exception is time.LoadLocation, which reads the system's time zone
// database when [quiet_hours] names a zone. deps_test.go at the module root
// keeps it so.
//
// # The policy file
//
// ParsePolicy refuses, with the line and the key, any unknown key or table,
// any value of the wrong type, any malformed or negative amount and any two
// limits that contradict each other. Amounts are decimal strings in the
// asset's own units ("0.1" ETH, "500" USDC); internally they are base units
// (wei, token base units). PolicyTemplate is the file `walletmcp init`
// writes, every limit spelled out.
//
//	chain_id                       required; the only chain anything is signed for
//	[native]                       the limits of ETH (required)
//	[[tokens]]                     an ERC-20 token: symbol, address, decimals and the same limits
//	[unknown_tokens] allow         tokens not in [[tokens]]: refused unless true, with the same limits
//	[recipients] mode, allow, deny, new_recipient_approval
//	[fees] max_fee_per_gas_gwei, max_total_fee
//	[quiet_hours] start, end, time_zone
//	[rate] tool_calls_per_minute, transfers_per_hour
//	[anomaly]                      per-account anomaly rules and which of them freeze (AnomalyRules)
//
// The limits of one asset (Limits), each required unless a default is given:
//
//	auto_approve_max           at or below, no human is needed (if every other rule passes)
//	per_tx_max                 above, denied even with a human's approval; above zero
//	balance_fraction_approval  above this share of the current balance, a human decides (default 0.2; (0, 1])
//	window                     the rolling window of the two sums below (default 24h; at most 744h)
//	window_auto_max            auto-approved total in the window; beyond it, a human decides
//	window_max                 total in the window, auto and approved; beyond it, denied
//
// and auto_approve_max ≤ per_tx_max ≤ window_max, auto_approve_max ≤
// window_auto_max ≤ window_max. Tool calls per minute are enforced by the MCP
// layer, not by Evaluate.
//
// # The rules
//
// Evaluate applies every rule below to one Intent under one set of Facts
// and returns a Decision: the strictest verdict of all rules (Deny beats
// ApprovalRequired beats Allow) and one Reason per rule that spoke, named by
// its Rule constant, which is the policy key where there is one. A denial
// lists every denying reason, not only the first.
//
// Rules that deny:
//
//	internal                  a fact is missing or malformed (see Security model)
//	chain_id                  the intent is for another chain than chain_id
//	asset                     the asset is neither ETH nor a token address, or its decimals differ from the policy's
//	unknown_tokens            the token is not in [[tokens]] and [unknown_tokens] allow is false
//	recipient_zero            the recipient is the zero address
//	recipient_precompile      the recipient is a precompiled contract (0x…01–0x…11, 0x…0100; IsPrecompile)
//	recipient_self            the recipient is the sender
//	recipient_token_contract  a token is sent to its own contract
//	recipients.deny           the recipient is in [recipients] deny
//	recipients.allow          mode is "allowlist" and the recipient is not in allow
//	recipient_code            ETH to a contract (or an EIP-7702 delegated account) not in allow
//	max_fee_per_gas_gwei      the fee per gas is above [fees] max_fee_per_gas_gwei (default 200)
//	max_total_fee             gas limit × fee per gas is above [fees] max_total_fee (default 0.05 ETH)
//	balance                   the balance does not cover the amount and the maximum fee
//	per_tx_max                the amount is above per_tx_max
//	window_max                the window's total with this transfer is above window_max
//	transfers_per_hour        the sender signed [rate] transfers_per_hour in the last hour (default 30);
//	                          Decision.RateLimited is set when this is the only denial
//
// Rules that send the transfer to a human (ApprovalRequired):
//
//	auto_approve_max          the amount is above auto_approve_max
//	balance_fraction_approval the amount is above that share of the current balance
//	window_auto_max           the window's auto-approved total with this transfer is above window_auto_max
//	new_recipient_approval    the sender never paid this recipient (when true, the default)
//	quiet_hours               the decision falls inside [quiet_hours] in its time zone
//	account_frozen            a severe anomaly froze the sender's automatic approval
//
// A transfer that no rule denies or sends to a human is allowed, and its
// decision lists the reasons it was allowed (within per_tx_max, within
// window_max, …). ApprovalReasons picks the reasons a human is shown.
//
// # Intents and summaries
//
// An Intent is the canonical transfer: chain, sender, recipient, asset,
// amount in base units and calldata. Its Digest is what a human's approval
// and a signature are bound to: equal digests mean the same transfer.
// NewSummary renders an intent for people (amounts in units, the recipient's
// last six hex characters apart); StoredSummary is the summary a parked
// approval keeps, with the reasons it needed a human.
//
// # Security model
//
// The inputs come from a possibly hostile agent and, for token symbols and
// decimals, from the chain. The package fails closed:
//
//   - The zero Verdict is Deny, and the zero Decision denies.
//   - Evaluate denies when any fact is missing: a nil policy, intent, limits,
//     facts or balance, a zero Now, a negative sum, a window total below its
//     auto-approved part, or an ETH transfer whose recipient's code was not
//     checked. Facts.PaidBefore false, its zero value, means a new recipient.
//   - Quiet hours with no time zone loaded count as inside the window.
//   - LimitsFor refuses an asset it does not know; unknown-token limits are
//     rounded down (the stricter way) to the token's decimals.
//   - Parsers (ParseAddress, ParseAmount, ValidateIdempotencyKey) are
//     strict: no whitespace, sign, exponent or hex in amounts, EIP-55
//     checksums enforced on mixed-case addresses, every length bounded.
//     Their errors (*Error, with a Code) name the field and never echo the
//     input; *PolicyError names the line and key of policy.toml.
//   - Text from the chain (a token's symbol) passes through Sanitize before
//     it is put into a reason.
package policy
