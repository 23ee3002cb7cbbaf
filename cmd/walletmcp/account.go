package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/ethereum/go-ethereum/common"
	"github.com/walletmcp/walletmcp/internal/audit"
	"github.com/walletmcp/walletmcp/internal/config"
	"github.com/walletmcp/walletmcp/internal/secret"
	"github.com/walletmcp/walletmcp/wallet"
)

func (c *cli) accountNew(ctx context.Context, args []string) error {
	fs := c.flags("account new")
	label := fs.String("label", "", "a short name for the account")
	if err := c.parse(fs, args, 0); err != nil {
		return err
	}
	if err := config.ValidateLabel(*label); err != nil {
		return err
	}
	ks, err := c.openKeystore(false)
	if err != nil {
		return err
	}
	defer ks.close()
	addr, err := ks.ks.New(ks.pass)
	if err != nil {
		return err
	}
	return ks.register(ctx, c, addr, *label, "account_created")
}

func (c *cli) accountImport(ctx context.Context, args []string) error {
	fs := c.flags("account import")
	keyFile := fs.String("key-file", "", "file holding a hex private key (64 hex digits)")
	ksFile := fs.String("keystore", "", "a V3 keystore file (asks for its passphrase)")
	ksPassFile := fs.String("keystore-password-file", "", "file holding the --keystore file's passphrase")
	label := fs.String("label", "", "a short name for the account")
	if err := c.parse(fs, args, 0); err != nil {
		return err
	}
	if (*keyFile == "") == (*ksFile == "") {
		return &exitError{code: 2, err: errors.New("account import: give exactly one of --key-file or --keystore")}
	}
	if err := config.ValidateLabel(*label); err != nil {
		return err
	}
	ks, err := c.openKeystore(true)
	if err != nil {
		return err
	}
	defer ks.close()
	var addr common.Address
	if *keyFile != "" {
		key, err := secret.ReadFile(*keyFile)
		if err != nil {
			return fmt.Errorf("--key-file: %w", err)
		}
		defer key.Wipe()
		a, err := ks.ks.ImportHex(key, ks.pass)
		if err != nil {
			return err
		}
		addr = a
	} else {
		data, err := readBounded(*ksFile, wallet.MaxKeyFileSize)
		if err != nil {
			return fmt.Errorf("--keystore: %w", err)
		}
		var filePass *secret.Bytes
		if *ksPassFile != "" {
			filePass, err = secret.ReadFile(*ksPassFile)
		} else {
			filePass, err = promptSecret(c.stderr, "Passphrase of the keystore file: ", false)
		}
		if err != nil {
			return err
		}
		defer filePass.Wipe()
		a, err := ks.ks.ImportV3(data, filePass, ks.pass)
		if err != nil {
			return err
		}
		addr = a
	}
	return ks.register(ctx, c, addr, *label, "account_imported")
}

// keystoreSession is what the account commands share: the home, its
// keystore, the checked home passphrase, and the audit log, opened (with the
// key derived from the passphrase) before anything changes, so that a
// tampered or unwritable log stops the command first.
type keystoreSession struct {
	h    *config.Home
	ks   *wallet.Keystore
	pass *secret.Bytes
	lg   *audit.Log
	// light: new key files get the light scrypt parameters (lightKeys).
	light bool
}

// openKeystore opens the keystore session of a command that adds key
// material; imports (an existing key or mnemonic) refuse a dev home.
func (c *cli) openKeystore(imports bool) (*keystoreSession, error) {
	h, cfg, err := c.homeConfig()
	if err != nil {
		return nil, err
	}
	if imports && h.IsDev() {
		return nil, fmt.Errorf("%s is a dev home: its passphrase is kept in a file, so a key imported into it is no secret from anything running as your user; import keys into a home made with walletmcp init", h.Dir)
	}
	c.keyMaterial = true
	pass, mk, lg, err := c.unlockAudit(h)
	if err != nil {
		return nil, err
	}
	light := lightKeys(cfg, mk)
	mk.Wipe()
	return &keystoreSession{h: h, ks: keystoreOf(h, light), light: light, pass: pass, lg: lg}, nil
}

func (k *keystoreSession) close() {
	k.pass.Wipe()
	k.lg.Close()
}

// register adds a keystore account to the registry, audits it and prints it.
func (k *keystoreSession) register(ctx context.Context, c *cli, addr common.Address, label, event string) error {
	if err := k.h.AddAccount(config.Account{Address: addr, Label: label, Backend: config.BackendKeystore}); err != nil {
		return err
	}
	return c.auditAdmin(ctx, k.lg, event, map[string]any{"address": addr.Hex(), "backend": config.BackendKeystore}, addr.Hex())
}

// auditAdmin records an administrative event and prints result.
func (c *cli) auditAdmin(ctx context.Context, lg *audit.Log, event string, fields map[string]any, result string) error {
	fields["event"] = event
	if err := lg.Append(ctx, audit.TypeSecurity, fields); err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, result)
	return nil
}

func readBounded(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("larger than %d bytes", max)
	}
	return data, nil
}

func (c *cli) accountList(_ context.Context, args []string) error {
	fs := c.flags("account list")
	if err := c.parse(fs, args, 0); err != nil {
		return err
	}
	h, err := c.home()
	if err != nil {
		return err
	}
	if err := h.Require(); err != nil {
		return err
	}
	accts, err := h.Accounts()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ADDRESS\tBACKEND\tLABEL")
	for _, a := range accts {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", a.Address.Hex(), printable(a.Backend), printable(a.Label))
	}
	return tw.Flush()
}
