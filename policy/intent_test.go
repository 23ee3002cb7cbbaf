package policy_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/policy"
)

// apDigestIntent is the intent the digest tests vary one field at a time.
func apDigestIntent() *policy.Intent {
	return &policy.Intent{
		ChainID: 1337, From: apAlice, To: apBob, Asset: "ETH",
		Amount: apEth("0.25"), Decimals: 18, Symbol: "ETH",
	}
}

// TestIntentDigestEncoding recomputes the digest from the encoding its doc
// comment describes, and pins one value (also computed with Python's hashlib
// over the same bytes): approvals and idempotency records
// stored on disk are bound to it, so it must not change silently.
func TestIntentDigestEncoding(t *testing.T) {
	in := apDigestIntent()
	in.Calldata = []byte{0xde, 0xad}
	var buf bytes.Buffer
	u64 := func(v uint64) { _ = binary.Write(&buf, binary.BigEndian, v) }
	field := func(p []byte) { u64(uint64(len(p))); buf.Write(p) }
	buf.WriteString("walletmcp-intent-v1")
	u64(1337)
	buf.Write(apAlice[:])
	buf.Write(apBob[:])
	field([]byte("ETH"))
	field(apEth("0.25").Bytes())
	field([]byte{0xde, 0xad})
	want := sha256.Sum256(buf.Bytes())
	got := in.Digest()
	if got != want {
		t.Errorf("Digest = %x, want %x (sha256 of the documented encoding)", got, want)
	}
	const pinned = "830c4cf35efea2dc8541f97e9ff94f8ae253da6ab8f539ce98d793f7d60fdd05"
	if hex.EncodeToString(got[:]) != pinned {
		t.Errorf("Digest = %x, want the pinned %s", got, pinned)
	}
}

func TestIntentDigestChangesWithEveryBoundField(t *testing.T) {
	base := apDigestIntent()
	cases := []struct {
		name   string
		mutate func(in *policy.Intent)
	}{
		{"chain id", func(in *policy.Intent) { in.ChainID = 1 }},
		{"chain id high bit", func(in *policy.Intent) { in.ChainID = 1337 | 1<<63 }},
		{"from", func(in *policy.Intent) { in.From = apCarol }},
		{"from one bit", func(in *policy.Intent) { in.From[19] ^= 1 }},
		{"to", func(in *policy.Intent) { in.To = apCarol }},
		{"to one bit", func(in *policy.Intent) { in.To[0] ^= 0x80 }},
		{"from and to swapped", func(in *policy.Intent) { in.From, in.To = in.To, in.From }},
		{"asset token", func(in *policy.Intent) { in.Asset = strings.ToLower(apUsdcAddress) }},
		{"asset case", func(in *policy.Intent) { in.Asset = "eth" }},
		{"asset empty", func(in *policy.Intent) { in.Asset = "" }},
		{"amount one wei more", func(in *policy.Intent) { in.Amount = apPlus(apEth("0.25"), apOneWei) }},
		{"amount times ten", func(in *policy.Intent) { in.Amount = apEth("2.5") }},
		{"amount zero", func(in *policy.Intent) { in.Amount = new(big.Int) }},
		{"calldata added", func(in *policy.Intent) { in.Calldata = []byte{0} }},
		{"calldata transfer selector", func(in *policy.Intent) { in.Calldata = []byte{0xa9, 0x05, 0x9c, 0xbb} }},
		// Without length prefixes these two would hash the same bytes as
		// amount 0x03782dace9d90000 (0.25 ETH) with no calldata.
		{"amount byte moved into calldata", func(in *policy.Intent) {
			b := apEth("0.25").Bytes()
			in.Amount = new(big.Int).SetBytes(b[:len(b)-1])
			in.Calldata = b[len(b)-1:]
		}},
		{"asset byte moved into amount", func(in *policy.Intent) {
			in.Asset = "ET"
			in.Amount = new(big.Int).SetBytes(append([]byte("H"), apEth("0.25").Bytes()...))
		}},
	}
	seen := map[[32]byte]string{base.Digest(): "base"}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := apDigestIntent()
			tc.mutate(in)
			d := in.Digest()
			if prev, dup := seen[d]; dup {
				t.Errorf("digest %x equals the digest of %q", d, prev)
			}
			seen[d] = tc.name
		})
	}
}

func TestIntentDigestEqualForEqualIntents(t *testing.T) {
	a := apDigestIntent()
	cases := []struct {
		name   string
		mutate func(in *policy.Intent)
	}{
		{"fresh copy", func(in *policy.Intent) {}},
		{"amount built another way", func(in *policy.Intent) {
			in.Amount = new(big.Int).Mul(big.NewInt(25), new(big.Int).Exp(big.NewInt(10), big.NewInt(16), nil))
		}},
		{"nil and empty calldata", func(in *policy.Intent) { in.Calldata = []byte{} }},
		// Decimals and Symbol are display only: an approval is bound to chain
		// id, from, to, asset, base units and calldata (CONTRACT.md §1, Approvals).
		{"decimals are display only", func(in *policy.Intent) { in.Decimals = 6 }},
		{"symbol is display only", func(in *policy.Intent) { in.Symbol = "WETH" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := apDigestIntent()
			tc.mutate(b)
			if a.Digest() != b.Digest() {
				t.Errorf("digests differ: %x vs %x", a.Digest(), b.Digest())
			}
		})
	}
	first, second := a.Digest(), a.Digest()
	if first != second {
		t.Errorf("Digest is not deterministic")
	}
}

func TestNewSummaryToTail(t *testing.T) {
	cases := []struct {
		to   string
		tail string
	}{
		{apVecA, "1BeAed"},
		{apVecB, "c5d359"},
		{apVecC, "C8C6FB"},
		{apVecD, "7b9aDb"},
		{"0x52908400098527886E0F7030069857D2E4169EE7", "169EE7"},
		{"0xde709f2102306220921060314715629080e2fb77", "e2fb77"},
	}
	for _, tc := range cases {
		t.Run(tc.to, func(t *testing.T) {
			in := apDigestIntent()
			in.To = common.HexToAddress(tc.to) // from lowercase or any case: the summary re-checksums
			s := policy.NewSummary(in, apGwei("21000"))
			if s.ToTail != tc.tail {
				t.Errorf("ToTail = %q, want %q", s.ToTail, tc.tail)
			}
			if s.To != tc.to {
				t.Errorf("To = %q, want the EIP-55 form %q", s.To, tc.to)
			}
			if !strings.HasSuffix(s.To, s.ToTail) || len(s.ToTail) != 6 {
				t.Errorf("ToTail %q is not the last 6 characters of %q", s.ToTail, s.To)
			}
		})
	}
}

func TestNewSummary(t *testing.T) {
	cases := []struct {
		name string
		in   *policy.Intent
		fee  *big.Int
		want policy.Summary
		line string
		json string
	}{
		{
			name: "ETH",
			in:   apDigestIntent(),
			fee:  apGwei("21000"),
			want: policy.Summary{ChainID: 1337, From: apVecA, To: apVecB, ToTail: "c5d359", Amount: "0.25", AmountBaseUnits: "250000000000000000", Asset: "ETH", MaxFee: "0.000021"},
			line: "send 0.25 ETH from " + apVecA + " to " + apVecB + " (…c5d359), chain 1337, max fee 0.000021 ETH",
			json: `{"chain_id":1337,"from":"` + apVecA + `","to":"` + apVecB + `","to_tail":"c5d359","amount":"0.25","amount_base_units":"250000000000000000","asset":"ETH","max_fee":"0.000021"}`,
		},
		{
			name: "token",
			in: &policy.Intent{ChainID: 1, From: apBob, To: common.HexToAddress(apVecD), Asset: strings.ToLower(apUsdcAddress),
				Amount: big.NewInt(12_500_000), Decimals: 6, Symbol: "USDC", Calldata: []byte{0xa9, 0x05, 0x9c, 0xbb}},
			fee:  apGwei("1300000"),
			want: policy.Summary{ChainID: 1, From: apVecB, To: apVecD, ToTail: "7b9aDb", Amount: "12.5", AmountBaseUnits: "12500000", Asset: "USDC", MaxFee: "0.0013", Contract: apUsdcAddress},
			line: "send 12.5 USDC from " + apVecB + " to " + apVecD + " (…7b9aDb) via token " + apUsdcAddress + ", chain 1, max fee 0.0013 ETH",
			json: `{"chain_id":1,"from":"` + apVecB + `","to":"` + apVecD + `","to_tail":"7b9aDb","amount":"12.5","amount_base_units":"12500000","asset":"USDC","max_fee":"0.0013","contract":"` + apUsdcAddress + `"}`,
		},
		{
			name: "one wei, no fee",
			in:   &policy.Intent{ChainID: 1337, From: apAlice, To: apCarol, Asset: "ETH", Amount: big.NewInt(1), Decimals: 18, Symbol: "ETH"},
			fee:  new(big.Int),
			want: policy.Summary{ChainID: 1337, From: apVecA, To: apVecC, ToTail: "C8C6FB", Amount: "0.000000000000000001", AmountBaseUnits: "1", Asset: "ETH", MaxFee: "0"},
			line: "send 0.000000000000000001 ETH from " + apVecA + " to " + apVecC + " (…C8C6FB), chain 1337, max fee 0 ETH",
			json: `{"chain_id":1337,"from":"` + apVecA + `","to":"` + apVecC + `","to_tail":"C8C6FB","amount":"0.000000000000000001","amount_base_units":"1","asset":"ETH","max_fee":"0"}`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := policy.NewSummary(tc.in, tc.fee)
			if s != tc.want {
				t.Errorf("NewSummary = %+v\nwant           %+v", s, tc.want)
			}
			line := s.Line()
			if line != tc.line {
				t.Errorf("Line = %q\nwant   %q", line, tc.line)
			}
			if strings.ContainsAny(line, "\n\r\v\f\u2028\u2029") {
				t.Errorf("Line %q is not one line", line)
			}
			js, err := json.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			if string(js) != tc.json {
				t.Errorf("JSON = %s\nwant   %s", js, tc.json)
			}
		})
	}
}
