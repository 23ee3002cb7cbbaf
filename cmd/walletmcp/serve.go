package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/walletmcp/walletmcp/approval"
	"github.com/walletmcp/walletmcp/approval/pending"
	"github.com/walletmcp/walletmcp/approval/totp"
	"github.com/walletmcp/walletmcp/approval/web"
	"github.com/walletmcp/walletmcp/internal/audit"
	"github.com/walletmcp/walletmcp/internal/chain"
	"github.com/walletmcp/walletmcp/internal/config"
	"github.com/walletmcp/walletmcp/internal/secret"
	"github.com/walletmcp/walletmcp/internal/store"
	"github.com/walletmcp/walletmcp/mcpserver"
	kssigner "github.com/walletmcp/walletmcp/signer/keystore"
)

// devFunding is what every account of the home gets at the dev chain's genesis.
var devFunding = new(big.Int).Mul(big.NewInt(100), big.NewInt(1e18))

func (c *cli) serve(ctx context.Context, args []string) error {
	fs := c.flags("serve")
	dev := fs.Bool("dev", false, "run on an embedded dev chain (chain id 1337, every account funded with 100 ETH)")
	rpcURL := fs.String("rpc", "", "JSON-RPC URL of an Ethereum node (default: config.toml rpc_url)")
	httpAddr := fs.String("http", "", "serve MCP over streamable HTTP on this loopback address instead of stdio")
	if err := c.parse(fs, args, 0); err != nil {
		return err
	}
	if *httpAddr != "" {
		return errors.New("serve: --http is not available in this version; use stdio")
	}
	if *dev && *rpcURL != "" {
		return &exitError{code: 2, err: errors.New("serve: --dev and --rpc exclude each other")}
	}
	logger := slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	h, err := c.home()
	if err != nil {
		return err
	}
	if *dev && !h.Initialised() {
		if err := devInit(ctx, h, logger); err != nil {
			return fmt.Errorf("serve --dev: initialising %s: %w", h.Dir, err)
		}
	}
	if *dev && c.g.passwordFile == "" && os.Getenv("WALLETMCP_PASSWORD_FILE") == "" {
		if _, err := os.Stat(h.Path(config.DevPasswordFile)); err == nil {
			c.g.passwordFile = h.Path(config.DevPasswordFile)
		}
	}
	cfg, err := h.LoadConfig()
	if err != nil {
		return err
	}
	pass, mk, err := c.unlockHome(h)
	if err != nil {
		return err
	}
	defer pass.Wipe()
	policyText, sum, err := h.ReadPolicy()
	if err != nil {
		mk.Wipe()
		return err
	}
	pol, err := approval.ParsePolicy(policyText, sum)
	if err != nil {
		mk.Wipe()
		return fmt.Errorf("serve: refusing to start: %w", err)
	}
	_, err = h.CheckAttestation(mk, sum)
	if err != nil {
		mk.Wipe()
		return fmt.Errorf("serve: refusing to start: %w", err)
	}
	totpKey, err := mk.Derive(totpKeyPurpose)
	mk.Wipe()
	if err != nil {
		return err
	}
	defer totpKey.Wipe()
	ttl, err := time.ParseDuration(cfg.Approval.TTL)
	if err != nil || ttl < time.Minute || ttl > 24*time.Hour {
		return fmt.Errorf("serve: config.toml approval.ttl must be a duration from 1m to 24h")
	}

	accts, err := h.Accounts()
	if err != nil {
		return err
	}
	keys, err := unlockKeys(h, cfg, accts, pass)
	if err != nil {
		return err
	}
	pass.Wipe()

	var ch chain.Chain
	if *dev {
		if pol.ChainID != 1337 {
			return fmt.Errorf("serve --dev: the policy's chain_id is %d, the dev chain's is 1337", pol.ChainID)
		}
		alloc := map[common.Address]*big.Int{}
		for _, a := range accts {
			alloc[a.Address] = devFunding
		}
		d, err := chain.NewDev(&chain.DevOptions{Alloc: alloc})
		if err != nil {
			return err
		}
		defer d.Close()
		ch = d
	} else {
		url := *rpcURL
		if url == "" {
			url = cfg.RPCURL
		}
		if url == "" {
			return errors.New("serve: no chain: pass --dev, --rpc URL, or set rpc_url in config.toml")
		}
		r, err := chain.Dial(ctx, url, &chain.Options{ExpectChainID: new(big.Int).SetUint64(pol.ChainID)})
		if err != nil {
			return fmt.Errorf("serve: refusing to start: %w", err)
		}
		defer r.Close()
		ch = r
	}

	st, err := store.Open(ctx, h.Path(config.StateFile), nil)
	if err != nil {
		return err
	}
	defer st.Close()
	lg, err := audit.Open(h.Path(config.AuditFile), nil)
	if err != nil {
		return fmt.Errorf("serve: refusing to start: %w", err)
	}
	defer lg.Close()
	if err := lg.Append(ctx, audit.TypeStart, map[string]any{"event": "serve_started", "dev": *dev, "chain_id": pol.ChainID, "policy_sha256": sum, "accounts": len(accts), "version": version}); err != nil {
		return err
	}
	verifier := totp.NewSealedVerifier(st, lg, totpKey, nil)
	defer verifier.Wipe()
	approvals, err := pending.New(&pending.Config{Store: st, Verifier: verifier, Audit: lg, TTL: ttl, MaxPending: cfg.Approval.MaxPending})
	if err != nil {
		return err
	}
	var guard *approval.Guard
	page, err := web.New(pageDecider{svc: approvals, kick: func() { guard.Kick() }}, &web.Options{Addr: cfg.Approval.Listen, Logger: logger})
	if err != nil {
		return fmt.Errorf("serve: approval page: %w", err)
	}
	if err := page.Start(); err != nil {
		return fmt.Errorf("serve: approval page: %w", err)
	}
	defer page.Close(context.WithoutCancel(ctx))
	guard, err = approval.NewGuard(ctx, &approval.Config{
		Policy: pol, Chain: ch, Store: st, Audit: lg, Keys: keys,
		Approvals: approvals, ApprovalURL: page.URL,
	})
	if err != nil {
		return err
	}
	execCtx, stopExec := context.WithCancel(context.WithoutCancel(ctx))
	execDone := make(chan struct{})
	go func() { defer close(execDone); guard.RunApprovals(execCtx) }()
	defer func() { stopExec(); <-execDone }()
	var macc []mcpserver.Account
	for _, a := range accts {
		macc = append(macc, mcpserver.Account{Address: a.Address, Label: a.Label, Backend: a.Backend, DerivationPath: a.DerivationPath})
	}
	srv, err := mcpserver.New(&mcpserver.Options{
		Guard: guard, Chain: ch, Audit: lg, Accounts: macc,
		ToolCallsPerMinute: pol.ToolCallsPerMinute, Version: version, Logger: logger,
	})
	if err != nil {
		return err
	}
	if _, err := st.TOTP(ctx); err != nil {
		logger.Warn("TOTP is not enrolled: transfers that need a human cannot be approved until `walletmcp totp enroll`")
	}
	logger.Info("walletmcp serving MCP on stdio", "home", h.Dir, "chain_id", pol.ChainID, "dev", *dev, "accounts", len(accts), "policy_sha256", sum[:12], "approval_page", page.Addr())
	err = srv.Run(ctx, &mcp.StdioTransport{})
	_ = lg.Append(context.WithoutCancel(ctx), audit.TypeStart, map[string]any{"event": "serve_stopped"})
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// unlockKeys opens every keystore account's key, sealed, as a signer.
func unlockKeys(h *config.Home, cfg *config.Config, accts []config.Account, pass *secret.Bytes) (approval.KeyMap, error) {
	ks := keystoreOf(h, cfg)
	keys := approval.KeyMap{}
	for _, a := range accts {
		if a.Backend != config.BackendKeystore {
			continue
		}
		k, err := ks.Unlock(a.Address, pass)
		if err != nil {
			return nil, fmt.Errorf("serve: unlocking %s: %w", a.Address.Hex(), err)
		}
		keys[a.Address] = kssigner.New(k)
	}
	return keys, nil
}

// devInit initialises an empty home for dev mode: a random passphrase kept in
// the home (dev homes are for throwaway funds), one account, the default
// policy, attested.
func devInit(ctx context.Context, h *config.Home, logger *slog.Logger) error {
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return err
	}
	pwHex := make([]byte, hex.EncodedLen(len(raw)))
	hex.Encode(pwHex, raw)
	secret.Wipe(raw)
	pass := secret.NewBytes(pwHex)
	defer pass.Wipe()
	if err := h.EnsureDir(); err != nil {
		return err
	}
	if err := config.WriteFileAtomic(h.Path(config.DevPasswordFile), append(append([]byte{}, pass.Reveal()...), '\n')); err != nil {
		return err
	}
	mk, err := initHome(ctx, h, pass, 1337, true)
	if err != nil {
		return err
	}
	defer mk.Wipe()
	cfg, err := h.LoadConfig()
	if err != nil {
		return err
	}
	addr, err := keystoreOf(h, cfg).New(pass)
	if err != nil {
		return err
	}
	if err := h.AddAccount(config.Account{Address: addr, Label: "dev", Backend: config.BackendKeystore}); err != nil {
		return err
	}
	uri, err := devEnrolTOTP(ctx, h, mk)
	if err != nil {
		return err
	}
	_, sum, err := h.ReadPolicy()
	if err != nil {
		return err
	}
	if err := h.Attest(mk, sum, time.Now()); err != nil {
		return err
	}
	logger.Info("dev TOTP enrolled: add this to your authenticator to approve transfers above auto_approve_max", "otpauth_uri", uri)
	logger.Info("dev home initialised", "home", h.Dir, "account", addr.Hex(), "password_file", h.Path(config.DevPasswordFile), "policy", h.Path(config.PolicyFile))
	return nil
}

// devEnrolTOTP enrols a TOTP secret for a new dev home and returns its
// otpauth:// URI (printed on stderr: dev homes hold throwaway funds).
func devEnrolTOTP(ctx context.Context, h *config.Home, mk *config.MasterKey) (string, error) {
	key, err := mk.Derive(totpKeyPurpose)
	if err != nil {
		return "", err
	}
	defer key.Wipe()
	k, err := totp.NewSecret("dev", nil)
	if err != nil {
		return "", err
	}
	st, err := store.Open(ctx, h.Path(config.StateFile), nil)
	if err != nil {
		return "", err
	}
	defer st.Close()
	if err := totp.Enrol(ctx, st, key, k.Secret(), -1, time.Now()); err != nil {
		return "", err
	}
	return k.URL(), nil
}

// pageDecider adapts the pending-approval service to the approval page.
type pageDecider struct {
	svc  *pending.Service
	kick func()
}

func (d pageDecider) CheckLink(ctx context.Context, id, token string) (*web.Approval, error) {
	a, err := d.svc.CheckLink(ctx, id, token)
	if err != nil {
		return nil, err
	}
	v := &web.Approval{ID: a.ID, Status: a.Status, ExpiresAt: a.ExpiresAt}
	if a.TxHash != nil {
		v.TxHash = a.TxHash.Hex()
	}
	if err := json.Unmarshal(a.Summary, &v.Summary); err != nil {
		return nil, err
	}
	return v, nil
}

func (d pageDecider) Approve(ctx context.Context, id, code, channel string) error {
	if err := d.svc.Approve(ctx, id, code, channel); err != nil {
		return err
	}
	d.kick()
	return nil
}

func (d pageDecider) Reject(ctx context.Context, id, channel string) error {
	return d.svc.Reject(ctx, id, channel)
}
