// Package approvalstate defines, once, what every layer says about an
// approval: its status and the format of its id. It is a leaf: the store
// persists these values, the approval page, the CLI and the MCP tools show
// them, and none of them defines its own.
package approvalstate

// Status is the status of an approval. The allowed transitions are pending →
// approved, rejected or expired, and approved → executed or failed.
type Status string

// The statuses of an approval (CONTRACT.md §1, get_approval).
const (
	Pending  Status = "pending"  // waiting for a human
	Approved Status = "approved" // approved with a TOTP code; the server executes it
	Rejected Status = "rejected" // refused by a human
	Expired  Status = "expired"  // nobody decided before its expiry
	Executed Status = "executed" // signed and sent
	Failed   Status = "failed"   // approved, but executing it failed
)

// Valid reports whether s is one of the statuses.
func (s Status) Valid() bool {
	switch s {
	case Pending, Approved, Rejected, Expired, Executed, Failed:
		return true
	}
	return false
}

// Final reports whether s can no longer change (rejected, expired, executed
// or failed).
func (s Status) Final() bool {
	switch s {
	case Rejected, Expired, Executed, Failed:
		return true
	}
	return false
}

// IDLen is the length of an approval id: 128 random bits in lowercase hex.
const IDLen = 32

// ValidID reports whether id is an approval id: exactly IDLen lowercase hex
// digits.
func ValidID(id string) bool {
	if len(id) != IDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
