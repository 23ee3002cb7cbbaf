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
	"strings"
	"syscall"
	_ "time/tzdata" // quiet_hours time zones load the same on every machine
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `walletmcp: an Ethereum wallet for AI agents that they cannot drain.

Usage:
  walletmcp [--home DIR] COMMAND [flags]

Commands:
  init                                    create the home: config, policy template, state
  account new [--label L]                 new key in a scrypt keystore
  account import --key-file F | --keystore F   import a hex private key or a V3 keystore file
  account list                            list accounts
  policy check                            print the effective policy and any problem
  policy attest [--code C]                pin policy.toml's SHA-256 as attested (a TOTP code once enrolled)
  totp enroll [--png FILE] [--code C]     new TOTP secret: prints an otpauth:// URI and a QR code
  approvals                               list pending approvals
  approve ID [--code C]                   approve a pending transfer with a TOTP code
  reject ID                               reject a pending transfer
  audit verify                            exit 0 iff the audit chain is intact
  serve [--dev] [--rpc URL]               serve MCP over stdio
  version                                 print the version

Global flags (also accepted after the command):
  --home DIR            home directory (default $WALLETMCP_HOME or ~/.walletmcp)
  --password-file F     read the home passphrase from F (or $WALLETMCP_PASSWORD_FILE)
`

// exitError carries an exit status other than 1.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		code := 1
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "walletmcp:", err)
		}
		os.Exit(code)
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

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	g := &globals{}
	fs := flag.NewFlagSet("walletmcp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	g.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fmt.Fprint(stderr, usage)
		return &exitError{code: 2, err: errors.New("no command given")}
	}
	cmd, rest := rest[0], rest[1:]
	sub := func(name string) []string {
		if len(rest) == 0 {
			return nil
		}
		if rest[0] == name {
			return rest[1:]
		}
		return nil
	}
	io := &cli{g: g, stdin: stdin, stdout: stdout, stderr: stderr}
	switch cmd {
	case "init":
		return io.init(ctx, rest)
	case "account":
		switch {
		case len(rest) > 0 && rest[0] == "new":
			return io.accountNew(ctx, sub("new"))
		case len(rest) > 0 && rest[0] == "import":
			return io.accountImport(ctx, sub("import"))
		case len(rest) > 0 && rest[0] == "list":
			return io.accountList(ctx, sub("list"))
		}
		return &exitError{code: 2, err: errors.New("usage: walletmcp account new|import|list")}
	case "policy":
		switch {
		case len(rest) > 0 && rest[0] == "check":
			return io.policyCheck(ctx, sub("check"))
		case len(rest) > 0 && rest[0] == "attest":
			return io.policyAttest(ctx, sub("attest"))
		}
		return &exitError{code: 2, err: errors.New("usage: walletmcp policy check|attest")}
	case "totp":
		if len(rest) > 0 && rest[0] == "enroll" {
			return io.totpEnroll(ctx, sub("enroll"))
		}
		return &exitError{code: 2, err: errors.New("usage: walletmcp totp enroll [--png FILE] [--code C]")}
	case "approvals":
		return io.approvalsList(ctx, rest)
	case "approve":
		return io.approve(ctx, rest)
	case "reject":
		return io.reject(ctx, rest)
	case "audit":
		if len(rest) > 0 && rest[0] == "verify" {
			return io.auditVerify(ctx, sub("verify"))
		}
		return &exitError{code: 2, err: errors.New("usage: walletmcp audit verify")}
	case "serve":
		return io.serve(ctx, rest)
	case "version":
		fmt.Fprintln(stdout, "walletmcp", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
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
