package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
	"text/tabwriter"
)

// commandHelp returns the synopsis and description of a command ("policy
// check"), shown by `walletmcp help COMMAND` and `COMMAND --help`.
func commandHelp(name string) (synopsis, text string) {
	switch name {
	case "init":
		return "init [--chain-id N]", "Create the home: a passphrase (asked twice, at least 10 characters), config.toml,\n" +
			"a policy.toml template for chain N, the state database and the audit log.\n" +
			"Then: walletmcp totp enroll, review policy.toml, walletmcp policy attest,\n" +
			"walletmcp account new, walletmcp serve --rpc URL."
	case "account new":
		return "account new [--label L]", "Create a key in a scrypt keystore of the home and print its address."
	case "account import":
		return "account import --key-file F | --keystore F [--keystore-password-file P] [--label L]",
			"Import a hex private key from a file, or a V3 keystore file (its passphrase is asked\n" +
				"for, or read from P). Files holding secrets must not be readable by group or others."
	case "account watch":
		return accountWatchHelp()
	case "account list":
		return "account list", "List the home's accounts: address, backend, label."
	case "hd new":
		return "hd new [--words 12|24] [--label L] [--mnemonic-file F] [--bip39-passphrase]",
			"Make a BIP-39 wallet (default 24 words): the words are shown once on the terminal\n" +
				"(/dev/tty, never stdout) and three of them are asked back before anything is saved;\n" +
				"with --mnemonic-file F they are written to F instead (created 0600, never overwritten).\n" +
				"The seed is stored encrypted with the home passphrase in hd/; the words never are.\n" +
				"Account m/44'/60'/0'/0/0 is added and printed."
	case "hd restore":
		return "hd restore [--label L] [--mnemonic-file F] [--bip39-passphrase]",
			"Restore a BIP-39 wallet from its English words, typed on the terminal without echo\n" +
				"or read from F (never from a flag value). A wrong word is named by its position.\n" +
				"Account m/44'/60'/0'/0/0 is added and printed."
	case "hd derive":
		return "hd derive [--index N] [--label L]", "Add account m/44'/60'/0'/0/N of an HD wallet (default: the next free N; --label\n" +
			"names the wallet when there are several) and print its address."
	case "hd list":
		return "hd list", "List the HD wallets and their accounts: wallet, address, derivation path."
	case "hsm keygen":
		return "hsm keygen --label L", "Generate a secp256k1 key pair inside the PKCS#11 token named by [hsm] in\n" +
			"config.toml (module, token_label, pin_file or $WALLETMCP_HSM_PIN_FILE, else the PIN\n" +
			"is asked on the terminal) and register its address as an hsm account. The private\n" +
			"key is sensitive and not extractable: it never leaves the token."
	case "hsm list":
		return "hsm list", "List the token's secp256k1 keys: address, key id, whether an account uses it, label."
	case "totp enroll":
		return "totp enroll [--png FILE] [--code C]", "Enrol an authenticator app: prints an otpauth:// URI and a QR code, then asks for\n" +
			"a code to confirm. Re-enrolling needs a current code of the enrolled authenticator.\n" +
			"Without an enrolment, transfers that need a human cannot be approved."
	case "totp show":
		return "totp show --dev", "Show a dev home's TOTP enrolment again (URI and QR code). Dev homes hold\n" +
			"throwaway funds; a real home shows its secret once, at `totp enroll`."
	case "policy check":
		return "policy check", "Print the effective policy and its SHA-256. Exit status 0 when policy.toml is the\n" +
			"attested one, 1 when it is not attested, changed since, or invalid (so that a script\n" +
			"can gate on it)."
	case "policy attest":
		return "policy attest [--code C]", "Pin policy.toml's SHA-256 as attested: serve refuses any other policy. Asks for\n" +
			"a TOTP code once TOTP is enrolled."
	case "approvals":
		return "approvals", "List pending approvals: the transfer, the recipient's last six characters\n" +
			"highlighted, and the rules that sent it to you."
	case "approve":
		return "approve ID [--code C]", "Approve a pending transfer with a code from your authenticator (asked for when\n" +
			"--code is absent). The server signs and sends it within seconds."
	case "reject":
		return "reject ID", "Reject a pending transfer: nothing is sent."
	case "unfreeze":
		return "unfreeze ADDRESS [--code C]", "Restore automatic approval for an account that a severe anomaly froze (by\n" +
			"default 30 denied transfers within a minute). Needs a TOTP code; every serve\n" +
			"sharing the home sees it at the account's next transfer."
	case "status":
		return "status [--json]", "Show the accounts (a frozen one marked frozen), pending approvals, the last key\n" +
			"self-check, the audit head (after verifying the chain) and the alert queue."
	case "audit verify":
		return "audit verify", "Check the audit log's hash chain: exit 0 iff it is intact, else name the first\n" +
			"record that was edited, deleted, reordered or cut off."
	case "token new":
		return "token new --scope read[,transfer][,offline] [--label L] [--expires 720h]",
			"Make a bearer token for serve --http. Prints `id: ID` and `token: TOKEN` once; only\n" +
				"the token's SHA-256 is kept. read: the read-only tools; transfer: prepare_transfer,\n" +
				"send_transfer, get_approval; offline: the offline-signing tools."
	case "token list":
		return "token list", "List the HTTP tokens: id, scopes, expiry, state, label (never the token)."
	case "token revoke":
		return "token revoke ID", "Revoke a token: a running server refuses it from its next request."
	case "connect":
		return "connect unix:PATH|https://HOST:PORT/mcp --token-file F",
			"Relay MCP between stdin/stdout and a `serve --http` daemon: what an MCP host launches\n" +
				"instead of serve when the wallet runs as another user. It opens no home and holds no\n" +
				"key or policy, only the token read from F."
	case "serve":
		return "serve [--dev] [--rpc URL] [--http ADDR [--tls-cert F --tls-key F]]", "Serve MCP on stdin/stdout (logs on stderr) with the approval page on loopback.\n" +
			"--http serves streamable HTTP at ADDR/mcp instead (host:port, or unix:PATH for a\n" +
			"socket of mode 0660): every request needs a bearer token (walletmcp token new, or\n" +
			"an OAuth access token from config.toml [http.oauth]); a non-loopback address needs TLS.\n" +
			"--dev runs on an embedded chain kept in the home (dev-chain/) and, on an empty\n" +
			"home, creates a dev home: one account funded with 100 ETH, TOTP enrolled (its QR\n" +
			"code is printed once; `walletmcp totp show --dev` shows it again), the default\n" +
			"policy attested. Ctrl-C stops it cleanly."
	case "version":
		return "version [--verify SHA256SUMS SHA256SUMS.sig PUBKEY]", "Print the version, the Go version and the versions of the modules the\n" +
			"security of walletmcp rests on. --verify checks a download: the signature on\n" +
			"SHA256SUMS (ssh-keygen -Y sign -n walletmcp-release, Ed25519; PUBKEY is the\n" +
			"release key's .pub or allowed_signers line), then every listed file present\n" +
			"next to SHA256SUMS. Exit 0 only if both hold."
	}
	return name, ""
}

// groupSubcommands lists the subcommands of a command that has several.
func groupSubcommands(group string) []string {
	switch group {
	case "account":
		return []string{"new", "import", "list", "watch"}
	case "hsm":
		return []string{"keygen", "list"}
	case "policy":
		return []string{"check", "attest"}
	case "totp":
		return []string{"enroll", "show"}
	case "hd":
		return []string{"new", "restore", "derive", "list"}
	case "audit":
		return []string{"verify"}
	case "token":
		return []string{"new", "list", "revoke"}
	}
	return nil
}

// groupHelp prints the subcommands of group on w.
func (c *cli) groupHelp(group string, w io.Writer) error {
	fmt.Fprintf(w, "Usage:\n")
	for _, sub := range groupSubcommands(group) {
		syn, _ := commandHelp(group + " " + sub)
		fmt.Fprintf(w, "  walletmcp %s\n", syn)
	}
	fmt.Fprintf(w, "\nwalletmcp help %s SUBCOMMAND tells more.\n", group)
	return errHelpShown
}

// printHelp prints the help of the command a FlagSet parses, on stdout: its
// synopsis, description and flags. Flags without a usage text are hidden;
// the global flags are named once at the end.
func (c *cli) printHelp(fs *flag.FlagSet) {
	name := strings.TrimPrefix(fs.Name(), "walletmcp ")
	syn, text := commandHelp(name)
	w := c.stdout
	fmt.Fprintf(w, "Usage: walletmcp %s\n", syn)
	if text != "" {
		fmt.Fprintf(w, "\n%s\n", text)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	first := true
	fs.VisitAll(func(f *flag.Flag) {
		if f.Usage == "" || f.Name == "home" || f.Name == "password-file" {
			return
		}
		if first {
			fmt.Fprintln(tw, "\nFlags:")
			first = false
		}
		arg, use := flag.UnquoteUsage(f)
		if arg != "" {
			arg = " " + argName(f.Name, arg)
		}
		fmt.Fprintf(tw, "  --%s%s\t%s\n", f.Name, arg, use)
	})
	tw.Flush()
	fmt.Fprintln(w, "\nGlobal flags: --home DIR, --password-file F (see walletmcp --help).")
}

// argName names a flag's value in help: what the top-level usage calls it.
func argName(flagName, kind string) string {
	switch {
	case flagName == "code":
		return "C"
	case flagName == "label":
		return "L"
	case flagName == "rpc":
		return "URL"
	case flagName == "png":
		return "FILE"
	case flagName == "chain-id":
		return "N"
	case strings.HasSuffix(flagName, "file") || flagName == "keystore":
		return "F"
	}
	return strings.ToUpper(kind)
}

// securityModules are the modules whose versions `walletmcp version` prints:
// the ones key handling, signing, approval and state rest on.
func securityModules() []string {
	return []string{
		"github.com/ethereum/go-ethereum",
		"github.com/modelcontextprotocol/go-sdk",
		"github.com/segmentio/encoding", // parses every MCP message; a patched copy (third_party)
		"golang.org/x/crypto",
		"github.com/pquerna/otp",
		"modernc.org/sqlite",
		"github.com/BurntSushi/toml",
		"github.com/tyler-smith/go-bip39",
		"github.com/btcsuite/btcd/btcutil",
		"github.com/btcsuite/btcd/btcec/v2",
		"github.com/decred/dcrd/dcrec/secp256k1/v4",
		"github.com/fxamacker/cbor/v2",
		"github.com/miekg/pkcs11",
		"github.com/lestrrat-go/jwx/v3",
		"github.com/skip2/go-qrcode",
	}
}

// moduleVersion is d's version, and what replaced it if anything: a path
// and version, or a directory of the source tree (no version).
func moduleVersion(d *debug.Module) string {
	v := d.Version
	if r := d.Replace; r != nil {
		v += " => " + r.Path
		if r.Version != "" && r.Version != "(devel)" {
			v += "@" + r.Version
		}
	}
	return v
}

func (c *cli) version(_ context.Context, args []string) error {
	fs := c.flags("version")
	verify := fs.Bool("verify", false, "check a download: version --verify SHA256SUMS SHA256SUMS.sig PUBKEY")
	if err := c.parse(fs, args, 3); err != nil {
		return err
	}
	if *verify {
		return c.verifyRelease(fs.Args())
	}
	if fs.NArg() > 0 {
		return &exitError{code: 2, err: fmt.Errorf("walletmcp version: unexpected argument %q (see walletmcp version --help)", safeWord(fs.Arg(0)))}
	}
	fmt.Fprintf(c.stdout, "walletmcp %s\n%s\n", version, runtime.Version())
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		fmt.Fprintln(c.stdout, "(no module information: built without module support)")
		return nil
	}
	deps := map[string]*debug.Module{}
	for _, d := range bi.Deps {
		deps[d.Path] = d
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	for _, path := range securityModules() {
		d, ok := deps[path]
		if !ok {
			continue // not linked into this binary
		}
		fmt.Fprintf(tw, "%s\t%s\n", path, moduleVersion(d))
	}
	return tw.Flush()
}
