package mcpserver_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	otptotp "github.com/pquerna/otp/totp"

	"github.com/walletmcp/walletmcp/approval/pending"
	"github.com/walletmcp/walletmcp/internal/audit"
	"github.com/walletmcp/walletmcp/internal/store"
	"github.com/walletmcp/walletmcp/policy"

	"github.com/walletmcp/walletmcp/internal/approvalstate"
	"github.com/walletmcp/walletmcp/mcpserver"
)

// elProtocols are the protocol versions of the elicitation tests: on
// 2026-07-28 send_transfer answers with InputRequests + RequestState and is
// called again; on 2025-11-25 the server sends elicitation/create itself.
var elProtocols = []string{"2026-07-28", "2025-11-25"}

// elTo and elTo2 are recipients with no history: under the template policy
// (new_recipient_approval = true) a first payment to them needs a human.
var (
	elTo  = common.HexToAddress("0x5fE2B58c013D7601147dCdd68C143A77499f5531")
	elTo2 = common.HexToAddress("0x9a8E0e8C7fB6E32c2f6d0fBE9b04Ccb6aE7D4B2d")
)

// elAmount is what every test sends; elWei is the same in wei.
const elAmount = "0.01"

var elWei = big.NewInt(1e16)

// elGuard bounds every wait so that a hang fails the test; it is never used
// as synchronisation.
const elGuard = 20 * time.Second

// elEnv builds an env on the template policy with the given client and
// checks that the session negotiated proto.
func elEnv(t *testing.T, proto string, copts *mcp.ClientOptions) *env {
	t.Helper()
	e := newEnv(t, envOpts{policy: policy.PolicyTemplate(1337), client: copts, protocol: proto})
	if got := e.cs.InitializeResult().ProtocolVersion; got != proto {
		t.Fatalf("negotiated protocol %q, want %q", got, proto)
	}
	return e
}

// elURLCaps declares URL-mode (and form-mode) elicitation.
func elURLCaps() *mcp.ClientCapabilities {
	return &mcp.ClientCapabilities{Elicitation: &mcp.ElicitationCapabilities{
		Form: &mcp.FormElicitationCapabilities{}, URL: &mcp.URLElicitationCapabilities{},
	}}
}

// elProgress records the progress notifications a client receives.
type elProgress struct {
	mu   sync.Mutex
	all  []*mcp.ProgressNotificationParams
	seen chan struct{} // one value per notification
}

func newElProgress() *elProgress { return &elProgress{seen: make(chan struct{}, 4096)} }

func (p *elProgress) handle(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
	p.mu.Lock()
	p.all = append(p.all, req.Params)
	p.mu.Unlock()
	select {
	case p.seen <- struct{}{}:
	default:
	}
}

// next waits for one more notification.
func (p *elProgress) next() error {
	select {
	case <-p.seen:
		return nil
	case <-time.After(elGuard):
		return errors.New("no progress notification while send_transfer waits")
	}
}

func (p *elProgress) list() []*mcp.ProgressNotificationParams {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*mcp.ProgressNotificationParams(nil), p.all...)
}

// elAsk is a client's elicitation handler: it records what it is asked and
// answers with answer.
type elAsk struct {
	mu     sync.Mutex
	got    []mcp.ElicitParams
	answer func(p *mcp.ElicitParams) (*mcp.ElicitResult, error)
}

func (a *elAsk) handle(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
	a.mu.Lock()
	a.got = append(a.got, *req.Params)
	a.mu.Unlock()
	return a.answer(req.Params)
}

func (a *elAsk) asked() []mcp.ElicitParams {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]mcp.ElicitParams(nil), a.got...)
}

// elAnswer returns a fixed answer.
func elAnswer(action string) func(*mcp.ElicitParams) (*mcp.ElicitResult, error) {
	return func(*mcp.ElicitParams) (*mcp.ElicitResult, error) { return &mcp.ElicitResult{Action: action}, nil }
}

// elArgs are send_transfer arguments from the env's account.
func elArgs(e *env, to common.Address, amount string) map[string]any {
	return map[string]any{"from": e.accounts[0].Hex(), "to": to.Hex(), "amount": amount}
}

// elSend calls send_transfer, asking for progress when token is not nil.
func (e *env) elSend(ctx context.Context, args map[string]any, token any) (*mcp.CallToolResult, error) {
	p := &mcp.CallToolParams{Name: "send_transfer", Arguments: args}
	if token != nil {
		p.SetProgressToken(token)
	}
	ctx, cancel := context.WithTimeout(ctx, elGuard)
	defer cancel()
	return e.cs.CallTool(ctx, p)
}

// elRetry calls send_transfer again with a request state and answers, as a
// client without the automatic multi round trip does.
func (e *env) elRetry(args map[string]any, state string, answers mcp.InputResponseMap) *mcp.CallToolResult {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), elGuard)
	defer cancel()
	res, err := e.cs.CallTool(ctx, &mcp.CallToolParams{Name: "send_transfer", Arguments: args, RequestState: state, InputResponses: answers})
	if err != nil {
		e.t.Fatalf("send_transfer retry: protocol error: %v", err)
	}
	e.scan(res)
	return res
}

// elOut is send_transfer's structured output.
type elOut struct {
	Status      string         `json:"status"`
	TxHash      string         `json:"tx_hash"`
	ApprovalID  string         `json:"approval_id"`
	ApprovalURL string         `json:"approval_url"`
	ExpiresAt   string         `json:"expires_at"`
	Summary     policy.Summary `json:"summary"`
}

// elDecode decodes a successful send_transfer result.
func (e *env) elDecode(res *mcp.CallToolResult) elOut {
	e.t.Helper()
	e.scan(res)
	if res.IsError {
		e.t.Fatalf("send_transfer: unexpected tool error: %s", text(res))
	}
	if len(res.InputRequests) != 0 || res.RequestState != "" {
		e.t.Fatalf("send_transfer: unexpected input request in a final result: %+v", res.InputRequests)
	}
	var out elOut
	b, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(b, &out); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// elToolError checks that res is a tool error with code and returns its text.
func (e *env) elToolError(res *mcp.CallToolResult, code string) string {
	e.t.Helper()
	e.scan(res)
	if !res.IsError {
		e.t.Fatalf("want a %s tool error, got success: %s", code, text(res))
	}
	msg := text(res)
	if !strings.HasPrefix(msg, code+": ") {
		e.t.Fatalf("want code %s, got %q", code, msg)
	}
	return msg
}

// elStatus returns the approval's status as get_approval shows it.
func (e *env) elStatus(id string) mcpserver.ApprovalView {
	e.t.Helper()
	var v mcpserver.ApprovalView
	e.ok("get_approval", map[string]any{"approval_id": id}, &v)
	return v
}

// elWantStatus checks the approval's status and, for undecided ones, that
// no human decision was recorded.
func (e *env) elWantStatus(id string, want approvalstate.Status) {
	e.t.Helper()
	if v := e.elStatus(id); v.Status != want || (want != "executed" && v.TxHash != "") {
		e.t.Fatalf("approval %s is %s (tx %q), want %s", id, v.Status, v.TxHash, want)
	}
	a, err := e.approvals.Get(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	if want == "pending" && (a.Channel != "" || a.DecidedAt != nil) {
		e.t.Fatalf("pending approval %s has a decision recorded (channel %q)", id, a.Channel)
	}
}

// elScanAny fails the test if v, as JSON or base64-decoded, carries a
// secret: a private key, the passphrase or the TOTP secret.
func (e *env) elScanAny(v any) {
	e.t.Helper()
	b, _ := json.Marshal(v)
	texts := []string{string(b)}
	if s, ok := v.(string); ok {
		for _, part := range strings.Split(s, ".") {
			if d, err := base64.RawURLEncoding.DecodeString(part); err == nil {
				texts = append(texts, string(d))
			}
		}
	}
	for _, s := range texts {
		s = strings.ToLower(s)
		for _, secret := range append([]string{testPassphrase, e.totpSecret}, e.keys...) {
			if strings.Contains(s, strings.ToLower(secret)) {
				e.t.Fatal("a secret reached the client")
			}
		}
	}
}

// elCode returns a fresh valid TOTP code; unlike e.code it may run outside
// the test goroutine.
func elCode(e *env) (string, error) {
	at := time.Now().Add(time.Duration(e.totpSteps.Add(1)) * 30 * time.Second)
	return otptotp.GenerateCode(e.totpSecret, at)
}

// elHumanApproves approves id as the human would on the page.
func elHumanApproves(e *env, id string) error {
	c, err := elCode(e)
	if err != nil {
		return err
	}
	if err := e.approvals.Approve(context.Background(), id, c, "web"); err != nil {
		return err
	}
	e.guard.Kick()
	return nil
}

// elChainState is what the chain says about the sender and the recipients.
type elChainState struct {
	from, to, to2 *big.Int
	nonce         uint64
}

func (e *env) elChain() elChainState {
	e.t.Helper()
	n, err := e.dev.PendingNonce(context.Background(), e.accounts[0])
	if err != nil {
		e.t.Fatal(err)
	}
	return elChainState{from: e.balance(e.accounts[0]), to: e.balance(elTo), to2: e.balance(elTo2), nonce: n}
}

// elNothingSent checks that the chain is as it was: no balance moved and no
// nonce was used.
func (e *env) elNothingSent(before elChainState) {
	e.t.Helper()
	now := e.elChain()
	if now.nonce != before.nonce || now.from.Cmp(before.from) != 0 || now.to.Cmp(before.to) != 0 || now.to2.Cmp(before.to2) != 0 {
		e.t.Fatalf("something was sent: before %+v, now %+v", before, now)
	}
}

// elSentOnce checks that exactly one transfer of elWei to to was mined,
// with hash, using the sender's next nonce.
func (e *env) elSentOnce(before elChainState, to common.Address, hash string) {
	e.t.Helper()
	if st := e.waitMined(hash); st != "success" {
		e.t.Fatalf("transfer %s: %s", hash, st)
	}
	if n := e.nonceOf(hash); n != before.nonce {
		e.t.Fatalf("transfer used nonce %d, want %d", n, before.nonce)
	}
	now := e.elChain()
	if now.nonce != before.nonce+1 {
		e.t.Fatalf("pending nonce %d, want %d: exactly one transaction", now.nonce, before.nonce+1)
	}
	gotTo, gotOther := new(big.Int).Sub(now.to, before.to), new(big.Int).Sub(now.to2, before.to2)
	if to == elTo2 {
		gotTo, gotOther = gotOther, gotTo
	}
	if gotTo.Cmp(elWei) != 0 || gotOther.Sign() != 0 {
		e.t.Fatalf("recipient got %s wei (other %s), want %s", gotTo, gotOther, elWei)
	}
	if spent := new(big.Int).Sub(before.from, now.from); spent.Cmp(elWei) < 0 {
		e.t.Fatalf("sender spent %s wei, less than the amount", spent)
	}
}

// elCheckAsked checks the one elicitation a client got: URL mode, the
// approval page of the approval, and the recipient's tail in the message.
func elCheckAsked(t *testing.T, asked []mcp.ElicitParams, to common.Address) string {
	t.Helper()
	if len(asked) != 1 {
		t.Fatalf("client got %d elicitations, want 1", len(asked))
	}
	p := asked[0]
	id := p.ElicitationID
	if p.Mode != "url" || id == "" || !strings.Contains(p.URL, id) || !strings.HasPrefix(p.URL, "http://127.0.0.1:9/a/"+id+"/") {
		t.Fatalf("elicitation: mode %q, id %q, url %q; want url mode on the approval page of the approval", p.Mode, id, p.URL)
	}
	if p.RequestedSchema != nil {
		t.Fatalf("URL elicitation carries a form schema: %v", p.RequestedSchema)
	}
	if tail := to.Hex()[36:]; !strings.Contains(p.Message, tail) {
		t.Fatalf("elicitation message %q does not show the recipient's last six characters %s", p.Message, tail)
	}
	return id
}

// elCheckProgress checks that progress notifications arrived, all for token.
func elCheckProgress(t *testing.T, p *elProgress, token string, id string) {
	t.Helper()
	all := p.list()
	if len(all) == 0 {
		t.Fatal("no progress notification while send_transfer waited")
	}
	last := 0.0
	for _, n := range all {
		if n.ProgressToken != token {
			t.Fatalf("progress token %v, want %s", n.ProgressToken, token)
		}
		if n.Progress <= last {
			t.Fatalf("progress %v after %v: must increase", n.Progress, last)
		}
		last = n.Progress
		if !strings.Contains(n.Message, id) {
			t.Fatalf("progress message %q does not name approval %s", n.Message, id)
		}
	}
}

type elCallResult struct {
	res *mcp.CallToolResult
	err error
}

// elWaitingCall starts send_transfer in the background with a progress
// token and waits until the server is waiting for the human (two progress
// notifications, so it has polled the approval several times).
func (e *env) elWaitingCall(prog *elProgress, token string) (cancel func() elCallResult) {
	e.t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan elCallResult, 1)
	go func() {
		res, err := e.elSend(ctx, elArgs(e, elTo, elAmount), token)
		done <- elCallResult{res, err}
	}()
	for range 2 {
		if err := prog.next(); err != nil {
			stop()
			e.t.Fatal(err)
		}
	}
	return func() elCallResult {
		stop()
		select {
		case r := <-done:
			return r
		case <-time.After(elGuard):
			e.t.Fatal("send_transfer did not return after its context was cancelled")
			return elCallResult{}
		}
	}
}

// TestElicitSendTransfer runs send_transfer against in-process go-sdk
// clients on each protocol version, for every answer a client can give.
func TestElicitSendTransfer(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T, proto string)
	}{
		{"accept and the human approves on the page", elAcceptApproved},
		{"accept alone never approves", elAcceptOnly},
		{"accept then the human rejects on the page", elAcceptRejected},
		{"accept then the approval expires", elAcceptExpires},
		{"decline leaves it pending", elDecline},
		{"cancel leaves it pending", elCancel},
		{"form content with a valid code approves nothing", elFormContent},
		{"no elicitation handler", func(t *testing.T, proto string) {
			elNoURL(t, proto, nil, false)
		}},
		{"form only, declared", func(t *testing.T, proto string) {
			elNoURL(t, proto, &mcp.ClientCapabilities{Elicitation: &mcp.ElicitationCapabilities{Form: &mcp.FormElicitationCapabilities{}}}, true)
		}},
		{"form only, inferred from the handler", func(t *testing.T, proto string) {
			elNoURL(t, proto, nil, true)
		}},
		{"declares url but cannot answer", elURLNoHandler},
	}
	for _, proto := range elProtocols {
		t.Run(proto, func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) { c.run(t, proto) })
			}
		})
	}
}

// elAcceptApproved: the client opens the page and says accept; the human
// approves there while send_transfer waits with progress; the call returns
// the mined transfer.
func elAcceptApproved(t *testing.T, proto string) {
	prog := newElProgress()
	human := make(chan error, 1)
	var e *env
	ask := &elAsk{answer: func(p *mcp.ElicitParams) (*mcp.ElicitResult, error) {
		id := p.ElicitationID
		go func() {
			// The human decides once send_transfer is waiting for them.
			if err := prog.next(); err != nil {
				human <- err
				return
			}
			human <- elHumanApproves(e, id)
		}()
		return &mcp.ElicitResult{Action: "accept"}, nil
	}}
	e = elEnv(t, proto, &mcp.ClientOptions{Capabilities: elURLCaps(), ElicitationHandler: ask.handle, ProgressNotificationHandler: prog.handle})
	before := e.elChain()
	res, err := e.elSend(context.Background(), elArgs(e, elTo, elAmount), "tok-accept")
	if err != nil {
		t.Fatalf("send_transfer: %v", err)
	}
	out := e.elDecode(res)
	id := elCheckAsked(t, ask.asked(), elTo)
	e.elScanAny(ask.asked())
	select {
	case err := <-human:
		if err != nil {
			t.Fatalf("the human's approval failed: %v", err)
		}
	case <-time.After(elGuard):
		t.Fatal("the human never approved")
	}
	if out.Status != "submitted" || len(out.TxHash) != 66 || out.ApprovalID != id || out.Summary.ToTail != elTo.Hex()[36:] {
		t.Fatalf("got %+v, want submitted with a tx hash for approval %s", out, id)
	}
	elCheckProgress(t, prog, "tok-accept", id)
	e.elSentOnce(before, elTo, out.TxHash)
	if v := e.elStatus(id); v.Status != "executed" || v.TxHash != out.TxHash {
		t.Fatalf("get_approval: %s %s, want executed %s", v.Status, v.TxHash, out.TxHash)
	}
}

// elAcceptOnly: the client says accept (the human only opened the page);
// send_transfer keeps waiting, and nothing moves when the call is abandoned.
func elAcceptOnly(t *testing.T, proto string) {
	prog := newElProgress()
	ask := &elAsk{answer: elAnswer("accept")}
	e := elEnv(t, proto, &mcp.ClientOptions{Capabilities: elURLCaps(), ElicitationHandler: ask.handle, ProgressNotificationHandler: prog.handle})
	before := e.elChain()
	stop := e.elWaitingCall(prog, "tok-open")
	id := elCheckAsked(t, ask.asked(), elTo)
	e.elWantStatus(id, "pending") // while the call still waits
	r := stop()
	if r.err == nil && (!r.res.IsError || !strings.Contains(text(r.res), id)) {
		t.Fatalf("cancelled call returned %s", text(r.res))
	}
	elCheckProgress(t, prog, "tok-open", id)
	e.elWantStatus(id, "pending")
	e.elNothingSent(before)
}

// elAcceptRejected: the human rejects on the page while send_transfer waits.
func elAcceptRejected(t *testing.T, proto string) {
	prog := newElProgress()
	human := make(chan error, 1)
	var e *env
	ask := &elAsk{answer: func(p *mcp.ElicitParams) (*mcp.ElicitResult, error) {
		id := p.ElicitationID
		go func() {
			if err := prog.next(); err != nil {
				human <- err
				return
			}
			human <- e.approvals.Reject(context.Background(), id, "web")
		}()
		return &mcp.ElicitResult{Action: "accept"}, nil
	}}
	e = elEnv(t, proto, &mcp.ClientOptions{Capabilities: elURLCaps(), ElicitationHandler: ask.handle, ProgressNotificationHandler: prog.handle})
	before := e.elChain()
	res, err := e.elSend(context.Background(), elArgs(e, elTo, elAmount), "tok-reject")
	if err != nil {
		t.Fatalf("send_transfer: %v", err)
	}
	msg := e.elToolError(res, "policy_denied")
	id := elCheckAsked(t, ask.asked(), elTo)
	if err := <-human; err != nil {
		t.Fatalf("the human's rejection failed: %v", err)
	}
	if !strings.Contains(msg, id) || !strings.Contains(msg, "rejected") {
		t.Fatalf("message %q does not say that approval %s was rejected", msg, id)
	}
	elCheckProgress(t, prog, "tok-reject", id)
	e.elWantStatus(id, "rejected")
	e.elNothingSent(before)
}

// elAcceptExpires: nobody decides and the approval's time runs out while
// send_transfer waits.
func elAcceptExpires(t *testing.T, proto string) {
	prog := newElProgress()
	expired := make(chan error, 1)
	var e *env
	ask := &elAsk{answer: func(p *mcp.ElicitParams) (*mcp.ElicitResult, error) {
		go func() {
			if err := prog.next(); err != nil {
				expired <- err
				return
			}
			// As the executor does when the approval's time is up.
			_, err := e.store.ExpireApprovals(context.Background(), time.Now().Add(time.Hour))
			expired <- err
		}()
		return &mcp.ElicitResult{Action: "accept"}, nil
	}}
	e = elEnv(t, proto, &mcp.ClientOptions{Capabilities: elURLCaps(), ElicitationHandler: ask.handle, ProgressNotificationHandler: prog.handle})
	before := e.elChain()
	res, err := e.elSend(context.Background(), elArgs(e, elTo, elAmount), "tok-expire")
	if err != nil {
		t.Fatalf("send_transfer: %v", err)
	}
	msg := e.elToolError(res, "expired")
	id := elCheckAsked(t, ask.asked(), elTo)
	if err := <-expired; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg, id) {
		t.Fatalf("message %q does not name approval %s", msg, id)
	}
	e.elWantStatus(id, "expired")
	e.elNothingSent(before)
}

// elDecline: a "decline" in the client leaves the approval pending, like
// "cancel": rejecting is never exposed over MCP (CONTRACT), and the answer
// comes from the client, which the agent may drive.
func elDecline(t *testing.T, proto string) {
	ask := &elAsk{answer: elAnswer("decline")}
	e := elEnv(t, proto, &mcp.ClientOptions{Capabilities: elURLCaps(), ElicitationHandler: ask.handle})
	before := e.elChain()
	res, err := e.elSend(context.Background(), elArgs(e, elTo, elAmount), nil)
	if err != nil {
		t.Fatalf("send_transfer: %v", err)
	}
	out := e.elDecode(res)
	id := elCheckAsked(t, ask.asked(), elTo)
	if out.Status != "approval_required" || out.ApprovalID != id {
		t.Fatalf("got %+v, want approval_required for %s", out, id)
	}
	e.elWantStatus(id, "pending")
	e.elNothingSent(before)
}

// elCancel: the human dismisses the prompt; the approval stays pending and
// the agent gets what it needs to poll.
func elCancel(t *testing.T, proto string) {
	ask := &elAsk{answer: elAnswer("cancel")}
	e := elEnv(t, proto, &mcp.ClientOptions{Capabilities: elURLCaps(), ElicitationHandler: ask.handle})
	before := e.elChain()
	res, err := e.elSend(context.Background(), elArgs(e, elTo, elAmount), nil)
	if err != nil {
		t.Fatalf("send_transfer: %v", err)
	}
	out := e.elDecode(res)
	id := elCheckAsked(t, ask.asked(), elTo)
	if out.Status != "approval_required" || out.ApprovalID != id || out.ApprovalURL != ask.asked()[0].URL || out.ExpiresAt == "" || out.TxHash != "" {
		t.Fatalf("got %+v, want approval_required for %s with the page the client was asked to open", out, id)
	}
	e.elWantStatus(id, "pending")
	e.elNothingSent(before)
}

// elFormContent: the client answers the URL elicitation with "accept" and
// form content claiming approval, even with a valid TOTP code: nothing is
// approved by it and send_transfer keeps waiting for the page.
func elFormContent(t *testing.T, proto string) {
	prog := newElProgress()
	var e *env
	ask := &elAsk{answer: func(p *mcp.ElicitParams) (*mcp.ElicitResult, error) {
		c, err := elCode(e)
		if err != nil {
			return nil, err
		}
		return &mcp.ElicitResult{Action: "accept", Content: map[string]any{
			"approved": true, "approve": true, "code": c, "totp": c, "approval_id": p.ElicitationID, "action": "approve",
		}}, nil
	}}
	e = elEnv(t, proto, &mcp.ClientOptions{Capabilities: elURLCaps(), ElicitationHandler: ask.handle, ProgressNotificationHandler: prog.handle})
	before := e.elChain()
	stop := e.elWaitingCall(prog, "tok-form")
	id := elCheckAsked(t, ask.asked(), elTo)
	e.elWantStatus(id, "pending")
	r := stop()
	if r.err == nil && !r.res.IsError {
		t.Fatalf("cancelled call returned %s", text(r.res))
	}
	e.elWantStatus(id, "pending")
	e.elNothingSent(before)
}

// elNoURL: a client that cannot do URL elicitation gets approval_required
// at once and is never asked anything.
func elNoURL(t *testing.T, proto string, caps *mcp.ClientCapabilities, handler bool) {
	prog := newElProgress()
	ask := &elAsk{answer: func(p *mcp.ElicitParams) (*mcp.ElicitResult, error) {
		return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"approved": true}}, nil
	}}
	copts := &mcp.ClientOptions{Capabilities: caps, ProgressNotificationHandler: prog.handle}
	if handler {
		copts.ElicitationHandler = ask.handle
	}
	e := elEnv(t, proto, copts)
	before := e.elChain()
	res, err := e.elSend(context.Background(), elArgs(e, elTo, elAmount), "tok-none")
	if err != nil {
		t.Fatalf("send_transfer: %v", err)
	}
	out := e.elDecode(res)
	if out.Status != "approval_required" || out.ApprovalID == "" || !strings.Contains(out.ApprovalURL, out.ApprovalID) || out.ExpiresAt == "" || out.TxHash != "" {
		t.Fatalf("got %+v, want approval_required with approval_url", out)
	}
	if got := ask.asked(); len(got) != 0 {
		t.Fatalf("a client without URL elicitation was asked %+v", got)
	}
	if n := len(prog.list()); n != 0 {
		t.Fatalf("%d progress notifications: send_transfer waited", n)
	}
	e.elWantStatus(out.ApprovalID, "pending")
	e.elNothingSent(before)
}

// elURLNoHandler: a client that declares URL elicitation but has no handler
// cannot answer: the call fails closed, the approval stays pending and
// nothing moves.
func elURLNoHandler(t *testing.T, proto string) {
	e := elEnv(t, proto, &mcp.ClientOptions{Capabilities: elURLCaps()})
	before := e.elChain()
	res, err := e.elSend(context.Background(), elArgs(e, elTo, elAmount), nil)
	switch {
	case err != nil:
		t.Logf("send_transfer: protocol error %v", err)
	case res.IsError:
		t.Fatalf("send_transfer: tool error %s", text(res))
	default:
		out := e.elDecode(res)
		if out.Status != "approval_required" {
			t.Fatalf("got %+v", out)
		}
	}
	list, lerr := e.approvals.List(context.Background())
	if lerr != nil {
		t.Fatal(lerr)
	}
	if len(list) != 1 {
		t.Fatalf("%d pending approvals, want 1", len(list))
	}
	e.elWantStatus(list[0].ID, "pending")
	e.elNothingSent(before)
}

// TestElicitRequestState drives the 2026-07-28 round trip by hand (the
// client's automatic multi round trip disabled) and tampers with the state
// the client must echo: every tampered retry is invalid_argument naming
// requestState, is audited, and changes nothing.
func TestElicitRequestState(t *testing.T) {
	const proto = "2026-07-28"
	prog := newElProgress()
	copts := &mcp.ClientOptions{
		Capabilities:                elURLCaps(),
		ElicitationHandler:          (&elAsk{answer: elAnswer("accept")}).handle,
		ProgressNotificationHandler: prog.handle,
		MultiRoundTrip:              &mcp.MultiRoundTripOptions{Disabled: true},
	}
	e := elEnv(t, proto, copts)

	// first asks for input and returns the request and its state.
	first := func(e *env, to common.Address) (*mcp.ElicitParams, string) {
		e.t.Helper()
		res, err := e.elSend(context.Background(), elArgs(e, to, elAmount), nil)
		if err != nil {
			e.t.Fatalf("send_transfer: %v", err)
		}
		e.scan(res)
		if res.IsError || !res.NeedsInput() || res.RequestState == "" || res.StructuredContent != nil || len(res.Content) != 0 {
			e.t.Fatalf("want an input-required result, got %+v (%s)", res, text(res))
		}
		if len(res.InputRequests) != 1 {
			e.t.Fatalf("input requests %+v, want one", res.InputRequests)
		}
		p, ok := res.InputRequests["approval"].(*mcp.ElicitParams)
		if !ok {
			e.t.Fatalf("input request %T, want *mcp.ElicitParams under \"approval\"", res.InputRequests["approval"])
		}
		elCheckAsked(e.t, []mcp.ElicitParams{*p}, to)
		e.elScanAny(res.RequestState)
		return p, res.RequestState
	}
	p1, state1 := first(e, elTo)
	p2, state2 := first(e, elTo2)
	id1, id2 := p1.ElicitationID, p2.ElicitationID
	if id1 == id2 {
		t.Fatal("two transfers share an approval")
	}

	// A state signed by another server run (its own key), for the same arguments.
	other := elEnv(t, proto, copts)
	if other.accounts[0] != e.accounts[0] {
		t.Fatal("the other env has another account: the test would not isolate the key")
	}
	_, otherState := first(other, elTo)
	other.close()

	before := e.elChain()
	accept := mcp.InputResponseMap{"approval": &mcp.ElicitResult{Action: "accept"}}
	args1 := elArgs(e, elTo, elAmount)
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	body, mac, ok := strings.Cut(state1, ".")
	if !ok {
		t.Fatalf("request state %q has no MAC part", state1)
	}
	withKey := elArgs(e, elTo, elAmount)
	withKey["idempotency_key"] = "el-key"
	tampered := []struct {
		name  string
		args  map[string]any
		state string
		want  string // in the message, besides "requestState"
	}{
		{"flipped byte in the body", args1, flip(state1, len(body)/2), "invalid"},
		{"flipped first byte", args1, flip(state1, 0), "invalid"},
		{"flipped byte in the MAC", args1, flip(state1, len(body)+1+len(mac)/2), "invalid"},
		{"MAC cut off", args1, body, "invalid"},
		{"empty MAC", args1, body + ".", "invalid"},
		{"MAC of another state", args1, body + "." + state2[strings.IndexByte(state2, '.')+1:], "invalid"},
		{"not base64", args1, "%%%.%%%", "invalid"},
		{"oversized", args1, state1 + strings.Repeat("A", 4096), "invalid"},
		{"from another server run", args1, otherState, "invalid"},
		{"another call's state", args1, state2, "other arguments"},
		{"other amount", elArgs(e, elTo, "0.02"), state1, "other arguments"},
		{"other recipient", elArgs(e, elTo2, elAmount), state1, "other arguments"},
		{"added idempotency_key", withKey, state1, "other arguments"},
	}
	for _, c := range tampered {
		t.Run(c.name, func(t *testing.T) {
			e := e.with(t)
			msg := e.elToolError(e.elRetry(c.args, c.state, accept), "invalid_argument")
			if !strings.Contains(msg, "requestState") || !strings.Contains(msg, c.want) {
				t.Fatalf("message %q does not name requestState (%s)", msg, c.want)
			}
			if strings.Contains(msg, c.state) {
				t.Fatalf("message %q echoes the state", msg)
			}
			e.elWantStatus(id1, "pending")
			e.elWantStatus(id2, "pending")
			e.elNothingSent(before)
		})
	}

	t.Run("no answer leaves it pending", func(t *testing.T) {
		e := e.with(t)
		out := e.elDecode(e.elRetry(args1, state1, nil))
		if out.Status != "approval_required" || out.ApprovalID != id1 {
			t.Fatalf("got %+v", out)
		}
		e.elWantStatus(id1, "pending")
		e.elNothingSent(before)
	})
	t.Run("an answer under another key is no answer", func(t *testing.T) {
		e := e.with(t)
		out := e.elDecode(e.elRetry(args1, state1, mcp.InputResponseMap{"other": &mcp.ElicitResult{Action: "decline"}}))
		if out.Status != "approval_required" || out.ApprovalID != id1 {
			t.Fatalf("got %+v", out)
		}
		e.elWantStatus(id1, "pending")
		e.elNothingSent(before)
	})
	t.Run("decline leaves it pending, accept after a rejection sees it", func(t *testing.T) {
		e := e.with(t)
		out := e.elDecode(e.elRetry(args1, state1, mcp.InputResponseMap{"approval": &mcp.ElicitResult{Action: "decline"}}))
		if out.Status != "approval_required" || out.ApprovalID != id1 {
			t.Fatalf("decline: got %+v", out)
		}
		e.elWantStatus(id1, "pending")
		// The human rejects in the terminal.
		if err := e.approvals.Reject(context.Background(), id1, store.ChannelCLI); err != nil {
			t.Fatal(err)
		}
		e.elWantStatus(id1, "rejected")
		msg := e.elToolError(e.elRetry(args1, state1, accept), "policy_denied")
		if !strings.Contains(msg, "rejected") || !strings.Contains(msg, id1) {
			t.Fatalf("message %q does not say that %s was rejected", msg, id1)
		}
		// A valid code in form content on the retry changes nothing either.
		c, err := elCode(e)
		if err != nil {
			t.Fatal(err)
		}
		e.elToolError(e.elRetry(args1, state1, mcp.InputResponseMap{"approval": &mcp.ElicitResult{Action: "accept", Content: map[string]any{"approved": true, "code": c}}}), "policy_denied")
		e.elWantStatus(id1, "rejected")
		e.elWantStatus(id2, "pending")
		e.elNothingSent(before)
	})
	t.Run("accept waits for the page and a replayed state never sends twice", func(t *testing.T) {
		e := e.with(t)
		args2 := elArgs(e, elTo2, elAmount)
		out := e.elDecode(e.elRetry(args2, state2, mcp.InputResponseMap{"approval": &mcp.ElicitResult{Action: "cancel"}}))
		if out.Status != "approval_required" || out.ApprovalID != id2 {
			t.Fatalf("cancel: got %+v", out)
		}
		human := make(chan error, 1)
		go func() {
			if err := prog.next(); err != nil {
				human <- err
				return
			}
			human <- elHumanApproves(e, id2)
		}()
		ctx, cancel := context.WithTimeout(context.Background(), elGuard)
		defer cancel()
		params := &mcp.CallToolParams{Name: "send_transfer", Arguments: args2, RequestState: state2, InputResponses: accept}
		params.SetProgressToken("tok-retry")
		res, err := e.cs.CallTool(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		if err := <-human; err != nil {
			t.Fatal(err)
		}
		out = e.elDecode(res)
		if out.Status != "submitted" || out.ApprovalID != id2 || len(out.TxHash) != 66 {
			t.Fatalf("got %+v", out)
		}
		elCheckProgress(t, prog, "tok-retry", id2)
		e.elSentOnce(before, elTo2, out.TxHash)
		for _, action := range []string{"accept", "decline", "cancel"} {
			again := e.elDecode(e.elRetry(args2, state2, mcp.InputResponseMap{"approval": &mcp.ElicitResult{Action: action}}))
			if again.Status != "submitted" || again.TxHash != out.TxHash {
				t.Fatalf("replay with %s: got %+v, want the first outcome %s", action, again, out.TxHash)
			}
		}
		e.elSentOnce(before, elTo2, out.TxHash)
		e.elWantStatus(id2, "executed")
		e.elWantStatus(id1, "rejected")
	})

	// Every tampered retry is in the audit log as a refused send_transfer.
	if err := e.audit.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(e.dir, "audit.log")
	if _, err := audit.Verify(path); err != nil {
		t.Fatal(err)
	}
	e.scanFile(path)
	refused, rejected := elAuditCount(t, path)
	if refused != len(tampered) {
		t.Fatalf("audit log has %d send_transfer calls refused with invalid_argument, want %d", refused, len(tampered))
	}
	if rejected[id1] != store.ChannelCLI {
		t.Fatalf("audit log: rejection of %s through %q, want %q", id1, rejected[id1], store.ChannelCLI)
	}
}

// elAuditCount reads the audit log: the send_transfer calls refused with
// invalid_argument, and the channel of each approval_rejected verdict.
func elAuditCount(t *testing.T, path string) (refused int, rejected map[string]string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rejected = map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec struct {
			Type string `json:"type"`
			Data struct {
				Tool       string `json:"tool"`
				Code       string `json:"code"`
				Event      string `json:"event"`
				ApprovalID string `json:"approval_id"`
				Channel    string `json:"channel"`
			} `json:"data"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		switch {
		case rec.Type == audit.TypeToolCall && rec.Data.Tool == "send_transfer" && rec.Data.Code == "invalid_argument":
			refused++
		case rec.Type == audit.TypeVerdict && rec.Data.Event == "approval_rejected":
			rejected[rec.Data.ApprovalID] = rec.Data.Channel
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return refused, rejected
}

// TestElicitWaitEndsWhenClientLeaves: a send_transfer waiting for the human
// must not hold the session open after the client's input ends abruptly (a
// killed client): the server drains calls in flight on EOF, and a wait for a
// human would otherwise hold it for the drain bound (60 s). The approval
// stays pending and nothing is sent.
func TestElicitWaitEndsWhenClientLeaves(t *testing.T) {
	prog := newElProgress()
	ask := &elAsk{answer: elAnswer("accept")}
	e := newEnv(t, envOpts{policy: policy.PolicyTemplate(1337), protocol: "2026-07-28", pipes: true,
		client: &mcp.ClientOptions{Capabilities: elURLCaps(), ElicitationHandler: ask.handle, ProgressNotificationHandler: prog.handle}})
	go func() { _, _ = e.elSend(context.Background(), elArgs(e, elTo, elAmount), "tok-leave") }()
	for range 2 {
		if err := prog.next(); err != nil {
			t.Fatal(err)
		}
	}
	id := elCheckAsked(t, ask.asked(), elTo)
	e.cutClient() // the server reads EOF while send_transfer waits
	select {
	case <-e.serverStopped:
	case <-time.After(elGuard):
		t.Fatal("the server still runs: a waiting send_transfer holds the session after the client's input ended")
	}
	v, err := e.guard.Approval(context.Background(), id)
	if err != nil || v.Status != "pending" {
		t.Fatalf("approval %s: %+v, %v; want pending", id, v, err)
	}
	if got := e.balance(elTo); got.Sign() != 0 {
		t.Fatalf("the recipient got %s", got)
	}
}

// TestElicitRequestStateExpires: a 2026-07-28 request state carries the
// approval's expiry; a retry after it is an expired tool error that points
// at get_approval, and it does not wait for a human.
func TestElicitRequestStateExpires(t *testing.T) {
	const proto = "2026-07-28"
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	copts := &mcp.ClientOptions{
		Capabilities:       elURLCaps(),
		ElicitationHandler: (&elAsk{answer: elAnswer("accept")}).handle,
		MultiRoundTrip:     &mcp.MultiRoundTripOptions{Disabled: true},
	}
	e := newEnv(t, envOpts{policy: policy.PolicyTemplate(1337), client: copts, protocol: proto, now: now})
	args := elArgs(e, elTo, elAmount)
	res, err := e.elSend(context.Background(), args, nil)
	if err != nil || !res.NeedsInput() || res.RequestState == "" {
		t.Fatalf("first call: %+v %v", res, err)
	}
	p := res.InputRequests["approval"].(*mcp.ElicitParams)
	state := res.RequestState
	before := e.elChain()

	// Just before the expiry the state is still good.
	offset.Store(int64(pending.DefaultTTL - 2*time.Second))
	if out := e.elDecode(e.elRetry(args, state, nil)); out.Status != "approval_required" || out.ApprovalID != p.ElicitationID {
		t.Fatalf("before expiry: %+v", out)
	}
	offset.Store(int64(pending.DefaultTTL))
	for _, action := range []string{"accept", "decline", "cancel"} {
		msg := e.elToolError(e.elRetry(args, state, mcp.InputResponseMap{"approval": &mcp.ElicitResult{Action: action}}), "expired")
		if !strings.Contains(msg, "requestState") || !strings.Contains(msg, "get_approval") || !strings.Contains(msg, p.ElicitationID) {
			t.Fatalf("%s after expiry: message %q", action, msg)
		}
	}
	// Nothing was decided through the expired state.
	e.elWantStatus(p.ElicitationID, "pending")
	e.elNothingSent(before)
}

// TestEOFDuringElicitationEndsSession: at the older protocol versions the
// go-sdk asks the client (an elicitation) while send_transfer waits for the
// human. A client that goes away then can never answer, yet the end of its
// input waited the drain's minute for that call: serve (and a dev chain's
// lock) outlived the client by a minute.
func TestEOFDuringElicitationEndsSession(t *testing.T) {
	asked := make(chan struct{}, 1)
	block := make(chan struct{})
	defer close(block)
	handler := func(ctx context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
		asked <- struct{}{}
		<-block // the human never answers in the client's window
		return &mcp.ElicitResult{Action: "cancel"}, nil
	}
	e := newEnv(t, envOpts{policy: policy.PolicyTemplate(1337), protocol: "2025-06-18", pipes: true,
		client: &mcp.ClientOptions{Capabilities: elURLCaps(), ElicitationHandler: handler}})
	go func() {
		_, _ = e.cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "send_transfer", Arguments: elArgs(e, elTo, elAmount)})
	}()
	<-asked
	e.cutClient()
	select {
	case <-e.serverStopped:
	case <-time.After(10 * time.Second):
		t.Fatal("the server still runs 10 s after its client's input ended")
	}
}
