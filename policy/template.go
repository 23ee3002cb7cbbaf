package policy

import (
	"fmt"
)

// PolicyTemplate returns the policy.toml that `walletmcp init` writes, for
// chainID. Every limit is written out so the human sees what is enforced.
func PolicyTemplate(chainID uint64) string {
	return fmt.Sprintf(`# walletmcp spending policy. walletmcp serve refuses to start until this file's
# SHA-256 is attested: review it, then run "walletmcp policy attest".
# Amounts are decimal strings in the asset's units.

chain_id = %d

[native]                            # ETH
auto_approve_max = "0.1"            # at or below: signed without a human, if every other rule passes
per_tx_max = "5"                    # above: denied, even with approval
balance_fraction_approval = "0.2"   # above this fraction of the balance: needs approval
window = "24h"                      # rolling window for the two sums below
window_auto_max = "1"               # auto-approved total in the window; beyond: needs approval
window_max = "10"                   # total (auto + approved) in the window; beyond: denied

# [[tokens]]                        # same keys as [native], plus:
# symbol = "USDC"
# address = "0x..."
# decimals = 6

[recipients]
mode = "any"                        # or "allowlist": everything not in allow is denied
allow = []
deny = []
new_recipient_approval = true       # first transfer to an address never paid before needs approval

[fees]
max_fee_per_gas_gwei = "200"
# max_total_fee = "0.05"            # the default, in ETH: gas limit × max fee per gas above it is denied

# [quiet_hours]                     # during this daily window every transfer needs approval
# start = "22:00"
# end = "07:00"
# time_zone = "Europe/Berlin"

# [unknown_tokens]                  # tokens not listed in [[tokens]]: refused unless
# allow = true                      # ...allowed here, with the same limit keys as [native]

[rate]
tool_calls_per_minute = 120
transfers_per_hour = 30

# [anomaly]                         # per-account anomaly rules; these are the defaults, 0 turns a rule off
# denials_per_minute = 30           # denied transfers of one account within a minute
# transfers_per_hour_factor = 5     # last hour's transfers above this many times the hourly baseline...
# min_transfers_per_hour = 10       # ...and at least this many
# baseline_hours = 24               # how far back the baseline reaches
# new_recipients_per_hour = 10      # transfers to never-paid recipients within an hour
# quiet_hours_activity = true       # any transfer attempt inside [quiet_hours]
# near_limit_repeats = 5            # transfers within an hour at or above near_limit_percent...
# near_limit_percent = 90           # ...percent of auto_approve_max (and within it)
# freeze_on = ["denials_per_minute", "near_limit_amounts"]   # severe rules: freeze automatic approval
`, chainID)
}
