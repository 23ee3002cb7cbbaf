package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/internal/config"
	"github.com/walletmcp/walletmcp/policy"
	"github.com/walletmcp/walletmcp/signer/offline"
)

func accountWatchHelp() (synopsis, text string) {
	return "account watch ADDRESS [--label L] [--path \"m/44'/60'/0'/0/0\" --xfp 8HEX]",
		"Add an offline account: its key lives on an air-gapped device (airsign, or a\n" +
			"Keystone-compatible wallet). Transfers from it go through create_offline_request\n" +
			"and submit_offline_signature. --path and --xfp (the master key fingerprint) are\n" +
			"written into each sign request; without them: m/44'/60'/0'/0/0, no fingerprint."
}

func (c *cli) accountWatch(ctx context.Context, args []string) error {
	fs := c.flags("account watch")
	label := fs.String("label", "", "a short name for the account")
	path := fs.String("path", "", "the key's BIP-32 derivation path on the device, e.g. m/44'/60'/0'/0/0")
	xfp := fs.String("xfp", "", "the device's master key fingerprint: 8 hex digits (needs --path)")
	// Flags may come before or after ADDRESS.
	var pos []string
	for {
		if err := c.parseFlags(fs, args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != 1 {
		return &exitError{code: 2, err: errors.New("usage: walletmcp account watch ADDRESS [--label L] [--path P --xfp X]")}
	}
	addr, err := policy.ParseAddress("ADDRESS", pos[0])
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("account watch: %w", err)}
	}
	if err := config.ValidateLabel(*label); err != nil {
		return err
	}
	acct := config.Account{Address: addr, Label: *label, Backend: config.BackendOffline}
	if *xfp != "" && *path == "" {
		return &exitError{code: 2, err: errors.New("account watch: --xfp needs --path")}
	}
	if *path != "" {
		kp, err := offline.ParseKeyPath(*path)
		if err != nil {
			return &exitError{code: 2, err: errors.New("account watch: --path: want a BIP-32 path such as m/44'/60'/0'/0/0")}
		}
		acct.DerivationPath = kp.String()
	}
	if *xfp != "" {
		fp, err := offline.ParseFingerprint(*xfp)
		if err != nil {
			return &exitError{code: 2, err: errors.New("account watch: --xfp: want 8 hex digits, not 00000000")}
		}
		acct.XFP = fmt.Sprintf("%08x", fp)
	}
	h, err := c.home()
	if err != nil {
		return err
	}
	pass, mk, lg, err := c.unlockAudit(h)
	if err != nil {
		return err
	}
	pass.Wipe()
	mk.Wipe()
	defer lg.Close()
	if err := h.AddAccount(acct); err != nil {
		return err
	}
	return c.auditAdmin(ctx, lg, "account_watched", map[string]any{"address": addr.Hex(), "backend": config.BackendOffline,
		"derivation_path": acct.DerivationPath, "xfp": acct.XFP}, addr.Hex())
}

// offlinePaths returns the offline accounts with the key path their sign
// requests carry. The registry was validated when written; an entry that no
// longer parses stops serve.
func offlinePaths(accts []config.Account) (map[common.Address]offline.KeyPath, error) {
	out := map[common.Address]offline.KeyPath{}
	for _, a := range accts {
		if a.Backend != config.BackendOffline {
			continue
		}
		kp := offline.DefaultPath()
		if a.DerivationPath != "" {
			p, err := offline.ParseKeyPath(a.DerivationPath)
			if err != nil {
				return nil, fmt.Errorf("serve: refusing to start: offline account %s: its derivation_path in %s does not parse", a.Address.Hex(), config.AccountsFile)
			}
			kp = p
		}
		if a.XFP != "" {
			fp, err := offline.ParseFingerprint(a.XFP)
			if err != nil {
				return nil, fmt.Errorf("serve: refusing to start: offline account %s: its xfp in %s does not parse", a.Address.Hex(), config.AccountsFile)
			}
			kp.SourceFingerprint = fp
		}
		out[a.Address] = kp
	}
	return out, nil
}
