package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/walletmcp/walletmcp/internal/store"
)

const canary = "CANARY-do-not-leak-1234567890"

func openStore(t *testing.T, path string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), path, &store.Options{Key: bytes.Repeat([]byte{7}, store.KeyLen)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// receiver is a webhook that checks each delivery's HMAC.
type receiver struct {
	t      *testing.T
	key    []byte
	got    chan map[string]any
	status int
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" {
		r.t.Errorf("delivery: %s %s", req.Method, req.Header.Get("Content-Type"))
	}
	if got, want := req.Header.Get(SignatureHeader), Sign(r.key, body); got != want {
		r.t.Errorf("signature %q, want %q", got, want)
	}
	if bytes.Contains(body, []byte(canary)) || bytes.Contains(body, r.key) {
		r.t.Errorf("alert carries a secret: %s", body)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		r.t.Errorf("alert is not JSON: %v", err)
	}
	if r.status != 0 {
		w.WriteHeader(r.status)
		return
	}
	r.got <- m
}

func TestWebhookEveryKindSignedNoSecret(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "webhook.secret")
	os.WriteFile(secretFile, []byte("s3cret-hmac-key\n"), 0o600)
	key, err := ReadSecret(secretFile)
	if err != nil || string(key) != "s3cret-hmac-key" {
		t.Fatalf("ReadSecret = %q, %v", key, err)
	}
	rc := &receiver{t: t, key: key, got: make(chan map[string]any, 64)}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	st := openStore(t, filepath.Join(dir, "state.db"))
	defer st.Close()
	a, err := NewAlerter(&AlertConfig{WebhookURL: srv.URL, Secret: key, Queue: st, Poll: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	defer func() { cancel(); <-done }()

	events := []string{"totp_failed", "totp_lockout", "totp_page_lockout", "totp_state_invalid", "state_tampered", "approval_flood",
		"panic", "policy_changed", "chain_id_changed", "self_check_failed", "audit_break", "anomaly", "account_frozen", "account_unfrozen", "anomaly_failed", "offline_broadcast_outside"}
	tee := &Tee{Log: nopLog{}, Alerts: a}
	for _, e := range events {
		// Every field an attacker could fill carries the canary.
		tee.Append(ctx, "security", map[string]any{"event": e, "from": canary, "rule": canary, "reason": canary,
			"approval_id": canary, "code": canary, "panic_type": canary, "channel": canary})
	}
	tee.Append(ctx, "security", map[string]any{"event": "totp_accepted"}) // no alert
	a.Notify(Event{Kind: KindDenialBurst, Account: "0x00000000000000000000000000000000000000aA", Rule: "denials_per_minute", Count: 30, Message: "30 denials"})
	a.Notify(Event{Kind: KindAnomaly, Message: canary + "\n"}) // not static text: dropped message
	kinds := map[string]int{}
	deadline := time.After(10 * time.Second)
	for n := 0; n < len(events)+2; n++ {
		select {
		case m := <-rc.got:
			kinds[m["kind"].(string)]++
			if m["source"] != "walletmcp" || m["id"] == "" || m["time"] == "" {
				t.Errorf("alert %v lacks source, id or time", m)
			}
		case <-deadline:
			t.Fatalf("only %d alerts arrived: %v", n, kinds)
		}
	}
	for _, k := range []string{KindTOTPFailure, KindTOTPLockout, KindStateMAC, KindApprovalFlood, KindPanic, KindPolicyChanged,
		KindChainIDChanged, KindSelfCheckFailed, KindAuditBreak, KindAnomaly, KindFrozen, KindUnfrozen, KindDenialBurst} {
		if kinds[k] == 0 {
			t.Errorf("no %s alert arrived", k)
		}
	}
}

type nopLog struct{}

func (nopLog) Append(context.Context, string, any) error { return nil }
func (nopLog) Start(string, any) (func(context.Context) error, func()) {
	return func(context.Context) error { return nil }, func() {}
}
func (nopLog) Enqueue(string, any) error { return nil }

// TestUnreachableWebhookRetriedAcrossRestart: the webhook is down, the
// alert stays queued through a restart, and is delivered once it is up.
func TestUnreachableWebhookRetriedAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	key := []byte("restart-test-hmac-key")
	// A port nothing listens on (bound, then closed).
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	st := openStore(t, path)
	a, err := NewAlerter(&AlertConfig{WebhookURL: "http://" + addr + "/hook", Secret: key, Queue: st, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := a.Raise(ctx, Event{Kind: KindAuditBreak, Severity: SeverityCritical}); err != nil {
		t.Fatal(err)
	}
	for a.Stats().Failed < 3 {
		a.Deliver(ctx)
	}
	if n, _, _ := st.AlertQueue(ctx); n != 1 {
		t.Fatalf("queue holds %d alerts after failures, want 1", n)
	}
	st.Close()

	// Restart: a new store handle and alerter; the webhook is now up.
	rc := &receiver{t: t, key: key, got: make(chan map[string]any, 4)}
	l2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s taken meanwhile: %v", addr, err)
	}
	srv := &httptest.Server{Listener: l2, Config: &http.Server{Handler: rc}}
	srv.Start()
	defer srv.Close()
	st2 := openStore(t, path)
	defer st2.Close()
	a2, _ := NewAlerter(&AlertConfig{WebhookURL: "http://" + addr + "/hook", Secret: key, Queue: st2, Poll: 5 * time.Millisecond})
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); a2.Run(rctx) }()
	defer func() { cancel(); <-done }()
	select {
	case m := <-rc.got:
		if m["kind"] != KindAuditBreak || m["severity"] != SeverityCritical {
			t.Fatalf("delivered %v", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the queued alert was not delivered after the restart")
	}
}

func TestCommandTarget(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "alert.json")
	st := openStore(t, filepath.Join(dir, "state.db"))
	defer st.Close()
	ctx := context.Background()
	a, err := NewAlerter(&AlertConfig{Command: []string{"/bin/sh", "-c", "cat > " + out}, Queue: st})
	if err != nil {
		t.Fatal(err)
	}
	a.Raise(ctx, Event{Kind: KindPanic, Severity: SeverityCritical})
	a.Deliver(ctx)
	b, err := os.ReadFile(out)
	if err != nil || !strings.Contains(string(b), `"kind":"panic"`) {
		t.Fatalf("command got %q, %v", b, err)
	}
	// A command that outlives its timeout fails and stays queued.
	slow, _ := NewAlerter(&AlertConfig{Command: []string{"/bin/sh", "-c", "sleep 5"}, CommandTimeout: 50 * time.Millisecond, Queue: st})
	slow.Raise(ctx, Event{Kind: KindPanic})
	slow.Deliver(ctx)
	if s := slow.Stats(); s.Failed != 1 || s.Delivered != 0 {
		t.Fatalf("stats after a timeout: %+v", s)
	}
}

// TestTeeStartObservesWhenSeen: Start only queues, and its wait only
// waits (the Guard waits inside a store transaction); the observers (the
// anomaly watcher writes the state store) and OnAppend run in seen, which
// the Guard calls after its store transaction.
func TestTeeStartObservesWhenSeen(t *testing.T) {
	var seen, appended int
	tee := &Tee{Log: nopLog{}, Observe: func(string, map[string]any) { seen++ }, OnAppend: func(time.Duration) { appended++ }}
	wait, done := tee.Start("verdict", map[string]any{"op": "send"})
	if err := wait(context.Background()); err != nil || seen != 0 || appended != 0 {
		t.Fatalf("Start and its wait: %v, observed %d, appends %d; want nothing observed", err, seen, appended)
	}
	done()
	if seen != 1 || appended != 1 {
		t.Fatalf("after seen: observed %d, appends %d; want once each", seen, appended)
	}
}
