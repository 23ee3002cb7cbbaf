//go:build linux

package main_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/walletmcp/walletmcp/wallet"
	"github.com/walletmcp/walletmcp/wallet/hd"
)

// needle is a secret the memory scan looks for.
type needle struct {
	name string
	b    []byte
}

// hit is a needle found in a memory region.
type hit struct {
	needle, region string
	offset         int64
}

// scanMemory reads every readable mapping of pid through /proc/PID/mem and
// returns where each needle occurs. It reads in chunks that overlap by the
// longest needle, so a needle straddling two chunks is found.
func scanMemory(t *testing.T, pid int, needles []needle) (hits []hit, scanned int64) {
	t.Helper()
	maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		t.Fatal(err)
	}
	mem, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	longest := 0
	for _, n := range needles {
		longest = max(longest, len(n.b))
	}
	const chunk = 1 << 20
	buf := make([]byte, chunk+longest)
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || f[1][0] != 'r' {
			continue
		}
		if len(f) >= 6 && f[5] == "[vvar]" || len(f) >= 6 && f[5] == "[vvar_vclock]" {
			continue
		}
		lohi := strings.SplitN(f[0], "-", 2)
		lo, _ := strconv.ParseUint(lohi[0], 16, 64)
		hi, _ := strconv.ParseUint(lohi[1], 16, 64)
		for off := lo; off < hi; off += chunk {
			n := min(uint64(len(buf)), hi-off)
			got, err := mem.ReadAt(buf[:n], int64(off))
			if got == 0 && err != nil {
				break // an unreadable region (guard pages, device memory)
			}
			scanned += int64(min(got, chunk))
			for _, nd := range needles {
				if i := bytes.Index(buf[:got], nd.b); i >= 0 {
					hits = append(hits, hit{nd.name, sc.Text(), int64(off) + int64(i)})
				}
			}
		}
	}
	return hits, scanned
}

// reversed returns b's bytes in reverse order: a 32-byte big-endian scalar
// as the little-endian words of a big.Int or a btcec.ModNScalar lay it out.
func reversed(b []byte) []byte {
	r := slices.Clone(b)
	slices.Reverse(r)
	return r
}

// TestMemoryHoldsNoHDOrKeystoreSecret starts a real `serve` on a home with
// an HD wallet (three accounts) and a keystore account, makes every account
// sign a transfer, stops the process and reads all of its memory: the
// mnemonic, its entropy, the seed, the master key, every intermediate and
// child private key, and the keystore's private key must be found nowhere,
// in big-endian or in word-reversed form. The scanner first proves itself
// on two planted markers, one in the environment and one in the heap (a
// tool argument), so the test cannot pass by reading nothing.
//
// A known copy it reports but does not fail on, because walletmcp cannot wipe
// it: the home passphrase, which go-ethereum's DecryptDataV3 takes as a Go
// string (go-ethereum@v1.17.10/accounts/keystore/passphrase.go:243, and
// getKDFKey's []byte(auth) at line 334), called from wallet/keyfile.go for
// keystore accounts. hdkeychain's unwiped copies of the seed and of the
// hardened parent keys (btcutil@v1.2.0/hdkeychain/extendedkey.go:157, 257,
// 279-286, 661; see package wallet) never reach serve: it derives the HD keys
// in a short-lived helper process (hdhelper.go). Run in serve itself, they
// were found by this scan.
func TestMemoryHoldsNoHDOrKeystoreSecret(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	mustCLI(t, home, "init", "--light-kdf", "--chain-id", "1337")
	ksKey, _ := crypto.GenerateKey()
	ksHex := hex.EncodeToString(crypto.FromECDSA(ksKey))
	ksAddr := strings.TrimSpace(mustCLI(t, home, "account", "import", "--label", "ks", "--key-file", writeSecretFile(t, "key", ksHex)))
	words := filepath.Join(t.TempDir(), "words")
	mustCLI(t, home, "hd", "new", "--label", "mem", "--mnemonic-file", words)
	mustCLI(t, home, "hd", "derive")
	mustCLI(t, home, "hd", "derive")
	setPolicy(t, home, "new_recipient_approval = true", "new_recipient_approval = false")

	// The secrets, computed here from the mnemonic file.
	mn, _ := os.ReadFile(words)
	mn = bytes.TrimSpace(mn)
	entropy, err := wallet.ParseMnemonic(mn)
	if err != nil {
		t.Fatal(err)
	}
	seed, err := wallet.SeedFromMnemonic(mn, nil)
	if err != nil {
		t.Fatal(err)
	}
	needles := []needle{
		{"mnemonic", mn},
		{"mnemonic (first 12 words)", []byte(strings.Join(strings.Fields(string(mn))[:12], " "))},
		{"entropy", entropy.Reveal()},
		{"seed", seed.Reveal()},
		{"keystore key", crypto.FromECDSA(ksKey)},
		{"keystore key (hex)", []byte(ksHex)},
	}
	key, err := hdkeychain.NewMaster(seed.Reveal(), &chaincfg.MainNetParams)
	if err != nil {
		t.Fatal(err)
	}
	addKey := func(name string, k *hdkeychain.ExtendedKey) {
		p, err := k.ECPrivKey()
		if err != nil {
			t.Fatal(err)
		}
		needles = append(needles, needle{name, p.Serialize()}, needle{name + " (reversed)", reversed(p.Serialize())})
	}
	addKey("master key", key)
	path := "m"
	for _, i := range []uint32{hdkeychain.HardenedKeyStart + 44, hdkeychain.HardenedKeyStart + 60, hdkeychain.HardenedKeyStart, 0} {
		if key, err = key.Derive(i); err != nil {
			t.Fatal(err)
		}
		path += "/" + strconv.Itoa(int(i&^hdkeychain.HardenedKeyStart))
		addKey(path, key)
	}
	var hdAddrs []string
	for n := uint32(0); n < 3; n++ {
		child, err := key.Derive(n)
		if err != nil {
			t.Fatal(err)
		}
		addKey(hd.Path(n), child)
		p, _ := child.ECPrivKey()
		hdAddrs = append(hdAddrs, crypto.PubkeyToAddress(p.ToECDSA().PublicKey).Hex())
	}
	needles = append(needles, needle{"keystore key (reversed)", reversed(crypto.FromECDSA(ksKey))})

	// The planted markers.
	envMarker := make([]byte, 24)
	rand.Read(envMarker)
	heapMarker := make([]byte, 20)
	rand.Read(heapMarker)
	envHex := "walletmcp-marker-" + hex.EncodeToString(envMarker)
	heapAddr := "0x" + hex.EncodeToString(heapMarker)

	s := startServeEnv(t, home, []string{"WALLETMCP_TEST_MARKER=" + envHex}, "--dev")
	var accts struct {
		Accounts []struct {
			Address        string `json:"address"`
			Backend        string `json:"backend"`
			DerivationPath string `json:"derivation_path"`
		} `json:"accounts"`
	}
	res := s.call("list_accounts", map[string]any{}, &accts)
	toolOut := toolText(res)
	got := map[string]string{}
	for _, a := range accts.Accounts {
		got[a.Address] = a.Backend + " " + a.DerivationPath
	}
	for i, a := range hdAddrs {
		if got[a] != "hd "+hd.Path(uint32(i)) {
			t.Errorf("list_accounts: %s is %q, want hd %s", a, got[a], hd.Path(uint32(i)))
		}
	}
	if got[ksAddr] != "keystore " {
		t.Errorf("list_accounts: %s is %q", ksAddr, got[ksAddr])
	}
	for _, from := range append(hdAddrs, ksAddr) {
		var sent struct {
			Status string `json:"status"`
			TxHash string `json:"tx_hash"`
		}
		res := s.call("send_transfer", map[string]any{"from": from, "to": recipient, "amount": "0.01"}, &sent)
		toolOut += toolText(res)
		if sent.Status != "submitted" {
			t.Fatalf("transfer from %s: %s", from, toolText(res))
		}
		s.waitMined(sent.TxHash)
	}
	toolOut += toolText(s.call("get_balance", map[string]any{"address": heapAddr}, nil))

	pid := s.cmd.Process.Pid
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	hits, scanned := scanMemory(t, pid, append([]needle{
		{"env marker", []byte(envHex)},
		{"heap marker", []byte(strings.ToLower(heapAddr[2:]))},
		{"known: home passphrase", []byte(testPassphrase)},
	}, needles...))
	_ = syscall.Kill(pid, syscall.SIGCONT)
	found := map[string]bool{}
	for _, h := range hits {
		found[h.needle] = true
	}
	if !found["env marker"] || !found["heap marker"] {
		t.Fatalf("the scanner did not find its planted markers in %d bytes (env %v, heap %v): it proves nothing", scanned, found["env marker"], found["heap marker"])
	}
	t.Logf("scanned %d MiB of serve's memory", scanned>>20)
	for _, h := range hits {
		if strings.HasSuffix(h.needle, "marker") {
			continue
		}
		if strings.HasPrefix(h.needle, "known: ") {
			t.Logf("%s found (go-ethereum's string copy, see above)", h.needle)
			continue
		}
		t.Errorf("%s found in serve's memory at %#x in %s", h.needle, h.offset, h.region)
	}
	s.stop()

	// The canary scan: no secret in the tool output, serve's stderr, the
	// audit log or the vault.
	audit, _ := os.ReadFile(filepath.Join(home, "audit.log"))
	for _, hay := range []struct {
		name string
		b    []byte
	}{{"tool output", []byte(toolOut)}, {"stderr", []byte(s.stderr.String())}, {"audit log", audit}} {
		for _, n := range needles {
			for _, form := range [][]byte{n.b, []byte(hex.EncodeToString(n.b))} {
				if len(form) >= 16 && bytes.Contains(bytes.ToLower(hay.b), bytes.ToLower(form)) {
					t.Errorf("%s holds the %s", hay.name, n.name)
				}
			}
		}
	}
}

// toolText is the text content of a tool result.
func toolText(res *mcp.CallToolResult) string {
	var sb strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			sb.WriteString(tc.Text)
		}
	}
	b, _ := json.Marshal(res.StructuredContent)
	sb.Write(b)
	return sb.String()
}

// startServeEnv is startServe with extra environment variables.
func startServeEnv(t *testing.T, home string, env []string, args ...string) *server {
	t.Helper()
	full := append([]string{"serve", "--home", home, "--password-file", passFile(t, home)}, args...)
	cmd := exec.Command(binPath, full...)
	cmd.Env = append(append(os.Environ(), "WALLETMCP_PASSWORD_FILE="), env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errBuf := &lockedBuffer{}
	s := &server{t: t, cmd: cmd, stdin: stdin, stderr: errBuf}
	cmd.Stderr = errBuf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s.cs, err = mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "1"}, nil).Connect(ctx, &mcp.IOTransport{Reader: stdout, Writer: io.WriteCloser(stdin)}, nil)
	if err != nil {
		t.Fatalf("connect: %v\nstderr:\n%s", err, s.stderr)
	}
	return s
}
