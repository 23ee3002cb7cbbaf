package wallet_test

import (
	"bytes"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/ethereum/go-ethereum/common"
	"golang.org/x/crypto/pbkdf2"

	"github.com/walletmcp/walletmcp/internal/secret"
	"github.com/walletmcp/walletmcp/wallet"
)

// abandonAbout is the all-zero 128-bit mnemonic of the BIP-39 vectors.
const abandonAbout = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"

// bip39Vectors reads testdata/bip39/vectors.json (see testdata/README.md):
// [entropy hex, mnemonic, seed hex with passphrase "TREZOR"].
func bip39Vectors(t *testing.T) [][3]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", "bip39", "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		English [][3]string `json:"english"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.English) != 24 {
		t.Fatalf("want the 24 English vectors, got %d", len(v.English))
	}
	return v.English
}

// TestBIP39Vectors checks entropy → mnemonic → entropy and the seed with
// passphrase "TREZOR" for every reference vector.
func TestBIP39Vectors(t *testing.T) {
	for _, v := range bip39Vectors(t) {
		ent, _ := hex.DecodeString(v[0])
		m, err := wallet.MnemonicFromEntropy(ent)
		if err != nil {
			t.Fatal(err)
		}
		if string(m.Reveal()) != v[1] {
			t.Errorf("%s: mnemonic %q, want %q", v[0], m.Reveal(), v[1])
		}
		back, err := wallet.ParseMnemonic([]byte(v[1]))
		if err != nil {
			t.Fatalf("%s: %v", v[0], err)
		}
		if !bytes.Equal(back.Reveal(), ent) {
			t.Errorf("%s: parsed entropy %x", v[0], back.Reveal())
		}
		seed, err := wallet.SeedFromMnemonic(m.Reveal(), []byte("TREZOR"))
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(seed.Reveal()) != v[2] {
			t.Errorf("%s: seed %x, want %s", v[0], seed.Reveal(), v[2])
		}
	}
}

// TestBIP39FirstVectorMasterKey checks the master extended key of the first
// vector against the xprv published with it in trezor/python-mnemonic's
// vectors.json.
func TestBIP39FirstVectorMasterKey(t *testing.T) {
	seed, err := wallet.SeedFromMnemonic([]byte(abandonAbout), []byte("TREZOR"))
	if err != nil {
		t.Fatal(err)
	}
	master, err := hdkeychain.NewMaster(seed.Reveal(), &chaincfg.MainNetParams)
	if err != nil {
		t.Fatal(err)
	}
	const want = "xprv9s21ZrQH143K3h3fDYiay8mocZ3afhfULfb5GX8kCBdno77K4HiA15Tg23wpbeF1pLfs1c5SPmYHrEpTuuRhxMwvKDwqdKiGJS9XFKzUsAF"
	if got := master.String(); got != want {
		t.Errorf("master key %s, want %s", got, want)
	}
}

// TestSeedMatchesPBKDF2 cross-checks the byte-slice PBKDF2 against
// golang.org/x/crypto/pbkdf2 on passphrases of several lengths.
func TestSeedMatchesPBKDF2(t *testing.T) {
	for _, p := range []string{"", "TREZOR", strings.Repeat("x", 200)} {
		for _, v := range bip39Vectors(t)[:3] {
			got, err := wallet.SeedFromMnemonic([]byte(v[1]), []byte(p))
			if err != nil {
				t.Fatal(err)
			}
			want := pbkdf2.Key([]byte(v[1]), []byte("mnemonic"+p), 2048, 64, sha512.New)
			if !bytes.Equal(got.Reveal(), want) {
				t.Errorf("passphrase of %d bytes: seed differs from x/crypto's PBKDF2", len(p))
			}
		}
	}
	if _, err := wallet.SeedFromMnemonic([]byte(abandonAbout), []byte("caf\xc3\xa9")); err == nil {
		t.Error("a non-ASCII passphrase should be refused")
	}
}

// TestAbandonAboutAddresses checks m/44'/60'/0'/0/{0,1,2} of "abandon …
// about" without a passphrase (the addresses MetaMask, Ledger and ethers.js
// give for this mnemonic).
func TestAbandonAboutAddresses(t *testing.T) {
	seed, err := wallet.SeedFromMnemonic([]byte(abandonAbout), nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := wallet.DeriveHDAddresses(seed.Reveal(), []uint32{0, 1, 2})
	if err != nil {
		t.Fatal(err)
	}
	want := []common.Address{
		common.HexToAddress("0x9858EfFD232B4033E47d90003D41EC34EcaEda94"),
		common.HexToAddress("0x6Fac4D18c912343BF86fa7049364Dd4E424Ab9C0"),
		common.HexToAddress("0xb6716976A3ebe8D39aCEB04372f22Ff8e6802D7A"),
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("index %d: %s, want %s", i, got[i].Hex(), want[i].Hex())
		}
	}
	keys, err := wallet.DeriveHDKeys(seed.Reveal(), []uint32{2})
	if err != nil {
		t.Fatal(err)
	}
	defer keys[0].Destroy()
	if keys[0].Address() != want[2] {
		t.Errorf("sealed key of index 2 is %s", keys[0].Address().Hex())
	}
}

// TestHDPath checks the path format and its parser.
func TestHDPath(t *testing.T) {
	if p := wallet.HDPath(7); p != "m/44'/60'/0'/0/7" {
		t.Errorf("HDPath(7) = %s", p)
	}
	for _, ok := range []string{"m/44'/60'/0'/0/0", "m/44'/60'/0'/0/2147483647"} {
		if _, err := wallet.ParseHDPath(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "m/44'/60'/0'/0/", "m/44'/60'/0'/0/01", "m/44'/60'/0'/0/2147483648", "m/44'/60'/1'/0/0", "m/44'/60'/0'/0/1'"} {
		if _, err := wallet.ParseHDPath(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestParseMnemonicRefusals names each refusal and checks that no error
// quotes a word of the input.
func TestParseMnemonicRefusals(t *testing.T) {
	words := strings.Fields(abandonAbout)
	with := func(i int, w string) string {
		c := append([]string(nil), words...)
		c[i] = w
		return strings.Join(c, " ")
	}
	cases := []struct {
		name, in string
		check    func(error) bool
	}{
		{"wrong word", with(4, "zzzzqq"), func(err error) bool {
			var we *wallet.MnemonicWordError
			return errors.As(err, &we) && we.Position == 5
		}},
		{"long unknown word", with(0, "abandonabandon"), func(err error) bool {
			var we *wallet.MnemonicWordError
			return errors.As(err, &we) && we.Position == 1
		}},
		{"wrong checksum", with(11, "abandon"), func(err error) bool { return errors.Is(err, wallet.ErrMnemonicChecksum) }},
		{"swapped words", "about " + strings.Repeat("abandon ", 11), func(err error) bool { return errors.Is(err, wallet.ErrMnemonicChecksum) }},
		{"eleven words", strings.Join(words[:11], " "), func(err error) bool { return errors.Is(err, wallet.ErrMnemonicWordCount) }},
		{"thirteen words", abandonAbout + " about", func(err error) bool { return errors.Is(err, wallet.ErrMnemonicWordCount) }},
		{"twenty-five words", strings.Repeat("abandon ", 25), func(err error) bool { return errors.Is(err, wallet.ErrMnemonicWordCount) }},
		{"empty", "", func(err error) bool { return errors.Is(err, wallet.ErrMnemonicWordCount) }},
		{"too long", strings.Repeat(" ", wallet.MaxMnemonicSize) + abandonAbout, func(err error) bool { return errors.Is(err, wallet.ErrMnemonicWordCount) }},
		{"spanish", "ábaco ábaco ábaco ábaco ábaco ábaco ábaco ábaco ábaco ábaco ábaco abierto", func(err error) bool { return errors.Is(err, wallet.ErrMnemonicNotEnglish) }},
		{"japanese", "あいこくしん あいこくしん あいこくしん あいこくしん あいこくしん あいこくしん あいこくしん あいこくしん あいこくしん あいこくしん あいこくしん あおぞら", func(err error) bool { return errors.Is(err, wallet.ErrMnemonicNotEnglish) }},
		{"digit", with(3, "abandon1"), func(err error) bool { return errors.Is(err, wallet.ErrMnemonicNotEnglish) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, err := wallet.ParseMnemonic([]byte(c.in))
			if err == nil {
				t.Fatalf("accepted (entropy %d bytes)", e.Len())
			}
			if !c.check(err) {
				t.Fatalf("wrong error: %v", err)
			}
			msg := strings.ToLower(err.Error())
			for _, w := range strings.Fields(c.in) {
				if len(w) >= 4 && strings.Contains(msg, strings.ToLower(w)) {
					t.Errorf("error %q quotes a word of the input", msg)
				}
			}
		})
	}
	// Accepted forms: upper case, tabs and newlines, 24 words.
	if _, err := wallet.ParseMnemonic([]byte(" \n" + strings.ToUpper(strings.ReplaceAll(abandonAbout, " ", "\t")) + "\r\n")); err != nil {
		t.Errorf("upper case with tabs: %v", err)
	}
}

// TestNewEntropyMnemonicRoundTrip makes 12- and 24-word mnemonics from a
// fixed source and parses them back.
func TestNewEntropyMnemonicRoundTrip(t *testing.T) {
	for _, n := range []int{12, 24} {
		e, err := wallet.NewEntropy(bytes.NewReader(bytes.Repeat([]byte{0xa5, 0x3c}, 32)), n)
		if err != nil {
			t.Fatal(err)
		}
		m, err := wallet.MnemonicFromEntropy(e.Reveal())
		if err != nil {
			t.Fatal(err)
		}
		if got := len(strings.Fields(string(m.Reveal()))); got != n {
			t.Errorf("%d words, want %d", got, n)
		}
		back, err := wallet.ParseMnemonic(m.Reveal())
		if err != nil || !back.Equal(e) {
			t.Errorf("%d words: round trip failed: %v", n, err)
		}
	}
	if _, err := wallet.NewEntropy(nil, 18); err == nil {
		t.Error("18 words accepted for a new mnemonic")
	}
	if _, err := wallet.MnemonicFromEntropy(make([]byte, 15)); !errors.Is(err, wallet.ErrEntropyLength) {
		t.Errorf("15 bytes of entropy: %v", err)
	}
}

// TestHDVault creates, lists, finds and opens a wallet, and checks the file.
func TestHDVault(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "hd")
	v := wallet.NewHDVault(dir, wallet.LightKeystoreOptions())
	seed, _ := wallet.SeedFromMnemonic([]byte(abandonAbout), nil)
	w, err := v.Create("main", seed, pass(testPass))
	if err != nil {
		t.Fatal(err)
	}
	if w.Address0 != common.HexToAddress("0x9858EfFD232B4033E47d90003D41EC34EcaEda94") {
		t.Errorf("address0 %s", w.Address0.Hex())
	}
	fi, err := os.Stat(filepath.Join(dir, w.ID+".json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("vault file: %v %v", fi, err)
	}
	if di, _ := os.Stat(dir); di.Mode().Perm() != 0o700 {
		t.Errorf("vault dir mode %v", di.Mode())
	}
	data, _ := os.ReadFile(filepath.Join(dir, w.ID+".json"))
	for _, s := range []string{"abandon", hex.EncodeToString(seed.Reveal())[:16], testPass} {
		if bytes.Contains(data, []byte(s)) {
			t.Errorf("vault file holds %q", s)
		}
	}
	if _, err := v.Create("other", seed, pass(testPass)); !errors.Is(err, wallet.ErrExists) {
		t.Errorf("same seed twice: %v", err)
	}
	seed2, _ := wallet.SeedFromMnemonic([]byte(abandonAbout), []byte("TREZOR"))
	if _, err := v.Create("main", seed2, pass(testPass)); err == nil {
		t.Error("duplicate label accepted")
	}
	if _, err := v.Find(""); err != nil {
		t.Errorf("Find(\"\") with one wallet: %v", err)
	}
	if _, err := v.Create("second", seed2, pass(testPass)); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Find(""); !errors.Is(err, wallet.ErrHDWalletAmbiguous) {
		t.Errorf("Find(\"\") with two wallets: %v", err)
	}
	if _, err := v.Find("nope"); !errors.Is(err, wallet.ErrNoHDWallet) {
		t.Errorf("Find(nope): %v", err)
	}
	got, err := v.Find("main")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.OpenSeed(got, pass("wrong")); !errors.Is(err, wallet.ErrWrongPassphrase) {
		t.Errorf("wrong passphrase: %v", err)
	}
	s, err := v.OpenSeed(got, pass(testPass))
	if err != nil {
		t.Fatal(err)
	}
	if !s.Equal(seed) {
		t.Error("seed differs after the round trip")
	}
	ws, _ := v.Wallets()
	if len(ws) != 2 || ws[0].Label != "main" || ws[1].Label != "second" {
		t.Errorf("wallets %v", ws)
	}
	_ = secret.Redacted
}

// TestHDVaultRefusesBadLabels refuses labels that could not be an account
// label or a plain name.
func TestHDVaultRefusesBadLabels(t *testing.T) {
	v := wallet.NewHDVault(filepath.Join(t.TempDir(), "hd"), wallet.LightKeystoreOptions())
	seed, _ := wallet.SeedFromMnemonic([]byte(abandonAbout), nil)
	for _, l := range []string{"", "a/b", `a\b`, "tab\there", "nul\x00", strings.Repeat("x", 65)} {
		if _, err := v.Create(l, seed, pass(testPass)); err == nil {
			t.Errorf("label %q accepted", l)
		}
	}
}
