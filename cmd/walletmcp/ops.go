package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/walletmcp/walletmcp/approval"
	"github.com/walletmcp/walletmcp/internal/approvalstate"
	"github.com/walletmcp/walletmcp/internal/audit"
	"github.com/walletmcp/walletmcp/internal/chain"
	"github.com/walletmcp/walletmcp/internal/config"
	"github.com/walletmcp/walletmcp/internal/ops"
	"github.com/walletmcp/walletmcp/internal/store"
	"github.com/walletmcp/walletmcp/mcpserver"
	"github.com/walletmcp/walletmcp/policy"
	"github.com/walletmcp/walletmcp/signer"
)

// selfCheckMark is the store mark of the last key self-check.
const selfCheckMark = ops.SelfCheckMark

// opsRuntime is what serve runs for operations (CONTRACT.md §9): the audit
// tee every component audits through, alerts, metrics, the health endpoint,
// the key self-check and the watch on the policy file and the chain id.
type opsRuntime struct {
	tee  *ops.Tee
	keys approval.KeyMap
	// chain is the chain the Guard uses: its calls observed by method.
	chain  chain.Chain
	health *ops.Health
	stop   func()
	// checked are the keys as the self-check sees them; startChecked is
	// closed when the start self-check has run.
	checked      []*ops.Checked
	startChecked chan struct{}
}

// afterSelfCheck is a Signer that signs once the start self-check has run
// (bounded by the signature's context).
type afterSelfCheck struct {
	signer.Signer
	checked <-chan struct{}
}

// SignDigest waits for the start self-check, then signs.
func (a *afterSelfCheck) SignDigest(ctx context.Context, digest []byte) ([]byte, error) {
	select {
	case <-a.checked:
	case <-ctx.Done():
		return nil, fmt.Errorf("serve: waiting for the key self-check: %w", ctx.Err())
	}
	return a.Signer.SignDigest(ctx, digest)
}

// SignsNow reports whether the start self-check has run and the wrapped
// signer signs now (signer.Immediate).
func (a *afterSelfCheck) SignsNow() bool {
	select {
	case <-a.checked:
		return signer.SignsNow(a.Signer)
	default:
		return false
	}
}

// opsDeps is what startOps wires.
type opsDeps struct {
	h      *config.Home
	cfg    *config.Config
	st     *store.Store
	lg     *audit.Log
	pol    *policy.Policy
	accts  []config.Account
	keys   approval.KeyMap
	ch     chain.Chain
	logger *slog.Logger
	// keysReady returns once every key is ready (nil) or one failed; the
	// start self-check waits for it (nil: the keys are ready).
	keysReady func(context.Context) error
}

// liveChain is the chain's optional probe of its current chain id.
type liveChain interface {
	LiveChainID(ctx context.Context) (*big.Int, error)
}

func startOps(ctx context.Context, d opsDeps) (*opsRuntime, error) {
	var secret []byte
	if d.cfg.Alerts.WebhookURL != "" {
		var err error
		if secret, err = ops.ReadSecret(d.cfg.Alerts.WebhookSecretFile); err != nil {
			return nil, err
		}
	}
	alerts, err := ops.NewAlerter(&ops.AlertConfig{WebhookURL: d.cfg.Alerts.WebhookURL, Secret: secret, Command: d.cfg.Alerts.Command, Queue: d.st, Logger: d.logger})
	clear(secret)
	if err != nil {
		return nil, err
	}
	labels := map[string]string{}
	backends := map[string]string{}
	for _, a := range d.accts {
		labels[a.Address.Hex()] = a.Label
		backends[a.Address.Hex()] = a.Backend
	}
	m := ops.NewMetrics(&ops.MetricsConfig{
		Accounts: labels, Alerts: alerts, AuditStats: d.lg.Stats, Tools: mcpserver.ToolNames(),
		PendingApprovals: func() float64 {
			l, err := d.st.ListApprovals(context.Background(), approvalstate.Pending)
			if err != nil {
				return -1
			}
			return float64(len(l))
		},
		FrozenAccounts: func() float64 {
			n, err := frozenCount(d.st)
			if err != nil {
				return -1
			}
			return float64(n)
		},
	})
	tee := &ops.Tee{Log: d.lg, Alerts: alerts, OnAppend: m.ObserveAppend}
	watcher := &ops.Watcher{Policy: d.pol, Store: d.st, Audit: tee, OnAnomaly: func(a policy.Anomaly, _ bool) { m.ObserveAnomaly(a) }}
	tee.Observe = func(typ string, f map[string]any) { m.Observe(typ, f); watcher.Observe(typ, f) }

	rt := &opsRuntime{tee: tee, keys: approval.KeyMap{}, chain: m.InstrumentChain(d.ch), startChecked: make(chan struct{})}
	for addr, s := range d.keys {
		// Timed inside Checked: every signature, self-check or transfer,
		// is observed once by backend.
		c := &ops.Checked{Signer: m.TimeSigner(s, backends[addr.Hex()]), Backend: backends[addr.Hex()]}
		// A transfer signs once the start self-check has run, as when
		// the self-check held up start-up.
		rt.keys[addr] = &afterSelfCheck{Signer: c, checked: rt.startChecked}
		rt.checked = append(rt.checked, c)
	}
	// The audit chain is verified with the head key the log was opened
	// with, as at start: a tail cut with the head rewritten is found too.
	pc := &ops.PeriodicCheck{Keys: rt.checked, Store: d.st, Audit: tee, Logger: d.logger,
		VerifyAudit: func() error { _, err := d.lg.Verify(); return err }}
	selfCheck := pc.Run
	// At start the log was just verified from its keyed checkpoint (Open);
	// the whole chain is re-verified on the periodic schedule only, so that
	// start-up work does not grow with history.
	startPC := *pc
	startPC.VerifyAudit = nil

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { alerts.Run(runCtx) })
	interval, _ := time.ParseDuration(d.cfg.Ops.SelfCheck)
	wg.Go(func() {
		// The start self-check runs when the keys are ready, not before
		// the MCP handshake. A key that cannot be made ready stops serve.
		if d.keysReady != nil && d.keysReady(runCtx) != nil {
			return
		}
		startPC.Run(runCtx)
		close(rt.startChecked)
		watch(runCtx, d, tee, selfCheck, interval)
	})

	if addr := d.cfg.Ops.ListenAddr(); addr != "" {
		h, err := ops.NewHealth(&ops.HealthConfig{Addr: addr, Metrics: m, Checks: readyChecks(d, rt, m)})
		switch {
		case errors.Is(err, syscall.EADDRINUSE):
			// Another serve on this machine (the normal case: one per MCP
			// client window) has it.
			d.logger.Warn("ops endpoint not started: its address is in use (another walletmcp serve?)", "listen", addr)
		case err != nil:
			cancel()
			wg.Wait()
			return nil, fmt.Errorf("serve: config.toml ops.listen: %w", err)
		default:
			h.Serve()
			rt.health = h
			d.logger.Info("ops endpoint: /healthz /readyz /metrics", "listen", h.Addr())
		}
	}
	rt.stop = func() {
		if rt.health != nil {
			_ = rt.health.Close(context.Background())
		}
		cancel()
		wg.Wait()
		alerts.Deliver(context.Background()) // what the last moments raised
	}
	return rt, nil
}

// watch runs the periodic self-check and raises an alert when policy.toml
// changes on disk or the node's chain id changes while serving.
func watch(ctx context.Context, d opsDeps, tee *ops.Tee, selfCheck func(context.Context), interval time.Duration) {
	if interval <= 0 {
		interval = 24 * time.Hour
	}
	sc := time.NewTicker(interval)
	defer sc.Stop()
	poll := time.NewTicker(5 * time.Second)
	defer poll.Stop()
	policyAlerted, chainAlerted := false, false
	for {
		select {
		case <-ctx.Done():
			return
		case <-sc.C:
			selfCheck(ctx)
		case <-poll.C:
			if _, sum, err := d.h.ReadPolicy(); (err != nil || sum != d.pol.SHA256) && !policyAlerted {
				policyAlerted = true
				_ = tee.Append(ctx, audit.TypeSecurity, map[string]any{"event": "policy_changed"})
			}
			if lc, ok := d.ch.(liveChain); ok {
				if id, err := lc.LiveChainID(ctx); err == nil && id.Cmp(d.ch.ChainID()) != 0 && !chainAlerted {
					chainAlerted = true
					_ = tee.Append(ctx, audit.TypeSecurity, map[string]any{"event": "chain_id_changed", "chain_id": id.String()})
				}
			}
		}
	}
}

// readyProbeTTL is how long /readyz reuses the store's write probe.
const readyProbeTTL = 5 * time.Second

// readyChecks are /readyz's checks.
func readyChecks(d opsDeps, rt *opsRuntime, m *ops.Metrics) map[string]ops.Check {
	return map[string]ops.Check{
		"chain": func(ctx context.Context) error {
			lc, ok := d.ch.(liveChain)
			if !ok {
				return nil
			}
			start := time.Now()
			id, err := lc.LiveChainID(ctx)
			m.ObserveChain(time.Since(start), err)
			switch {
			case err != nil:
				return errors.New("chain unreachable")
			case id.Cmp(d.ch.ChainID()) != 0:
				return errors.New("chain id differs from the pinned one")
			}
			return nil
		},
		// A write probe (an fsync): at most one per readyProbeTTL.
		"store": ops.CachedCheck(func(ctx context.Context) error {
			if err := d.st.SetMark(ctx, "ready_probe", ""); err != nil {
				return errors.New("state store not writable")
			}
			return nil
		}, readyProbeTTL, nil),
		"audit": func(context.Context) error {
			f, err := os.OpenFile(d.h.Path(config.AuditFile), os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				return errors.New("audit log not appendable")
			}
			return f.Close()
		},
		"keys": func(context.Context) error {
			select {
			case <-rt.startChecked:
			default:
				return errors.New("keys not ready yet")
			}
			for _, c := range rt.checked {
				if c.Disabled() {
					return errors.New("a key failed its self-check")
				}
			}
			return nil
		},
		"frozen": func(context.Context) error {
			n, err := frozenCount(d.st)
			switch {
			case err != nil:
				return errors.New("freeze state unreadable")
			case n > 0:
				return fmt.Errorf("%d account(s) frozen", n)
			}
			return nil
		},
	}
}

// frozenCount counts the frozen accounts.
func frozenCount(st *store.Store) (int, error) {
	fs, err := st.Freezes(context.Background())
	n := 0
	for _, f := range fs {
		if f.Frozen {
			n++
		}
	}
	return n, err
}
