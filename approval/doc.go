// Package approval decides what may be signed. Guard is the only path from a
// transfer request to a signer: it parses and validates the request, evaluates
// the attested policy, records the spend, and only then builds, signs and
// broadcasts the transaction.
//
// The rules themselves (the policy file, intents and their digest, amounts,
// the evaluator and its verdicts, summaries) are package policy, which does
// no I/O. This package turns a request into an intent (resolve.go), gathers
// the facts policy.Evaluate needs (facts.go), runs the Guard (guard.go),
// keeps the spend ledger (ledger.go), signs and broadcasts (execute.go),
// executes what a human approved, in this process or another (executor.go),
// hands out and accepts offline (EIP-4527) requests (offline.go),
// reports approvals and maps their status to a send_transfer Outcome
// (approvals.go), reads balances (balance.go) and renders the policy view
// (view.go); mcpserver renders the approval and balance views.
//
// # Security model
//
// The caller (the MCP layer, driven by a possibly hostile agent) supplies only
// from, to, amount, asset and an idempotency key. It can never pass calldata,
// gas, fees or a nonce. Verdicts fail closed: the zero Verdict is Deny, and any
// error while gathering facts (balance, fees, the store) denies. The spend is
// reserved in the store, in the transaction that checks the limits (no other
// reservation, in any process, comes between), before anything is signed or
// with the signature: a key held in memory signs inside that transaction,
// once the verdict allows it and the nonce is taken, so that the reservation
// and the signed bytes are one durable write; a slower key (an HSM, a key
// still being unlocked) signs after it is committed. Every verdict, signature
// and broadcast is written to the audit log, and a signature's record is on
// disk before the signed transaction is stored (where anyone who can read the
// home could take it) and before it leaves the process: the reservation an
// immediate key signs in commits only once the record is durable. A signed
// transaction is stored before it is broadcast, so a crash never leads to a
// second, different transaction for the same request: recovery re-broadcasts
// the stored one.
package approval
