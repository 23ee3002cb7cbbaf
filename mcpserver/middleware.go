package mcpserver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"golang.org/x/time/rate"

	"github.com/walletmcp/walletmcp/internal/audit"
	"github.com/walletmcp/walletmcp/policy"
)

// readOnlyTools are audited without waiting for the disk.
var readOnlyTools = map[string]bool{
	ToolListAccounts: true, ToolGetBalance: true, ToolGetPolicy: true, ToolGetTransaction: true, ToolGetApproval: true,
}

// maxAuditArgs bounds the arguments copied into an audit record.
const maxAuditArgs = 4 << 10

// middleware recovers panics, rate-limits and audits every tool call.
func (s *Server) middleware(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (res mcp.Result, err error) {
		call, isCall := req.(*mcp.CallToolRequest)
		defer func() {
			if p := recover(); p != nil {
				s.opts.Logger.Error("panic in handler", "method", method, "panic_type", fmt.Sprintf("%T", p))
				_ = s.opts.Audit.Append(context.WithoutCancel(ctx), audit.TypeSecurity, map[string]any{"event": "panic", "method": method, "panic_type": fmt.Sprintf("%T", p)})
				if isCall {
					res, err = &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "internal: unexpected error (recorded in the audit log)"}}}, nil
				} else {
					res, err = nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "internal error"}
				}
			}
		}()
		if !isCall {
			return next(ctx, method, req)
		}
		name := call.Params.Name
		start := time.Now()
		ctx, note := withCallNote(ctx)
		if !s.limiter.Allow() {
			r := toolError(ctx, policy.Errorf(policy.CodeRateLimited, "at most %d tool calls per minute (policy rate.tool_calls_per_minute); retry later", s.opts.ToolCallsPerMinute))
			s.auditOverLimit(name, call.Params.Arguments, policy.CodeRateLimited)
			return r, nil
		}
		res, err = next(ctx, method, req)
		r, _ := res.(*mcp.CallToolResult)
		if err == nil {
			s.auditCall(ctx, name, call.Params.Arguments, note.codeOf(r), start)
		}
		return res, err
	}
}

// RecordRefused records a tool call refused before it reached this server
// (by an outer layer: mcphttp's scope check, with code
// "insufficient_scope"), as this server records every call it refuses: the
// call counts against the tool-call rate limit, and is audited with its
// arguments and code.
func (s *Server) RecordRefused(ctx context.Context, req *mcp.CallToolRequest, code string) {
	if req == nil {
		return
	}
	allowed := s.limiter.Allow()
	var name string
	var args json.RawMessage
	if req.Params != nil {
		name, args = req.Params.Name, req.Params.Arguments
	}
	if !allowed {
		s.auditOverLimit(name, args, policy.Code(code))
		return
	}
	s.auditCall(ctx, name, args, policy.Code(code), time.Now())
}

// overLimitEvery is how often at most a call refused over the tool-call
// rate limit is audited on its own; the others in between are counted.
const overLimitEvery = time.Second

// overLimit counts the calls refused over the rate limit since the last
// record of them.
type overLimit struct {
	mu      sync.Mutex
	last    time.Time      // of the last record
	pending map[string]int // refusals not yet recorded, by code
	name    string         // the tool of the latest of them
	timer   *time.Timer    // records them once overLimitEvery has passed
}

// auditOverLimit records a call refused while over the tool-call rate
// limit: a refusal after a quiet second at once, without the call's
// arguments (their size only), and the refusals that follow within the
// second together, in one record a second for each code that counts them
// ("refusals"; "tool" is the latest one's). A client that ignores the limit
// cannot grow the audit log faster than that: a record of each call, with
// its arguments, let one client add 5 MB a second to a log the user cannot
// trim. The calls the limit lets through stay bounded by it. flushOverLimit
// records what is still counted when the session ends.
func (s *Server) auditOverLimit(name string, args json.RawMessage, code policy.Code) {
	now := time.Now()
	o := &s.over
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.last.IsZero() || now.Sub(o.last) >= overLimitEvery {
		o.last = now
		rec := map[string]any{"tool": name, "outcome": "error", "code": string(code), "ms": 0, "refusals": 1}
		if len(args) > 0 {
			rec["args_bytes"] = len(args)
		}
		s.queueRecord(audit.TypeToolCall, rec)
		return
	}
	if o.pending == nil {
		o.pending = map[string]int{}
	}
	o.pending[string(code)]++
	o.name = name
	if o.timer == nil {
		o.timer = time.AfterFunc(o.last.Add(overLimitEvery).Sub(now), func() {
			o.mu.Lock()
			defer o.mu.Unlock()
			o.timer = nil
			s.recordOverLimitLocked()
		})
	}
}

// recordOverLimitLocked records the counted refusals, one record per code;
// s.over.mu is held.
func (s *Server) recordOverLimitLocked() {
	o := &s.over
	if len(o.pending) == 0 {
		return
	}
	o.last = time.Now()
	codes := make([]string, 0, len(o.pending))
	for c := range o.pending {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	for _, c := range codes {
		s.queueRecord(audit.TypeToolCall, map[string]any{"tool": o.name, "outcome": "error", "code": c, "ms": 0, "refusals": o.pending[c]})
	}
	clear(o.pending)
}

// flushOverLimit records the refusals still counted (the session ended
// before their record was due); see FlushRefusals.
func (s *Server) flushOverLimit() {
	o := &s.over
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.timer != nil {
		o.timer.Stop()
		o.timer = nil
	}
	s.recordOverLimitLocked()
}

// queueRecord queues a record in the audit log (appends it where the log
// cannot queue).
func (s *Server) queueRecord(typ string, rec map[string]any) {
	if a, ok := s.opts.Audit.(AsyncAuditor); ok {
		if err := a.Enqueue(typ, rec); err != nil {
			s.opts.Logger.Error("audit enqueue failed", "error", err)
		}
		return
	}
	if err := s.opts.Audit.Append(context.Background(), typ, rec); err != nil {
		s.opts.Logger.Error("audit append failed", "error", err)
	}
}

// auditCall records a tool call with its arguments and outcome.
func (s *Server) auditCall(ctx context.Context, name string, args json.RawMessage, code policy.Code, start time.Time) {
	rec := map[string]any{"tool": name, "ms": time.Since(start).Milliseconds()}
	switch {
	case len(args) == 0:
	case len(args) > maxAuditArgs || !json.Valid(args):
		rec["args_bytes"] = len(args)
	default:
		rec["args"] = json.RawMessage(args)
	}
	if code != "" {
		rec["outcome"] = "error"
		rec["code"] = string(code)
	} else {
		rec["outcome"] = "ok"
	}
	// Read-only calls and refused calls are queued: they move nothing, and the
	// next durable record (a signature's) writes them too. A call that moved
	// funds is recorded durably before its response is sent.
	if a, ok := s.opts.Audit.(AsyncAuditor); ok && (readOnlyTools[name] || rec["outcome"] == "error") {
		if err := a.Enqueue(audit.TypeToolCall, rec); err != nil {
			s.opts.Logger.Error("audit enqueue failed", "error", err)
		}
		return
	}
	if err := s.opts.Audit.Append(context.WithoutCancel(ctx), audit.TypeToolCall, rec); err != nil {
		s.opts.Logger.Error("audit append failed", "error", err)
	}
}

// limiter is a token bucket (x/time/rate): rate calls per period, burst of
// rate, read at the injected clock.
type limiter struct {
	now func() time.Time
	l   *rate.Limiter
}

func newLimiter(n int, per time.Duration, now func() time.Time) *limiter {
	return &limiter{now: now, l: rate.NewLimiter(rate.Limit(float64(n)/per.Seconds()), n)}
}

func (l *limiter) Allow() bool { return l.l.AllowN(l.now(), 1) }

// drainGroup counts the tool calls read from the client and not yet
// answered, and the responses being written.
type drainGroup struct {
	mu      sync.Mutex
	calls   map[any]struct{}   // ids of tools/call requests not yet answered
	asked   map[any]jsonrpc.ID // the server's own requests the client has not answered
	idle    chan struct{}      // closed when a call is answered while someone waits
	eof     chan struct{}      // closed when the client's input ended
	writing int                // messages being written (or waiting to be)
	read    int                // messages read since a write last ended
	room    chan struct{}      // closed when a write ends while reading waits
	failed  chan struct{}      // closed once a write failed: nothing more is answered
}

// maxReadWhileWriting is how many messages are read from the client while
// a write to it has not ended; then reading waits for the write. A client
// that sends messages and never reads the answers blocks the first answer's
// write, and with it the go-sdk's handling of every later message, which
// it queues without bound: 1 MB requests took the server past 2 GB.
const maxReadWhileWriting = 32

func newDrainGroup() *drainGroup {
	return &drainGroup{calls: map[any]struct{}{}, asked: map[any]jsonrpc.ID{}, eof: make(chan struct{}), failed: make(chan struct{})}
}

// closing returns a channel closed once the client's input has ended.
func (d *drainGroup) closing() <-chan struct{} { return d.eof }

// markEOF records that the client's input ended.
func (d *drainGroup) markEOF() {
	d.mu.Lock()
	defer d.mu.Unlock()
	select {
	case <-d.eof:
	default:
		close(d.eof)
	}
}

func (d *drainGroup) add(id any) {
	d.mu.Lock()
	d.calls[id] = struct{}{}
	d.mu.Unlock()
}

func (d *drainGroup) done(id any) {
	d.mu.Lock()
	delete(d.calls, id)
	if d.idle != nil {
		close(d.idle)
		d.idle = nil
	}
	d.mu.Unlock()
}

// ask and answered track the server's own requests to the client (an
// elicitation the go-sdk sends for a tool call, at older protocol
// versions): once the input ended, none of them will be answered, and
// drainConn.Read answers each with an error, so that the tool calls
// waiting on them end instead of holding the end of the session.
func (d *drainGroup) ask(id jsonrpc.ID) {
	d.mu.Lock()
	d.asked[id.Raw()] = id
	d.mu.Unlock()
}

func (d *drainGroup) answered(id any) {
	d.mu.Lock()
	delete(d.asked, id)
	d.mu.Unlock()
}

// unanswered takes one of the server's requests still unanswered.
func (d *drainGroup) unanswered() (jsonrpc.ID, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for k, id := range d.asked {
		delete(d.asked, k)
		return id, true
	}
	return jsonrpc.ID{}, false
}

// beginWrite and endWrite bracket a write to the client; a failed one ends
// every wait (the go-sdk writes nothing after a failed write).
func (d *drainGroup) beginWrite() {
	d.mu.Lock()
	d.writing++
	d.mu.Unlock()
}

func (d *drainGroup) endWrite(failed bool) {
	d.mu.Lock()
	d.writing--
	d.read = 0
	if d.room != nil {
		close(d.room)
		d.room = nil
	}
	if failed {
		select {
		case <-d.failed:
		default:
			close(d.failed)
		}
	}
	d.mu.Unlock()
}

// admit returns at once unless a write is under way and
// maxReadWhileWriting messages were read since a write last ended; then once
// a write ends, a write failed, or ctx is done. It counts the message about
// to be read.
func (d *drainGroup) admit(ctx context.Context) {
	for {
		d.mu.Lock()
		if d.writing == 0 || d.read < maxReadWhileWriting {
			d.read++
			d.mu.Unlock()
			return
		}
		if d.room == nil {
			d.room = make(chan struct{})
		}
		room, failed := d.room, d.failed
		d.mu.Unlock()
		select {
		case <-room:
		case <-failed:
			return
		case <-ctx.Done():
			return
		}
	}
}

// drainTimeout bounds how long a closed input waits for calls in flight.
const drainTimeout = 60 * time.Second

// wait blocks until every tool call read so far has been answered, a write
// to the client failed (nothing more can be answered), or the timeout.
func (d *drainGroup) wait() {
	t := time.NewTimer(drainTimeout)
	defer t.Stop()
	for {
		d.mu.Lock()
		if len(d.calls) == 0 {
			d.mu.Unlock()
			return
		}
		if d.idle == nil {
			d.idle = make(chan struct{})
		}
		ch, failed := d.idle, d.failed
		d.mu.Unlock()
		select {
		case <-ch:
		case <-failed:
			return
		case <-t.C:
			return
		}
	}
}

// drainTransport delays the end of input until every tool call already read
// has been answered: the go-sdk closes the session on EOF and would
// otherwise drop a response still being computed (go-sdk issue #1061). It
// also stops reading while answers pile up unwritten (admit).
type drainTransport struct {
	inner mcp.Transport
	drain *drainGroup
}

func (t *drainTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	c, err := t.inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &drainConn{Connection: c, drain: t.drain}, nil
}

type drainConn struct {
	mcp.Connection
	drain *drainGroup
	ended bool // the client's input ended (Read only)
}

// errInputEnded answers the server's own requests to a client whose input
// ended.
var errInputEnded = &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "the client's input ended before it answered"}

// Read waits while the client is not reading what it was sent, and counts
// the tool calls it reads. Only tool calls are waited for at the end of
// input: other requests (a subscription kept open, say) end with the
// session.
func (c *drainConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	if c.ended {
		// Each request the server sent and the client never answered gets
		// an error, which ends the tool call waiting on it; then the end
		// of input waits for the tool calls.
		if id, ok := c.drain.unanswered(); ok {
			return &jsonrpc.Response{ID: id, Error: errInputEnded}, nil
		}
		c.drain.wait()
		return nil, io.EOF
	}
	c.drain.admit(ctx)
	m, err := c.Connection.Read(ctx)
	if err == io.EOF {
		c.drain.markEOF()
		c.ended = true
		return c.Read(ctx)
	}
	if err == nil {
		switch r := m.(type) {
		case *jsonrpc.Request:
			if r.IsCall() && r.Method == "tools/call" {
				c.drain.add(r.ID.Raw())
			}
		case *jsonrpc.Response:
			c.drain.answered(r.ID.Raw())
		}
	}
	return m, err
}

func (c *drainConn) Write(ctx context.Context, m jsonrpc.Message) error {
	req, isReq := m.(*jsonrpc.Request)
	if isReq && req.IsCall() {
		c.drain.ask(req.ID)
	}
	c.drain.beginWrite()
	err := c.Connection.Write(ctx, m)
	// A write refused because its own context ended (a cancelled call's
	// progress notification) says nothing of the connection: as the go-sdk
	// does, only another failure counts as a broken writer.
	c.drain.endWrite(err != nil && ctx.Err() == nil)
	switch {
	case !isReq:
		if r, ok := m.(*jsonrpc.Response); ok {
			c.drain.done(r.ID.Raw())
		}
	case req.IsCall() && err != nil:
		// Never sent: no answer will come.
		c.drain.answered(req.ID.Raw())
	case req.Method == "notifications/cancelled":
		// The server gave up its own request: the client need not answer.
		var p struct {
			RequestID any `json:"requestId"`
		}
		if json.Unmarshal(req.Params, &p) == nil {
			if id, err := jsonrpc.MakeID(p.RequestID); err == nil && id.IsValid() {
				c.drain.answered(id.Raw())
			}
		}
	}
	return err
}

// securityEvent queues a security record in the audit log.
func (s *Server) securityEvent(event string, fields map[string]any) {
	fields["event"] = event
	if a, ok := s.opts.Audit.(AsyncAuditor); ok {
		_ = a.Enqueue(audit.TypeSecurity, fields)
		return
	}
	_ = s.opts.Audit.Append(context.Background(), audit.TypeSecurity, fields)
}
