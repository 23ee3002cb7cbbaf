//go:build linux

package main_test

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/ethereum/go-ethereum/common"
	"golang.org/x/sys/unix"

	"github.com/walletmcp/walletmcp/wallet"
	"github.com/walletmcp/walletmcp/wallet/hd"
)

const abandonAbout = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"

// writeSecretFile writes content to a new 0600 file beside the home.
func writeSecretFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestHDCommandsMnemonicFile walks the scripted path: hd new and restore
// with --mnemonic-file, derive (next free and --index), list, account list,
// and every refusal of a bad mnemonic, none of which may echo a word.
func TestHDCommandsMnemonicFile(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	mustCLI(t, home, "init", "--light-kdf", "--chain-id", "1337")
	words := filepath.Join(t.TempDir(), "words")
	out := strings.Fields(mustCLI(t, home, "hd", "new", "--words", "12", "--label", "fresh", "--mnemonic-file", words))
	fi, err := os.Stat(words)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mnemonic file: %v %v", fi, err)
	}
	mn, _ := os.ReadFile(words)
	if n := len(strings.Fields(string(mn))); n != 12 {
		t.Fatalf("mnemonic file has %d words", n)
	}
	seed, err := wallet.SeedFromMnemonic(bytes.TrimSpace(mn), nil)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := hd.DeriveAddresses(seed.Reveal(), []uint32{0, 1, 2, 5})
	if len(out) != 2 || common.HexToAddress(out[0]) != want[0] || out[1] != "m/44'/60'/0'/0/0" {
		t.Fatalf("hd new printed %q, want %s m/44'/60'/0'/0/0", out, want[0].Hex())
	}
	// The file is never overwritten.
	if r := walletmcp(t, home, "hd", "new", "--label", "other", "--mnemonic-file", words); r.code == 0 || !strings.Contains(r.stderr, "exists") {
		t.Fatalf("hd new over an existing file: %d %s", r.code, r.stderr)
	}
	if got, _ := os.ReadFile(words); !bytes.Equal(got, mn) {
		t.Fatal("the mnemonic file changed")
	}
	for _, c := range []struct {
		args []string
		want common.Address
	}{
		{[]string{"hd", "derive"}, want[1]},
		{[]string{"hd", "derive", "--index", "5", "--label", "fresh"}, want[3]},
		{[]string{"hd", "derive"}, want[2]},
	} {
		got := strings.Fields(mustCLI(t, home, c.args...))
		if common.HexToAddress(got[0]) != c.want {
			t.Errorf("%v: %v, want %s", c.args, got, c.want.Hex())
		}
	}
	if r := walletmcp(t, home, "hd", "derive", "--index", "5"); r.code == 0 {
		t.Error("deriving index 5 twice was accepted")
	}
	// Restore "abandon … about" as a second wallet.
	mustCLI(t, home, "hd", "restore", "--label", "abandon", "--mnemonic-file", writeSecretFile(t, "aa", "  "+strings.ToUpper(abandonAbout)+"\n"))
	if r := walletmcp(t, home, "hd", "derive"); r.code == 0 || !strings.Contains(r.stderr, "several hd wallets") {
		t.Errorf("derive with two wallets and no label: %d %s", r.code, r.stderr)
	}
	mustCLI(t, home, "hd", "derive", "--label", "abandon")
	list := mustCLI(t, home, "hd", "list")
	for _, s := range []string{
		"abandon  0x9858EfFD232B4033E47d90003D41EC34EcaEda94  m/44'/60'/0'/0/0",
		"abandon  0x6Fac4D18c912343BF86fa7049364Dd4E424Ab9C0  m/44'/60'/0'/0/1",
		"fresh    " + want[3].Hex() + "  m/44'/60'/0'/0/5",
	} {
		if !strings.Contains(list, s) {
			t.Errorf("hd list lacks %q:\n%s", s, list)
		}
	}
	if al := mustCLI(t, home, "account", "list"); strings.Count(al, " hd ") != 6 {
		t.Errorf("account list:\n%s", al)
	}
	// The same seed twice is refused.
	if r := walletmcp(t, home, "hd", "restore", "--label", "again", "--mnemonic-file", writeSecretFile(t, "aa2", abandonAbout)); r.code == 0 || !strings.Contains(r.stderr, "already") {
		t.Errorf("same seed restored twice: %d %s", r.code, r.stderr)
	}
	// Refusals name a position or a rule, never a word.
	aa := strings.Fields(abandonAbout)
	with := func(i int, w string) string { c := append([]string(nil), aa...); c[i] = w; return strings.Join(c, " ") }
	for _, c := range []struct{ name, text, want string }{
		{"wrong word", with(6, "zebrax"), "word 7 is not on the English BIP-39 word list"},
		{"checksum", with(11, "zoo"), "checksum does not match"},
		{"count", strings.Join(aa[:11], " "), "12, 15, 18, 21 or 24 words"},
		{"not English", "ábaco ábaco ábaco ábaco ábaco ábaco ábaco ábaco ábaco ábaco ábaco abierto", "only English"},
	} {
		r := walletmcp(t, home, "hd", "restore", "--label", "bad", "--mnemonic-file", writeSecretFile(t, "bad", c.text))
		if r.code == 0 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%s: exit %d, stderr %q", c.name, r.code, r.stderr)
		}
		for _, w := range []string{"zebrax", "zoo", "abandon", "ábaco", "abierto"} {
			if strings.Contains(r.stderr+r.stdout, w) {
				t.Errorf("%s: the refusal echoes %q: %s", c.name, w, r.stderr)
			}
		}
	}
	if r := walletmcp(t, home, "hd", "restore", "--label", "x", "--mnemonic-file", func() string {
		p := writeSecretFile(t, "open", abandonAbout)
		os.Chmod(p, 0o644)
		return p
	}()); r.code == 0 || !strings.Contains(r.stderr, "chmod 600") {
		t.Errorf("a world-readable mnemonic file: %d %s", r.code, r.stderr)
	}
	// Nothing printed or audited holds the words or the seed.
	audit, _ := os.ReadFile(filepath.Join(home, "audit.log"))
	hdDir, _ := os.ReadDir(filepath.Join(home, "hd"))
	var files []byte
	for _, e := range hdDir {
		b, _ := os.ReadFile(filepath.Join(home, "hd", e.Name()))
		files = append(files, b...)
	}
	for _, hay := range [][]byte{audit, files, []byte(list)} {
		for _, n := range [][]byte{bytes.TrimSpace(mn), []byte(abandonAbout), []byte(hex.EncodeToString(seed.Reveal())[:32])} {
			if bytes.Contains(hay, n) {
				t.Errorf("a mnemonic or seed reached the audit log, the vault or the output")
			}
		}
	}
}

// openPTY opens a pseudo-terminal pair with x/sys/unix.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no /dev/ptmx: %v", err)
	}
	var unlock int32
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, m.Fd(), unix.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatal(e)
	}
	n, err := unix.IoctlGetUint32(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

// ttyRun is a walletmcp process whose controlling terminal is a pty.
type ttyRun struct {
	cmd            *exec.Cmd
	master         *os.File
	screen         *lockedBuffer // what the process wrote on the terminal
	stdout, stderr *lockedBuffer
	done           chan error
}

func startTTY(t *testing.T, home string, args ...string) *ttyRun {
	t.Helper()
	master, slave := openPTY(t)
	cmd := exec.Command(binPath, append([]string{"--home", home, "--password-file", passFile(t, home)}, args...)...)
	cmd.Env = append(os.Environ(), "WALLETMCP_PASSWORD_FILE=")
	r := &ttyRun{cmd: cmd, master: master, screen: &lockedBuffer{}, stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan error, 1)}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, r.stdout, r.stderr
	if len(args) > 0 && args[0] == "__hd-derive-helper" {
		cmd.Stdout = slave
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			r.screen.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	go func() { r.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})
	return r
}

func (r *ttyRun) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(2 * time.Minute):
		t.Fatalf("no exit; screen:\n%s", r.screen)
	}
	return r.cmd.ProcessState.ExitCode()
}

// TestHDNewOnTerminal runs hd new on a pseudo-terminal: the words appear on
// the terminal only, three are asked back, and a wrong answer saves nothing.
func TestHDNewOnTerminal(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	mustCLI(t, home, "init", "--light-kdf", "--chain-id", "1337")
	wordRe := regexp.MustCompile(`(\d+)  ([a-z]+)`)
	askRe := regexp.MustCompile(`Word #(\d+): $`)

	// A wrong answer: nothing is saved.
	r := startTTY(t, home, "hd", "new", "--words", "12")
	r.screen.waitFor(t, regexp.MustCompile(`Press Enter`))
	r.master.Write([]byte("\r"))
	r.screen.waitFor(t, askRe)
	r.master.Write([]byte("notaword\r"))
	if code := r.wait(t); code == 0 || !strings.Contains(r.stderr.String(), "does not match: nothing was saved") {
		t.Fatalf("a wrong word: exit %d, stderr %s", code, r.stderr)
	}
	if l := mustCLI(t, home, "hd", "list"); strings.Contains(l, "0x") {
		t.Fatalf("a wallet was saved after a wrong word:\n%s", l)
	}

	r = startTTY(t, home, "hd", "new", "--words", "12", "--label", "tty")
	r.screen.waitFor(t, regexp.MustCompile(`Press Enter`))
	shown := map[string]string{}
	for _, m := range wordRe.FindAllStringSubmatch(r.screen.String(), -1) {
		shown[m[1]] = m[2]
	}
	if len(shown) != 12 {
		t.Fatalf("%d words shown:\n%s", len(shown), r.screen)
	}
	var words []string
	for i := 1; i <= 12; i++ {
		words = append(words, shown[fmt.Sprint(i)])
	}
	r.master.Write([]byte("\r"))
	for k := 1; k <= 3; k++ {
		// The k-th prompt, once the previous answer was read.
		m := r.screen.waitFor(t, regexp.MustCompile(`(?s)^(?:.*?Word #\d+: ){`+fmt.Sprint(k-1)+`}.*?Word #(\d+): $`))
		var pos int
		fmt.Sscan(m[1], &pos)
		r.master.Write([]byte(words[pos-1] + "\r"))
	}
	if code := r.wait(t); code != 0 {
		t.Fatalf("hd new on a terminal: exit %d\n%s\nscreen:\n%s", code, r.stderr, r.screen)
	}
	seed, err := wallet.SeedFromMnemonic([]byte(strings.Join(words, " ")), nil)
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := hd.DeriveAddresses(seed.Reveal(), []uint32{0})
	if got := strings.Fields(r.stdout.String()); len(got) != 2 || common.HexToAddress(got[0]) != addr[0] {
		t.Fatalf("stdout %q, want the address of the shown words %s", r.stdout, addr[0].Hex())
	}
	for _, w := range words {
		if len(w) > 3 && strings.Contains(r.stdout.String()+r.stderr.String(), w) {
			t.Errorf("a word reached stdout or stderr")
		}
	}
	// The answers were not echoed: after the screen was cleared, no word.
	_, after, cleared := strings.Cut(r.screen.String(), "\x1b[2J")
	if !cleared {
		t.Fatal("the screen was not cleared after the words")
	}
	for _, w := range words {
		if strings.Contains(after, w) {
			t.Errorf("a word was echoed: %q", after)
		}
	}

	// hd restore from the terminal, without echo.
	r = startTTY(t, home, "hd", "restore", "--label", "typed")
	r.screen.waitFor(t, regexp.MustCompile(`Mnemonic .*: $`))
	r.master.Write([]byte(abandonAbout + "\r"))
	if code := r.wait(t); code != 0 {
		t.Fatalf("hd restore on a terminal: exit %d %s", code, r.stderr)
	}
	if !strings.HasPrefix(r.stdout.String(), "0x9858EfFD232B4033E47d90003D41EC34EcaEda94") {
		t.Errorf("restore printed %q", r.stdout)
	}
	if strings.Contains(r.screen.String(), "abandon") {
		t.Errorf("the typed words were echoed:\n%s", r.screen)
	}
}

// TestHDServeRefusesMissingWallet: serve stops at start-up when an hd
// account's wallet file is gone or its derivation no longer gives its
// address, naming the wallet or account only; and the key helper refuses to
// write keys to a terminal.
func TestHDServeRefusesMissingWallet(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	mustCLI(t, home, "init", "--light-kdf", "--chain-id", "1337")
	mustCLI(t, home, "hd", "restore", "--label", "gone", "--mnemonic-file", writeSecretFile(t, "aa", abandonAbout))
	mustCLI(t, home, "policy", "attest")
	// A wrong derivation path in the registry.
	reg := filepath.Join(home, "accounts.json")
	orig, _ := os.ReadFile(reg)
	os.WriteFile(reg, bytes.Replace(orig, []byte(`0'/0/0"`), []byte(`0'/0/1"`), 1), 0o600)
	if r := walletmcp(t, home, "serve", "--dev"); r.code == 0 || !strings.Contains(r.stderr, "m/44'/60'/0'/0/1 of hd wallet \"gone\" derives 0x6Fac4D18c912343BF86fa7049364Dd4E424Ab9C0") {
		t.Errorf("serve with a wrong path: exit %d: %s", r.code, r.stderr)
	}
	os.WriteFile(reg, orig, 0o600)
	if err := os.RemoveAll(filepath.Join(home, "hd")); err != nil {
		t.Fatal(err)
	}
	if r := walletmcp(t, home, "serve", "--dev"); r.code == 0 || !strings.Contains(r.stderr, `hd wallet "gone": no such hd wallet`) {
		t.Errorf("serve without the wallet file: exit %d: %s", r.code, r.stderr)
	}
	tr := startTTY(t, home, "__hd-derive-helper")
	if code := tr.wait(t); code == 0 || !strings.Contains(tr.stderr.String(), "must be a pipe") {
		t.Errorf("the key helper with a terminal as its output: exit %d %s", code, tr.stderr)
	}
}

// TestHDRestoreBIP39Passphrase restores "abandon … about" with the BIP-39
// passphrase "TREZOR", typed twice on the terminal without echo.
func TestHDRestoreBIP39Passphrase(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	mustCLI(t, home, "init", "--light-kdf", "--chain-id", "1337")
	r := startTTY(t, home, "hd", "restore", "--label", "trezor", "--bip39-passphrase", "--mnemonic-file", writeSecretFile(t, "aa", abandonAbout))
	r.screen.waitFor(t, regexp.MustCompile(`BIP-39 passphrase .*: $`))
	r.master.Write([]byte("TREZOR\r"))
	r.screen.waitFor(t, regexp.MustCompile(`Repeat: $`))
	r.master.Write([]byte("TREZOR\r"))
	if code := r.wait(t); code != 0 {
		t.Fatalf("exit %d: %s", code, r.stderr)
	}
	seed, _ := wallet.SeedFromMnemonic([]byte(abandonAbout), []byte("TREZOR"))
	want, _ := hd.DeriveAddresses(seed.Reveal(), []uint32{0})
	if !strings.HasPrefix(r.stdout.String(), want[0].Hex()) {
		t.Errorf("stdout %q, want %s", r.stdout, want[0].Hex())
	}
	if strings.Contains(r.screen.String(), "TREZOR") {
		t.Error("the BIP-39 passphrase was echoed")
	}
	// Two different passphrases save nothing.
	r = startTTY(t, home, "hd", "restore", "--label", "typo", "--bip39-passphrase", "--mnemonic-file", writeSecretFile(t, "aa2", strings.Repeat("zoo ", 11)+"wrong"))
	r.screen.waitFor(t, regexp.MustCompile(`BIP-39 passphrase .*: $`))
	r.master.Write([]byte("one\r"))
	r.screen.waitFor(t, regexp.MustCompile(`Repeat: $`))
	r.master.Write([]byte("two\r"))
	if code := r.wait(t); code == 0 || !strings.Contains(r.stderr.String(), "differ") {
		t.Errorf("different passphrases: exit %d %s", code, r.stderr)
	}
	if l := mustCLI(t, home, "hd", "list"); strings.Contains(l, "typo") {
		t.Errorf("a wallet was saved:\n%s", l)
	}
}
