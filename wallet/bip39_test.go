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

	"golang.org/x/crypto/pbkdf2"

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
