package erc20_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/internal/erc20"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func maxUint256() *big.Int {
	return new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
}

// The expected bytes are written out by hand from the ABI specification
// (https://docs.soliditylang.org/en/latest/abi-spec.html): selector
// keccak256("transfer(address,uint256)")[:4] = a9059cbb, then the address
// left-padded to 32 bytes, then the amount as a big-endian 32-byte word.
func TestTransferCalldataVectors(t *testing.T) {
	tests := []struct {
		name   string
		to     common.Address
		amount *big.Int
		want   string
	}{
		{
			name:   "address 1, amount 1",
			to:     common.HexToAddress("0x0000000000000000000000000000000000000001"),
			amount: big.NewInt(1),
			want: "a9059cbb" +
				"0000000000000000000000000000000000000000000000000000000000000001" +
				"0000000000000000000000000000000000000000000000000000000000000001",
		},
		{
			name:   "1 USDC (6 decimals) to 0xdEaD",
			to:     common.HexToAddress("0x000000000000000000000000000000000000dEaD"),
			amount: big.NewInt(1_000_000),
			want: "a9059cbb" +
				"000000000000000000000000000000000000000000000000000000000000dead" +
				"00000000000000000000000000000000000000000000000000000000000f4240",
		},
		{
			name:   "zero amount",
			to:     common.HexToAddress("0xffffffffffffffffffffffffffffffffffffffff"),
			amount: new(big.Int),
			want: "a9059cbb" +
				"000000000000000000000000ffffffffffffffffffffffffffffffffffffffff" +
				"0000000000000000000000000000000000000000000000000000000000000000",
		},
		{
			name:   "max uint256",
			to:     common.HexToAddress("0x0000000000000000000000000000000000000001"),
			amount: maxUint256(),
			want: "a9059cbb" +
				"0000000000000000000000000000000000000000000000000000000000000001" +
				"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := erc20.TransferCalldata(tc.to, tc.amount)
			if err != nil {
				t.Fatal(err)
			}
			if want := mustHex(t, tc.want); !bytes.Equal(got, want) {
				t.Fatalf("TransferCalldata =\n%x\nwant\n%x", got, want)
			}
			to, amount, err := erc20.DecodeTransfer(got)
			if err != nil {
				t.Fatalf("DecodeTransfer: %v", err)
			}
			if to != tc.to || amount.Cmp(tc.amount) != 0 {
				t.Fatalf("round trip = (%s, %s), want (%s, %s)", to, amount, tc.to, tc.amount)
			}
		})
	}
}

func TestTransferCalldataDoesNotAliasAmount(t *testing.T) {
	amount := big.NewInt(5)
	data, err := erc20.TransferCalldata(common.HexToAddress("0x01"), amount)
	if err != nil {
		t.Fatal(err)
	}
	_, got, err := erc20.DecodeTransfer(data)
	if err != nil {
		t.Fatal(err)
	}
	got.SetInt64(7)
	if amount.Int64() != 5 {
		t.Fatalf("caller's amount changed to %s", amount)
	}
}

func TestTransferCalldataRefuses(t *testing.T) {
	one := common.HexToAddress("0x01")
	tests := []struct {
		name   string
		to     common.Address
		amount *big.Int
	}{
		{"zero address", common.Address{}, big.NewInt(1)},
		{"nil amount", one, nil},
		{"negative amount", one, big.NewInt(-1)},
		{"2^256", one, new(big.Int).Add(maxUint256(), big.NewInt(1))},
		{"2^300", one, new(big.Int).Lsh(big.NewInt(1), 300)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data, err := erc20.TransferCalldata(tc.to, tc.amount)
			if !errors.Is(err, erc20.ErrBadCalldata) {
				t.Fatalf("TransferCalldata = %x, %v; want ErrBadCalldata", data, err)
			}
			if data != nil {
				t.Fatalf("data = %x on error", data)
			}
		})
	}
}

func TestDecodeTransferRefuses(t *testing.T) {
	valid := mustHex(t, "a9059cbb"+
		"0000000000000000000000000000000000000000000000000000000000000001"+
		"0000000000000000000000000000000000000000000000000000000000000001")
	with := func(f func(b []byte) []byte) []byte {
		return f(bytes.Clone(valid))
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"nil", nil},
		{"selector only", valid[:4]},
		{"one byte short", valid[:67]},
		{"one byte long", append(bytes.Clone(valid), 0)},
		{"extra word", append(bytes.Clone(valid), make([]byte, 32)...)},
		{"wrong selector", with(func(b []byte) []byte { b[0] ^= 1; return b })},
		{"approve(address,uint256)", mustHex(t, "095ea7b3"+
			"0000000000000000000000000000000000000000000000000000000000000001"+
			"0000000000000000000000000000000000000000000000000000000000000001")},
		{"transferFrom selector", with(func(b []byte) []byte { copy(b, mustHex(t, "23b872dd")); return b })},
		{"dirty padding, first byte", with(func(b []byte) []byte { b[4] = 1; return b })},
		{"dirty padding, last byte", with(func(b []byte) []byte { b[15] = 0x80; return b })},
		{"zero recipient", with(func(b []byte) []byte { b[35] = 0; return b })},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			to, amount, err := erc20.DecodeTransfer(tc.data)
			if !errors.Is(err, erc20.ErrBadCalldata) {
				t.Fatalf("DecodeTransfer = (%s, %v, %v), want ErrBadCalldata", to, amount, err)
			}
			if amount != nil || to != (common.Address{}) {
				t.Fatalf("DecodeTransfer returned (%s, %v) with an error", to, amount)
			}
		})
	}
	// The valid encoding itself is accepted, so each case above fails for
	// its own defect.
	if _, _, err := erc20.DecodeTransfer(valid); err != nil {
		t.Fatalf("valid calldata refused: %v", err)
	}
}

func FuzzDecodeTransfer(f *testing.F) {
	f.Add(mustHex(f, "a9059cbb"+
		"0000000000000000000000000000000000000000000000000000000000000001"+
		"0000000000000000000000000000000000000000000000000000000000000001"))
	f.Add(mustHex(f, "095ea7b3"+
		"000000000000000000000000000000000000000000000000000000000000dead"+
		"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"))
	f.Add([]byte{0xa9, 0x05, 0x9c, 0xbb})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		to, amount, err := erc20.DecodeTransfer(data)
		if err != nil {
			if !errors.Is(err, erc20.ErrBadCalldata) {
				t.Fatalf("error %v is not ErrBadCalldata", err)
			}
			return
		}
		// Whatever is accepted is exactly the canonical encoding.
		again, err := erc20.TransferCalldata(to, amount)
		if err != nil {
			t.Fatalf("accepted (%s, %s) cannot be re-encoded: %v", to, amount, err)
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("accepted %x, canonical encoding is %x", data, again)
		}
	})
}
