package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/walletmcp/walletmcp/internal/config"
	"github.com/walletmcp/walletmcp/internal/secret"
	"github.com/walletmcp/walletmcp/wallet"
	"github.com/walletmcp/walletmcp/wallet/hd"
)

// hdVaultOf opens the home's seed vault; new seed files get the light
// scrypt parameters when light (lightKeys).
func hdVaultOf(h *config.Home, light bool) *wallet.HDVault {
	var opts *wallet.KeystoreOptions
	if light {
		opts = wallet.LightKeystoreOptions()
	}
	return wallet.NewHDVault(h.Path(config.HDDir), opts)
}

// hdSession is what the hd commands that change the home share: the
// keystore session (home, checked passphrase, audit log) and the vault.
type hdSession struct {
	*keystoreSession
	vault *wallet.HDVault
}

func (c *cli) openHD(imports bool) (*hdSession, error) {
	ks, err := c.openKeystore(imports)
	if err != nil {
		return nil, err
	}
	return &hdSession{keystoreSession: ks, vault: hdVaultOf(ks.h, ks.light)}, nil
}

func (c *cli) hdNew(ctx context.Context, args []string) error {
	fs := c.flags("hd new")
	words := fs.Int("words", 24, "12 or 24")
	label := fs.String("label", "main", "the wallet's name")
	file := fs.String("mnemonic-file", "", "write the words to this new file (0600) instead of showing them")
	askPass := fs.Bool("bip39-passphrase", false, "ask for a BIP-39 passphrase")
	if err := c.parse(fs, args, 0); err != nil {
		return err
	}
	if *words != 12 && *words != 24 {
		return &exitError{code: 2, err: errors.New("hd new: --words must be 12 or 24")}
	}
	s, err := c.openHD(false)
	if err != nil {
		return err
	}
	defer s.close()
	if _, err := s.vault.Find(*label); err == nil {
		return fmt.Errorf("hd new: an hd wallet is already labelled %q", *label)
	}
	entropy, err := wallet.NewEntropy(nil, *words)
	if err != nil {
		return err
	}
	defer entropy.Wipe()
	m, err := wallet.MnemonicFromEntropy(entropy.Reveal())
	if err != nil {
		return err
	}
	defer m.Wipe()
	if *file != "" {
		if err := writeMnemonicFile(*file, m); err != nil {
			return err
		}
	} else {
		tty, err := openTTY()
		if err != nil {
			return err
		}
		err = showMnemonic(tty, m)
		tty.Close()
		if err != nil {
			return err
		}
	}
	if err := s.save(ctx, c, *label, m, *askPass, "hd_wallet_created"); err != nil {
		if *file != "" && !errors.Is(err, errWalletSaved) {
			os.Remove(*file) // the words of a wallet that was not saved
		}
		return err
	}
	return nil
}

func (c *cli) hdRestore(ctx context.Context, args []string) error {
	fs := c.flags("hd restore")
	label := fs.String("label", "main", "the wallet's name")
	file := fs.String("mnemonic-file", "", "read the words from this file instead of the terminal")
	askPass := fs.Bool("bip39-passphrase", false, "ask for a BIP-39 passphrase")
	if err := c.parse(fs, args, 0); err != nil {
		return err
	}
	s, err := c.openHD(true)
	if err != nil {
		return err
	}
	defer s.close()
	var text *secret.Bytes
	if *file != "" {
		text, err = readMnemonicFile(*file)
	} else {
		tty, terr := openTTY()
		if terr != nil {
			return terr
		}
		text, err = readTTYSecret(tty, "Mnemonic (12 to 24 words, not echoed): ", wallet.MaxMnemonicSize)
		tty.Close()
	}
	if err != nil {
		return err
	}
	defer text.Wipe()
	entropy, err := wallet.ParseMnemonic(text.Reveal())
	if err != nil {
		return err
	}
	defer entropy.Wipe()
	m, err := wallet.MnemonicFromEntropy(entropy.Reveal())
	if err != nil {
		return err
	}
	defer m.Wipe()
	return s.save(ctx, c, *label, m, *askPass, "hd_wallet_restored")
}

// save derives the seed of m (with a BIP-39 passphrase asked on the
// terminal if askPass), stores it in the vault, registers account 0 and
// prints its address.
func (s *hdSession) save(ctx context.Context, c *cli, label string, m *secret.Bytes, askPass bool, event string) error {
	var bp *secret.Bytes
	if askPass {
		tty, err := openTTY()
		if err != nil {
			return err
		}
		bp, err = readTTYSecret(tty, "BIP-39 passphrase (not echoed): ", 256)
		if err == nil {
			var again *secret.Bytes
			again, err = readTTYSecret(tty, "Repeat: ", 256)
			if err == nil && !again.Equal(bp) {
				err = errors.New("hd: the two BIP-39 passphrases differ")
			}
			again.Wipe()
		}
		tty.Close()
		if err != nil {
			bp.Wipe()
			return err
		}
		defer bp.Wipe()
	}
	seed, err := wallet.SeedFromMnemonic(m.Reveal(), bp.Reveal())
	if err != nil {
		return err
	}
	defer seed.Wipe()
	w, err := hd.CreateWallet(s.vault, label, seed, s.pass)
	if err != nil {
		return err
	}
	if err := s.h.AddAccount(config.Account{Address: w.Address0, Label: label, Backend: config.BackendHD, DerivationPath: hd.Path(0)}); err != nil {
		return fmt.Errorf("%w: %w", errWalletSaved, err)
	}
	if err := c.auditAdmin(ctx, s.lg, event, map[string]any{"wallet": label, "address": w.Address0.Hex(), "backend": config.BackendHD, "derivation_path": hd.Path(0)}, w.Address0.Hex()+" "+hd.Path(0)); err != nil {
		return fmt.Errorf("%w: %w", errWalletSaved, err)
	}
	return nil
}

// errWalletSaved marks a failure after the seed vault was written: the
// wallet exists, so its words must not be thrown away.
var errWalletSaved = errors.New("hd: the wallet was saved, but a later step failed")

func (c *cli) hdDerive(ctx context.Context, args []string) error {
	fs := c.flags("hd derive")
	index := fs.Int64("index", -1, "account index N of m/44'/60'/0'/0/N (default: the next free one)")
	label := fs.String("label", "", "the wallet (default: the only one)")
	if err := c.parse(fs, args, 0); err != nil {
		return err
	}
	if *index < -1 || *index > hd.MaxIndex {
		return &exitError{code: 2, err: errors.New("hd derive: --index must be from 0 to 2147483647")}
	}
	s, err := c.openHD(false)
	if err != nil {
		return err
	}
	defer s.close()
	w, err := s.vault.Find(*label)
	if err != nil {
		return err
	}
	accts, err := s.h.Accounts()
	if err != nil {
		return err
	}
	used := map[uint32]bool{}
	for _, a := range accts {
		if a.Backend == config.BackendHD && a.Label == w.Label {
			if n, err := hd.ParsePath(a.DerivationPath); err == nil {
				used[n] = true
			}
		}
	}
	n := uint32(0)
	if *index >= 0 {
		n = uint32(*index)
		if used[n] {
			return fmt.Errorf("hd derive: %s of %q is already an account", hd.Path(n), w.Label)
		}
	} else {
		for used[n] {
			n++
		}
	}
	seed, err := hd.OpenSeed(s.vault, w, s.pass)
	if err != nil {
		return err
	}
	addrs, err := hd.DeriveAddresses(seed.Reveal(), []uint32{n})
	seed.Wipe()
	if err != nil {
		return err
	}
	path := hd.Path(n)
	if err := s.h.AddAccount(config.Account{Address: addrs[0], Label: w.Label, Backend: config.BackendHD, DerivationPath: path}); err != nil {
		return err
	}
	return c.auditAdmin(ctx, s.lg, "hd_account_derived", map[string]any{"wallet": w.Label, "address": addrs[0].Hex(), "backend": config.BackendHD, "derivation_path": path}, addrs[0].Hex()+" "+path)
}

func (c *cli) hdList(_ context.Context, args []string) error {
	fs := c.flags("hd list")
	if err := c.parse(fs, args, 0); err != nil {
		return err
	}
	h, _, err := c.homeConfig()
	if err != nil {
		return err
	}
	ws, err := hdVaultOf(h, false).Wallets()
	if err != nil {
		return err
	}
	accts, err := h.Accounts()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WALLET\tADDRESS\tPATH")
	for _, w := range ws {
		for _, a := range accts {
			if a.Backend == config.BackendHD && a.Label == w.Label {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", printable(w.Label), a.Address.Hex(), printable(a.DerivationPath))
			}
		}
	}
	return tw.Flush()
}
