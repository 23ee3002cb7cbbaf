package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/approval"
	"github.com/walletmcp/walletmcp/internal/config"
	"github.com/walletmcp/walletmcp/internal/secret"
	kssigner "github.com/walletmcp/walletmcp/signer/keystore"
	"github.com/walletmcp/walletmcp/wallet"
	"github.com/walletmcp/walletmcp/wallet/hd"
)

// hdHelperCommand is the hidden command serve re-executes itself with to
// derive the HD accounts' keys in a short-lived process.
//
// Why a process: hdkeychain (and the HMAC and SHA-512 code under it) makes
// heap copies of the seed and of every hardened parent key that it never
// wipes (see package wallet). In a long-running serve they would stay
// readable until the allocator happened to reuse their memory. In the
// helper they die with the process: serve only ever holds the seed-free
// child keys, each read from a pipe into one 32-byte buffer that is wiped as
// soon as the key is sealed. The helper reads the home passphrase from its
// stdin and writes records of address (20 bytes) ‖ private key (32 bytes)
// to its stdout, which must be a pipe: run by hand on a terminal it
// refuses.
const hdHelperCommand = "__hd-derive-helper"

// hdRecordSize is one helper record: an address and its private key.
const hdRecordSize = common.AddressLength + wallet.PrivateKeyLength

// unlockHD derives the keys of the home's hd accounts in a helper process
// and adds them, sealed, to keys.
func unlockHD(ctx context.Context, h *config.Home, accts []config.Account, pass *secret.Bytes, keys approval.KeyMap) error {
	want := map[common.Address]bool{}
	for _, a := range accts {
		if a.Backend == config.BackendHD {
			want[a.Address] = true
		}
	}
	if len(want) == 0 {
		return nil
	}
	// The helper is the image this process runs, not whatever now sits at
	// its path: a file swapped there must not receive the passphrase.
	exe := "/proc/self/exe"
	if _, err := os.Stat(exe); err != nil {
		if exe, err = os.Executable(); err != nil {
			return fmt.Errorf("serve: hd accounts: %w", err)
		}
	}
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("serve: hd accounts: %w", err)
	}
	defer r.Close()
	cmd := exec.CommandContext(ctx, exe, "--home", h.Dir, hdHelperCommand)
	cmd.Env = append(os.Environ(), "WALLETMCP_PASSWORD_FILE=")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = w, &stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		w.Close()
		return fmt.Errorf("serve: hd accounts: %w", err)
	}
	if err := cmd.Start(); err != nil {
		w.Close()
		return fmt.Errorf("serve: hd accounts: %w", err)
	}
	w.Close()
	_, werr := in.Write(pass.Reveal())
	in.Close()
	got, rerr := readHDRecords(r, want)
	if err := cmd.Wait(); err != nil || werr != nil || rerr != nil {
		for _, k := range got {
			k.Destroy()
		}
		msg := strings.TrimSpace(forPeople(errors.New(strings.TrimSpace(stderr.String()))))
		switch {
		case msg != "":
			return errors.New(msg)
		case rerr != nil:
			return fmt.Errorf("serve: hd accounts: %w", rerr)
		case err != nil:
			return fmt.Errorf("serve: hd accounts: the key helper failed: %w", err)
		}
		return fmt.Errorf("serve: hd accounts: %w", werr)
	}
	for a := range want {
		if got[a] == nil {
			for _, k := range got {
				k.Destroy()
			}
			return fmt.Errorf("serve: hd account %s: no key was derived", a.Hex())
		}
	}
	for a, k := range got {
		keys[a] = kssigner.New(k)
	}
	return nil
}

// readHDRecords reads helper records until EOF and seals each key wanted
// (others, accounts added since serve read the registry, are dropped). A
// record sent twice, or whose key is not its address's, is an error. The keys sealed so far are returned also with an error, for the
// caller to destroy.
func readHDRecords(r io.Reader, want map[common.Address]bool) (map[common.Address]*wallet.SealedKey, error) {
	got := map[common.Address]*wallet.SealedKey{}
	rec := make([]byte, hdRecordSize)
	defer secret.Wipe(rec)
	for {
		if _, err := io.ReadFull(r, rec); err == io.EOF {
			return got, nil
		} else if err != nil {
			return got, errors.New("short record from the key helper")
		}
		addr := common.BytesToAddress(rec[:common.AddressLength])
		k, err := wallet.SealKey(rec[common.AddressLength:])
		secret.Wipe(rec)
		if err != nil {
			return got, err
		}
		if k.Address() != addr || got[addr] != nil {
			k.Destroy()
			return got, fmt.Errorf("the key helper sent an unexpected key for %s", addr.Hex())
		}
		if !want[addr] {
			k.Destroy() // an account added since serve read the registry
			continue
		}
		got[addr] = k
	}
}

// hdHelper is the helper process: it reads the passphrase from stdin,
// derives the hd accounts' keys and writes them to stdout (a pipe).
func (c *cli) hdHelper(_ context.Context, args []string) error {
	out, ok := c.stdout.(*os.File)
	if !ok || len(args) != 0 {
		return errors.New("hd helper: internal command of serve")
	}
	if fi, err := out.Stat(); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		return errors.New("hd helper: internal command of serve: its output must be a pipe")
	}
	h, cfg, err := c.homeConfig()
	if err != nil {
		return err
	}
	accts, err := h.Accounts()
	if err != nil {
		return err
	}
	buf := make([]byte, secret.MaxFileSize+1)
	defer secret.Wipe(buf)
	n, _ := io.ReadFull(c.stdin, buf)
	if n == 0 || n > secret.MaxFileSize {
		return errors.New("hd helper: no passphrase on stdin")
	}
	pass := secret.CopyBytes(buf[:n])
	defer pass.Wipe()
	sealed, err := deriveHD(h, cfg, accts, pass)
	if err != nil {
		return err
	}
	defer func() {
		for _, k := range sealed {
			k.Destroy()
		}
	}()
	for addr, k := range sealed {
		err := k.Open(func(priv []byte) error {
			rec := make([]byte, 0, hdRecordSize)
			defer secret.Wipe(rec[:hdRecordSize])
			rec = append(append(rec, addr[:]...), priv...)
			_, err := out.Write(rec)
			return err
		})
		if err != nil {
			return fmt.Errorf("hd helper: %w", err)
		}
	}
	return nil
}

// hdAccounts returns the hd accounts of accts grouped by wallet label, and
// the labels in order of first appearance.
func hdAccounts(accts []config.Account) (map[string][]config.Account, []string) {
	byWallet := map[string][]config.Account{}
	var order []string
	for _, a := range accts {
		if a.Backend != config.BackendHD {
			continue
		}
		if _, ok := byWallet[a.Label]; !ok {
			order = append(order, a.Label)
		}
		byWallet[a.Label] = append(byWallet[a.Label], a)
	}
	return byWallet, order
}

// deriveHD derives, for every hd account, its key from its wallet's seed
// and returns it sealed. Each wallet's seed is decrypted once and wiped as
// soon as its accounts' keys are sealed. An account whose wallet is missing,
// or whose path does not derive its address, is an error. serve runs this
// in a short-lived child process (see hdhelper.go).
func deriveHD(h *config.Home, cfg *config.Config, accts []config.Account, pass *secret.Bytes) (map[common.Address]*wallet.SealedKey, error) {
	byWallet, order := hdAccounts(accts)
	out := map[common.Address]*wallet.SealedKey{}
	fail := func(err error) (map[common.Address]*wallet.SealedKey, error) {
		for _, k := range out {
			k.Destroy()
		}
		return nil, err
	}
	vault := hdVaultOf(h, false) // reads only
	for _, label := range order {
		w, err := vault.Find(label)
		if err != nil {
			return fail(fmt.Errorf("serve: hd wallet %q: %w", label, err))
		}
		idx := make([]uint32, 0, len(byWallet[label]))
		for _, a := range byWallet[label] {
			n, err := hd.ParsePath(a.DerivationPath)
			if err != nil {
				return fail(fmt.Errorf("serve: account %s: %w", a.Address.Hex(), err))
			}
			idx = append(idx, n)
		}
		seed, err := hd.OpenSeed(vault, w, pass)
		if err != nil {
			return fail(fmt.Errorf("serve: hd wallet %q: %w", label, err))
		}
		sealed, err := hd.DeriveKeys(seed.Reveal(), idx)
		seed.Wipe()
		if err != nil {
			return fail(fmt.Errorf("serve: hd wallet %q: %w", label, err))
		}
		for i, a := range byWallet[label] {
			out[a.Address] = sealed[i]
		}
		for i, a := range byWallet[label] {
			if sealed[i].Address() != a.Address {
				return fail(fmt.Errorf("serve: account %s: %s of hd wallet %q derives %s", a.Address.Hex(), a.DerivationPath, label, sealed[i].Address().Hex()))
			}
		}
	}
	return out, nil
}

// scrubHeap runs the garbage collector and returns free memory to the
// operating system after the keys are unlocked, so that pages that held
// only garbage copies made by dependencies (hdkeychain's HMAC states,
// go-ethereum's scrypt buffers) are unmapped rather than left readable.
// Garbage that shares a page with live objects stays until reused.
func scrubHeap() {
	runtime.GC()
	debug.FreeOSMemory()
}
