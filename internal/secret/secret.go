// Package secret holds zeroable, redacting containers for passphrases, PINs,
// mnemonics, seeds and private keys.
//
// # Security model
//
// A *Bytes never prints its content: String, GoString, Format, MarshalJSON,
// MarshalText and LogValue all render "[REDACTED]". The content is reachable
// only through Reveal, and Wipe overwrites it with zeros. Code that holds a
// secret wipes it as soon as it is done (defer s.Wipe()). Go's garbage
// collector may have copied the bytes before they reached the container; the
// container narrows, not closes, that window.
package secret

import (
	"bufio"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// Redacted is what every secret renders as.
const Redacted = "[REDACTED]"

// MaxFileSize is the largest password or PIN file ReadFile accepts.
const MaxFileSize = 4096

// ErrEmpty is returned when a secret read from a file or terminal is empty.
var ErrEmpty = errors.New("secret: empty secret")

// Bytes is a secret byte string. The zero value and a nil *Bytes are empty.
type Bytes struct {
	b []byte
}

// NewBytes takes ownership of b: the caller must not use b afterwards except
// through the returned value.
func NewBytes(b []byte) *Bytes { return &Bytes{b: b} }

// CopyBytes copies b into a new secret; the caller remains responsible for b.
func CopyBytes(b []byte) *Bytes {
	c := make([]byte, len(b))
	copy(c, b)
	return &Bytes{b: c}
}

// Reveal returns the secret's bytes. They stay owned by s and are zeroed by
// Wipe: copy them if they must outlive s.
func (s *Bytes) Reveal() []byte {
	if s == nil {
		return nil
	}
	return s.b
}

// Len returns the secret's length in bytes.
func (s *Bytes) Len() int {
	if s == nil {
		return 0
	}
	return len(s.b)
}

// Wipe overwrites the secret with zeros and empties it. It is safe to call
// more than once and on nil.
func (s *Bytes) Wipe() {
	if s == nil {
		return
	}
	Wipe(s.b)
	s.b = nil
}

// Equal reports whether s and o hold the same bytes, in constant time for
// equal lengths.
func (s *Bytes) Equal(o *Bytes) bool { return Equal(s.Reveal(), o.Reveal()) }

// String implements fmt.Stringer without revealing the secret.
func (s *Bytes) String() string { return Redacted }

// GoString implements fmt.GoStringer without revealing the secret.
func (s *Bytes) GoString() string { return Redacted }

// Format implements fmt.Formatter so that every verb (%x and %v included)
// prints only the redaction marker.
func (s *Bytes) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, Redacted) }

// MarshalJSON implements json.Marshaler without revealing the secret.
func (s *Bytes) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText implements encoding.TextMarshaler without revealing the secret.
func (s *Bytes) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// LogValue implements slog.LogValuer without revealing the secret.
func (s *Bytes) LogValue() slog.Value { return slog.StringValue(Redacted) }

// Wipe overwrites b with zeros.
func Wipe(b []byte) {
	for i := range b {
		b[i] = 0
	}
}

// Equal compares a and b in constant time (for inputs of equal length).
func Equal(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }

// ReadFile reads a passphrase or PIN from path: at most MaxFileSize bytes,
// the first line only, without its line ending. An empty secret is an error,
// and so is a file that group or others can read (an *ExposedFileError,
// naming the chmod to run). The error never contains the file's content.
func ReadFile(path string) (*Bytes, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("secret: open password file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("secret: stat password file: %w", err)
	}
	if err := CheckPrivate(path, fi.Mode()); err != nil {
		return nil, err
	}
	return ReadLine(f)
}

// ExposedFileError reports a file holding a secret that group or others can
// read.
type ExposedFileError struct {
	// Path is the file as it was named.
	Path string
}

// Error implements error; it names the chmod that fixes it.
func (e *ExposedFileError) Error() string {
	return fmt.Sprintf("secret: %s is readable by group or others: run chmod go-rwx %s", e.Path, ShellQuote(e.Path))
}

// CheckPrivate returns an *ExposedFileError when mode (of the file at path,
// which holds a secret: a passphrase, a PIN, a key) lets group or others
// read it. Pipes and terminals (/dev/stdin, <(...)) are owner-only and pass.
func CheckPrivate(path string, mode os.FileMode) error {
	if mode.Perm()&0o044 != 0 {
		return &ExposedFileError{Path: path}
	}
	return nil
}

// ShellQuote returns path as a shell word: unchanged when it holds only
// characters that need no quoting, else in single quotes.
func ShellQuote(path string) string {
	for _, r := range path {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+=:,@%", r)) {
			return "'" + strings.ReplaceAll(path, "'", `'\''`) + "'"
		}
	}
	if path == "" {
		return "''"
	}
	return path
}

// ReadLine reads one line (at most MaxFileSize bytes) from r as a secret,
// without its line ending.
func ReadLine(r io.Reader) (*Bytes, error) {
	br := bufio.NewReaderSize(io.LimitReader(r, MaxFileSize+1), MaxFileSize+1)
	buf := make([]byte, 0, 64)
	for {
		c, err := br.ReadByte()
		if err == io.EOF {
			break
		}
		if err != nil {
			Wipe(buf)
			return nil, fmt.Errorf("secret: read: %w", err)
		}
		if c == '\n' {
			break
		}
		if len(buf) >= MaxFileSize {
			Wipe(buf)
			return nil, fmt.Errorf("secret: longer than %d bytes", MaxFileSize)
		}
		if len(buf) == cap(buf) {
			nb := make([]byte, len(buf), 2*cap(buf))
			copy(nb, buf)
			Wipe(buf)
			buf = nb
		}
		buf = append(buf, c)
	}
	if n := len(buf); n > 0 && buf[n-1] == '\r' {
		buf[n-1] = 0
		buf = buf[:n-1]
	}
	if len(buf) == 0 {
		return nil, ErrEmpty
	}
	return NewBytes(buf), nil
}
