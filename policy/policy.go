package policy

import (
	"bytes"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/ethereum/go-ethereum/common"
)

// NativeDecimals is the number of decimals of ETH.
const NativeDecimals = 18

// NativeSymbol is the asset name of ETH.
const NativeSymbol = "ETH"

// Limits are the spending limits of one asset, in base units.
type Limits struct {
	// AutoApproveMax: at or below, a transfer may be signed without a human.
	AutoApproveMax *big.Int
	// PerTxMax: above, a transfer is denied even with a human's approval.
	PerTxMax *big.Int
	// BalanceFractionApproval: a transfer above this share of the balance needs approval.
	BalanceFractionApproval *big.Rat
	// Window is the rolling window of the two sums below.
	Window time.Duration
	// WindowAutoMax: the auto-approved total in the window; beyond it, approval.
	WindowAutoMax *big.Int
	// WindowMax: the total in the window; beyond it, denied.
	WindowMax *big.Int
}

// Token is an ERC-20 token configured in the policy.
type Token struct {
	Symbol   string
	Address  common.Address
	Decimals int
	Limits   Limits
}

// Recipients is the recipient policy.
type Recipients struct {
	// Mode is "any" or "allowlist".
	Mode string
	// Allow and Deny are address sets.
	Allow, Deny map[common.Address]bool
	// NewRecipientApproval: the first transfer to an address never paid needs approval.
	NewRecipientApproval bool
}

// Policy is a parsed, validated policy.toml (CONTRACT.md §3). It is immutable
// once parsed.
type Policy struct {
	// SHA256 is the hex SHA-256 of the file it was parsed from.
	SHA256 string
	// ChainID is the only chain the policy allows.
	ChainID uint64
	// Native holds the ETH limits.
	Native Limits
	// Tokens are the configured tokens, by symbol order of the file.
	Tokens []Token
	// Recipients is the recipient policy.
	Recipients Recipients
	// MaxFeePerGas caps the fee per gas of any signed transaction (wei).
	MaxFeePerGas *big.Int
	// ToolCallsPerMinute caps MCP tool calls (all tools together).
	ToolCallsPerMinute int
	// TransfersPerHour caps signed transfers.
	TransfersPerHour int
	// MaxTotalFee caps the maximum network fee of one transaction, gas limit ×
	// max fee per gas (wei); [fees] max_total_fee, default DefaultMaxTotalFee ETH.
	MaxTotalFee *big.Int
	// QuietHours turns auto-approval into approval during a daily window;
	// the zero value (no [quiet_hours] table) is off.
	QuietHours QuietHours
	// UnknownTokens is the policy for tokens that are not in [[tokens]]; the
	// zero value (no [unknown_tokens] table) refuses them.
	UnknownTokens UnknownTokens
	// Anomaly holds the [anomaly] rules (DefaultAnomalyRules when absent).
	Anomaly AnomalyRules
}

// QuietHours is the [quiet_hours] table: a daily local-time window during
// which nothing is signed without a human (auto-approval becomes approval).
type QuietHours struct {
	// Enabled is set when the policy has a [quiet_hours] table.
	Enabled bool
	// Start and End are minutes after local midnight, from 0 to 1439. The
	// window is [Start, End); it wraps midnight when Start > End. They differ.
	Start, End int
	// Zone is the IANA time zone name as written (default "UTC").
	Zone string
	// Location is Zone loaded with time.LoadLocation.
	Location *time.Location
}

// Contains reports whether t falls inside the quiet hours (false when off).
// A nil Location with Enabled set counts as inside: fail closed.
func (q *QuietHours) Contains(t time.Time) bool {
	if !q.Enabled {
		return false
	}
	if q.Location == nil {
		return true
	}
	lt := t.In(q.Location)
	m := lt.Hour()*60 + lt.Minute()
	if q.Start < q.End {
		return m >= q.Start && m < q.End
	}
	return m >= q.Start || m < q.End
}

// String renders the window as "22:00–07:00 Europe/Berlin".
func (q *QuietHours) String() string {
	return hhmm(q.Start) + "–" + hhmm(q.End) + " " + q.Zone
}

func hhmm(m int) string { return fmt.Sprintf("%02d:%02d", m/60, m%60) }

// UnknownTokenScale is the number of decimals the [unknown_tokens] limits are
// stored with; LimitsFor converts them to a token's own decimals. It is also
// the largest token decimals the policy accepts.
const UnknownTokenScale = 36

// UnknownTokens is the [unknown_tokens] table: whether tokens that are not
// configured in [[tokens]] may be sent at all, and their limits.
type UnknownTokens struct {
	// Allow: an unconfigured token may be sent under Limits. Default false.
	Allow bool
	// Limits has the keys of [native], in base units of a token with
	// UnknownTokenScale decimals; use LimitsFor. Its amounts are nil when
	// the table sets no limits (then Allow is false).
	Limits Limits
}

// LimitsFor returns the unknown-token limits in the base units of a token
// with the given on-chain decimals: each amount is the configured decimal
// value in the token's own units, rounded down (the stricter way) where it
// has more digits than the token. It fails when unknown tokens are not
// allowed or decimals is outside 0..UnknownTokenScale.
func (u *UnknownTokens) LimitsFor(decimals int) (*Limits, error) {
	if !u.Allow {
		return nil, Errorf(CodePolicyDenied, "asset: the token is not configured in the policy and [unknown_tokens] allow is false")
	}
	if decimals < 0 || decimals > UnknownTokenScale {
		return nil, Errorf(CodePolicyDenied, "asset: the token has %d decimals; the policy accepts 0 to %d", decimals, UnknownTokenScale)
	}
	l := u.Limits
	if l.AutoApproveMax == nil || l.PerTxMax == nil || l.WindowAutoMax == nil || l.WindowMax == nil || l.BalanceFractionApproval == nil {
		return nil, Errorf(CodeInternal, "unknown_tokens: limits are missing")
	}
	div := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(UnknownTokenScale-decimals)), nil)
	scale := func(x *big.Int) *big.Int { return new(big.Int).Quo(x, div) }
	return &Limits{
		AutoApproveMax: scale(l.AutoApproveMax), PerTxMax: scale(l.PerTxMax),
		BalanceFractionApproval: new(big.Rat).Set(l.BalanceFractionApproval), Window: l.Window,
		WindowAutoMax: scale(l.WindowAutoMax), WindowMax: scale(l.WindowMax),
	}, nil
}

// LimitsFor returns the limits that apply to in's asset: [native] for ETH,
// the token's own for a configured token (whose decimals must match), the
// [unknown_tokens] limits in the token's decimals for any other token when
// they are allowed. Anything else is refused.
func (p *Policy) LimitsFor(in *Intent) (*Limits, error) {
	if in == nil {
		return nil, Errorf(CodeInternal, "no intent")
	}
	if in.Asset == NativeSymbol {
		if in.Decimals != NativeDecimals {
			return nil, Errorf(CodeInternal, "asset: ETH has %d decimals", NativeDecimals)
		}
		return &p.Native, nil
	}
	addr, ok := ParseTokenAsset(in.Asset)
	if !ok {
		return nil, Errorf(CodeInvalidArgument, "asset: must be ETH or a token contract address")
	}
	if t, ok := p.TokenByAddress(addr); ok {
		if in.Decimals != t.Decimals {
			return nil, Errorf(CodePolicyDenied, "asset: the token reports %d decimals but the policy configures %d", in.Decimals, t.Decimals)
		}
		return &t.Limits, nil
	}
	return p.UnknownTokens.LimitsFor(in.Decimals)
}

// LongestWindow is the longest rolling window of any asset in the policy:
// how long a Ledger must keep spends.
func (p *Policy) LongestWindow() time.Duration {
	w := p.Native.Window
	for i := range p.Tokens {
		w = max(w, p.Tokens[i].Limits.Window)
	}
	if p.UnknownTokens.Allow {
		w = max(w, p.UnknownTokens.Limits.Window)
	}
	return w
}

// ParseTokenAsset parses an Intent's Asset that names a token: a lowercase 0x
// address of 40 hex digits, not the zero address.
func ParseTokenAsset(asset string) (common.Address, bool) {
	if len(asset) != 42 || asset[:2] != "0x" {
		return common.Address{}, false
	}
	for i := 2; i < len(asset); i++ {
		c := asset[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return common.Address{}, false
		}
	}
	a := common.HexToAddress(asset)
	return a, a != (common.Address{})
}

type rawLimits struct {
	AutoApproveMax          *string `toml:"auto_approve_max"`
	PerTxMax                *string `toml:"per_tx_max"`
	BalanceFractionApproval *string `toml:"balance_fraction_approval"`
	Window                  *string `toml:"window"`
	WindowAutoMax           *string `toml:"window_auto_max"`
	WindowMax               *string `toml:"window_max"`
}

// rawToken is a [[tokens]] entry: its identity plus the keys of [native]
// (embedded, so the TOML decoder reads them at the same level).
type rawToken struct {
	Symbol   *string `toml:"symbol"`
	Address  *string `toml:"address"`
	Decimals *int64  `toml:"decimals"`
	rawLimits
}

type rawPolicy struct {
	ChainID    *int64     `toml:"chain_id"`
	Native     *rawLimits `toml:"native"`
	Tokens     []rawToken `toml:"tokens"`
	Recipients struct {
		Mode                 *string  `toml:"mode"`
		Allow                []string `toml:"allow"`
		Deny                 []string `toml:"deny"`
		NewRecipientApproval *bool    `toml:"new_recipient_approval"`
	} `toml:"recipients"`
	Fees struct {
		MaxFeePerGasGwei *string `toml:"max_fee_per_gas_gwei"`
		MaxTotalFee      *string `toml:"max_total_fee"`
	} `toml:"fees"`
	Rate struct {
		ToolCallsPerMinute *int64 `toml:"tool_calls_per_minute"`
		TransfersPerHour   *int64 `toml:"transfers_per_hour"`
	} `toml:"rate"`
	QuietHours *struct {
		Start    *string `toml:"start"`
		End      *string `toml:"end"`
		TimeZone *string `toml:"time_zone"`
	} `toml:"quiet_hours"`
	UnknownTokens *struct {
		Allow *bool `toml:"allow"`
		rawLimits
	} `toml:"unknown_tokens"`
	Anomaly *rawAnomaly `toml:"anomaly"`
}

// PolicyError is a problem in policy.toml, with the line (0 when unknown)
// and the dotted key.
type PolicyError struct {
	Line int
	Key  string
	Msg  string
}

// Error renders "policy: line N: key: message".
func (e *PolicyError) Error() string {
	var b strings.Builder
	b.WriteString("policy: ")
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Defaults written in the policy documentation.
const (
	DefaultBalanceFraction    = "0.2"
	DefaultWindow             = 24 * time.Hour
	DefaultMaxFeePerGasGwei   = "200"
	DefaultToolCallsPerMinute = 120
	DefaultTransfersPerHour   = 30
	// DefaultMaxTotalFee is [fees] max_total_fee in ETH: 250,000 gas at
	// 200 gwei, room for a token transfer at the default fee cap.
	DefaultMaxTotalFee = "0.05"
	// DefaultQuietHoursZone is [quiet_hours] time_zone when absent.
	DefaultQuietHoursZone = "UTC"
	maxWindow             = 31 * 24 * time.Hour
)

var (
	// typeErrRE's bounds are checked after a match (typeErrMatch): bounded
	// repeats such as {1,200} compile to a copy per repeat, milliseconds
	// that every process start paid.
	// Compiled on first use (a policy with a type error), not at start.
	typeErrRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^toml: line ([0-9]+) \(last key "([A-Za-z0-9_.]+)"\): (incompatible types: [ -~]+)$`)
	})
)

// The shapes below are checked by hand rather than by regexps: a bounded
// repeat ({1,11}) compiles to a copy per repeat, which every process start
// paid at init.

// isSymbol reports whether s is 1 to 11 ASCII letters or digits.
func isSymbol(s string) bool {
	if len(s) < 1 || len(s) > 11 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) && !('A' <= s[i] && s[i] <= 'Z' || 'a' <= s[i] && s[i] <= 'z') {
			return false
		}
	}
	return true
}

// isFraction reports whether s is 0 or 1 with at most six decimals ("0.2",
// "1", "0.000001").
func isFraction(s string) bool {
	if len(s) == 0 || (s[0] != '0' && s[0] != '1') {
		return false
	}
	if len(s) == 1 {
		return true
	}
	if s[1] != '.' || len(s) < 3 || len(s) > 8 {
		return false
	}
	for i := 2; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// clockMinutes parses a time of day "HH:MM" from 00:00 to 23:59 into minutes
// after midnight.
func clockMinutes(s string) (int, bool) {
	if len(s) != 5 || s[2] != ':' || !isDigit(s[0]) || !isDigit(s[1]) || !isDigit(s[3]) || !isDigit(s[4]) {
		return 0, false
	}
	h, m := int(s[0]-'0')*10+int(s[1]-'0'), int(s[3]-'0')*10+int(s[4]-'0')
	if h > 23 || m > 59 {
		return 0, false
	}
	return h*60 + m, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// typeErrMatch matches a decoder's type error: a line of at most 9 digits,
// a key of at most 100 characters and at most 200 characters of detail.
func typeErrMatch(s string) []string {
	m := typeErrRE().FindStringSubmatch(s)
	if m == nil || len(m[1]) > 9 || len(m[2]) > 100 || len(m[3]) > len("incompatible types: ")+200 {
		return nil
	}
	return m
}

// ParsePolicy parses and validates policy.toml. Unknown keys, malformed or
// negative amounts and contradicting limits are refused with the line and key.
func ParsePolicy(data []byte, sha256hex string) (*Policy, error) {
	var raw rawPolicy
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&raw)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, &PolicyError{Line: pe.Position.Line, Key: pe.LastKey, Msg: pe.Message}
		}
		// A value of the wrong type is a plain error from the decoder:
		// `toml: line N (last key "k"): incompatible types: …`.
		if m := typeErrMatch(err.Error()); m != nil {
			line, _ := strconv.Atoi(m[1])
			return nil, &PolicyError{Line: line, Key: m[2], Msg: "wrong type: " + m[3]}
		}
		return nil, &PolicyError{Msg: err.Error()}
	}
	lines := newKeyLines(data)
	if und := md.Undecoded(); len(und) > 0 {
		k := und[0]
		return nil, &PolicyError{Line: lines.find(k), Key: k.String(), Msg: "unknown key"}
	}
	p := &Policy{SHA256: sha256hex}
	errAt := func(table string, idx int, key, format string, args ...any) error {
		full := key
		if table != "" {
			full = table + "." + key
		}
		return &PolicyError{Line: lines.lookup(table, idx, key), Key: full, Msg: fmt.Sprintf(format, args...)}
	}

	if raw.ChainID == nil {
		return nil, errAt("", 0, "chain_id", "required")
	}
	if *raw.ChainID <= 0 {
		return nil, errAt("", 0, "chain_id", "must be a positive integer")
	}
	p.ChainID = uint64(*raw.ChainID)

	if raw.Native == nil {
		return nil, &PolicyError{Key: "native", Msg: "required table [native] is missing"}
	}
	if p.Native, err = parseLimits(*raw.Native, NativeDecimals, "native", 0, errAt); err != nil {
		return nil, err
	}

	seenSym := map[string]bool{}
	seenAddr := map[common.Address]bool{}
	for i, rt := range raw.Tokens {
		tbl := fmt.Sprintf("tokens[%d]", i)
		if rt.Symbol == nil || !isSymbol(*rt.Symbol) {
			return nil, errAt("tokens", i, "symbol", "required: 1 to 11 letters or digits")
		}
		sym := strings.ToUpper(*rt.Symbol)
		if sym == NativeSymbol || seenSym[sym] {
			return nil, errAt("tokens", i, "symbol", "%q is reserved or used twice", *rt.Symbol)
		}
		seenSym[sym] = true
		if rt.Address == nil {
			return nil, errAt("tokens", i, "address", "required")
		}
		addr, aerr := ParseAddress(tbl+".address", *rt.Address)
		if aerr != nil {
			return nil, errAt("tokens", i, "address", "must be a 0x address with a valid checksum")
		}
		if addr == (common.Address{}) || seenAddr[addr] {
			return nil, errAt("tokens", i, "address", "zero address or used twice")
		}
		seenAddr[addr] = true
		if rt.Decimals == nil || *rt.Decimals < 0 || *rt.Decimals > 36 {
			return nil, errAt("tokens", i, "decimals", "required: an integer from 0 to 36")
		}
		dec := int(*rt.Decimals)
		lim, lerr := parseLimits(rt.rawLimits, dec, "tokens", i, errAt)
		if lerr != nil {
			return nil, lerr
		}
		p.Tokens = append(p.Tokens, Token{Symbol: sym, Address: addr, Decimals: dec, Limits: lim})
	}

	r := raw.Recipients
	p.Recipients.Mode = "any"
	if r.Mode != nil {
		if *r.Mode != "any" && *r.Mode != "allowlist" {
			return nil, errAt("recipients", 0, "mode", "must be \"any\" or \"allowlist\"")
		}
		p.Recipients.Mode = *r.Mode
	}
	p.Recipients.NewRecipientApproval = true
	if r.NewRecipientApproval != nil {
		p.Recipients.NewRecipientApproval = *r.NewRecipientApproval
	}
	var aerr error
	if p.Recipients.Allow, aerr = parseAddrSet(r.Allow, "allow", errAt); aerr != nil {
		return nil, aerr
	}
	if p.Recipients.Deny, aerr = parseAddrSet(r.Deny, "deny", errAt); aerr != nil {
		return nil, aerr
	}
	for a := range p.Recipients.Deny {
		if p.Recipients.Allow[a] {
			return nil, errAt("recipients", 0, "deny", "%s is in both allow and deny", a.Hex())
		}
	}

	feeText := DefaultMaxFeePerGasGwei
	if raw.Fees.MaxFeePerGasGwei != nil {
		feeText = *raw.Fees.MaxFeePerGasGwei
	}
	fee, ferr := ParseAmount("max_fee_per_gas_gwei", feeText, 9)
	if ferr != nil {
		return nil, errAt("fees", 0, "max_fee_per_gas_gwei", "must be a positive decimal number of gwei with at most 9 decimals")
	}
	p.MaxFeePerGas = fee

	totalText := DefaultMaxTotalFee
	if raw.Fees.MaxTotalFee != nil {
		totalText = *raw.Fees.MaxTotalFee
	}
	if strings.HasPrefix(totalText, "-") {
		return nil, errAt("fees", 0, "max_total_fee", "must not be negative")
	}
	if p.MaxTotalFee, ferr = ParseAmount("max_total_fee", totalText, NativeDecimals); ferr != nil {
		return nil, errAt("fees", 0, "max_total_fee", "must be a positive decimal number of ETH like \"0.05\" with at most 18 decimals")
	}

	if q := raw.QuietHours; q != nil {
		if p.QuietHours, err = parseQuietHours(q.Start, q.End, q.TimeZone, errAt); err != nil {
			return nil, err
		}
	}

	if u := raw.UnknownTokens; u != nil {
		p.UnknownTokens.Allow = u.Allow != nil && *u.Allow
		r := u.rawLimits
		anyLimit := r.AutoApproveMax != nil || r.PerTxMax != nil || r.BalanceFractionApproval != nil ||
			r.Window != nil || r.WindowAutoMax != nil || r.WindowMax != nil
		if p.UnknownTokens.Allow || anyLimit {
			if p.UnknownTokens.Limits, err = parseLimits(r, UnknownTokenScale, "unknown_tokens", 0, errAt); err != nil {
				return nil, err
			}
		}
	}

	p.ToolCallsPerMinute = DefaultToolCallsPerMinute
	if v := raw.Rate.ToolCallsPerMinute; v != nil {
		if *v < 1 || *v > 100000 {
			return nil, errAt("rate", 0, "tool_calls_per_minute", "must be from 1 to 100000")
		}
		p.ToolCallsPerMinute = int(*v)
	}
	p.TransfersPerHour = DefaultTransfersPerHour
	if v := raw.Rate.TransfersPerHour; v != nil {
		if *v < 1 || *v > 100000 {
			return nil, errAt("rate", 0, "transfers_per_hour", "must be from 1 to 100000")
		}
		p.TransfersPerHour = int(*v)
	}
	if p.Anomaly, err = parseAnomaly(raw.Anomaly, errAt); err != nil {
		return nil, err
	}
	return p, nil
}

type errAtFunc func(table string, idx int, key, format string, args ...any) error

// parseQuietHours parses [quiet_hours]: start and end as "HH:MM" (24-hour,
// local time in time_zone), time_zone an IANA name.
func parseQuietHours(start, end, zone *string, errAt errAtFunc) (QuietHours, error) {
	q := QuietHours{Enabled: true, Zone: DefaultQuietHoursZone}
	clock := func(key string, v *string) (int, error) {
		if v == nil {
			return 0, errAt("quiet_hours", 0, key, "required: a time of day like \"22:00\"")
		}
		m, ok := clockMinutes(*v)
		if !ok {
			return 0, errAt("quiet_hours", 0, key, "must be a time of day from \"00:00\" to \"23:59\"")
		}
		return m, nil
	}
	var err error
	if q.Start, err = clock("start", start); err != nil {
		return q, err
	}
	if q.End, err = clock("end", end); err != nil {
		return q, err
	}
	if q.Start == q.End {
		return q, errAt("quiet_hours", 0, "end", "must differ from start")
	}
	if zone != nil {
		q.Zone = *zone
	}
	// "" and "Local" would depend on the machine, not on the attested file.
	if q.Zone == "" || q.Zone == "Local" || len(q.Zone) > 64 {
		return q, errAt("quiet_hours", 0, "time_zone", "must be an IANA time zone name like \"Europe/Berlin\" or \"UTC\"")
	}
	if q.Location, err = time.LoadLocation(q.Zone); err != nil {
		return q, errAt("quiet_hours", 0, "time_zone", "unknown time zone; use an IANA name like \"Europe/Berlin\" or \"UTC\"")
	}
	return q, nil
}

func parseAddrSet(list []string, key string, errAt errAtFunc) (map[common.Address]bool, error) {
	set := make(map[common.Address]bool, len(list))
	for i, s := range list {
		a, err := ParseAddress(key, s)
		if err != nil {
			return nil, errAt("recipients", 0, key, "entry %d is not a 0x address with a valid checksum", i+1)
		}
		set[a] = true
	}
	return set, nil
}

func parseLimits(r rawLimits, decimals int, table string, idx int, errAt errAtFunc) (Limits, error) {
	var l Limits
	amount := func(key string, v *string) (*big.Int, error) {
		if v == nil {
			return nil, errAt(table, idx, key, "required")
		}
		if strings.HasPrefix(*v, "-") {
			return nil, errAt(table, idx, key, "must not be negative")
		}
		if *v == "0" {
			return new(big.Int), nil
		}
		x, err := ParseAmount(key, *v, decimals)
		if err != nil {
			return nil, errAt(table, idx, key, "must be a decimal string like \"0.5\" with at most %d decimals", decimals)
		}
		return x, nil
	}
	var err error
	if l.AutoApproveMax, err = amount("auto_approve_max", r.AutoApproveMax); err != nil {
		return l, err
	}
	if l.PerTxMax, err = amount("per_tx_max", r.PerTxMax); err != nil {
		return l, err
	}
	if l.WindowAutoMax, err = amount("window_auto_max", r.WindowAutoMax); err != nil {
		return l, err
	}
	if l.WindowMax, err = amount("window_max", r.WindowMax); err != nil {
		return l, err
	}
	frac := DefaultBalanceFraction
	if r.BalanceFractionApproval != nil {
		frac = *r.BalanceFractionApproval
	}
	if !isFraction(frac) {
		return l, errAt(table, idx, "balance_fraction_approval", "must be a decimal from 0 to 1 like \"0.2\"")
	}
	l.BalanceFractionApproval, _ = new(big.Rat).SetString(frac)
	if l.BalanceFractionApproval.Sign() <= 0 || l.BalanceFractionApproval.Cmp(big.NewRat(1, 1)) > 0 {
		return l, errAt(table, idx, "balance_fraction_approval", "must be above 0 and at most 1")
	}
	l.Window = DefaultWindow
	if r.Window != nil {
		d, derr := time.ParseDuration(*r.Window)
		if derr != nil || d <= 0 || d > maxWindow {
			return l, errAt(table, idx, "window", "must be a duration like \"24h\", above 0 and at most 744h")
		}
		l.Window = d
	}
	if l.PerTxMax.Sign() == 0 {
		return l, errAt(table, idx, "per_tx_max", "must be greater than zero")
	}
	// Each contradiction names both keys and both values.
	above := func(key string, v *big.Int, otherKey string, other *big.Int, why string) error {
		return errAt(table, idx, key, "%s %s is above %s %s%s", key, FormatAmount(v, decimals), otherKey, FormatAmount(other, decimals), why)
	}
	switch {
	case l.AutoApproveMax.Cmp(l.PerTxMax) > 0:
		return l, above("auto_approve_max", l.AutoApproveMax, "per_tx_max", l.PerTxMax, "")
	case l.WindowAutoMax.Cmp(l.WindowMax) > 0:
		return l, above("window_auto_max", l.WindowAutoMax, "window_max", l.WindowMax, "")
	case l.PerTxMax.Cmp(l.WindowMax) > 0:
		return l, above("per_tx_max", l.PerTxMax, "window_max", l.WindowMax, ": a single transfer may not exceed the window total")
	case l.AutoApproveMax.Cmp(l.WindowAutoMax) > 0:
		return l, above("auto_approve_max", l.AutoApproveMax, "window_auto_max", l.WindowAutoMax, "")
	}
	return l, nil
}

// Token returns the configured token with this symbol (case-insensitive).
func (p *Policy) Token(symbol string) (*Token, bool) {
	for i := range p.Tokens {
		if strings.EqualFold(p.Tokens[i].Symbol, symbol) {
			return &p.Tokens[i], true
		}
	}
	return nil, false
}

// TokenByAddress returns the configured token at addr.
func (p *Policy) TokenByAddress(addr common.Address) (*Token, bool) {
	for i := range p.Tokens {
		if p.Tokens[i].Address == addr {
			return &p.Tokens[i], true
		}
	}
	return nil, false
}

// SortedAddresses returns the set's addresses in ascending order.
func SortedAddresses(set map[common.Address]bool) []common.Address {
	out := make([]common.Address, 0, len(set))
	for a := range set {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return bytes.Compare(out[i][:], out[j][:]) < 0 })
	return out
}

// keyLines finds the line of a key in a TOML text by scanning table headers
// and "key =" lines. It understands the subset the policy uses.
type keyLines struct {
	lines []string
}

func newKeyLines(data []byte) keyLines {
	return keyLines{lines: strings.Split(string(data), "\n")}
}

// lookup returns the 1-based line of key in table (idx-th array table for
// "tokens"), or of the table header when the key is absent, or 0.
func (k keyLines) lookup(table string, idx int, key string) int {
	cur, count, header := "", -1, 0
	for i, ln := range k.lines {
		t := strings.TrimSpace(ln)
		if c := strings.IndexByte(t, '#'); c >= 0 && !strings.Contains(t[:c], "\"") {
			t = strings.TrimSpace(t[:c])
		}
		switch {
		case strings.HasPrefix(t, "[["):
			cur = strings.TrimSpace(strings.Trim(t, "[]"))
			if cur == table {
				count++
				if count == idx {
					header = i + 1
				}
			}
			continue
		case strings.HasPrefix(t, "["):
			cur = strings.TrimSpace(strings.Trim(t, "[]"))
			count = -1
			if cur == table {
				header = i + 1
			}
			continue
		}
		if cur != table || (strings.HasPrefix(table, "tokens") && count != idx) {
			continue
		}
		name, _, ok := strings.Cut(t, "=")
		if ok && strings.TrimSpace(name) == key {
			return i + 1
		}
	}
	return header
}

// find returns the line of a dotted key reported by the TOML decoder.
func (k keyLines) find(key toml.Key) int {
	if len(key) == 0 {
		return 0
	}
	if len(key) == 1 {
		if line := k.lookup("", 0, key[0]); line > 0 {
			return line
		}
		return k.header(key[0])
	}
	table := strings.Join(key[:len(key)-1], ".")
	if table == "tokens" {
		// The decoder's key has no array index: report the first
		// [[tokens]] table that has the key.
		for idx := 0; ; idx++ {
			line, found := k.lookupKey(table, idx, key[len(key)-1])
			if found {
				return line
			}
			if line == 0 {
				break
			}
		}
	}
	return k.lookup(table, 0, key[len(key)-1])
}

// header returns the line of the table header [name] or [[name]], or 0.
func (k keyLines) header(name string) int {
	for i, ln := range k.lines {
		t := strings.TrimSpace(ln)
		if c := strings.IndexByte(t, '#'); c >= 0 && !strings.Contains(t[:c], "\"") {
			t = strings.TrimSpace(t[:c])
		}
		if strings.HasPrefix(t, "[") && strings.TrimSpace(strings.Trim(t, "[]")) == name {
			return i + 1
		}
	}
	return 0
}

// lookupKey is lookup that also reports whether the key itself was found
// (rather than only its table's header).
func (k keyLines) lookupKey(table string, idx int, key string) (int, bool) {
	line := k.lookup(table, idx, key)
	if line == 0 {
		return 0, false
	}
	name, _, ok := strings.Cut(strings.TrimSpace(k.lines[line-1]), "=")
	return line, ok && strings.TrimSpace(name) == key
}
