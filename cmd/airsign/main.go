// Command airsign is walletmcp's offline signer, for an air-gapped machine:
// it reads an EIP-4527 ur:eth-sign-request (UR text or QR images, all
// parts), shows what the transaction does, asks for confirmation and the
// keystore passphrase, signs with a V3 keystore file, and prints the
// ur:eth-signature (text on stdout, a QR code on stderr, optionally a PNG).
//
//	airsign sign --keystore FILE [--yes] [--password-file F] [--png F] [UR ... | --image PNG ...]
//
// airsign has no network code: deps_test.go at the repository root proves
// that nothing it links opens a connection.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], &env{
		stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr,
		isTerminal: func(f *os.File) bool { return term.IsTerminal(int(f.Fd())) },
	}))
}

// env is what run talks to; tests replace it.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// isTerminal reports whether a file is a terminal (stdin for the
	// passphrase prompt, stderr for highlighting).
	isTerminal func(*os.File) bool
}

const usage = `usage: airsign sign --keystore FILE [--yes] [--password-file F] [--png F] [UR ... | --image PNG ...]

Reads an ur:eth-sign-request (all its parts, as text arguments or QR code
images), shows the transaction, asks y/N (unless --yes) and the keystore
passphrase (unless --password-file), and prints the ur:eth-signature.
`

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(s string) error { *m = append(*m, s); return nil }

// options are the parsed flags of "airsign sign".
type options struct {
	keystore, passwordFile, png string
	yes                         bool
	images                      multi
	parts                       []string
}

// parseSign parses the flags of "sign", which may come before, between or
// after the UR arguments.
func parseSign(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("airsign sign", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	fs.StringVar(&o.keystore, "keystore", "", "the V3 key file to sign with")
	fs.StringVar(&o.passwordFile, "password-file", "", "read the keystore passphrase from this file (first line) instead of the terminal")
	fs.StringVar(&o.png, "png", "", "also write the signature's QR code to this PNG file")
	fs.BoolVar(&o.yes, "yes", false, "sign without asking for confirmation")
	fs.Var(&o.images, "image", "a PNG image of one QR code part (repeat, or list the other parts' images after it)")
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		o.parts = append(o.parts, fs.Arg(0))
		args = fs.Args()[1:]
	}
	// With --image, the other arguments are more images: --image a.png b.png.
	if len(o.images) > 0 {
		for _, p := range o.parts {
			if len(p) >= 3 && strings.EqualFold(p[:3], "ur:") {
				return nil, errors.New("airsign: give UR text or --image files, not both")
			}
		}
		o.images, o.parts = append(o.images, o.parts...), nil
	}
	switch {
	case o.keystore == "":
		return nil, errors.New("airsign: --keystore is required")
	case len(o.parts) == 0 && len(o.images) == 0:
		return nil, errors.New("airsign: give the request's UR parts or --image files")
	}
	return o, nil
}

func run(ctx context.Context, args []string, e *env) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(e.stderr, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] != "sign" {
		fmt.Fprintf(e.stderr, "airsign: unknown command %q\n%s", args[0], usage)
		return 2
	}
	o, err := parseSign(args[1:], e.stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return 2
	}
	if err := sign(ctx, o, e); err != nil {
		fmt.Fprintln(e.stderr, err)
		return 1
	}
	return 0
}
