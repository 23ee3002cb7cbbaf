package totp

import (
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	pqtotp "github.com/pquerna/otp/totp"

	"github.com/walletmcp/walletmcp/internal/secret"
)

// Key rebuilds the key of an enrolled base32 secret (as Open returns it) for
// account, so that its otpauth:// URI (key.URL()) and QR code can be shown
// again: `walletmcp totp show --dev`, for dev homes only. The URI is the one
// NewSecret made for the same account and options.
func Key(secretB32 *secret.Bytes, account string, opts *Options) (*otp.Key, error) {
	o := opts.withDefaults()
	if account == "" || strings.ContainsAny(account, ":") {
		return nil, errors.New("totp: the account name must be non-empty and without ':'")
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.TrimRight(string(secretB32.Reveal()), "="))
	if err != nil || len(raw) == 0 {
		return nil, errors.New("totp: the enrolled secret is not base32")
	}
	defer secret.Wipe(raw)
	key, err := pqtotp.Generate(pqtotp.GenerateOpts{
		Issuer: o.Issuer, AccountName: account, Period: uint(Period / time.Second),
		Secret: raw, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		return nil, fmt.Errorf("totp: key: %w", err)
	}
	return key, nil
}
