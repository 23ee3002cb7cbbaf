package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/walletmcp/walletmcp/approval/totp"
	"github.com/walletmcp/walletmcp/internal/audit"
	"github.com/walletmcp/walletmcp/internal/config"
	"github.com/walletmcp/walletmcp/internal/secret"
	"github.com/walletmcp/walletmcp/internal/store"
)

func (c *cli) totpEnroll(ctx context.Context, args []string) error {
	fs := c.flags("totp enroll")
	pngFile := fs.String("png", "", "refused: a file holding the secret is readable by anything running as you")
	oldCode := fs.String("code", "", "re-enrolling: a current code of the enrolled authenticator (asked for when absent)")
	if err := c.parse(fs, args, 0); err != nil {
		return err
	}
	if *pngFile != "" {
		// A file holding the secret is readable by anything running as the
		// user for as long as it exists: an agent with a shell would
		// compute codes from it and approve its own transfers.
		return &exitError{code: 2, err: errors.New("totp enroll: --png is refused: a file holding the secret can be read by anything running as your user, which could then approve transfers; scan the QR code on the terminal, or type the URI into your authenticator")}
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
		if en.SecretLost() {
			fmt.Fprintln(c.stderr, "The enrolled secret itself does not open (state.db was changed outside walletmcp): no code of it can be checked, so this re-enrolment goes on on the home passphrase alone (recorded in the audit log).")
			break
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
