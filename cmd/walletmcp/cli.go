package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"

	"github.com/walletmcp/walletmcp/internal/config"
	"github.com/walletmcp/walletmcp/internal/secret"
	"github.com/walletmcp/walletmcp/internal/store"
	"github.com/walletmcp/walletmcp/wallet"
)

// cli holds what every command needs.
type cli struct {
	g      *globals
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	// keyMaterial is set by the commands that add keys or accounts
	// (account new/import, hd new/restore/derive): they never take a dev
	// home's dev-password file on their own (see passphrase).
	keyMaterial bool
}

// flags returns a FlagSet for a command, with the global flags registered.
// It prints nothing itself: parse prints the help or returns the error.
func (c *cli) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("walletmcp "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	c.g.register(fs)
	return fs
}

// parse parses args and refuses positional arguments beyond max. -h, -help
// and --help print the command's help on stdout and return errHelpShown
// (exit status 0).
func (c *cli) parse(fs *flag.FlagSet, args []string, maxPositional int) error {
	if err := c.parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > maxPositional {
		return &exitError{code: 2, err: fmt.Errorf("%s: unexpected argument %q (see %s --help)", fs.Name(), safeWord(fs.Arg(maxPositional)), fs.Name())}
	}
	return nil
}

// parseFlags is fs.Parse with the help and usage errors of parse.
func (c *cli) parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c.printHelp(fs)
			return errHelpShown
		}
		return &exitError{code: 2, err: fmt.Errorf("%s: %v (see %s --help)", fs.Name(), err, fs.Name())}
	}
	return nil
}

// home opens the home (--home, $WALLETMCP_HOME or ~/.walletmcp) for a command
// that needs an initialised one: a missing home gets the same message in
// every command, and a home that group or others can write is refused.
func (c *cli) home() (*config.Home, error) {
	h, err := c.openHome()
	if err != nil {
		return nil, err
	}
	if err := h.Require(); err != nil {
		return nil, err
	}
	return h, nil
}

// homeConfig is home and its config.toml, for the commands that need both.
func (c *cli) homeConfig() (*config.Home, *config.Config, error) {
	h, err := c.home()
	if err != nil {
		return nil, nil, err
	}
	cfg, err := h.LoadConfig()
	if err != nil {
		return nil, nil, err
	}
	return h, cfg, nil
}

// openHome is home for the commands that may create the home (init, serve
// --dev): it may not exist yet.
func (c *cli) openHome() (*config.Home, error) {
	dir := c.g.home
	if dir == "" {
		var err error
		if dir, err = config.DefaultDir(); err != nil {
			return nil, err
		}
	}
	h, err := config.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := h.CheckPermissions(); err != nil {
		return nil, err
	}
	return h, nil
}

// passphrase reads the home passphrase from --password-file or the
// environment, else from a dev home's own dev-password file (saying so on
// stderr), else from the terminal (never from a flag value or standard
// input). h may be nil (a home being created).
//
// A command that adds key material never takes the dev-password file on
// its own: anything running as the user can write one into a home (with a
// home of its own making beside it), and a key added with a passphrase it
// chose is a key it can read.
func (c *cli) passphrase(h *config.Home, prompt string, confirm bool) (*secret.Bytes, error) {
	if c.g.passwordFile != "" || os.Getenv("WALLETMCP_PASSWORD_FILE") != "" {
		return config.ReadPassphrase(c.g.passwordFile)
	}
	if h != nil && h.IsDev() {
		dp := h.Path(config.DevPasswordFile)
		if c.keyMaterial {
			return nil, fmt.Errorf("%s is a dev home (it has a %s file), whose passphrase is not secret: to add a throwaway key to it, give --password-file %s", h.Dir, config.DevPasswordFile, dp)
		}
		fmt.Fprintf(c.stderr, "walletmcp: %s is a dev home: using its passphrase file %s\n", h.Dir, dp)
		return secret.ReadFile(dp)
	}
	return promptSecret(c.stderr, prompt, confirm)
}

// errNoTerminal is returned by promptSecret when there is no controlling
// terminal to ask on.
var errNoTerminal = errors.New("no terminal to ask for the passphrase: use --password-file or WALLETMCP_PASSWORD_FILE")

// promptSecret reads a secret from the controlling terminal without echo.
func promptSecret(w io.Writer, prompt string, confirm bool) (*secret.Bytes, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, errNoTerminal
	}
	defer tty.Close()
	read := func(p string) (*secret.Bytes, error) {
		fmt.Fprint(tty, p)
		b, err := term.ReadPassword(int(tty.Fd()))
		fmt.Fprintln(tty)
		if err != nil {
			return nil, fmt.Errorf("reading the passphrase: %w", err)
		}
		if len(b) == 0 {
			return nil, secret.ErrEmpty
		}
		return secret.NewBytes(b), nil
	}
	p, err := read(prompt)
	if err != nil {
		return nil, err
	}
	if confirm {
		again, err := read("Repeat: ")
		if err != nil {
			p.Wipe()
			return nil, err
		}
		defer again.Wipe()
		if !p.Equal(again) {
			p.Wipe()
			return nil, errors.New("the two passphrases differ")
		}
	}
	return p, nil
}

// unlockHome checks the passphrase and returns it with the master key.
func (c *cli) unlockHome(h *config.Home) (*secret.Bytes, *config.MasterKey, error) {
	if err := h.Require(); err != nil {
		return nil, nil, err
	}
	pass, err := c.passphrase(h, "Home passphrase: ", false)
	if err != nil {
		return nil, nil, err
	}
	mk, err := h.Unlock(pass)
	if err != nil {
		pass.Wipe()
		return nil, nil, err
	}
	return pass, mk, nil
}

// useDevPassword makes a dev home's dev-password file (see devInit) the
// passphrase source when none is given.
func (c *cli) useDevPassword(h *config.Home) {
	if c.g.passwordFile == "" && os.Getenv("WALLETMCP_PASSWORD_FILE") == "" {
		if _, err := os.Stat(h.Path(config.DevPasswordFile)); err == nil {
			c.g.passwordFile = h.Path(config.DevPasswordFile)
		}
	}
}

// keystoreOf opens the home's keystore; new key files get the light scrypt
// parameters when light (lightKeys), else the standard ones. Reading keys
// takes the parameters from each file.
func keystoreOf(h *config.Home, light bool) *wallet.Keystore {
	var opts *wallet.KeystoreOptions
	if light {
		opts = wallet.LightKeystoreOptions()
	}
	return wallet.NewKeystore(h.Path(config.KeystoreDir), opts)
}

// lightKeys reports whether new key files get the light scrypt parameters:
// only when config.toml asks for them and the home itself was made with
// them (init --light-kdf, dev homes), as the home.json that mk's passphrase
// was checked against says (never the file read again, which could be
// swapped meanwhile). config.toml is not attested, so a line in it must not
// weaken the keys of a standard home: a key file anything running as the
// user can read would then be brute-forced at a 64th of the cost.
func lightKeys(cfg *config.Config, mk *config.MasterKey) bool {
	return cfg.Keystore.Scrypt == "light" && mk.Light()
}

// openState opens the home's state database with the state key derived
// from mk.
func openState(ctx context.Context, h *config.Home, mk *config.MasterKey) (*store.Store, error) {
	k, err := mk.Derive(config.StateKeyPurpose)
	if err != nil {
		return nil, err
	}
	defer k.Wipe()
	return store.Open(ctx, h.Path(config.StateFile), &store.Options{Key: k.Reveal()})
}
