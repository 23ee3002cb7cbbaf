package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"

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
	"github.com/walletmcp/walletmcp/policy"
	"github.com/walletmcp/walletmcp/signer"
	kssigner "github.com/walletmcp/walletmcp/signer/keystore"
)

func (c *cli) serve(ctx context.Context, args []string) error {
	fs := c.flags("serve")
	dev := fs.Bool("dev", false, "run on an embedded dev chain (chain id 1337, every account funded with 100 ETH)")
	rpcURL := fs.String("rpc", "", "JSON-RPC URL of an Ethereum node (default: config.toml rpc_url)")
	httpAddr := fs.String("http", "", "") // hidden: not available in this version
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
	var h *config.Home
	var err error
	if *dev {
		h, err = c.openHome()
	} else {
		h, err = c.home()
	}
	if err != nil {
		return err
	}
	if *dev && !h.Initialised() {
		if err := devInit(ctx, h, c.stderr); err != nil {
			return fmt.Errorf("serve --dev: initialising %s: %w", h.Dir, err)
		}
	} else if *dev && h.IsDev() {
		fmt.Fprintf(c.stderr, "dev home %s: its TOTP enrolment (QR code and URI) is shown by: walletmcp totp show --dev --home %s\n", h.Dir, secret.ShellQuote(h.Dir))
	}
	if *dev {
		c.useDevPassword(h)
	}
	cfg, err := h.LoadConfig()
	if err != nil {
		return err
	}
	pass, mk, err := c.unlockHome(h)
	if err != nil {
		return err
	}
	passOwned := true // until the background unlock takes it over
	defer func() {
		if passOwned {
			pass.Wipe()
		}
	}()
	policyText, sum, err := h.ReadPolicy()
	if err != nil {
		mk.Wipe()
		return err
	}
	pol, err := policy.ParsePolicy(policyText, sum)
	if err != nil {
		mk.Wipe()
		return fmt.Errorf("serve: refusing to start: %w", err)
	}
	_, err = h.CheckAttestation(mk, sum)
	if err != nil {
		mk.Wipe()
		return fmt.Errorf("serve: refusing to start: %w", err)
	}
	auditKey, err := mk.Derive(auditKeyPurpose)
	if err != nil {
		mk.Wipe()
		return err
	}
	defer auditKey.Wipe()
	totpKey, err := mk.Derive(totpKeyPurpose)
	if err != nil {
		mk.Wipe()
		return err
	}
	defer totpKey.Wipe()
	stateKey, err := mk.Derive(config.StateKeyPurpose)
	mk.Wipe()
	if err != nil {
		return err
	}
	defer stateKey.Wipe()
	ttl, err := time.ParseDuration(cfg.Approval.TTL)
	if err != nil || ttl < time.Minute || ttl > 24*time.Hour {
		return fmt.Errorf("serve: config.toml approval.ttl must be a duration from 1m to 24h")
	}

	accts, err := h.Accounts()
	if err != nil {
		return err
	}
	// The keys unlock in the background (scrypt, about a second each),
	// while the chain, the store and the MCP handshake get ready; a
	// transfer that needs a key first waits for it.
	keys, unlock := unlockKeys(h, cfg, accts, pass)
	passOwned = false
	defer func() { <-unlock.done }()

	var ch chain.Chain
	if *dev {
		if pol.ChainID != 1337 {
			return fmt.Errorf("serve --dev: the policy's chain_id is %d, the dev chain's is 1337", pol.ChainID)
		}
		alloc := map[common.Address]*big.Int{}
		for _, a := range accts {
			alloc[a.Address] = devFunding
		}
		d, err := chain.NewDev(&chain.DevOptions{Alloc: alloc, DataDir: h.Path(config.DevChainDir), IdleBlockTime: devIdleBlockTime})
		if errors.Is(err, chain.ErrDevChainInUse) {
			return fmt.Errorf("serve --dev: another `walletmcp serve --dev` is running on %s (its dev chain, %s, is in use): stop it, or give this one another --home", h.Dir, h.Path(config.DevChainDir))
		}
		if err != nil {
			return fmt.Errorf("serve --dev: the dev chain in %s: %w", h.Path(config.DevChainDir), err)
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

	st, err := store.Open(ctx, h.Path(config.StateFile), &store.Options{Key: stateKey.Reveal()})
	if err != nil {
		return fmt.Errorf("serve: refusing to start: %w", err)
	}
	defer st.Close()
	lg, err := openAuditKey(h, auditKey, true)
	if err != nil {
		return fmt.Errorf("serve: refusing to start: %w", err)
	}
	defer lg.Close()
	auditKey.Wipe()
	if n := st.Sealed(); n > 0 {
		if err := lg.Append(ctx, audit.TypeSecurity, map[string]any{"event": "state_sealed", "rows": n}); err != nil {
			return err
		}
	}
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
		Approvals: approvals, ApprovalURL: page.URL, OnPark: logParked(logger, isTerminal(c.stderr)),
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
	// Ctrl-C (ctx) ends the input: calls already read are answered, then
	// Run returns without error.
	// A key that cannot be unlocked stops the server (fail closed), as it
	// stopped start-up when keys were unlocked first.
	stop, stopServe := context.WithCancel(ctx)
	defer stopServe()
	go func() {
		select {
		case <-unlock.done:
			if unlock.err != nil {
				logger.Error("stopping: " + unlock.err.Error())
				stopServe()
			}
		case <-stop.Done():
		}
	}()
	err = srv.Run(context.WithoutCancel(ctx), &mcpserver.StdioTransport{In: c.stdin, Out: c.stdout, Stop: stop.Done()})
	_ = lg.Append(context.WithoutCancel(ctx), audit.TypeStart, map[string]any{"event": "serve_stopped"})
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	select {
	case <-unlock.done:
		return unlock.err
	default:
		return nil
	}
}

// keyUnlock is the background unlock of the keys: done is closed when
// every key is unlocked or failed, err then names the first failure.
type keyUnlock struct {
	done chan struct{}
	err  error
}

// unlockKeys returns at once a key map whose keystore accounts are
// signer.Deferred, and unlocks their keys (sealed) in the background, as
// many at a time as there are cores (scrypt is CPU- and memory-bound). It
// takes pass over and wipes it when every unlock has finished.
func unlockKeys(h *config.Home, cfg *config.Config, accts []config.Account, pass *secret.Bytes) (approval.KeyMap, *keyUnlock) {
	ks := keystoreOf(h, cfg)
	keys := approval.KeyMap{}
	var todo []*signer.Deferred
	for _, a := range accts {
		if a.Backend != config.BackendKeystore {
			continue
		}
		d := signer.NewDeferred(a.Address)
		keys[a.Address] = d
		todo = append(todo, d)
	}
	u := &keyUnlock{done: make(chan struct{})}
	go func() {
		defer close(u.done)
		defer pass.Wipe()
		var mu sync.Mutex
		var wg sync.WaitGroup
		sem := make(chan struct{}, runtime.GOMAXPROCS(0))
		for _, d := range todo {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				k, err := ks.Unlock(d.Address(), pass)
				if err != nil {
					d.Resolve(nil, err)
					mu.Lock()
					if u.err == nil {
						u.err = fmt.Errorf("serve: unlocking %s: %w", d.Address().Hex(), err)
					}
					mu.Unlock()
					return
				}
				d.Resolve(kssigner.New(k), nil)
			}()
		}
		wg.Wait()
	}()
	return keys, u
}

// logParked logs each new pending approval on stderr, for a person watching
// the server: what it sends where, why it needs them, and where to decide.
// The page link carries the approval's link token, so it is logged only when
// stderr is a terminal (a person at it), never into a log file.
func logParked(logger *slog.Logger, showLink bool) func(string, policy.StoredSummary, string) {
	return func(id string, s policy.StoredSummary, url string) {
		var rules []string
		for _, r := range s.Reasons {
			rules = append(rules, r.Rule)
		}
		args := []any{"id", id, "amount", printable(s.Amount) + " " + printable(s.Asset), "to", "…" + printable(s.ToTail), "reasons", strings.Join(rules, ","), "cli", "walletmcp approve " + id}
		switch {
		case url != "" && showLink:
			args = append(args, "page", url)
		case url != "":
			args = append(args, "page", "the approval_url sent to the MCP client (not logged: it holds the link token)")
		}
		logger.Info("approval needed", args...)
	}
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
	var stored policy.StoredSummary
	if err := json.Unmarshal(a.Summary, &stored); err != nil {
		return nil, err
	}
	v.Summary = stored.Summary
	for _, r := range stored.Reasons {
		v.Reasons = append(v.Reasons, r.Message)
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
