// Package mcpserver exposes the wallet to MCP clients: thin tool handlers over
// approval.Guard and read-only chain access, middleware that recovers panics,
// audits every call and rate-limits, and the stdio transport.
//
// # Security model
//
// Every tool argument comes from a possibly hostile agent. Arguments are
// decoded strictly (unknown fields, wrong types and over-long strings are
// invalid_argument naming the field, never echoing the value), and no tool can
// reach a key except through the Guard: this package imports neither wallet,
// hsm nor a signer backend (deps_test.go at the module root checks it). No
// tool approves, rejects, enters codes, exports keys or changes the policy.
// Text that comes from the chain is sanitised before it reaches the agent.
package mcpserver
