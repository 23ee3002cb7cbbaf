package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/walletmcp/walletmcp/approval"
	"github.com/walletmcp/walletmcp/approval/pending"
	"github.com/walletmcp/walletmcp/approval/totp"
	"github.com/walletmcp/walletmcp/approval/web"
	"github.com/walletmcp/walletmcp/internal/audit"
	"github.com/walletmcp/walletmcp/internal/callrate"
	"github.com/walletmcp/walletmcp/internal/chain"
	"github.com/walletmcp/walletmcp/internal/config"
	"github.com/walletmcp/walletmcp/internal/secret"
	"github.com/walletmcp/walletmcp/internal/store"
	"github.com/walletmcp/walletmcp/mcpserver"
	"github.com/walletmcp/walletmcp/mcpserver/mcphttp"
	"github.com/walletmcp/walletmcp/policy"
)

func (c *cli) serve(ctx context.Context, args []string) error {
	fs := c.flags("serve")
	dev := fs.Bool("dev", false, "run on an embedded dev chain (chain id 1337, every account funded with 100 ETH)")
	rpcURL := fs.String("rpc", "", "JSON-RPC URL of an Ethereum node (default: config.toml rpc_url)")
	var hf httpFlags
	fs.StringVar(&hf.addr, "http", "", "serve streamable HTTP at ADDR (host:port or unix:PATH) instead of stdio")
	fs.StringVar(&hf.tlsCert, "tls-cert", "", "TLS certificate (PEM) for --http")
	fs.StringVar(&hf.tlsKey, "tls-key", "", "TLS private key (PEM) for --http")
	if err := c.parse(fs, args, 0); err != nil {
		return err
	}
	// A client that closes its end of stdout makes the next answer fail
	// with EPIPE rather than kill serve with SIGPIPE (which lost the
	// records of calls already answered, and the stop record): the session
	// then ends, and serve stops cleanly.
	signal.Ignore(syscall.SIGPIPE)
	// The tools' schemas are computed on the other core while the home is
	// read (mcpserver.New then takes them as made).
	go mcpserver.Prepare()
	if hf.addr == "" && (hf.tlsCert != "" || hf.tlsKey != "") {
		return &exitError{code: 2, err: errors.New("serve: --tls-cert and --tls-key need --http")}
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
	var ln *mcphttp.Listener
	if hf.addr != "" {
		if ln, err = listenHTTP(&hf); err != nil {
			return err
		}
		defer ln.Close()
	}
	// What the MCP handshake needs is read first (config, policy, the
	// account registry: files, no secret); the handshake is then answered
	// while the rest of start-up goes on (startGate).
	policyText, sum, err := h.ReadPolicy()
	if err != nil {
		return err
	}
	pol, err := policy.ParsePolicy(policyText, sum)
	if err != nil {
		return fmt.Errorf("serve: refusing to start: %w", err)
	}
	ttl, err := cfg.Approval.ParseTTL()
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	accts, err := h.Accounts()
	if err != nil {
		return err
	}
	// The server is built on the gate: every request but the handshake,
	// ping and tools/list waits at it (bounded by its context) until the
	// policy's attestation, the audit log's check and the rest of start-up
	// have passed; a failed start-up fails what waited, and serve exits
	// with its cause. The policy is not attested yet: of it the server
	// takes only its rate limit, which counts calls that are held.
	gate := newStartGate(pol.ChainID)
	var macc []mcpserver.Account
	for _, a := range accts {
		macc = append(macc, mcpserver.Account{Address: a.Address, Label: a.Label, Backend: a.Backend, DerivationPath: a.DerivationPath})
	}
	// Every serve of this home counts its tool calls in one shared limit.
	calls, err := callrate.Open(h.Path(config.CallRateFile), pol.ToolCallsPerMinute, time.Minute, nil)
	if err != nil {
		return fmt.Errorf("serve: the tool-call rate limit's state: %w", err)
	}
	defer calls.Close()
	srv, err := mcpserver.New(&mcpserver.Options{
		Guard: gate, Chain: gate, Audit: gate, Accounts: macc,
		ToolCallsPerMinute: pol.ToolCallsPerMinute, CallLimit: calls, Version: version, Logger: logger,
	})
	if err != nil {
		return err
	}
	srv.MCP().AddReceivingMiddleware(gate.middleware) // outermost: before mcpserver's own
	// Ctrl-C (ctx) ends the input: calls already read are answered, then
	// Run returns without error. A key that cannot be made ready also ends
	// it (stopServe).
	stop, stopServe := context.WithCancel(ctx)
	defer stopServe()
	runDone := make(chan struct{})
	var runErr error
	if ln == nil {
		go func() {
			defer close(runDone)
			runErr = srv.Run(context.WithoutCancel(ctx), &mcpserver.StdioTransport{In: c.stdin, Out: c.stdout, Stop: stop.Done()})
		}()
		// A start-up that fails (any return before the gate opens) fails
		// the calls that waited, ends the session and waits for it.
		defer func() {
			gate.fail()
			stopServe()
			<-runDone
		}()
	} else {
		close(runDone)
	}

	if ln == nil {
		gate.afterHandshake(ctx)
	}
	pass, mk, err := c.unlockHome(h)
	if err != nil {
		return err
	}
	// The home KDF's buffers (megabytes) are garbage now: collected before
	// the keys' KDFs allocate theirs, the heap reuses them rather than
	// growing by both (the session's peak RSS).
	runtime.GC()
	passOwned := true // until the background unlock takes it over
	defer func() {
		if passOwned {
			pass.Wipe()
		}
	}()
	_, err = h.CheckAttestation(mk, sum)
	if err != nil {
		mk.Wipe()
		return fmt.Errorf("serve: refusing to start: %w", err)
	}
	auditKey, err := mk.Derive(config.AuditKeyPurpose)
	if err != nil {
		mk.Wipe()
		return err
	}
	defer auditKey.Wipe()
	totpKey, err := mk.Derive(config.TOTPKeyPurpose)
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

	offlineKeys, err := offlinePaths(accts)
	if err != nil {
		return err
	}
	// The keys get ready in the background (a keystore's scrypt is about a
	// second, the HD helper and a token login take their time) while the
	// chain, the store and the MCP handshake get ready; a transfer that
	// needs a key first waits for it. startKeys takes pass over.
	keys, keyStart, err := c.startKeys(ctx, h, cfg, accts, pass)
	passOwned = false
	if err != nil {
		return err
	}
	defer keyStart.stop()

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
	lg, err := openAuditKey(h, auditKey, true, serveAuditLinger)
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
	if err := lg.Append(ctx, audit.TypeStart, map[string]any{"event": "serve_started", "dev": *dev, "chain_id": pol.ChainID, "policy_sha256": sum, "accounts": len(accts), "version": version, "binary": binaryIdentity()}); err != nil {
		return err
	}
	rt, err := startOps(ctx, opsDeps{h: h, cfg: cfg, st: st, lg: lg, pol: pol, accts: accts, keys: keys, ch: ch, logger: logger, keysReady: keyStart.wait})
	if err != nil {
		return err
	}
	defer rt.stop()
	verifier := totp.NewSealedVerifier(st, rt.tee, totpKey, nil)
	defer verifier.Wipe()
	approvals, err := pending.New(&pending.Config{Store: st, Verifier: verifier, Audit: rt.tee, TTL: ttl, MaxPending: cfg.Approval.MaxPending})
	if err != nil {
		return err
	}
	// A decision on the page wakes the executor: the page, then the Guard
	// with the page's URL, both given the one Wake.
	wake := approval.NewWake()
	page, err := web.New(pageDecider{svc: approvals, kick: wake.Kick}, &web.Options{Addr: cfg.Approval.Listen, Logger: logger})
	if err != nil {
		return fmt.Errorf("serve: approval page: %w", err)
	}
	if err := page.Start(); err != nil {
		return fmt.Errorf("serve: approval page: %w", err)
	}
	defer page.Close(context.WithoutCancel(ctx))
	guard, err := approval.NewGuard(ctx, &approval.Config{
		Policy: pol, Chain: rt.chain, Store: st, Audit: rt.tee, Keys: rt.keys, Wake: wake,
		Approvals: approvals, ApprovalURL: page.URL, OnPark: logParked(logger, isTerminal(c.stderr)),
		Offline: offlineKeys, OfflineTTL: ttl, OfflineMaxOpen: cfg.Approval.MaxPending,
	})
	if err != nil {
		return err
	}
	execCtx, stopExec := context.WithCancel(context.WithoutCancel(ctx))
	execDone := make(chan struct{})
	go func() { defer close(execDone); guard.RunApprovals(execCtx) }()
	defer func() { stopExec(); <-execDone }()
	gate.open(guard, ch, rt.tee)
	if _, err := st.TOTP(ctx); err != nil {
		logger.Warn("TOTP is not enrolled: transfers that need a human cannot be approved until `walletmcp totp enroll`")
	}
	// A key that cannot be made ready stops the server (fail closed), as it
	// stopped start-up when the keys were made ready first.
	go func() {
		if err := keyStart.wait(stop); err != nil && stop.Err() == nil {
			logger.Error("stopping: " + err.Error())
			stopServe()
		}
	}()
	if ln != nil {
		err = serveHTTP(stop, ln, srv, st, &cfg.HTTP, logger)
		srv.FlushRefusals()
		_ = lg.Append(context.WithoutCancel(ctx), audit.TypeStart, map[string]any{"event": "serve_stopped"})
		if kerr := keyStart.failed(); kerr != nil {
			return kerr
		}
		return err
	}
	logger.Info("walletmcp serving MCP on stdio", "home", h.Dir, "chain_id", pol.ChainID, "dev", *dev, "accounts", len(accts), "policy_sha256", sum[:12], "approval_page", page.Addr())
	<-runDone
	_ = lg.Append(context.WithoutCancel(ctx), audit.TypeStart, map[string]any{"event": "serve_stopped"})
	if kerr := keyStart.failed(); kerr != nil {
		return kerr
	}
	// A client that closed its end of stdout ended the session: it left, as
	// if it had closed stdin.
	if runErr != nil && !errors.Is(runErr, context.Canceled) && !errors.Is(runErr, syscall.EPIPE) {
		return runErr
	}
	if ctx.Err() == nil {
		// The input ended before every key was ready: a key that cannot
		// be made ready still fails the run (and names its cause).
		return keyStart.wait(ctx)
	}
	return nil
}
