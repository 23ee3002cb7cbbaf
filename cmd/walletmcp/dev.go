package main

// Dev homes: what `serve --dev` creates on an empty home, and `totp show --dev`.

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/big"
	"time"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/walletmcp/walletmcp/approval/totp"
	"github.com/walletmcp/walletmcp/internal/audit"
	"github.com/walletmcp/walletmcp/internal/config"
	"github.com/walletmcp/walletmcp/internal/secret"
	"github.com/walletmcp/walletmcp/internal/store"
)

// devIdleBlockTime is how often the dev chain seals a block with no
// transaction: every block is kept on disk (about 2.6 kB each).
const devIdleBlockTime = 30 * time.Second

// devFunding is what every account of the home gets at the dev chain's genesis.
var devFunding = new(big.Int).Mul(big.NewInt(100), big.NewInt(1e18))

// devInit initialises an empty home for dev mode: a random passphrase kept in
// the home (dev homes are for throwaway funds), one account, the default
// policy, attested. It shows the TOTP enrolment on w (stderr) as a QR code
// and a URI.
func devInit(ctx context.Context, h *config.Home, w io.Writer) error {
	pass, err := config.NewDevPassphrase(rand.Reader)
	if err != nil {
		return err
	}
	defer pass.Wipe()
	if err := h.WriteDevPassphrase(pass); err != nil {
		return err
	}
	mk, err := initHome(ctx, h, pass, 1337, true)
	if err != nil {
		return err
	}
	defer mk.Wipe()
	cfg, err := h.LoadConfig()
	if err != nil {
		return err
	}
	addr, err := keystoreOf(h, lightKeys(cfg, mk)).New(pass)
	if err != nil {
		return err
	}
	if err := h.AddAccount(config.Account{Address: addr, Label: "dev", Backend: config.BackendKeystore}); err != nil {
		return err
	}
	uri, err := devEnrolTOTP(ctx, h, mk)
	if err != nil {
		return err
	}
	_, sum, err := h.ReadPolicy()
	if err != nil {
		return err
	}
	if err := h.Attest(mk, sum, time.Now()); err != nil {
		return err
	}
	qr, err := qrcode.New(uri, qrcode.Medium)
	if err != nil {
		return fmt.Errorf("QR code: %w", err)
	}
	dir := secret.ShellQuote(h.Dir)
	fmt.Fprintf(w, "\nNew dev home %s (throwaway funds only):\n"+
		"  account      %s, 100 ETH on the embedded dev chain (kept in %s)\n"+
		"  passphrase   %s (walletmcp commands on this home find it)\n"+
		"  policy       %s (attested)\n\n"+
		"Transfers above auto_approve_max or to a new recipient need a code from an\n"+
		"authenticator app. Scan this QR code, or enter the URI:\n\n%s\n\n%s\n"+
		"See it again: walletmcp totp show --dev --home %s\n"+
		"Approve: walletmcp approvals --home %s, then walletmcp approve ID --home %s\n\n",
		h.Dir, addr.Hex(), h.Path(config.DevChainDir), h.Path(config.DevPasswordFile), h.Path(config.PolicyFile),
		uri, qr.ToSmallString(false), dir, dir, dir)
	return nil
}

// devEnrolTOTP enrols a TOTP secret for a new dev home and returns its
// otpauth:// URI (printed on stderr: dev homes hold throwaway funds).
func devEnrolTOTP(ctx context.Context, h *config.Home, mk *config.MasterKey) (string, error) {
	key, err := mk.Derive(config.TOTPKeyPurpose)
	if err != nil {
		return "", err
	}
	defer key.Wipe()
	k, err := totp.NewSecret(devTOTPAccount, nil)
	if err != nil {
		return "", err
	}
	st, err := store.Open(ctx, h.Path(config.StateFile), nil)
	if err != nil {
		return "", err
	}
	defer st.Close()
	if err := totp.Enrol(ctx, st, key, k.Secret(), -1, time.Now()); err != nil {
		return "", err
	}
	return k.URL(), nil
}

// devTOTPAccount is the account name of a dev home's TOTP secret in
// authenticator apps.
const devTOTPAccount = "dev"

func (c *cli) totpShow(ctx context.Context, args []string) error {
	fs := c.flags("totp show")
	dev := fs.Bool("dev", false, "required: this shows the TOTP secret, which only a dev home (throwaway funds) keeps showable")
	if err := c.parse(fs, args, 0); err != nil {
		return err
	}
	if !*dev {
		return &exitError{code: 2, err: errors.New("totp show is for dev homes only: walletmcp totp show --dev (a real home shows its TOTP secret once, at `walletmcp totp enroll`)")}
	}
	h, err := c.home()
	if err != nil {
		return err
	}
	if !h.IsDev() {
		return fmt.Errorf("%s is not a dev home: its TOTP secret was shown once, at `walletmcp totp enroll` (re-enrol to get a new one)", h.Dir)
	}
	c.useDevPassword(h)
	th, err := c.openTOTPHome(ctx, h)
	if err != nil {
		return err
	}
	defer th.close()
	lg, key := th.lg, th.key
	enrolled, err := th.st.TOTP(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return errors.New("TOTP is not enrolled in this home: run `walletmcp totp enroll`")
	} else if err != nil {
		return err
	}
	b32, err := totp.Open(key, enrolled.Sealed)
	if err != nil {
		return err
	}
	defer b32.Wipe()
	k, err := totp.Key(b32, devTOTPAccount, nil)
	if err != nil {
		return err
	}
	qr, err := qrcode.New(k.URL(), qrcode.Medium)
	if err != nil {
		return fmt.Errorf("totp show: QR code: %w", err)
	}
	if err := lg.Append(ctx, audit.TypeSecurity, map[string]any{"event": "totp_shown", "dev": true}); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "TOTP enrolment of the dev home %s: scan the QR code with an authenticator app, or enter the URI.\n\n%s\n\n%s\n", h.Dir, k.URL(), qr.ToSmallString(false))
	return nil
}
