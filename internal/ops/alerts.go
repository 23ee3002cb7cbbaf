// Package ops is walletmcp's operations side (CONTRACT.md §9): security
// alerts delivered to a webhook and a command, and the audit tee that turns
// every security event into an alert.
//
// # Security model
//
// An alert is built only from an [Event]'s typed fields: a kind, a severity,
// an account address, a rule name, a count and a message. The message is
// static text written by us; fields that do not match their shape (an
// address, a rule name) are dropped, so text from a request cannot ride in an
// alert. A webhook receiver authenticates a delivery by the
// X-Walletmcp-Signature header: sha256=<hex HMAC-SHA256(key, body)>, the key
// being the bytes of [alerts] webhook_secret_file. Alerts wait in the state
// store (MAC'd, bounded: the oldest are dropped beyond MaxQueue) until
// delivered, so they survive a restart; a row changed without the state key is
// never delivered.
package ops

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/walletmcp/walletmcp/internal/store"
)

// Alert kinds (Event.Kind).
const (
	KindTOTPFailure     = "totp_failure"
	KindTOTPLockout     = "totp_lockout"
	KindDenialBurst     = "denial_burst"
	KindApprovalFlood   = "approval_flood"
	KindPolicyChanged   = "policy_changed"
	KindChainIDChanged  = "chain_id_changed"
	KindSelfCheckFailed = "self_check_failed"
	KindAuditBreak      = "audit_break"
	KindPanic           = "panic"
	KindStateMAC        = "state_mac_failure"
	KindAnomaly         = "anomaly"
	KindFrozen          = "account_frozen"
	KindUnfrozen        = "account_unfrozen"
	KindAlertsDropped   = "alerts_dropped"
)

// Severities (Event.Severity).
const (
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// Event is one security event as an alert carries it.
type Event struct {
	// Kind is one of the Kind constants.
	Kind string
	// Severity is SeverityWarning or SeverityCritical (default warning).
	Severity string
	// Account is the EIP-55 address concerned, "" when none; anything that is
	// not an address is dropped.
	Account string
	// Rule names the policy or anomaly rule, [a-z0-9_]{1,64}; else dropped.
	Rule string
	// Count is how many events this one stands for (0: not shown).
	Count int
	// Message is static text written by us, never input (≤ 200 bytes).
	Message string
}

// isAddrShape reports whether s is 0x and 40 hex digits.
func isAddrShape(s string) bool {
	if len(s) != 42 || s[0] != '0' || s[1] != 'x' {
		return false
	}
	for i := 2; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// isRuleShape reports whether s is 1 to 64 of [a-z0-9_]. (Hand-written
// rather than regexps: a bounded repeat compiles to a copy per repeat, which
// every process start paid at init.)
func isRuleShape(s string) bool {
	if len(s) < 1 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// wireAlert is an alert's JSON.
type wireAlert struct {
	Source   string `json:"source"`
	Version  int    `json:"version"`
	ID       string `json:"id"`
	Time     string `json:"time"`
	Kind     string `json:"kind"`
	Severity string `json:"severity"`
	Account  string `json:"account,omitempty"`
	Rule     string `json:"rule,omitempty"`
	Count    int    `json:"count,omitempty"`
	Message  string `json:"message,omitempty"`
}

// Encode renders ev as the alert JSON, stamped with id and t.
func Encode(ev Event, id string, t time.Time) ([]byte, error) {
	if !isRuleShape(ev.Kind) {
		return nil, errors.New("ops: alert kind must be [a-z0-9_]{1,64}")
	}
	w := wireAlert{Source: "walletmcp", Version: 1, ID: id, Time: t.UTC().Format(time.RFC3339Nano), Kind: ev.Kind, Severity: SeverityWarning, Count: ev.Count}
	if ev.Severity == SeverityCritical {
		w.Severity = SeverityCritical
	}
	if isAddrShape(ev.Account) {
		w.Account = ev.Account
	}
	if isRuleShape(ev.Rule) {
		w.Rule = ev.Rule
	}
	if len(ev.Message) <= 200 && strings.IndexFunc(ev.Message, func(r rune) bool { return r < 0x20 || r == 0x7f }) < 0 {
		w.Message = ev.Message
	}
	return json.Marshal(w)
}

// Sign returns the X-Walletmcp-Signature value of body under key.
func Sign(key, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// SignatureHeader is the header that carries Sign(key, body).
const SignatureHeader = "X-Walletmcp-Signature"

// ReadSecret reads a webhook secret file: its bytes, one trailing newline
// (LF or CRLF) trimmed. An empty key is refused.
func ReadSecret(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("ops: alerts webhook_secret_file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 4097))
	if err != nil {
		return nil, fmt.Errorf("ops: alerts webhook_secret_file: %w", err)
	}
	if len(b) > 4096 {
		return nil, errors.New("ops: alerts webhook_secret_file is larger than 4096 bytes")
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	if len(b) == 0 {
		return nil, errors.New("ops: alerts webhook_secret_file is empty")
	}
	return b, nil
}

// Queue is the durable alert queue (the state store).
type Queue interface {
	EnqueueAlert(ctx context.Context, target string, body []byte, max int) (int, error)
	ClaimAlerts(ctx context.Context, lease time.Duration, limit int) ([]store.QueuedAlert, int, error)
	AlertDelivered(ctx context.Context, seq int64) error
	AlertFailed(ctx context.Context, seq int64, next time.Time) error
}

var _ Queue = (*store.Store)(nil)

// AlertConfig configures an Alerter. Queue is required.
type AlertConfig struct {
	// WebhookURL receives each alert as a JSON POST ("" = none). Only http and https.
	WebhookURL string
	// Secret is the HMAC key of the webhook signature (ReadSecret); required with WebhookURL.
	Secret []byte
	// Command is run for each alert with its JSON on stdin (nil = none).
	Command []string
	// CommandTimeout bounds one run of Command. Default 10s.
	CommandTimeout time.Duration
	// Queue holds alerts until they are delivered.
	Queue Queue
	// MaxQueue bounds the queue (per target). Default 1000.
	MaxQueue int
	// Client posts to the webhook. Default: 5s timeout, no redirects.
	Client *http.Client
	// MinBackoff and MaxBackoff bound the wait before a retry, which doubles
	// with each failure. Defaults 1s and 5m.
	MinBackoff, MaxBackoff time.Duration
	// Poll is how often the queue is checked for alerts due again or queued by
	// another process. Default 1s.
	Poll time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Rand is the source of alert ids. Default crypto/rand.Reader.
	Rand io.Reader
	// Logger gets delivery failures (never an alert's body). Default: discard.
	Logger *slog.Logger
	// OnEvent is called for every raised event (metrics), nil for none.
	OnEvent func(Event)
}

// AlertStats counts what an Alerter did.
type AlertStats struct {
	Raised, Delivered, Failed, Dropped, Tampered uint64
}

// Alerter raises alerts: queues them durably and delivers them.
type Alerter struct {
	cfg     AlertConfig
	kick    chan struct{}
	targets []string

	raised, delivered, failed, dropped, tampered atomic.Uint64
	mu                                           sync.Mutex // serialises delivery rounds

	inMu  sync.Mutex
	inbox []Event // events notified, not yet queued
}

// maxInbox bounds the events Notify holds before Run queues them.
const maxInbox = 256

// Notify hands ev to Run, which queues and delivers it: it never blocks and
// never touches the store, so it is safe on any path (inside a store
// transaction, in an audit hook). Beyond maxInbox waiting events, ev is
// dropped and counted.
func (a *Alerter) Notify(ev Event) {
	a.inMu.Lock()
	if len(a.inbox) >= maxInbox {
		a.inMu.Unlock()
		a.dropped.Add(1)
		return
	}
	a.inbox = append(a.inbox, ev)
	a.inMu.Unlock()
	a.Kick()
}

// drain queues the events Notify received.
func (a *Alerter) drain(ctx context.Context) {
	a.inMu.Lock()
	evs := a.inbox
	a.inbox = nil
	a.inMu.Unlock()
	for _, ev := range evs {
		if err := a.Raise(ctx, ev); err != nil {
			a.cfg.Logger.Warn("queueing an alert failed", "kind", ev.Kind, "err", err)
		}
	}
}

// NewAlerter checks cfg and returns an Alerter; Run delivers.
func NewAlerter(cfg *AlertConfig) (*Alerter, error) {
	if cfg == nil || cfg.Queue == nil {
		return nil, errors.New("ops: alerts need a queue")
	}
	a := &Alerter{cfg: *cfg, kick: make(chan struct{}, 1)}
	c := &a.cfg
	if c.WebhookURL != "" {
		if !strings.HasPrefix(c.WebhookURL, "https://") && !strings.HasPrefix(c.WebhookURL, "http://") {
			return nil, errors.New("ops: alerts webhook_url must be an http or https URL")
		}
		if len(c.Secret) == 0 {
			return nil, errors.New("ops: alerts webhook_url needs webhook_secret_file")
		}
		c.Secret = bytes.Clone(c.Secret)
		a.targets = append(a.targets, store.AlertWebhook)
	}
	if len(c.Command) > 0 {
		if c.Command[0] == "" {
			return nil, errors.New("ops: alerts command has an empty program")
		}
		a.targets = append(a.targets, store.AlertCommand)
	}
	if c.CommandTimeout <= 0 {
		c.CommandTimeout = 10 * time.Second
	}
	if c.MaxQueue <= 0 {
		c.MaxQueue = 1000
	}
	if c.Client == nil {
		c.Client = &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = time.Second
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = max(5*time.Minute, c.MinBackoff)
	}
	if c.Poll <= 0 {
		c.Poll = time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return a, nil
}

// Stats returns the counters.
func (a *Alerter) Stats() AlertStats {
	return AlertStats{Raised: a.raised.Load(), Delivered: a.delivered.Load(), Failed: a.failed.Load(), Dropped: a.dropped.Load(), Tampered: a.tampered.Load()}
}

// Raise queues ev for every configured target and wakes the deliverer.
func (a *Alerter) Raise(ctx context.Context, ev Event) error {
	a.raised.Add(1)
	if a.cfg.OnEvent != nil {
		a.cfg.OnEvent(ev)
	}
	if len(a.targets) == 0 {
		return nil
	}
	var id [8]byte
	if _, err := io.ReadFull(a.cfg.Rand, id[:]); err != nil {
		return fmt.Errorf("ops: alert id: %w", err)
	}
	body, err := Encode(ev, hex.EncodeToString(id[:]), a.cfg.Now())
	if err != nil {
		return err
	}
	for _, t := range a.targets {
		n, err := a.cfg.Queue.EnqueueAlert(ctx, t, body, a.cfg.MaxQueue)
		if err != nil {
			return fmt.Errorf("ops: queueing an alert: %w", err)
		}
		a.dropped.Add(uint64(n))
	}
	a.Kick()
	return nil
}

// Kick wakes the deliverer.
func (a *Alerter) Kick() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// Run delivers queued alerts until ctx ends: at once when one is raised, and
// every Poll for retries and alerts queued by other processes.
func (a *Alerter) Run(ctx context.Context) {
	t := time.NewTicker(a.cfg.Poll)
	defer t.Stop()
	for {
		a.drain(ctx)
		if len(a.targets) > 0 {
			a.Deliver(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-a.kick:
		case <-t.C:
		}
	}
}

// Deliver queues what was raised since the last round (so a last alert
// before shutdown is kept) and makes one delivery round over the alerts
// that are due.
func (a *Alerter) Deliver(ctx context.Context) {
	a.drain(ctx)
	a.mu.Lock()
	defer a.mu.Unlock()
	lease := a.cfg.CommandTimeout + a.cfg.Client.Timeout + 5*time.Second
	due, tampered, err := a.cfg.Queue.ClaimAlerts(ctx, lease, 50)
	if tampered > 0 {
		a.tampered.Add(uint64(tampered))
		a.cfg.Logger.Error("alerts changed in state.db without the state key were dropped", "rows", tampered)
	}
	if err != nil {
		a.cfg.Logger.Warn("reading the alert queue failed", "err", err)
		return
	}
	for _, q := range due {
		var derr error
		switch {
		case q.Target == store.AlertWebhook && a.cfg.WebhookURL != "":
			derr = a.post(ctx, q.Body)
		case q.Target == store.AlertCommand && len(a.cfg.Command) > 0:
			derr = a.run(ctx, q.Body)
		default: // queued by a process configured otherwise: left for one that can
			derr = errors.New("ops: alert target not configured here")
		}
		if derr == nil {
			a.delivered.Add(1)
			if err := a.cfg.Queue.AlertDelivered(context.WithoutCancel(ctx), q.Seq); err != nil {
				a.cfg.Logger.Warn("removing a delivered alert failed", "err", err)
			}
			continue
		}
		a.failed.Add(1)
		wait := a.cfg.MinBackoff << min(q.Attempts, 20)
		if wait > a.cfg.MaxBackoff || wait <= 0 {
			wait = a.cfg.MaxBackoff
		}
		a.cfg.Logger.Warn("alert delivery failed; will retry", "target", q.Target, "attempt", q.Attempts+1, "retry_in", wait, "err", derr)
		if err := a.cfg.Queue.AlertFailed(context.WithoutCancel(ctx), q.Seq, a.cfg.Now().Add(wait)); err != nil {
			a.cfg.Logger.Warn("recording a failed alert delivery failed", "err", err)
		}
	}
}

// post sends body to the webhook.
func (a *Alerter) post(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.cfg.WebhookURL, bytes.NewReader(body))
	if err != nil {
		return errors.New("ops: bad webhook_url")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "walletmcp-alerts/1")
	req.Header.Set(SignatureHeader, Sign(a.cfg.Secret, body))
	resp, err := a.cfg.Client.Do(req)
	if err != nil {
		return errors.New("ops: webhook unreachable")
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("ops: webhook answered %d", resp.StatusCode)
	}
	return nil
}

// run runs the alert command with body on stdin.
func (a *Alerter) run(ctx context.Context, body []byte) error {
	cctx, cancel := context.WithTimeout(ctx, a.cfg.CommandTimeout)
	defer cancel()
	cmd := exec.CommandContext(cctx, a.cfg.Command[0], a.cfg.Command[1:]...)
	cmd.Stdin = bytes.NewReader(body)
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		if cctx.Err() != nil {
			return errors.New("ops: alert command timed out")
		}
		return fmt.Errorf("ops: alert command: %v", err)
	}
	return nil
}
