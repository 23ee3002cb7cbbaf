package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/walletmcp/walletmcp/internal/secret"
	"github.com/walletmcp/walletmcp/signer/keystore"
	"github.com/walletmcp/walletmcp/signer/offline"
	"github.com/walletmcp/walletmcp/signer/offline/qrscan"
	"github.com/walletmcp/walletmcp/wallet"
)

// origin is the eth-signature's origin field.
const origin = "airsign"

// sign reads the request, shows it, confirms, unlocks the key, signs and
// prints the signature.
func sign(ctx context.Context, o *options, e *env) error {
	req, err := readRequest(o)
	if err != nil {
		return err
	}
	sum, err := offline.Summarize(req)
	if err != nil {
		return err
	}
	showSummary(e.stderr, sum, stderrIsTerminal(e))
	in := bufio.NewReader(e.stdin)
	if !o.yes {
		fmt.Fprint(e.stderr, "Sign this transaction? [y/N] ")
		line, _ := in.ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
			return errors.New("airsign: not signed")
		}
	}
	pass, err := passphrase(o, e, in)
	if err != nil {
		return err
	}
	key, err := wallet.UnlockKeyFile(o.keystore, pass)
	pass.Wipe()
	if err != nil {
		return fmt.Errorf("airsign: %w", err)
	}
	defer key.Destroy()
	sig, err := offline.Sign(ctx, keystore.New(key), req, origin)
	if err != nil {
		return fmt.Errorf("airsign: %w", err)
	}
	text, err := sig.UR()
	if err != nil {
		return err
	}
	if o.png != "" {
		img, err := offline.QRPNG(text, 0)
		if err != nil {
			return err
		}
		if err := os.WriteFile(o.png, img, 0o644); err != nil {
			return fmt.Errorf("airsign: write --png: %w", err)
		}
	}
	qr, err := offline.QRTerminal(text)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "\nSigned. Scan this QR code (or paste the text below) into walletmcp:\n%s\n", qr)
	_, err = fmt.Fprintln(e.stdout, text)
	return err
}

// readRequest assembles the request from its UR parts or QR images.
func readRequest(o *options) (*offline.SignRequest, error) {
	parts := o.parts
	for _, name := range o.images {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("airsign: %w", err)
		}
		text, err := qrscan.Decode(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("airsign: %s: %w", name, err)
		}
		parts = append(parts, text)
	}
	d := offline.NewURDecoder(nil)
	for i, p := range parts {
		if err := d.Receive(p); err != nil {
			return nil, fmt.Errorf("airsign: part %d: %w", i+1, err)
		}
	}
	if !d.Complete() {
		have, total := d.Progress()
		return nil, fmt.Errorf("airsign: the request is incomplete: %d of %d fragments; give every part", have, total)
	}
	typ, payload, err := d.Result()
	if err != nil {
		return nil, err
	}
	if typ != offline.URTypeSignRequest {
		return nil, fmt.Errorf("airsign: this is a ur:%s, not a ur:%s", typ, offline.URTypeSignRequest)
	}
	return offline.ParseSignRequest(payload)
}

// passphrase reads the keystore passphrase from --password-file, the
// terminal (no echo), or one line of stdin.
func passphrase(o *options, e *env, in *bufio.Reader) (*secret.Bytes, error) {
	if o.passwordFile != "" {
		return secret.ReadFile(o.passwordFile)
	}
	if f, ok := e.stdin.(*os.File); ok && e.isTerminal(f) {
		fmt.Fprint(e.stderr, "Keystore passphrase: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return nil, fmt.Errorf("airsign: read passphrase: %w", err)
		}
		if len(b) == 0 {
			return nil, errors.New("airsign: empty passphrase")
		}
		return secret.NewBytes(b), nil
	}
	fmt.Fprint(e.stderr, "Keystore passphrase: ")
	return secret.ReadLine(io.Reader(in))
}

func stderrIsTerminal(e *env) bool {
	f, ok := e.stderr.(*os.File)
	return ok && e.isTerminal(f)
}
