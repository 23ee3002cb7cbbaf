package wallet_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/walletmcp/walletmcp/wallet"
)

// FuzzParseMnemonic checks that no input makes the mnemonic parser panic,
// that every refusal is one of the documented errors (none of which can
// carry a word of the input), and that an accepted mnemonic's entropy gives
// back the same words.
func FuzzParseMnemonic(f *testing.F) {
	f.Add([]byte(abandonAbout))
	f.Add([]byte(strings.Repeat("zoo ", 23) + "vote"))
	f.Add([]byte("legal winner thank year wave sausage worth useful legal winner thank yellow"))
	f.Add([]byte("ábaco ábaco"))
	f.Add([]byte("ABANDON\tabandon\nabandon"))
	f.Fuzz(func(t *testing.T, in []byte) {
		e, err := wallet.ParseMnemonic(in)
		if err != nil {
			var we *wallet.MnemonicWordError
			switch {
			case errors.As(err, &we):
				if we.Position < 1 || we.Position > 24 {
					t.Fatalf("position %d", we.Position)
				}
			case errors.Is(err, wallet.ErrMnemonicWordCount), errors.Is(err, wallet.ErrMnemonicChecksum), errors.Is(err, wallet.ErrMnemonicNotEnglish):
			default:
				t.Fatalf("undocumented error %v", err)
			}
			return
		}
		m, err := wallet.MnemonicFromEntropy(e.Reveal())
		if err != nil {
			t.Fatal(err)
		}
		want := bytes.Fields(bytes.ToLower(in))
		if !bytes.Equal(m.Reveal(), bytes.Join(want, []byte(" "))) {
			t.Fatalf("accepted words do not round-trip")
		}
	})
}
