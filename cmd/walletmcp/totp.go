package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/walletmcp/walletmcp/approval/totp"
	"github.com/walletmcp/walletmcp/internal/audit"
	"github.com/walletmcp/walletmcp/internal/config"
	"github.com/walletmcp/walletmcp/internal/secret"
	"github.com/walletmcp/walletmcp/internal/store"
)

// maxCodeLine bounds a line read as a TOTP code.
const maxCodeLine = 64

func (c *cli) totpEnroll(ctx context.Context, args []string) error {
	fs := c.flags("totp enroll")
	pngFile := fs.String("png", "", "also write the QR code to this new PNG file (it holds the secret: delete it once scanned)")
	oldCode := fs.String("code", "", "re-enrolling: a current code of the enrolled authenticator (asked for when absent)")
	if err := c.parse(fs, args, 0); err != nil {
		return err
	}
	if *pngFile != "" {
		// Refuse before any code is asked for (and spent).
		if _, err := os.Lstat(*pngFile); err == nil {
			return fmt.Errorf("--png: %s exists; give a new file name", *pngFile)
		}
	}
	h, err := c.home()
	if err != nil {
		return err
	}
	th, err := c.openTOTPHome(ctx, h)
	if err != nil {
		return err
	}
	defer th.close()
	// The protocol (approval/totp.Enrolment): re-enrolling takes a current
	// code of the enrolled secret; the new secret is stored once a code of it
	// is confirmed.
	en, err := totp.BeginEnrolment(ctx, th.st, th.lg, th.key, nil)
	if err != nil {
		return err
	}
	defer en.Wipe()
	reenrol := en.Reenrol()
	switch {
	case reenrol:
		if en.StateInvalid() {
			fmt.Fprintln(c.stderr, "The stored TOTP state does not verify (changed outside walletmcp, or written by an older version): re-enrolling repairs it.")
		}
		const prompt = "TOTP is already enrolled. Current code of the enrolled authenticator: "
		if err := c.askCode(*oldCode, prompt, func(code string) error { return en.CheckOldCode(ctx, code) }); err != nil {
			return fmt.Errorf("re-enrolling needs a current code of the enrolled authenticator. %w", err)
		}
	case *oldCode != "":
		return &exitError{code: 2, err: errors.New("totp enroll: --code is for re-enrolling, and TOTP is not enrolled yet")}
	}

	k, err := en.NewSecret(accountName())
	if err != nil {
		return err
	}
	uri := k.URL()
	qr, err := qrcode.New(uri, qrcode.Medium)
	if err != nil {
		return fmt.Errorf("totp enroll: QR code: %w", err)
	}
	fmt.Fprintf(c.stdout, "Add this account to your authenticator app: scan the QR code, or enter the URI.\n"+
		"Keep it private: whoever has it can approve transfers.\n\n%s\n\n%s\n", uri, qr.ToSmallString(false))
	if *pngFile != "" {
		if err := writeNewFile(*pngFile, qr, 256); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "QR code written to %s: delete it once scanned.\n", *pngFile)
	}
	// A mistyped code asks again, with the same secret: nothing to rescan.
	err = c.askCode("", "Code from your authenticator: ", func(code string) error { return en.Confirm(ctx, code) })
	if err != nil {
		return fmt.Errorf("TOTP not enrolled, nothing changed. %w Run `walletmcp totp enroll` again to start over", err)
	}
	if err := en.Save(ctx); err != nil {
		return err
	}
	return c.auditAdmin(ctx, th.lg, "totp_enrolled", map[string]any{"reenrol": reenrol},
		"TOTP enrolled: approvals and `policy attest` now ask for a code")
}

// accountName is the account label of a new TOTP secret in authenticator
// apps: this machine's name.
func accountName() string {
	host, err := os.Hostname()
	host = strings.Map(func(r rune) rune {
		if r < 0x21 || r > 0x7e || r == ':' {
			return -1
		}
		return r
	}, host)
	if err != nil || host == "" {
		return "wallet"
	}
	if len(host) > 64 {
		host = host[:64]
	}
	return host
}

// writeNewFile writes the QR code as a PNG to a file that must not exist yet,
// with mode 0600.
func writeNewFile(path string, qr *qrcode.QRCode, size int) error {
	png, err := qr.PNG(size)
	if err != nil {
		return fmt.Errorf("--png: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("--png: %w", err)
	}
	if _, err := f.Write(png); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("--png: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return fmt.Errorf("--png: %w", err)
	}
	return nil
}

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

// requireTOTP verifies a TOTP code (code, or asked for with prompt) once TOTP
// is enrolled; without an enrolment it does nothing. The code is spent.
func (c *cli) requireTOTP(ctx context.Context, h *config.Home, lg *audit.Log, mk *config.MasterKey, code, prompt string) error {
	st, err := store.Open(ctx, h.Path(config.StateFile), nil)
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.TOTP(ctx); errors.Is(err, store.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	key, err := mk.Derive(config.TOTPKeyPurpose)
	if err != nil {
		return err
	}
	v := totp.NewSealedVerifier(st, lg, key, nil)
	defer v.Wipe()
	return c.askCode(code, prompt, func(code string) error {
		_, err := v.Verify(ctx, code, totp.Scope{Channel: store.ChannelCLI})
		return err
	})
}

// codeTries is how many codes one prompt takes before the command gives up.
// The terminal is never locked: running the command again asks again.
const codeTries = 3

// askCode runs check on a TOTP code: given (from --code) once, or else
// codes asked for with prompt, again after a wrong, malformed or used code,
// up to codeTries. Its error is check's, as a person reads it.
func (c *cli) askCode(given, prompt string, check func(code string) error) error {
	if given != "" {
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

// totpHome is what the TOTP commands open: the audit log with its head key,
// the state, and the key that seals the TOTP secret.
type totpHome struct {
	lg  *audit.Log
	st  *store.Store
	key *secret.Bytes
}

// openTOTPHome unlocks the home (the passphrase and master key are wiped
// once the subkeys are derived) and opens the audit log and the state.
func (c *cli) openTOTPHome(ctx context.Context, h *config.Home) (*totpHome, error) {
	pass, mk, lg, err := c.unlockAudit(h)
	if err != nil {
		return nil, err
	}
	pass.Wipe()
	key, err := mk.Derive(config.TOTPKeyPurpose)
	mk.Wipe()
	if err != nil {
		lg.Close()
		return nil, err
	}
	st, err := store.Open(ctx, h.Path(config.StateFile), nil)
	if err != nil {
		key.Wipe()
		lg.Close()
		return nil, err
	}
	return &totpHome{lg: lg, st: st, key: key}, nil
}

func (t *totpHome) close() {
	t.st.Close()
	t.key.Wipe()
	t.lg.Close()
}
