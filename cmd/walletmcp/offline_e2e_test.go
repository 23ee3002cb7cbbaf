package main_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/hex"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/walletmcp/walletmcp/internal/secret"
	"github.com/walletmcp/walletmcp/signer/offline"
	"github.com/walletmcp/walletmcp/signer/offline/qrscan"
	"github.com/walletmcp/walletmcp/wallet"
)

// deviceKey is the air-gapped device's key in the offline e2e test.
const deviceKeyHex = "8da4ef21b864d2cc526dbdb2a120bd2874c36c9d0a1fb7f8c63d7f7a8b41de8f"

const devicePass = "device-keystore-passphrase"

// buildAirsign builds the airsign binary into a temporary directory.
func buildAirsign(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "airsign")
	if out, err := exec.Command("go", "build", "-o", bin, "../airsign").CombinedOutput(); err != nil {
		t.Fatalf("building airsign: %v\n%s", err, out)
	}
	return bin
}

// deviceKeystore writes the device's V3 key file (cheap scrypt) and its
// passphrase file.
func deviceKeystore(t *testing.T) (keyFile, passFile string, addr common.Address) {
	t.Helper()
	dir := t.TempDir()
	ks := wallet.NewKeystore(filepath.Join(dir, "ks"), &wallet.KeystoreOptions{ScryptN: 16, ScryptP: 1})
	addr, err := ks.ImportHex(secret.CopyBytes([]byte(deviceKeyHex)), secret.CopyBytes([]byte(devicePass)))
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(ks.Dir(), "UTC--*"))
	if err != nil || len(files) != 1 {
		t.Fatalf("key files %v %v", files, err)
	}
	passFile = filepath.Join(dir, "pass")
	if err := os.WriteFile(passFile, []byte(devicePass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return files[0], passFile, addr
}

type offlineReqOut struct {
	RequestID string   `json:"request_id"`
	UR        []string `json:"ur"`
	ExpiresAt string   `json:"expires_at"`
	Summary   struct {
		ToTail string `json:"to_tail"`
	} `json:"summary"`
}

// createOffline calls create_offline_request and checks the QR images: one
// PNG per part, each decoding to its part.
func (s *server) createOffline(t *testing.T, from, amount string) (offlineReqOut, []string) {
	t.Helper()
	var out offlineReqOut
	res := s.call("create_offline_request", map[string]any{"from": from, "to": recipient, "amount": amount}, &out)
	if res.IsError {
		t.Fatalf("create_offline_request: %s", res.Content[0].(*mcp.TextContent).Text)
	}
	var pngs []string
	dir := t.TempDir()
	for _, c := range res.Content[1:] {
		img, ok := c.(*mcp.ImageContent)
		if !ok || img.MIMEType != "image/png" {
			t.Fatalf("content %T is not a PNG image", c)
		}
		text, err := qrscan.Decode(bytes.NewReader(img.Data))
		if err != nil || !strings.EqualFold(text, out.UR[len(pngs)]) {
			t.Fatalf("QR %d reads %q, %v; want part %q", len(pngs), text, err, out.UR[len(pngs)])
		}
		p := filepath.Join(dir, "part"+string(rune('a'+len(pngs)))+".png")
		if err := os.WriteFile(p, img.Data, 0o600); err != nil {
			t.Fatal(err)
		}
		pngs = append(pngs, p)
	}
	if len(pngs) != len(out.UR) || len(pngs) == 0 || !strings.HasPrefix(out.UR[0], "ur:eth-sign-request/") {
		t.Fatalf("%d images for %d parts: %v", len(pngs), len(out.UR), out.UR)
	}
	return out, pngs
}

// airsign signs the request in the PNG images with the device keystore and
// returns the ur:eth-signature it prints.
func airsign(t *testing.T, bin, keyFile, passFile string, pngs []string) string {
	t.Helper()
	args := []string{"sign", "--keystore", keyFile, "--yes", "--password-file", passFile}
	for _, p := range pngs {
		args = append(args, "--image", p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	if err := cmd.Run(); err != nil {
		t.Fatalf("airsign: %v\n%s", err, se.String())
	}
	sig := strings.TrimSpace(so.String())
	if !strings.HasPrefix(sig, "ur:eth-signature/") {
		t.Fatalf("airsign printed %q", sig)
	}
	return sig
}

// hexSig signs the request's transaction with key, whoever the request is
// for, as 0x hex.
func hexSig(t *testing.T, key *ecdsa.PrivateKey, ur []string) string {
	t.Helper()
	req, err := offline.ParseSignRequestUR(ur, nil)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := req.Tx()
	if err != nil {
		t.Fatal(err)
	}
	h := types.LatestSignerForChainID(tx.ChainId()).Hash(tx)
	sig, err := crypto.Sign(h[:], key)
	if err != nil {
		t.Fatal(err)
	}
	return "0x" + hex.EncodeToString(sig)
}

func (s *server) failCode(t *testing.T, name string, args map[string]any, code string) {
	t.Helper()
	res := s.call(name, args, nil)
	if !res.IsError {
		t.Fatalf("%s succeeded, want %s", name, code)
	}
	if text := res.Content[0].(*mcp.TextContent).Text; !strings.HasPrefix(text, code+": ") {
		t.Fatalf("%s: %q, want %s", name, text, code)
	}
}

// TestOfflineSigningEndToEnd: account watch → create_offline_request over
// MCP (QR PNGs) → the real airsign binary signs the images → submit → mined,
// the recipient's balance up by exactly the amount. Refused with nothing
// sent: a signature by another key, one over another transaction, the same
// signature twice, an unknown request, a request above per_tx_max, and a
// request whose nonce was used meanwhile.
func TestOfflineSigningEndToEnd(t *testing.T) {
	bin := buildAirsign(t)
	kf, pf, device := deviceKeystore(t)
	home, _ := newHome(t, 1337)
	r := walletmcp(t, home, "account", "watch", device.Hex(), "--label", "cold", "--path", "m/44'/60'/0'/0/0", "--xfp", "12345678")
	if r.code != 0 || strings.TrimSpace(r.stdout) != device.Hex() {
		t.Fatalf("account watch: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := walletmcp(t, home, "account", "watch", device.Hex()); r.code == 0 {
		t.Fatal("the same account was added twice")
	}
	if r := walletmcp(t, home, "account", "watch", "0xnot-an-address"); r.code != 2 {
		t.Fatalf("a bad address: exit %d", r.code)
	}
	s := startServe(t, home, "--dev")
	defer s.stop()
	var accts struct {
		Accounts []struct {
			Address, Backend string
			DerivationPath   string `json:"derivation_path"`
		} `json:"accounts"`
	}
	s.mustCall("list_accounts", map[string]any{}, &accts)
	found := false
	for _, a := range accts.Accounts {
		if a.Address == device.Hex() {
			found = a.Backend == "offline" && a.DerivationPath == "m/44'/60'/0'/0/0"
		}
	}
	if !found {
		t.Fatalf("list_accounts: %+v", accts)
	}
	before := s.balance(recipient)

	a, pngsA := s.createOffline(t, device.Hex(), "1") // above auto_approve_max: the device is the approval
	b, pngsB := s.createOffline(t, device.Hex(), "0.5")
	reqA, err := offline.ParseSignRequestUR(a.UR, nil)
	if err != nil || reqA.Path.SourceFingerprint != 0x12345678 || hex.EncodeToString(reqA.RequestID[:]) != strings.ReplaceAll(a.RequestID, "-", "") {
		t.Fatalf("request A: %+v %v", reqA, err)
	}
	mallory, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	deviceKey, err := crypto.HexToECDSA(deviceKeyHex)
	if err != nil {
		t.Fatal(err)
	}
	s.failCode(t, "submit_offline_signature", map[string]any{"request_id": a.RequestID, "signature": hexSig(t, mallory, a.UR)}, "invalid_argument")
	s.failCode(t, "submit_offline_signature", map[string]any{"request_id": a.RequestID, "signature": hexSig(t, deviceKey, b.UR)}, "invalid_argument")
	sigB := airsign(t, bin, kf, pf, pngsB)
	s.failCode(t, "submit_offline_signature", map[string]any{"request_id": a.RequestID, "signature": sigB}, "invalid_argument")
	s.failCode(t, "submit_offline_signature", map[string]any{"request_id": "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d", "signature": sigB}, "not_found")
	s.failCode(t, "create_offline_request", map[string]any{"from": device.Hex(), "to": recipient, "amount": "6"}, "policy_denied")

	sigA := airsign(t, bin, kf, pf, pngsA)
	var sub struct {
		Status string `json:"status"`
		TxHash string `json:"tx_hash"`
	}
	s.mustCall("submit_offline_signature", map[string]any{"request_id": a.RequestID, "signature": sigA}, &sub)
	if sub.Status != "submitted" {
		t.Fatalf("submit: %+v", sub)
	}
	s.waitMined(sub.TxHash)
	s.failCode(t, "submit_offline_signature", map[string]any{"request_id": a.RequestID, "signature": sigA}, "conflict")
	// B fixed the same nonce as A, which is now used.
	s.failCode(t, "submit_offline_signature", map[string]any{"request_id": b.RequestID, "signature": sigB}, "conflict")

	after := s.balance(recipient)
	if diff := ethDiff(t, before, after); diff != "1" {
		t.Fatalf("recipient's balance moved by %s ETH, want exactly 1", diff)
	}
	// A new request after the spend takes the next nonce and goes through.
	c, pngsC := s.createOffline(t, device.Hex(), "0.25")
	s.mustCall("submit_offline_signature", map[string]any{"request_id": c.RequestID, "signature": airsign(t, bin, kf, pf, pngsC)}, &sub)
	s.waitMined(sub.TxHash)
	if diff := ethDiff(t, before, s.balance(recipient)); diff != "1.25" {
		t.Fatalf("recipient's balance moved by %s ETH, want exactly 1.25", diff)
	}
}

// ethDiff returns after − before, both decimal ETH strings, as decimal ETH.
func ethDiff(t *testing.T, before, after string) string {
	t.Helper()
	parse := func(s string) *big.Rat {
		r, ok := new(big.Rat).SetString(s)
		if !ok {
			t.Fatalf("balance %q", s)
		}
		return r
	}
	d := new(big.Rat).Sub(parse(after), parse(before))
	return strings.TrimRight(strings.TrimRight(d.FloatString(18), "0"), ".")
}
