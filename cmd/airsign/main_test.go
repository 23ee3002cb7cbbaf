package main

import (
	"bytes"
	"context"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/walletmcp/walletmcp/internal/erc20"
	"github.com/walletmcp/walletmcp/internal/secret"
	"github.com/walletmcp/walletmcp/signer/offline"
	"github.com/walletmcp/walletmcp/signer/offline/qrscan"
	"github.com/walletmcp/walletmcp/wallet"
)

const (
	testPass = "airsign test passphrase"
	keyHex   = "289c2857d4598e37fb9647507e47a309d6133539bf21a8b9cb6df88fd5232032"
)

var recipient = common.HexToAddress("0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf")

// keyFile writes a V3 key file (cheap scrypt) and returns its path and address.
func keyFile(t *testing.T) (string, common.Address) {
	t.Helper()
	ks := wallet.NewKeystore(filepath.Join(t.TempDir(), "ks"), &wallet.KeystoreOptions{ScryptN: 16, ScryptP: 1})
	addr, err := ks.ImportHex(secret.CopyBytes([]byte(keyHex)), secret.CopyBytes([]byte(testPass)))
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(ks.Dir(), "UTC--*"))
	if err != nil || len(files) != 1 {
		t.Fatalf("key files %v %v", files, err)
	}
	return files[0], addr
}

func passFile(t *testing.T, pass string) string {
	p := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(p, []byte(pass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func request(t *testing.T, from common.Address, data []byte, to common.Address) *offline.SignRequest {
	t.Helper()
	value := big.NewInt(1e16) // ether, or none with a token transfer
	if len(data) > 0 {
		value = new(big.Int)
	}
	tx := types.NewTx(&types.DynamicFeeTx{
		ChainID: big.NewInt(1337), Nonce: 42, GasTipCap: big.NewInt(1e9), GasFeeCap: big.NewInt(3e10),
		Gas: 60000, To: &to, Value: value, Data: data,
	})
	r, err := offline.NewTxSignRequest(tx, from, big.NewInt(1337), offline.DefaultPath(), [16]byte{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

type result struct {
	code           int
	stdout, stderr string
}

func runAirsign(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &env{
		stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb,
		isTerminal: func(*os.File) bool { return false },
	})
	return result{code, out.String(), errb.String()}
}

// accepted checks that stdout is an eth-signature the server side accepts
// for r: it recovers to the request's address over exactly its transaction.
func accepted(t *testing.T, r *offline.SignRequest, stdout string) {
	t.Helper()
	id, sig, err := offline.ParseSignature(stdout)
	if err != nil {
		t.Fatalf("stdout %q: %v", stdout, err)
	}
	if id != r.RequestID {
		t.Fatalf("request id %x", id)
	}
	if _, err := r.SignedTx(sig); err != nil {
		t.Fatalf("signature refused: %v", err)
	}
}

func TestSignURText(t *testing.T) {
	kf, addr := keyFile(t)
	r := request(t, addr, nil, recipient)
	parts, err := r.UR(offline.DefaultMaxFragmentLen)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"sign", "--keystore", kf, "--yes"}, parts...)
	args = append(args, "--password-file", passFile(t, testPass)) // flags after the UR too
	res := runAirsign(t, "", args...)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	accepted(t, r, res.stdout)
	if strings.Count(res.stdout, "\n") != 1 || !strings.HasPrefix(res.stdout, "ur:eth-signature/") {
		t.Fatalf("stdout is not one UR line: %q", res.stdout)
	}
	for _, want := range []string{"chain      1337", "0x7E5F4552091A69125d5DfCb7b8C2659029[395Bdf]", "amount     0.01 ETH", "nonce      42", "max fee    0.0018 ETH", addr.Hex(), "█"} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
		}
	}
	if strings.Contains(res.stderr+res.stdout, testPass) {
		t.Fatal("the passphrase was printed")
	}
}

func TestSignImagesAndConfirm(t *testing.T) {
	kf, addr := keyFile(t)
	data, err := erc20.TransferCalldata(recipient, big.NewInt(123456789))
	if err != nil {
		t.Fatal(err)
	}
	token := common.HexToAddress("0x00000000000000000000000000000000000000aa")
	// A small fragment length makes the request multi-part.
	r := request(t, addr, data, token)
	b, err := r.MarshalCBOR()
	if err != nil {
		t.Fatal(err)
	}
	parts, err := offline.EncodeUR(offline.URTypeSignRequest, b, 60)
	if err != nil || len(parts) < 3 {
		t.Fatalf("%d parts, %v", len(parts), err)
	}
	dir := t.TempDir()
	args := []string{"sign", "--keystore", kf, "--png", filepath.Join(dir, "sig.png")}
	for i := len(parts) - 1; i >= 0; i-- { // any order
		png, err := offline.QRPNG(parts[i], 0)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Join(dir, "part"+string(rune('a'+i))+".png")
		if err := os.WriteFile(name, png, 0o600); err != nil {
			t.Fatal(err)
		}
		if i == len(parts)-1 {
			args = append(args, "--image")
		}
		args = append(args, name) // --image a.png b.png ...
	}
	res := runAirsign(t, "y\n"+testPass+"\n", args...)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	accepted(t, r, res.stdout)
	if !strings.Contains(res.stderr, "123456789 base units of the ERC-20 token at "+token.Hex()) || !strings.Contains(res.stderr, "[395Bdf]") {
		t.Fatalf("token transfer not shown:\n%s", res.stderr)
	}
	f, err := os.Open(filepath.Join(dir, "sig.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	text, err := qrscan.Decode(f)
	if err != nil || text != strings.ToUpper(strings.TrimSpace(res.stdout)) {
		t.Fatalf("--png holds %q, %v", text, err)
	}
}

func TestSignRefuses(t *testing.T) {
	kf, addr := keyFile(t)
	r := request(t, addr, nil, recipient)
	parts, _ := r.UR(offline.DefaultMaxFragmentLen)
	other := request(t, recipient, nil, recipient) // for another account
	otherParts, _ := other.UR(offline.DefaultMaxFragmentLen)
	b, _ := r.MarshalCBOR()
	multi, _ := offline.EncodeUR(offline.URTypeSignRequest, b, 40)
	pf := passFile(t, testPass)
	for name, c := range map[string]struct {
		stdin string
		args  []string
		code  int
	}{
		"answer no":          {"n\n", append([]string{"sign", "--keystore", kf, "--password-file", pf}, parts...), 1},
		"no answer":          {"", append([]string{"sign", "--keystore", kf, "--password-file", pf}, parts...), 1},
		"wrong passphrase":   {"wrong horse\n", append([]string{"sign", "--keystore", kf, "--yes"}, parts...), 1},
		"another account":    {"", append([]string{"sign", "--keystore", kf, "--yes", "--password-file", pf}, otherParts...), 1},
		"incomplete":         {"", append([]string{"sign", "--keystore", kf, "--yes", "--password-file", pf}, multi[1:]...), 1},
		"not a request":      {"", []string{"sign", "--keystore", kf, "--yes", "--password-file", pf, "ur:bytes/hdeymejtswhhylkepmykhhtsytsnoyoyaxaedsuttydmmhhpktpmsrjtgwdpfnsboxgwlbaawzuefywkdplrsrjynbvygabwjldapfcsdwkbrkch"}, 1},
		"garbage":            {"", []string{"sign", "--keystore", kf, "--yes", "--password-file", pf, "hello"}, 1},
		"no keystore":        {"", append([]string{"sign", "--yes"}, parts...), 2},
		"nothing to sign":    {"", []string{"sign", "--keystore", kf}, 2},
		"both text and file": {"", append([]string{"sign", "--keystore", kf, "--image", "x.png"}, parts...), 2},
		"unknown command":    {"", []string{"verify"}, 2},
	} {
		t.Run(name, func(t *testing.T) {
			res := runAirsign(t, c.stdin, c.args...)
			if res.code != c.code || res.stdout != "" {
				t.Fatalf("exit %d (want %d), stdout %q, stderr %s", res.code, c.code, res.stdout, res.stderr)
			}
			if strings.Contains(res.stderr, "wrong horse") {
				t.Fatal("the passphrase was echoed")
			}
		})
	}
}
