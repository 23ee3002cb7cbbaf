package wallet

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/tyler-smith/go-bip39/wordlists"

	"github.com/walletmcp/walletmcp/internal/secret"
)

// MaxMnemonicSize is the longest mnemonic text ParseMnemonic reads, in bytes.
// 24 English words take at most 24·8+23 = 215 bytes; the bound leaves room
// for generous white space.
const MaxMnemonicSize = 1024

// bip39Rounds and bip39Salt are BIP-39's seed derivation parameters.
const (
	bip39Rounds = 2048
	bip39Salt   = "mnemonic"
	// SeedLength is the length in bytes of a BIP-39 seed.
	SeedLength = 64
)

// Errors of mnemonic parsing. None of them, nor *MnemonicWordError, contains
// any word of the input.
var (
	// ErrMnemonicWordCount is returned for a mnemonic that has neither 12 nor
	// 24 words (the two lengths walletmcp makes; 15, 18 and 21 are accepted
	// on restore too).
	ErrMnemonicWordCount = errors.New("wallet: a mnemonic has 12, 15, 18, 21 or 24 words")
	// ErrMnemonicChecksum is returned when every word is on the list but the
	// BIP-39 checksum does not match: a word is wrong or two are swapped.
	ErrMnemonicChecksum = errors.New("wallet: mnemonic checksum does not match (a word is wrong or out of order)")
	// ErrMnemonicNotEnglish is returned for a mnemonic that is not made of
	// lower-case ASCII words; only the English word list is supported.
	ErrMnemonicNotEnglish = errors.New("wallet: only English BIP-39 mnemonics are supported")
	// ErrEntropyLength is returned for entropy that is not 16, 20, 24, 28 or
	// 32 bytes.
	ErrEntropyLength = errors.New("wallet: mnemonic entropy must be 128 to 256 bits in steps of 32")
)

// MnemonicWordError names the 1-based position of a word that is not on the
// English BIP-39 word list. It never contains the word.
type MnemonicWordError struct {
	// Position is the 1-based index of the unknown word.
	Position int
}

// Error implements error.
func (e *MnemonicWordError) Error() string {
	return fmt.Sprintf("wallet: mnemonic word %d is not on the English BIP-39 word list", e.Position)
}

// NewEntropy reads words/3·32 bits of entropy from r (crypto/rand.Reader if
// nil) for a mnemonic of 12 or 24 words.
func NewEntropy(r io.Reader, words int) (*secret.Bytes, error) {
	if words != 12 && words != 24 {
		return nil, errors.New("wallet: a new mnemonic has 12 or 24 words")
	}
	if r == nil {
		r = rand.Reader
	}
	e := make([]byte, words/3*4)
	if _, err := io.ReadFull(r, e); err != nil {
		secret.Wipe(e)
		return nil, fmt.Errorf("wallet: read random: %w", err)
	}
	return secret.NewBytes(e), nil
}

// MnemonicFromEntropy returns the English mnemonic of entropy: words joined
// by single spaces, in one buffer allocated at its final size (so no partial
// copy is left behind by growing it). The caller wipes it.
func MnemonicFromEntropy(entropy []byte) (*secret.Bytes, error) {
	n := len(entropy)
	if n < 16 || n > 32 || n%4 != 0 {
		return nil, ErrEntropyLength
	}
	sum := sha256.Sum256(entropy)
	defer secret.Wipe(sum[:])
	words := (n*8 + n/4) / 11 // entropy bits plus one checksum bit per 32
	idx := make([]int, words)
	defer clear(idx)
	size := words - 1
	for i := range idx {
		idx[i] = elevenBits(entropy, sum[0], i)
		size += len(wordlists.English[idx[i]])
	}
	out := make([]byte, 0, size)
	for i, w := range idx {
		if i > 0 {
			out = append(out, ' ')
		}
		out = append(out, wordlists.English[w]...)
	}
	return secret.NewBytes(out), nil
}

// elevenBits returns the i-th 11-bit group of entropy‖checksum, where the
// checksum is the top bits of cs.
func elevenBits(entropy []byte, cs byte, i int) int {
	v := 0
	for b := i * 11; b < i*11+11; b++ {
		var byt byte
		if b/8 < len(entropy) {
			byt = entropy[b/8]
		} else {
			byt = cs
		}
		bit := (byt >> (7 - uint(b%8))) & 1
		v = v<<1 | int(bit)
	}
	return v
}

// ParseMnemonic checks an English mnemonic and returns its entropy, which
// the caller wipes. Words may be separated by any ASCII white space and may
// be upper case. It refuses, never quoting a word: more than MaxMnemonicSize
// bytes or a word count other than 12, 15, 18, 21 or 24
// (ErrMnemonicWordCount), a non-ASCII or non-letter byte
// (ErrMnemonicNotEnglish), a word not on the list (*MnemonicWordError with
// its position) and a wrong checksum (ErrMnemonicChecksum).
func ParseMnemonic(text []byte) (*secret.Bytes, error) {
	if len(text) > MaxMnemonicSize {
		return nil, ErrMnemonicWordCount
	}
	var idx [24]int
	defer clear(idx[:])
	var word [8]byte // the longest English word has 8 letters
	defer clear(word[:])
	n, wl := 0, 0
	var firstBad int
	flush := func() error {
		if wl == 0 {
			return nil
		}
		if n == len(idx) {
			return ErrMnemonicWordCount
		}
		i := lookupWord(word[:min(wl, len(word))])
		if wl > len(word) {
			i = -1
		}
		if i < 0 && firstBad == 0 {
			firstBad = n + 1
		}
		idx[n] = i
		n++
		wl = 0
		clear(word[:])
		return nil
	}
	for _, c := range text {
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f':
			if err := flush(); err != nil {
				return nil, err
			}
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
			if wl < len(word) {
				word[wl] = c | 0x20
			}
			wl++
		default:
			return nil, ErrMnemonicNotEnglish
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	if n < 12 || n%3 != 0 {
		return nil, ErrMnemonicWordCount
	}
	if firstBad != 0 {
		return nil, &MnemonicWordError{Position: firstBad}
	}
	// n words carry n·11 bits: n·32/3 bits of entropy and n/3 of checksum.
	entLen := n * 4 / 3
	all := make([]byte, entLen+1)
	defer secret.Wipe(all)
	for w := 0; w < n; w++ {
		for b := 0; b < 11; b++ {
			if idx[w]>>(10-b)&1 == 1 {
				pos := w*11 + b
				all[pos/8] |= 1 << (7 - uint(pos%8))
			}
		}
	}
	entropy := make([]byte, entLen)
	copy(entropy, all[:entLen])
	sum := sha256.Sum256(entropy)
	csBits := n / 3
	mask := byte(0xff << (8 - csBits))
	ok := sum[0]&mask == all[entLen]&mask
	secret.Wipe(sum[:])
	if !ok {
		secret.Wipe(entropy)
		return nil, ErrMnemonicChecksum
	}
	return secret.NewBytes(entropy), nil
}

// lookupWord returns the index of w in the English list, or -1. The list is
// sorted, so this is a binary search comparing bytes, without converting w to
// a string.
func lookupWord(w []byte) int {
	lo, hi := 0, len(wordlists.English)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if compareWord(wordlists.English[m], w) < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(wordlists.English) && compareWord(wordlists.English[lo], w) == 0 {
		return lo
	}
	return -1
}

func compareWord(s string, b []byte) int {
	for i := 0; i < len(s) && i < len(b); i++ {
		switch {
		case s[i] < b[i]:
			return -1
		case s[i] > b[i]:
			return 1
		}
	}
	return len(s) - len(b)
}

// SeedFromMnemonic returns the 64-byte BIP-39 seed of a mnemonic and an
// optional passphrase: PBKDF2-HMAC-SHA512, 2048 rounds, salt "mnemonic" +
// passphrase. mnemonic must be the canonical text (MnemonicFromEntropy);
// passphrase is used as given (BIP-39's NFKD normalisation is the identity on
// ASCII; a non-ASCII passphrase is refused rather than normalised
// differently from other wallets).
//
// PBKDF2 is written out here over crypto/hmac because both
// golang.org/x/crypto/pbkdf2 and crypto/pbkdf2 convert the password, the
// mnemonic, to a Go string that cannot be wiped. The result is checked
// against the BIP-39 reference vectors and against x/crypto's PBKDF2.
func SeedFromMnemonic(mnemonic, passphrase []byte) (*secret.Bytes, error) {
	for _, c := range passphrase {
		if c >= 0x80 {
			return nil, errors.New("wallet: BIP-39 passphrase: only ASCII is supported")
		}
	}
	salt := make([]byte, 0, len(bip39Salt)+len(passphrase))
	salt = append(salt, bip39Salt...)
	salt = append(salt, passphrase...)
	defer secret.Wipe(salt)

	prf := hmac.New(sha512.New, mnemonic)
	var ctr [4]byte
	binary.BigEndian.PutUint32(ctr[:], 1)
	prf.Write(salt)
	prf.Write(ctr[:])
	u := prf.Sum(make([]byte, 0, sha512.Size))
	defer secret.Wipe(u)
	t := make([]byte, sha512.Size)
	copy(t, u)
	for i := 1; i < bip39Rounds; i++ {
		prf.Reset()
		prf.Write(u)
		u = prf.Sum(u[:0])
		for j := range t {
			t[j] ^= u[j]
		}
	}
	// Overwrite the HMAC's buffered input (the last U) with zeros.
	prf.Reset()
	prf.Write(make([]byte, 2*sha512.BlockSize))
	return secret.NewBytes(t), nil
}
