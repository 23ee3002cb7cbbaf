package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/walletmcp/walletmcp/approval/totp"
)

// maxCodeLine bounds a line read as a TOTP code.
const maxCodeLine = 64

// readCode asks for a TOTP code on the terminal (/dev/tty) or, without one,
// reads a line from standard input. Spaces are dropped ("123 456").
func (c *cli) readCode(prompt string) (string, error) {
	var r io.Reader = c.stdin
	w := c.stderr
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err == nil {
		defer tty.Close()
		r, w = tty, tty
	}
	fmt.Fprint(w, prompt)
	line, err := readLine(r, maxCodeLine)
	if tty == nil {
		fmt.Fprintln(w) // the terminal echoes the newline; a pipe does not
	}
	if err != nil {
		return "", err
	}
	code := strings.ReplaceAll(strings.TrimSpace(line), " ", "")
	if code == "" {
		return "", errors.New("no code given")
	}
	return code, nil
}

// readLine reads one line of at most max bytes from r, a byte at a time so
// that nothing after the line is consumed; the line ending is dropped.
func readLine(r io.Reader, max int) (string, error) {
	var b strings.Builder
	var buf [1]byte
	for {
		n, err := r.Read(buf[:])
		if n == 1 {
			if buf[0] == '\n' {
				break
			}
			if b.Len() >= max {
				return "", fmt.Errorf("input line longer than %d bytes", max)
			}
			b.WriteByte(buf[0])
			continue
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("reading the code: %w", err)
		}
	}
	return strings.TrimSuffix(b.String(), "\r"), nil
}

// codeTries is how many codes one prompt takes before the command gives up.
// The terminal is never locked: running the command again asks again.
const codeTries = 3

// askCode runs check on a TOTP code: given (from --code) once, or else
// codes asked for with prompt, again after a wrong, malformed or used code,
// up to codeTries. Its error is check's, as a person reads it.
func (c *cli) askCode(given, prompt string, check func(code string) error) error {
	switch given {
	case "":
	case "-":
		// One line of standard input: off the command line, for scripts.
		line, err := readLine(c.stdin, maxCodeLine)
		if err != nil {
			return fmt.Errorf("--code -: reading the code from standard input: %w", err)
		}
		code := strings.ReplaceAll(strings.TrimSpace(line), " ", "")
		if code == "" {
			return errors.New("--code -: no code on standard input")
		}
		return codeError(check(code))
	default:
		// A code on the command line can be read by every process of this
		// user (/proc/PID/cmdline) while this command runs, and a code is
		// good for any pending approval: an agent with a shell could race
		// the human to approve its own transfer with it.
		fmt.Fprintln(c.stderr, "walletmcp: warning: --code put the code on the command line, where other processes of your user can read it; type it at the prompt instead, or pass --code - to read it from standard input")
		return codeError(check(given))
	}
	var last error
	for i := 1; i <= codeTries; i++ {
		code, err := c.readCode(prompt)
		if err != nil {
			if last != nil {
				return codeError(last)
			}
			return err
		}
		last = check(code)
		if last == nil || !retryCode(last) || i == codeTries {
			return codeError(last)
		}
		msg, _ := totp.Message(last)
		left := codeTries - i
		tries := "tries"
		if left == 1 {
			tries = "try"
		}
		fmt.Fprintf(c.stderr, "%s %d more %s.\n", msg, left, tries)
	}
	return codeError(last)
}

// retryCode reports whether err is a code the human may simply retype.
func retryCode(err error) bool {
	return errors.Is(err, totp.ErrWrongCode) || errors.Is(err, totp.ErrMalformed) || errors.Is(err, totp.ErrReplay)
}

// humanError is an error whose message is written for a person; it wraps
// the error it explains.
type humanError struct {
	msg string
	err error
}

func (e *humanError) Error() string { return e.msg }
func (e *humanError) Unwrap() error { return e.err }

// codeError gives a refused code a message for people (totp.Message), or
// returns err as it is.
func codeError(err error) error {
	if msg, ok := totp.Message(err); ok {
		return &humanError{msg: msg, err: err}
	}
	return err
}
