package interop_test

import (
	"encoding/hex"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/walletmcp/walletmcp/internal/erc20"
	"github.com/walletmcp/walletmcp/signer/offline"
)

// offlineCase is one request handed to offline_ur.test.mjs, with what it
// must find in it.
type offlineCase struct {
	Name      string   `json:"name"`
	Parts     []string `json:"parts"`
	MultiPart bool     `json:"multi_part"`
	RequestID string   `json:"request_id"`
	SignData  string   `json:"sign_data"`
	ChainID   uint64   `json:"chain_id"`
	Path      string   `json:"path"`
	XFP       string   `json:"xfp"`
	Address   string   `json:"address"`
	Tx        struct {
		Nonce  uint64 `json:"nonce"`
		Tip    string `json:"tip"`
		MaxFee string `json:"max_fee"`
		Gas    uint64 `json:"gas"`
		To     string `json:"to"`
		Value  string `json:"value"`
		Data   string `json:"data"`
	} `json:"tx"`
	req *offline.SignRequest
}

// TestKeystoneRegistryInterop: Keystone's registry library decodes our
// ur:eth-sign-request (single and multi-part) field for field, and the
// ur:eth-signature it builds over the request is accepted by
// offline.ParseSignature and recovers to the request's address over
// exactly its transaction.
func TestKeystoneRegistryInterop(t *testing.T) {
	node := nodeJS(t)
	keyHex := "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
	key, err := crypto.HexToECDSA(keyHex)
	if err != nil {
		t.Fatal(err)
	}
	from := crypto.PubkeyToAddress(key.PublicKey)
	token := common.HexToAddress("0x5FbDB2315678afecb367f032d93F642f64180aa3")
	transfer, err := erc20.TransferCalldata(common.HexToAddress("0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"), big.NewInt(2_500_000))
	if err != nil {
		t.Fatal(err)
	}
	big1 := make([]byte, 900) // a contract call too big for one QR part
	for i := range big1 {
		big1[i] = byte(i)
	}
	xfpPath, err := offline.ParseKeyPath("m/44'/60'/0'/0/3")
	if err != nil {
		t.Fatal(err)
	}
	xfpPath.SourceFingerprint = 0x12345678
	specs := []struct {
		name     string
		chain    int64
		to       common.Address
		value    *big.Int
		data     []byte
		path     offline.KeyPath
		fragment int
	}{
		{"single-part ether transfer", 1337, common.HexToAddress("0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"), big.NewInt(1e16), nil, offline.DefaultPath(), offline.DefaultMaxFragmentLen},
		{"multi-part token transfer with xfp", 11155111, token, new(big.Int), transfer, xfpPath, 40},
		{"multi-part large call", 1, token, big.NewInt(1), big1, offline.DefaultPath(), offline.DefaultMaxFragmentLen},
	}
	var cases []*offlineCase
	for i, s := range specs {
		tx := types.NewTx(&types.DynamicFeeTx{
			ChainID: big.NewInt(s.chain), Nonce: uint64(5 + i), GasTipCap: big.NewInt(1_500_000_000), GasFeeCap: big.NewInt(42_000_000_000),
			Gas: 65000, To: &s.to, Value: s.value, Data: s.data,
		})
		id := [16]byte{0x9b, 0x1d, 0xeb, 0x4d, byte(i), 0x7d, 0x4b, 0xad, 0x9b, 0xdd, 0x2b, 0x0d, 0x7b, 0x3d, 0xcb, 0x6d}
		r, err := offline.NewTxSignRequest(tx, from, big.NewInt(s.chain), s.path, id)
		if err != nil {
			t.Fatal(err)
		}
		parts, err := r.UR(s.fragment)
		if err != nil {
			t.Fatal(err)
		}
		c := &offlineCase{Name: s.name, Parts: parts, MultiPart: len(parts) > 1, RequestID: hex.EncodeToString(id[:]),
			SignData: hex.EncodeToString(r.SignData), ChainID: uint64(s.chain),
			Path: strings.TrimPrefix(s.path.String(), "m/"), Address: hex.EncodeToString(from.Bytes()), req: r}
		if s.path.SourceFingerprint != 0 {
			c.XFP = "12345678"
		}
		c.Tx.Nonce, c.Tx.Tip, c.Tx.MaxFee, c.Tx.Gas = tx.Nonce(), tx.GasTipCap().String(), tx.GasFeeCap().String(), tx.Gas()
		c.Tx.To, c.Tx.Value, c.Tx.Data = hex.EncodeToString(s.to.Bytes()), s.value.String(), hex.EncodeToString(s.data)
		if i > 0 && !c.MultiPart {
			t.Fatalf("%s: one part", s.name)
		}
		cases = append(cases, c)
	}
	dir := t.TempDir()
	fixture, out := filepath.Join(dir, "fixture.json"), filepath.Join(dir, "out.json")
	b, err := json.Marshal(map[string]any{"cases": cases, "private_key": keyHex})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fixture, b, 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, rc := run(t, []string{"WALLETMCP_OFFLINE_FIXTURE=" + fixture, "WALLETMCP_OFFLINE_OUT=" + out},
		node, "--test", "--test-reporter=spec", "offline_ur.test.mjs")
	t.Logf("node --test offline_ur.test.mjs:\n%s", stdout)
	if rc != 0 || !regexp.MustCompile(`(?m)^ℹ fail 0$`).MatchString(stdout) {
		t.Fatalf("the Keystone registry tests failed (exit %d)", rc)
	}
	var res struct {
		Results []struct {
			Name      string `json:"name"`
			Signature string `json:"signature"`
		} `json:"results"`
	}
	b, err = os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &res); err != nil || len(res.Results) != len(cases) {
		t.Fatalf("results: %v, %d of %d", err, len(res.Results), len(cases))
	}
	for i, got := range res.Results {
		c := cases[i]
		if got.Name != c.Name || !strings.HasPrefix(got.Signature, "ur:eth-signature/") {
			t.Fatalf("result %d: %+v", i, got)
		}
		id, sig, err := offline.ParseSignature(got.Signature)
		if err != nil {
			t.Fatalf("%s: ParseSignature: %v", c.Name, err)
		}
		if hex.EncodeToString(id[:]) != c.RequestID {
			t.Fatalf("%s: request id %x", c.Name, id)
		}
		signed, err := c.req.SignedTx(sig)
		if err != nil {
			t.Fatalf("%s: the signature is refused: %v", c.Name, err)
		}
		sender, err := types.Sender(types.LatestSignerForChainID(signed.ChainId()), signed)
		if err != nil || sender != from {
			t.Fatalf("%s: sender %v, %v", c.Name, sender, err)
		}
		// The same signature is refused for another request's transaction.
		if _, err := cases[(i+1)%len(cases)].req.SignedTx(sig); err == nil {
			t.Fatalf("%s: accepted for another request", c.Name)
		}
	}
}
