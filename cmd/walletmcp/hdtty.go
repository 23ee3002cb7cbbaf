package main

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strconv"

	"golang.org/x/term"

	"github.com/walletmcp/walletmcp/internal/secret"
	"github.com/walletmcp/walletmcp/wallet"
)

// errNoTTY is returned when an hd command needs the terminal and has none.
var errNoTTY = errors.New("hd: no terminal (/dev/tty): use --mnemonic-file F")

// openTTY opens the controlling terminal.
func openTTY() (*os.File, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, errNoTTY
	}
	return tty, nil
}

// readTTYSecret reads one line from tty in raw mode, without echo, into a
// buffer of fixed size max that is never grown (term.ReadPassword appends to
// a growing slice, leaving copies of prefixes behind). Backspace erases,
// Ctrl-U clears, Ctrl-C and Ctrl-D abort. The caller wipes the result.
func readTTYSecret(tty *os.File, prompt string, max int) (*secret.Bytes, error) {
	// Echo goes off before the prompt is shown, so that nothing typed (or
	// pasted) as soon as the prompt appears is echoed.
	old, err := term.MakeRaw(int(tty.Fd()))
	if err != nil {
		return nil, errNoTTY
	}
	defer func() {
		_ = term.Restore(int(tty.Fd()), old)
		_, _ = tty.WriteString("\r\n")
	}()
	if _, err := tty.WriteString(prompt); err != nil {
		return nil, err
	}
	buf := make([]byte, max)
	n := 0
	var c [1]byte
	defer clear(c[:])
	for {
		if _, err := tty.Read(c[:]); err != nil {
			secret.Wipe(buf)
			return nil, fmt.Errorf("hd: reading the terminal: %w", err)
		}
		switch c[0] {
		case '\r', '\n':
			out := secret.CopyBytes(buf[:n])
			secret.Wipe(buf)
			return out, nil
		case 0x7f, 0x08:
			if n > 0 {
				n--
				buf[n] = 0
			}
		case 0x15: // Ctrl-U
			secret.Wipe(buf[:n])
			n = 0
		case 0x03, 0x04: // Ctrl-C, Ctrl-D
			secret.Wipe(buf)
			return nil, errors.New("hd: cancelled")
		default:
			if n == max {
				secret.Wipe(buf)
				return nil, errors.New("hd: input too long")
			}
			buf[n] = c[0]
			n++
		}
	}
}

// showMnemonic writes the numbered words of mnemonic to tty, waits for
// Enter, clears the screen and asks for three words at random positions.
// The words are written straight from the secret's buffer, never through
// fmt (whose pooled buffers would keep a copy).
func showMnemonic(tty *os.File, mnemonic *secret.Bytes) error {
	words := splitWords(mnemonic.Reveal())
	_, _ = tty.WriteString("\r\nWrite down these " + strconv.Itoa(len(words)) + " words, in order, on paper. They are shown once, here only;\r\n" +
		"anyone who sees them can take every account of this wallet.\r\n\r\n")
	for i, w := range words {
		_, _ = fmt.Fprintf(tty, "%4d  ", i+1)
		_, _ = tty.Write(w)
		if i%4 == 3 {
			_, _ = tty.WriteString("\r\n")
		} else {
			_, _ = tty.WriteString(spaces(10 - len(w)))
		}
	}
	ok, err := readTTYSecret(tty, "\r\nPress Enter when they are written down.", 64)
	if err != nil {
		return err
	}
	ok.Wipe()
	_, _ = tty.WriteString("\x1b[2J\x1b[3J\x1b[H") // clear the screen and its scrollback
	for _, pos := range pickPositions(len(words), 3) {
		got, err := readTTYSecret(tty, "Word #"+strconv.Itoa(pos+1)+": ", 32)
		if err != nil {
			return err
		}
		lower(got.Reveal())
		same := subtle.ConstantTimeCompare(trimSpace(got.Reveal()), words[pos]) == 1
		got.Wipe()
		if !same {
			return fmt.Errorf("hd: word #%d does not match: nothing was saved; run hd new again", pos+1)
		}
	}
	return nil
}

// splitWords returns the space-separated words of b as sub-slices of b.
func splitWords(b []byte) [][]byte {
	var out [][]byte
	start := -1
	for i, c := range b {
		if c == ' ' {
			if start >= 0 {
				out = append(out, b[start:i])
			}
			start = -1
		} else if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		out = append(out, b[start:])
	}
	return out
}

// pickPositions returns k distinct positions in [0, n) in increasing order,
// chosen with crypto/rand.
func pickPositions(n, k int) []int {
	chosen := map[int]bool{}
	for len(chosen) < k {
		v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
		if err != nil {
			panic(err) // crypto/rand does not fail on Linux
		}
		chosen[int(v.Int64())] = true
	}
	var out []int
	for i := 0; i < n; i++ {
		if chosen[i] {
			out = append(out, i)
		}
	}
	return out
}

func spaces(n int) string {
	if n < 1 {
		n = 1
	}
	return "          "[:min(n, 10)]
}

func lower(b []byte) {
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c | 0x20
		}
	}
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// readMnemonicFile reads a mnemonic from path into a buffer of fixed size
// (no growing copies), refusing a file that group or others can read.
func readMnemonicFile(path string) (*secret.Bytes, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("hd: --mnemonic-file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("hd: --mnemonic-file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("hd: --mnemonic-file %s is readable by group or others: chmod 600 %s", path, secret.ShellQuote(path))
	}
	buf := make([]byte, wallet.MaxMnemonicSize+1)
	n := 0
	for n < len(buf) {
		m, err := f.Read(buf[n:])
		n += m
		if err != nil {
			break
		}
	}
	if n > wallet.MaxMnemonicSize {
		secret.Wipe(buf)
		return nil, errors.New("hd: --mnemonic-file is too long for a mnemonic")
	}
	return secret.NewBytes(buf[:n]), nil
}

// writeMnemonicFile creates path 0600 (refusing an existing file) and writes
// the mnemonic and a newline into it.
func writeMnemonicFile(path string, mnemonic *secret.Bytes) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("hd: --mnemonic-file %s exists: it is never overwritten", path)
		}
		return fmt.Errorf("hd: --mnemonic-file: %w", err)
	}
	_, err = f.Write(mnemonic.Reveal())
	if err == nil {
		_, err = f.Write([]byte{'\n'})
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("hd: --mnemonic-file: %w", err)
	}
	return nil
}
