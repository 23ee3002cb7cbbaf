package offline

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/walletmcp/walletmcp/signer/offline/qrscan"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/walletmcp/walletmcp/signer"
)

var testID = [16]byte{0x9b, 0x1d, 0xeb, 0x4d, 0x3b, 0x7d, 0x4b, 0xad, 0x9b, 0xdd, 0x2b, 0x0d, 0x7b, 0x3d, 0xcb, 0x6d}

func testTx(data []byte) *types.Transaction {
	to := common.HexToAddress("0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf")
	return types.NewTx(&types.DynamicFeeTx{
		ChainID: big.NewInt(1337), Nonce: 7, GasTipCap: big.NewInt(1_000_000_000), GasFeeCap: big.NewInt(30_000_000_000),
		Gas: 21000, To: &to, Value: big.NewInt(1e16), Data: data,
	})
}

// signWith signs the request's transaction digest with key, as a device does.
func signWith(t *testing.T, r *SignRequest, hexKey string) []byte {
	t.Helper()
	key, err := crypto.HexToECDSA(hexKey)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := crypto.Sign(crypto.Keccak256(r.SignData), key)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

const (
	keyA = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
	keyB = "0000000000000000000000000000000000000000000000000000000000000001"
)

func addrOf(t *testing.T, hexKey string) common.Address {
	k, err := crypto.HexToECDSA(hexKey)
	if err != nil {
		t.Fatal(err)
	}
	return crypto.PubkeyToAddress(k.PublicKey)
}

func TestTxSignRequestRoundTrip(t *testing.T) {
	from := addrOf(t, keyA)
	tx := testTx(nil)
	path, err := ParseKeyPath("m/44'/60'/0'/0/3")
	if err != nil {
		t.Fatal(err)
	}
	path.SourceFingerprint = 0x12345678
	r, err := NewTxSignRequest(tx, from, big.NewInt(1337), path, testID)
	if err != nil {
		t.Fatal(err)
	}
	if r.SignData[0] != 0x02 || r.DataType != DataTypeTypedTx || r.Origin != DefaultOrigin || *r.Address != from {
		t.Fatalf("request %+v", r)
	}
	// sign-data is exactly what the EIP-1559 signer hashes.
	h := types.LatestSignerForChainID(big.NewInt(1337)).Hash(tx)
	if !bytes.Equal(crypto.Keccak256(r.SignData), h[:]) {
		t.Fatal("keccak(sign-data) is not the transaction's signing hash")
	}
	parts, err := r.UR(DefaultMaxFragmentLen)
	if err != nil || len(parts) != 1 {
		t.Fatalf("UR: %v %v", parts, err)
	}
	back, err := ParseSignRequestUR(parts, nil)
	if err != nil {
		t.Fatal(err)
	}
	if back.Path.String() != "m/44'/60'/0'/0/3" || back.Path.SourceFingerprint != 0x12345678 || back.RequestID != testID || back.ChainID != 1337 {
		t.Fatalf("decoded %+v", back)
	}
	got, err := back.Tx()
	if err != nil || got.Hash() != tx.Hash() {
		t.Fatalf("Tx: %v", err)
	}

	sig := signWith(t, back, keyA)
	signed, err := back.SignedTx(sig)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := types.Sender(types.LatestSignerForChainID(big.NewInt(1337)), signed); s != from {
		t.Fatalf("sender %v", s)
	}
	// The signature as a device returns it: ur:eth-signature, or hex with v 27/28.
	su, err := (&Signature{RequestID: testID, Signature: sig}).UR()
	if err != nil {
		t.Fatal(err)
	}
	id, sig2, err := ParseSignature(strings.ToUpper(su))
	if err != nil || id != testID || !bytes.Equal(sig2, sig) {
		t.Fatalf("ParseSignature(UR) = %x %x %v", id, sig2, err)
	}
	v27 := append([]byte(nil), sig...)
	v27[64] += 27
	id, sig3, err := ParseSignature("0x" + hex.EncodeToString(v27))
	if err != nil || id != ([16]byte{}) || !bytes.Equal(sig3, sig) {
		t.Fatalf("ParseSignature(hex) = %x %v", sig3, err)
	}

	// Refused: another key, another transaction, a tampered signature.
	if _, err := back.SignedTx(signWith(t, back, keyB)); !errors.Is(err, signer.ErrWrongSigner) {
		t.Fatalf("another key: %v", err)
	}
	other, err := NewTxSignRequest(testTx([]byte{1}), from, big.NewInt(1337), DefaultPath(), testID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := back.SignedTx(signWith(t, other, keyA)); !errors.Is(err, signer.ErrWrongSigner) {
		t.Fatalf("another transaction: %v", err)
	}
	bad := append([]byte(nil), sig...)
	bad[64] = 5
	if _, err := back.SignedTx(bad); err == nil {
		t.Fatal("v = 5 accepted")
	}
}

func TestNewTxSignRequestRefuses(t *testing.T) {
	from := addrOf(t, keyA)
	legacy := types.NewTx(&types.LegacyTx{Nonce: 1, Gas: 21000, GasPrice: big.NewInt(1), To: &from})
	create := types.NewTx(&types.DynamicFeeTx{ChainID: big.NewInt(1337), Gas: 100000, GasTipCap: big.NewInt(1), GasFeeCap: big.NewInt(1), Value: big.NewInt(0)})
	for name, c := range map[string]struct {
		tx    *types.Transaction
		chain *big.Int
	}{
		"legacy":          {legacy, big.NewInt(1337)},
		"creation":        {create, big.NewInt(1337)},
		"chain mismatch":  {testTx(nil), big.NewInt(1)},
		"nil chain":       {testTx(nil), nil},
		"nil transaction": {nil, big.NewInt(1337)},
	} {
		if _, err := NewTxSignRequest(c.tx, from, c.chain, DefaultPath(), testID); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestSignRequestTxRefusesMismatch(t *testing.T) {
	r, err := NewTxSignRequest(testTx(nil), addrOf(t, keyA), big.NewInt(1337), DefaultPath(), testID)
	if err != nil {
		t.Fatal(err)
	}
	r.ChainID = 1 // the request says mainnet, the transaction 1337
	if _, err := r.Tx(); err == nil {
		t.Fatal("chain id mismatch accepted")
	}
	r.ChainID = 1337
	r.SignData = append(r.SignData, 0) // trailing byte
	if _, err := r.Tx(); err == nil {
		t.Fatal("trailing bytes accepted")
	}
}

func TestMultiPartSignRequest(t *testing.T) {
	data := bytes.Repeat([]byte{0xab}, 1500) // a big calldata: several parts
	r, err := NewTxSignRequest(testTx(data), addrOf(t, keyA), big.NewInt(1337), DefaultPath(), testID)
	if err != nil {
		t.Fatal(err)
	}
	parts, err := r.UR(200)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) < 8 || !strings.HasPrefix(parts[0], "ur:eth-sign-request/1-") {
		t.Fatalf("%d parts, first %.40s", len(parts), parts[0])
	}
	// Reversed, each twice, one missing until last: still decodes.
	d := NewURDecoder(nil)
	for i := len(parts) - 1; i >= 1; i-- {
		for range 2 {
			if err := d.Receive(parts[i]); err != nil {
				t.Fatal(err)
			}
		}
	}
	if d.Complete() {
		t.Fatal("complete without part 1")
	}
	if _, _, err := d.Result(); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("Result before completion: %v", err)
	}
	if err := d.Receive(parts[0]); err != nil || !d.Complete() {
		t.Fatalf("last part: %v", err)
	}
	_, payload, _ := d.Result()
	back, err := ParseSignRequest(payload)
	if err != nil || !bytes.Equal(back.SignData, r.SignData) {
		t.Fatalf("decoded: %v", err)
	}
}

func TestURDecoderRefuses(t *testing.T) {
	r, err := NewTxSignRequest(testTx(bytes.Repeat([]byte{1}, 600)), addrOf(t, keyA), big.NewInt(1337), DefaultPath(), testID)
	if err != nil {
		t.Fatal(err)
	}
	parts, err := r.UR(100)
	if err != nil {
		t.Fatal(err)
	}
	single, err := (&Signature{RequestID: testID, Signature: make([]byte, 65)}).UR()
	if err != nil {
		t.Fatal(err)
	}
	flip := []byte(parts[1])
	flip[len(flip)-3] ^= 1 // a bytewords letter changed: CRC fails or no such word
	cases := map[string]struct {
		lim   *Limits
		first string
		part  string
		want  error
	}{
		"not a UR":             {nil, "", "http://example.com", ErrUR},
		"bad type":             {nil, "", "ur:Eth_x/aeadaolazmjendeoti", ErrUR},
		"bad bytewords":        {nil, "", string(flip), ErrBytewords},
		"other type":           {nil, parts[0], strings.Replace(parts[1], "eth-sign-request", "eth-signature", 1), ErrURType},
		"single among multi":   {nil, parts[0], single, ErrURType},
		"too many fragments":   {&Limits{MaxFragments: 3}, "", parts[0], ErrUR},
		"message too long":     {&Limits{MaxMessageLen: 100}, "", parts[0], ErrUR},
		"part too long":        {&Limits{MaxURLen: 50}, "", parts[0], ErrTooLarge},
		"seq header mismatch":  {nil, "", strings.Replace(parts[0], "/1-", "/2-", 1), ErrUR},
		"too many parts":       {&Limits{MaxParts: 1}, parts[0], parts[1], ErrTooLarge},
		"path with extra":      {nil, "", "ur:bytes/1-2/3/aeadaolazmjendeoti", ErrUR},
		"seq not numbers":      {nil, "", "ur:bytes/a-b/aeadaolazmjendeoti", ErrUR},
		"seq zero":             {nil, "", "ur:bytes/0-1/aeadaolazmjendeoti", ErrUR},
		"single message limit": {&Limits{MaxMessageLen: 10}, "", single, ErrTooLarge},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			d := NewURDecoder(c.lim)
			if c.first != "" {
				if err := d.Receive(c.first); err != nil {
					t.Fatal(err)
				}
			}
			if err := d.Receive(c.part); !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
}

func TestParseSignatureRefuses(t *testing.T) {
	good := make([]byte, 65)
	good[0], good[32] = 1, 1
	for name, in := range map[string]string{
		"short hex":      "0x" + strings.Repeat("11", 64),
		"v 2":            "0x" + strings.Repeat("11", 64) + "02",
		"v 29":           "0x" + strings.Repeat("11", 64) + "1d",
		"not hex":        "0x" + strings.Repeat("zz", 65),
		"other UR type":  "ur:bytes/hdeymejtswhhylkepmykhhtsytsnoyoyaxaedsuttydmmhhpktpmsrjtgwdpfnsboxgwlbaawzuefywkdplrsrjynbvygabwjldapfcsdwkbrkch",
		"empty":          "",
		"plain text":     "hello",
		"sign request":   mustUR(t, &SignRequest{RequestID: testID, SignData: []byte{2}, DataType: DataTypeTypedTx, Path: DefaultPath()}),
		"very long text": strings.Repeat("a", 20000),
	} {
		if _, _, err := ParseSignature(in); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func mustUR(t *testing.T, r *SignRequest) string {
	p, err := r.UR(1000)
	if err != nil {
		t.Fatal(err)
	}
	return p[0]
}

func TestKeyPath(t *testing.T) {
	for _, s := range []string{"m/44'/60'/0'/0/0", "m", "m/0/1/2", "m/2147483647'"} {
		k, err := ParseKeyPath(s)
		if err != nil || k.String() != s {
			t.Errorf("%s: %v %v", s, k, err)
		}
	}
	if k, err := ParseKeyPath("m/44h/60h"); err != nil || k.String() != "m/44'/60'" {
		t.Errorf("h notation: %v %v", k, err)
	}
	for _, s := range []string{"", "44'/60'", "m/", "m/-1", "m/+1", "m/2147483648", "m/1''", "M/1"} {
		if _, err := ParseKeyPath(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
	if DefaultPath().String() != "m/44'/60'/0'/0/0" {
		t.Error(DefaultPath().String())
	}
}

func TestQRPNGRoundTrip(t *testing.T) {
	r, err := NewTxSignRequest(testTx(bytes.Repeat([]byte{7}, 300)), addrOf(t, keyA), big.NewInt(1337), DefaultPath(), testID)
	if err != nil {
		t.Fatal(err)
	}
	parts, err := r.UR(DefaultMaxFragmentLen)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range parts {
		png, err := QRPNG(p, 0)
		if err != nil {
			t.Fatal(err)
		}
		got, err := qrscan.Decode(bytes.NewReader(png))
		if err != nil {
			t.Fatal(err)
		}
		if got != strings.ToUpper(p) {
			t.Fatalf("decoded %.40s…, want %.40s…", got, strings.ToUpper(p))
		}
	}
	if _, err := qrscan.Decode(strings.NewReader("not a png")); err == nil {
		t.Fatal("garbage decoded")
	}
	if _, err := QRPNG(strings.Repeat("A", MaxQRText+1), 0); err == nil {
		t.Fatal("oversized text encoded")
	}
	if s, err := QRTerminal(parts[0]); err != nil || !strings.Contains(s, "█") {
		t.Fatalf("QRTerminal: %v", err)
	}
}

func common20() common.Address {
	return common.HexToAddress("0x2c7536E3605D9C16a7a3D7b1898e529396a65c23")
}

func TestParseFingerprint(t *testing.T) {
	if n, err := ParseFingerprint("12345678"); err != nil || n != 0x12345678 {
		t.Fatalf("%x %v", n, err)
	}
	if n, err := ParseFingerprint("0xDEADBEEF"); err != nil || n != 0xdeadbeef {
		t.Fatalf("%x %v", n, err)
	}
	for _, s := range []string{"", "1234567", "123456789", "00000000", "zz345678", "+1234567"} {
		if _, err := ParseFingerprint(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}
