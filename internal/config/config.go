// Package config owns the walletmcp home directory: where each file lives, the
// config file, the account registry, the home passphrase verifier and the
// policy attestation.
//
// # Security model
//
// The home is created 0700 and every file in it 0600. The home passphrase is
// never stored: home.json holds only a scrypt salt and an HMAC check value
// derived from it, so a wrong passphrase is refused before any keystore is
// touched. Subkeys (for example the key that seals the TOTP secret) are derived
// from the scrypt output with HKDF under distinct labels.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Errors returned by this package.
var (
	ErrNoHome      = errors.New("config: no walletmcp home")
	ErrHomeExists  = errors.New("config: home already initialised")
	ErrPassphrase  = errors.New("config: wrong home passphrase")
	ErrNotAttested = errors.New("config: policy not attested (run `walletmcp policy attest`)")
	ErrPolicyDrift = errors.New("config: policy.toml changed since it was attested (run `walletmcp policy check`, then `walletmcp policy attest`)")
)

// File names inside the home.
const (
	ConfigFile      = "config.toml"
	PolicyFile      = "policy.toml"
	AttestationFile = "policy.attest.json"
	HomeFile        = "home.json"
	AccountsFile    = "accounts.json"
	KeystoreDir     = "keystore"
	// HDDir holds the encrypted seeds of HD wallets, one file per wallet.
	HDDir           = "hd"
	StateFile       = "state.db"
	AuditFile       = "audit.log"
	DevPasswordFile = "dev-password"
	// DevChainDir holds the persistent embedded chain of `serve --dev`.
	DevChainDir = "dev-chain"
	// CallRateFile is the tool-call rate limit's state, shared by every
	// `serve` of the home (internal/callrate).
	CallRateFile = "calls.rate"
)

// Home is a walletmcp home directory.
type Home struct {
	// Dir is the absolute path of the home.
	Dir string
}

// DefaultDir returns $WALLETMCP_HOME, or ~/.walletmcp.
func DefaultDir() (string, error) {
	if d := os.Getenv("WALLETMCP_HOME"); d != "" {
		return d, nil
	}
	h, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("config: no home directory: %w", err)
	}
	return filepath.Join(h, ".walletmcp"), nil
}

// Open returns the home at dir (made absolute); it does not create anything.
func Open(dir string) (*Home, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("config: home path: %w", err)
	}
	return &Home{Dir: abs}, nil
}

// Path returns the path of name inside the home.
func (h *Home) Path(name string) string { return filepath.Join(h.Dir, name) }

// Initialised reports whether the home has a home.json.
func (h *Home) Initialised() bool {
	_, err := os.Stat(h.Path(HomeFile))
	return err == nil
}

// Require returns an error matching ErrNoHome unless the home is
// initialised; its message says how to create one. Every command that needs
// a home gives this same message.
func (h *Home) Require() error {
	if !h.Initialised() {
		return fmt.Errorf("%w at %s: run `walletmcp init` to create one (or `walletmcp serve --dev` for a dev home), or pass --home DIR", ErrNoHome, h.Dir)
	}
	return nil
}

// IsDev reports whether the home is a dev home: one that `serve --dev`
// created, which keeps its random passphrase in DevPasswordFile.
func (h *Home) IsDev() bool {
	fi, err := os.Stat(h.Path(DevPasswordFile))
	return err == nil && fi.Mode().IsRegular()
}

// EnsureDir creates the home (0700) if needed and refuses one that others
// can read or write.
func (h *Home) EnsureDir() error {
	if err := os.MkdirAll(h.Dir, 0o700); err != nil {
		return fmt.Errorf("config: create home: %w", err)
	}
	fi, err := os.Stat(h.Dir)
	if err != nil {
		return fmt.Errorf("config: stat home: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("config: home %s is accessible to other users (mode %o); run chmod 700 on it", h.Dir, fi.Mode().Perm())
	}
	return nil
}

// WriteFileAtomic writes data to path (mode 0600) through a temporary file,
// fsync and rename, so that a crash leaves either the old or the new file.
func WriteFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("config: write %s: %w", filepath.Base(path), err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("config: write %s: %w", filepath.Base(path), err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("config: write %s: %w", filepath.Base(path), err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("config: sync %s: %w", filepath.Base(path), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("config: write %s: %w", filepath.Base(path), err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("config: write %s: %w", filepath.Base(path), err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// Config is config.toml: settings that are not policy.
type Config struct {
	// RPCURL is the JSON-RPC endpoint `serve` uses when neither --dev nor
	// --rpc is given. Default: empty (one of them is then required).
	RPCURL string `toml:"rpc_url"`
	// Keystore holds keystore settings.
	Keystore KeystoreConfig `toml:"keystore"`
	// Approval holds settings of the human approval channel.
	Approval ApprovalConfig `toml:"approval"`
	// HTTP holds settings of `serve --http`.
	HTTP HTTPConfig `toml:"http"`
	// HSM is the PKCS#11 token of hsm accounts; empty means none.
	HSM HSMConfig `toml:"hsm"`
	// Ops holds the health and metrics endpoint and the key self-check.
	Ops OpsConfig `toml:"ops"`
	// Alerts holds where security alerts are delivered.
	Alerts AlertsConfig `toml:"alerts"`
}

// OpsConfig configures operations (CONTRACT.md §9).
type OpsConfig struct {
	// Listen is the address of /healthz, /readyz and /metrics. Default
	// DefaultOpsListen (loopback); "" turns them off. Only loopback addresses
	// are accepted.
	Listen *string `toml:"listen"`
	// SelfCheck is how often every key signs a random challenge. Default "24h".
	SelfCheck string `toml:"self_check"`
}

// DefaultOpsListen is [ops] listen when absent.
const DefaultOpsListen = "127.0.0.1:9464"

// ListenAddr is Listen with its default applied.
func (o *OpsConfig) ListenAddr() string {
	if o.Listen == nil {
		return DefaultOpsListen
	}
	return *o.Listen
}

// AlertsConfig configures security alerts.
type AlertsConfig struct {
	// WebhookURL receives alerts as JSON POSTs signed with HMAC-SHA256. Default "" (none).
	WebhookURL string `toml:"webhook_url"`
	// WebhookSecretFile holds the HMAC key (its bytes, trailing newline
	// trimmed); required with WebhookURL.
	WebhookSecretFile string `toml:"webhook_secret_file"`
	// Command is run (argv, no shell) with each alert's JSON on stdin. Default none.
	Command []string `toml:"command"`
}

// HTTPConfig configures the HTTP transport (`serve --http`).
type HTTPConfig struct {
	// ResourceURL is the URL clients use for /mcp (the RFC 9728 resource
	// and the default OAuth audience). Default: derived from --http
	// (http(s)://ADDR/mcp, http://localhost/mcp on a Unix socket).
	ResourceURL string `toml:"resource_url"`
	// Hosts are further Host header values accepted (host or host:port).
	// Default none.
	Hosts []string `toml:"hosts"`
	// RequestsPerMinute limits HTTP requests per token. Default 600.
	RequestsPerMinute int `toml:"requests_per_minute"`
	// SessionTimeout closes sessions idle that long. Default "30m".
	SessionTimeout string `toml:"session_timeout"`
	// OAuth accepts OAuth 2.1 access tokens (JWTs) of one issuer. Default:
	// off (only tokens made by `walletmcp token new`).
	OAuth OAuthConfig `toml:"oauth"`
}

// OAuthConfig names an OAuth 2.1 authorization server whose access tokens
// `serve --http` accepts. Issuer and JWKSURL both, or neither.
type OAuthConfig struct {
	// Issuer is the token issuer (iss). Default "" (OAuth off).
	Issuer string `toml:"issuer"`
	// JWKSURL is the issuer's key set (https). Default "".
	JWKSURL string `toml:"jwks_url"`
	// Audience a token must be for (aud). Default: HTTP.ResourceURL.
	Audience string `toml:"audience"`
}

// KeystoreConfig configures new keystore files.
type KeystoreConfig struct {
	// Scrypt is "standard" (default: N=2^18, p=1, as geth) or "light"
	// (N=2^12, p=6: for tests and dev homes only, never for real funds).
	Scrypt string `toml:"scrypt"`
}

// ApprovalConfig configures human approvals.
type ApprovalConfig struct {
	// Listen is the loopback address of the approval page. Default "127.0.0.1:0"
	// (a free port chosen at start).
	Listen string `toml:"listen"`
	// TTL is how long a pending approval lives. Default "10m".
	TTL string `toml:"ttl"`
	// MaxPending is how many approvals may be pending per account; beyond,
	// send_transfer is rate_limited. Default 20, at most MaxMaxPending.
	MaxPending int `toml:"max_pending"`
}

// Bounds of ApprovalConfig.TTL.
const (
	MinApprovalTTL = time.Minute
	MaxApprovalTTL = 24 * time.Hour
)

// ParseTTL returns TTL as a duration; one that does not parse, or is not
// from MinApprovalTTL to MaxApprovalTTL, is an error naming the key.
func (a *ApprovalConfig) ParseTTL() (time.Duration, error) {
	ttl, err := time.ParseDuration(a.TTL)
	if err != nil || ttl < MinApprovalTTL || ttl > MaxApprovalTTL {
		return 0, errors.New("config: " + ConfigFile + " approval.ttl must be a duration from 1m to 24h")
	}
	return ttl, nil
}

// Bounds of ApprovalConfig.MaxPending.
const (
	DefaultMaxPending = 20
	MaxMaxPending     = 1000
)

// DefaultConfigText is the config.toml that `walletmcp init` writes.
const DefaultConfigText = `# walletmcp configuration (not policy: limits live in policy.toml)

# JSON-RPC endpoint used by "walletmcp serve" without --dev or --rpc.
rpc_url = ""

[keystore]
# "standard" (geth's N=2^18) for real keys; "light" only for tests and dev homes
# (a home made without --light-kdf keeps standard keys whatever this says).
scrypt = "standard"

[approval]
# Loopback address of the approval page; port 0 picks a free port.
listen = "127.0.0.1:0"
ttl = "10m"
# Pending approvals allowed per account; beyond, send_transfer is rate_limited.
max_pending = 20

# A PKCS#11 token for "walletmcp hsm keygen" keys (keys never leave the token).
# [hsm]
# module = "/usr/lib/softhsm/libsofthsm2.so"
# token_label = "walletmcp"
# pin_file = ""        # or WALLETMCP_HSM_PIN_FILE; else asked on the terminal
# sessions = 4

[ops]
# /healthz, /readyz and /metrics (Prometheus) on loopback; "" turns them off.
listen = "127.0.0.1:9464"
# Every key signs a random challenge at start and this often.
self_check = "24h"

[alerts]
# Security alerts: a JSON POST signed with X-Walletmcp-Signature: sha256=<HMAC>.
webhook_url = ""
webhook_secret_file = ""
# A command (argv, no shell) run with the alert JSON on stdin.
command = []
`

// LoadConfig reads config.toml; a missing file means defaults. Unknown keys
// are refused with their names.
func (h *Home) LoadConfig() (*Config, error) {
	c := &Config{}
	data, err := os.ReadFile(h.Path(ConfigFile))
	if errors.Is(err, os.ErrNotExist) {
		data = []byte(DefaultConfigText)
	} else if err != nil {
		return nil, fmt.Errorf("config: read %s: %w", ConfigFile, err)
	}
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(c)
	if err != nil {
		return nil, fmt.Errorf("config: %s: %v", ConfigFile, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return nil, fmt.Errorf("config: %s: unknown key(s): %s", ConfigFile, strings.Join(keys, ", "))
	}
	switch c.Keystore.Scrypt {
	case "":
		c.Keystore.Scrypt = "standard"
	case "standard", "light":
	default:
		return nil, fmt.Errorf("config: %s: keystore.scrypt must be \"standard\" or \"light\"", ConfigFile)
	}
	if c.Approval.Listen == "" {
		c.Approval.Listen = "127.0.0.1:0"
	}
	if c.Approval.TTL == "" {
		c.Approval.TTL = "10m"
	}
	if c.Ops.SelfCheck == "" {
		c.Ops.SelfCheck = "24h"
	}
	if d, err := time.ParseDuration(c.Ops.SelfCheck); err != nil || d < time.Minute {
		return nil, fmt.Errorf("config: %s: ops.self_check must be a duration of at least 1m", ConfigFile)
	}
	if c.Alerts.WebhookURL != "" && c.Alerts.WebhookSecretFile == "" {
		return nil, fmt.Errorf("config: %s: alerts.webhook_url needs alerts.webhook_secret_file", ConfigFile)
	}
	switch {
	case c.Approval.MaxPending == 0:
		c.Approval.MaxPending = DefaultMaxPending
	case c.Approval.MaxPending < 0 || c.Approval.MaxPending > MaxMaxPending:
		return nil, fmt.Errorf("config: %s: approval.max_pending must be between 1 and %d", ConfigFile, MaxMaxPending)
	}
	if (c.HTTP.OAuth.Issuer == "") != (c.HTTP.OAuth.JWKSURL == "") {
		return nil, fmt.Errorf("config: %s: http.oauth needs both issuer and jwks_url", ConfigFile)
	}
	if c.HTTP.RequestsPerMinute < 0 {
		return nil, fmt.Errorf("config: %s: http.requests_per_minute must be positive", ConfigFile)
	}
	if c.HTTP.SessionTimeout == "" {
		c.HTTP.SessionTimeout = "30m"
	}
	if err := c.HSM.check(); err != nil {
		return nil, err
	}
	return c, nil
}

// readJSON decodes a JSON file of the home into v, refusing unknown fields.
func (h *Home) readJSON(name string, v any) error {
	data, err := os.ReadFile(h.Path(name))
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("config: %s: %v", name, err)
	}
	return nil
}

// writeJSON writes v as indented JSON to a file of the home, atomically.
func (h *Home) writeJSON(name string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("config: encode %s: %w", name, err)
	}
	return WriteFileAtomic(h.Path(name), append(data, '\n'))
}
