// Command walletmcp is the walletmcp server and its administration CLI: it
// parses flags, wires concrete types and runs. See CONTRACT.md §2.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"sync"
	"syscall"
	_ "time/tzdata" // quiet_hours time zones load the same on every machine

	"github.com/walletmcp/walletmcp/hsm"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `walletmcp: an Ethereum wallet for AI agents that they cannot drain.

Usage:
  walletmcp [--home DIR] [--password-file F] COMMAND [flags]
  walletmcp help [COMMAND]                 (or: walletmcp COMMAND --help)

Commands:
  init [--chain-id N]                     create the home: config, policy template, state
  account new [--label L]                 new key in a scrypt keystore
  account import --key-file F | --keystore F   import a hex private key or a V3 keystore file
  account list                            list accounts
  account watch ADDRESS [--path P --xfp X] an offline account (key on an air-gapped device)
  hd new [--words 12|24] [--label L] [--mnemonic-file F]   new BIP-39 wallet: shows the words once on the terminal
  hd restore [--label L] [--mnemonic-file F]               restore a BIP-39 wallet from its words
  hd derive [--index N] [--label L]       add account m/44'/60'/0'/0/N (default: the next free N)
  hd list                                 list HD wallets and their accounts
  hsm keygen --label L                    a secp256k1 key generated inside the PKCS#11 token ([hsm] in config.toml)
  hsm list                                the token's keys and their addresses
  totp enroll [--png FILE] [--code C]     new TOTP secret: prints an otpauth:// URI and a QR code
  totp show --dev                         a dev home's TOTP enrolment again (URI and QR code)
  policy check                            print the policy; exit 1 unless it is the attested one
  policy attest [--code C]                pin policy.toml's SHA-256 as attested (a TOTP code once enrolled)
  approvals                               list pending approvals and why each needs you
  approve ID [--code C]                   approve a pending transfer with a TOTP code
  reject ID                               reject a pending transfer
  audit verify                            exit 0 iff the audit chain is intact
  status [--json]                         accounts (frozen ones marked), pending approvals, last self-check, audit head, alert queue
  unfreeze ADDRESS [--code C]             restore automatic approval after a severe anomaly (a TOTP code)
  serve [--dev] [--rpc URL] [--http ADDR] serve MCP over stdio, or streamable HTTP at ADDR (host:port, unix:PATH)
  token new --scope S [--label L] [--expires D]   a bearer token for serve --http (printed once)
  token list | token revoke ID            the HTTP tokens; revoke is effective on the next request
  connect unix:PATH --token-file F        stdio bridge to a serve --http daemon (holds no key or home)
  version [--verify SUMS SIG PUBKEY]      the version and security-relevant modules; --verify checks a download

A real home, in this order: init, totp enroll, (edit policy.toml) policy attest,
account new, serve --rpc URL. A dev home with a funded account on an embedded
chain: serve --dev (make run).

Global flags (also accepted after the command):
  --home DIR            home directory (default $WALLETMCP_HOME or ~/.walletmcp)
  --password-file F     read the home passphrase from F (or $WALLETMCP_PASSWORD_FILE);
                        a dev home's own dev-password file is found without it
`

// exitError carries an exit status other than 1.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

// exitPINRefused is the exit status of a command that stopped because the
// token refused its PIN, or the PIN is locked: the shipped systemd unit
// does not restart serve on it (RestartPreventExitStatus), since each start
// would try the wrong PIN once more and a token locks after a few.
const exitPINRefused = 3

// errHelpShown ends a command whose help was printed: exit status 0.
var errHelpShown = errors.New("help shown")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		code := 1
		var ee *exitError
		switch {
		case errors.As(err, &ee):
			code = ee.code
		case errors.Is(err, hsm.ErrPINIncorrect), errors.Is(err, hsm.ErrPINLocked):
			code = exitPINRefused
		}
		fmt.Fprintln(os.Stderr, forPeople(err))
		os.Exit(code)
	}
}

// internalPrefix matches the package prefix of an error ("config: ") at the
// start of the text or of a wrapped part.
// Compiled on first use, not at every start.
var internalPrefix = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(^|: )(config|secret|store|audit|chain|dev|pending|totp|approval|wallet|web|mcpserver|mcphttp|keystore|erc20|hsm|pkcs11): `)
})

// forPeople renders err for a person: without the package prefixes that
// errors carry for programs ("config: wrong home passphrase" reads "wrong
// home passphrase"). Errors name the field or rule, never a secret.
func forPeople(err error) string {
	s := err.Error()
	for {
		t := internalPrefix().ReplaceAllString(s, "$1")
		if t == s {
			return s
		}
		s = t
	}
}

// globals are flags every command accepts.
type globals struct {
	home         string
	passwordFile string
}

func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.home, "home", g.home, "home directory")
	fs.StringVar(&g.passwordFile, "password-file", g.passwordFile, "file holding the home passphrase")
}

// isHelp reports whether a word asks for help.
func isHelp(w string) bool {
	switch w {
	case "help", "-h", "-help", "--help":
		return true
	}
	return false
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	err := dispatch(ctx, args, stdin, stdout, stderr)
	if errors.Is(err, errHelpShown) {
		return nil
	}
	return err
}

func dispatch(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	g := &globals{}
	fs := flag.NewFlagSet("walletmcp", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	g.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return nil
		}
		return &exitError{code: 2, err: fmt.Errorf("%v (see walletmcp --help)", err)}
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fmt.Fprint(stderr, usage)
		return &exitError{code: 2, err: errors.New("no command given")}
	}
	cmd, rest := rest[0], rest[1:]
	if cmd == "help" {
		if len(rest) == 0 {
			fmt.Fprint(stdout, usage)
			return nil
		}
		// walletmcp help policy check = walletmcp policy check --help
		cmd, rest = rest[0], append(rest[1:len(rest):len(rest)], "--help")
	}
	c := &cli{g: g, stdin: stdin, stdout: stdout, stderr: stderr}
	// group runs the subcommand of a command that has several.
	group := func(subs map[string]func(context.Context, []string) error) error {
		if len(rest) > 0 {
			if f, ok := subs[rest[0]]; ok {
				sub := rest[1:]
				if len(sub) > 0 && sub[0] == "help" {
					sub = []string{"--help"}
				}
				return f(ctx, sub)
			}
		}
		if len(rest) > 0 && isHelp(rest[0]) {
			return c.groupHelp(cmd, stdout)
		}
		c.groupHelp(cmd, stderr)
		return &exitError{code: 2, err: fmt.Errorf("walletmcp %s needs a subcommand (see walletmcp %s --help)", cmd, cmd)}
	}
	// leaf passes "help" as the first word on as --help.
	leaf := func(f func(context.Context, []string) error) error {
		if len(rest) > 0 && rest[0] == "help" {
			return f(ctx, []string{"--help"})
		}
		return f(ctx, rest)
	}
	switch cmd {
	case "init":
		return leaf(c.init)
	case "account":
		return group(map[string]func(context.Context, []string) error{"new": c.accountNew, "import": c.accountImport, "list": c.accountList, "watch": c.accountWatch})
	case "hd":
		return group(map[string]func(context.Context, []string) error{"new": c.hdNew, "restore": c.hdRestore, "derive": c.hdDerive, "list": c.hdList})
	case "hsm":
		return group(map[string]func(context.Context, []string) error{"keygen": c.hsmKeygen, "list": c.hsmList})
	case "policy":
		return group(map[string]func(context.Context, []string) error{"check": c.policyCheck, "attest": c.policyAttest})
	case "totp":
		return group(map[string]func(context.Context, []string) error{"enroll": c.totpEnroll, "show": c.totpShow})
	case "approvals":
		return leaf(c.approvalsList)
	case "approve":
		return leaf(c.approve)
	case "reject":
		return leaf(c.reject)
	case "audit":
		return group(map[string]func(context.Context, []string) error{"verify": c.auditVerify})
	case "serve":
		return leaf(c.serve)
	case "token":
		return group(map[string]func(context.Context, []string) error{"new": c.tokenNew, "list": c.tokenList, "revoke": c.tokenRevoke})
	case "connect":
		return leaf(c.connect)
	case "version":
		return leaf(c.version)
	case hdHelperCommand:
		return leaf(c.hdHelper)
	case "unfreeze":
		return leaf(c.unfreeze)
	case "status":
		return leaf(c.status)
	}
	return &exitError{code: 2, err: fmt.Errorf("unknown command %q (see walletmcp help)", safeWord(cmd))}
}

// safeWord renders a user-typed word for an error without echoing anything
// long or unprintable (it could be a mistyped secret).
func safeWord(s string) string {
	if len(s) > 24 || strings.IndexFunc(s, func(r rune) bool { return r < 0x21 || r > 0x7e }) >= 0 {
		return "(unprintable)"
	}
	return s
}
