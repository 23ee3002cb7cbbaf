package mcpserver

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"math/big"
	"reflect"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/walletmcp/walletmcp/approval"
	"github.com/walletmcp/walletmcp/internal/chain"
	"github.com/walletmcp/walletmcp/policy"
)

// Guard is the approval layer as the tools use it.
type Guard interface {
	Prepare(ctx context.Context, args approval.TransferArgs) (*policy.Decision, error)
	Send(ctx context.Context, args approval.TransferArgs) (*approval.Outcome, error)
	PolicyInfo(ctx context.Context, addrs []common.Address) (*approval.PolicyInfo, error)
	Balance(ctx context.Context, address, asset string) (*approval.BalanceInfo, error)
	Approval(ctx context.Context, id string) (*approval.ApprovalInfo, error)
	TxStatus(ctx context.Context, hash common.Hash) (chain.TxStatus, error)
	CreateOfflineRequest(ctx context.Context, args approval.TransferArgs) (*approval.OfflineRequest, error)
	SubmitOfflineSignature(ctx context.Context, requestID, signature string) (*approval.Outcome, error)
}

// ChainReader is the read-only chain access the tools use.
type ChainReader interface {
	ChainID() *big.Int
}

// Auditor records tool calls. Append returns once the record is durable.
type Auditor interface {
	Append(ctx context.Context, typ string, fields any) error
}

// AsyncAuditor is an optional capability of an Auditor: record without
// waiting for the disk, used for read-only tools so that reads stay fast.
type AsyncAuditor interface {
	Enqueue(typ string, fields any) error
}

// Account is an account the server may spend from.
type Account struct {
	Address        common.Address
	Label          string
	Backend        string
	DerivationPath string
}

// CallLimiter decides whether one more tool call is within the rate limit,
// and counts it if so.
type CallLimiter interface {
	Allow() bool
}

var _ CallLimiter = (*limiter)(nil)

// Options configures New. Guard, Chain, Audit and Accounts are required.
type Options struct {
	Guard    Guard
	Chain    ChainReader
	Audit    Auditor
	Accounts []Account
	// ToolCallsPerMinute limits tool calls (all tools); default 120.
	ToolCallsPerMinute int
	// CallLimit, if set, decides instead of this server's own limiter
	// whether a tool call is within ToolCallsPerMinute: serve passes one
	// shared by every process of the home (internal/callrate), so that two
	// processes do not each allow the whole rate.
	CallLimit CallLimiter
	// Version is reported in the MCP implementation info; default "dev".
	Version string
	// Logger receives operational logs (never secrets); default discards.
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
	// PollInterval is how often a send_transfer waiting on a human's
	// approval checks it; default 250ms.
	PollInterval time.Duration
	// ProgressInterval is how often that wait sends a progress
	// notification; default 2s.
	ProgressInterval time.Duration
}

// Server is the walletmcp MCP server.
type Server struct {
	mcp      *mcp.Server
	opts     Options
	limiter  CallLimiter
	over     overLimit
	drain    *drainGroup
	stateKey []byte // signs elicitation request state; random per process
}

// New builds the MCP server with every tool and its middleware.
func New(o *Options) (*Server, error) {
	if o == nil || o.Guard == nil || o.Chain == nil || o.Audit == nil {
		return nil, errors.New("mcpserver: Guard, Chain and Audit are required")
	}
	opts := *o
	if opts.ToolCallsPerMinute <= 0 {
		opts.ToolCallsPerMinute = 120
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 250 * time.Millisecond
	}
	if opts.ProgressInterval <= 0 {
		opts.ProgressInterval = 2 * time.Second
	}
	s := &Server{opts: opts, limiter: opts.CallLimit, drain: newDrainGroup(), stateKey: make([]byte, 32)}
	if s.limiter == nil {
		s.limiter = newLimiter(opts.ToolCallsPerMinute, time.Minute, opts.Now)
	}
	if _, err := rand.Read(s.stateKey); err != nil {
		return nil, err
	}
	s.mcp = mcp.NewServer(&mcp.Implementation{Name: "walletmcp", Title: "walletmcp: a guarded Ethereum wallet", Version: opts.Version}, &mcp.ServerOptions{
		Instructions: "An Ethereum wallet with a spending policy. Amounts are decimal strings in the asset's units. " +
			"Call prepare_transfer to see whether a transfer would be allowed, then send_transfer. " +
			"Transfers above the policy's limits are refused or need a human's approval that you cannot give.",
		// The SDK logs every session event at info; keep its warnings only.
		Logger: slog.New(minLevel{Handler: opts.Logger.Handler(), min: slog.LevelWarn}),
	})
	s.mcp.AddReceivingMiddleware(s.middleware)
	if err := s.addTools(); err != nil {
		return nil, err
	}
	return s, nil
}

// toolSchemas are what a tool's types give: the argument spec and the
// input and output schemas. They are computed once per process (schemaCache)
// and shared by every Server; nothing changes them once made (the go-sdk
// only reads a tool's schemas).
type toolSchemas struct {
	spec    argSpec
	in, out *jsonschema.Schema
}

// schemaCache maps a tool's [2]reflect.Type{In, Out} to its *toolSchemas.
var schemaCache sync.Map

// schemasFor returns the schemas of a tool with input In and output Out.
func schemasFor[In, Out any]() (*toolSchemas, error) {
	key := [2]reflect.Type{reflect.TypeFor[In](), reflect.TypeFor[Out]()}
	if ts, ok := schemaCache.Load(key); ok {
		return ts.(*toolSchemas), nil
	}
	spec, err := specFor[In]()
	if err != nil {
		return nil, err
	}
	in, err := spec.schema(key[0])
	if err != nil {
		return nil, err
	}
	out, err := jsonschema.For[Out](nil)
	if err != nil {
		return nil, errors.New("mcpserver: output schema: " + err.Error())
	}
	plainArrays(out)
	ts, _ := schemaCache.LoadOrStore(key, &toolSchemas{spec: spec, in: in, out: out})
	return ts.(*toolSchemas), nil
}

// Prepare computes the tools' schemas (inferred from their Go types by
// reflection: a few milliseconds in a fresh process) ahead of New, which
// then takes them as made. serve runs it in a goroutine while it reads the
// home, on the core that would otherwise wait, so that the handshake is
// answered sooner. Calling it is never needed; it is safe at any time.
func Prepare() {
	// A server without a go-sdk server only computes the schemas (addTool).
	_ = (&Server{}).addTools()
}

// MCP returns the underlying go-sdk server.
func (s *Server) MCP() *mcp.Server { return s.mcp }

// Run serves one session over t until the client disconnects or ctx ends.
// When the client closes its side, calls still in flight are finished and
// their responses written before Run returns.
func (s *Server) Run(ctx context.Context, t mcp.Transport) error {
	defer s.FlushRefusals()
	return s.mcp.Run(ctx, &drainTransport{inner: t, drain: s.drain})
}

// FlushRefusals queues the record of the calls refused over the tool-call
// rate limit that are counted and not yet recorded (auditOverLimit). Run
// does it when the session ends; a server run by another transport calls
// it before the audit log closes.
func (s *Server) FlushRefusals() { s.flushOverLimit() }

func boolPtr(b bool) *bool { return &b }

var (
	readOnly    = &mcp.ToolAnnotations{ReadOnlyHint: true, DestructiveHint: boolPtr(false), OpenWorldHint: boolPtr(false)}
	readOnlyNet = &mcp.ToolAnnotations{ReadOnlyHint: true, DestructiveHint: boolPtr(false), OpenWorldHint: boolPtr(true)}
	destructive = &mcp.ToolAnnotations{ReadOnlyHint: false, DestructiveHint: boolPtr(true), IdempotentHint: false, OpenWorldHint: boolPtr(true)}
)

// handlerFunc is a typed tool handler: output, one-line text summary, error.
type handlerFunc[In, Out any] func(ctx context.Context, req *mcp.CallToolRequest, in In) (Out, string, error)

// addTool registers a tool whose arguments are decoded strictly by decodeArgs.
// An input or output type the decoder or the schema inference cannot handle
// is an error here, when the server is built, never a panic at a call.
func addTool[In, Out any](s *Server, t *mcp.Tool, h handlerFunc[In, Out]) error {
	ts, err := schemasFor[In, Out]()
	if err != nil {
		return err
	}
	if s.mcp == nil { // Prepare: the schemas only
		return nil
	}
	spec := ts.spec
	t.InputSchema, t.OutputSchema = ts.in, ts.out
	s.mcp.AddTool(t, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		in, err := decodeArgs[In](spec, req.Params.Arguments)
		if err != nil {
			return toolError(ctx, err), nil
		}
		o, line, err := h(ctx, req, in)
		var ir *inputRequired
		if errors.As(err, &ir) {
			return ir.res, nil
		}
		if err != nil {
			return toolError(ctx, err), nil
		}
		raw, err := json.Marshal(o)
		if err != nil {
			return toolError(ctx, policy.Errorf(policy.CodeInternal, "encoding the result failed")), nil
		}
		content := []mcp.Content{&mcp.TextContent{Text: line}}
		if ic, ok := any(o).(interface{ images() []mcp.Content }); ok {
			content = append(content, ic.images()...)
		}
		return &mcp.CallToolResult{Content: content, StructuredContent: json.RawMessage(raw)}, nil
	})
	return nil
}

// plainArrays rewrites the ["null","array"] that jsonschema.For infers for a
// slice as a plain "array": clients flag a type list as non-portable. The
// handlers never return a nil slice (see nonNil).
func plainArrays(s *jsonschema.Schema) {
	if s == nil {
		return
	}
	if len(s.Types) == 2 && s.Types[0] == "null" && s.Types[1] == "array" {
		s.Type, s.Types = "array", nil
	}
	for _, p := range s.Properties {
		plainArrays(p)
	}
	for _, d := range s.Defs {
		plainArrays(d)
	}
	plainArrays(s.Items)
	plainArrays(s.AdditionalProperties)
}

// toolError renders err as a tool error whose text starts with its code
// (a *policy.Error, which approval.DenyError unwraps to, or internal), and
// notes the code for the audit record of the call.
func toolError(ctx context.Context, err error) *mcp.CallToolResult {
	code, text := policy.CodeInternal, string(policy.CodeInternal)+": unexpected error"
	var ae *policy.Error
	if errors.As(err, &ae) {
		code, text = ae.Code, ae.Error()
	}
	noteCode(ctx, code)
	return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: text}}}
}

// callNote carries what the audit record of one tool call needs from its
// handler: the error code, typed, rather than parsed back out of the text.
type callNote struct {
	mu   sync.Mutex
	code policy.Code
}

type callNoteKey struct{}

// withCallNote returns ctx carrying a fresh note for one call.
func withCallNote(ctx context.Context) (context.Context, *callNote) {
	n := &callNote{}
	return context.WithValue(ctx, callNoteKey{}, n), n
}

// noteCode records code in ctx's call note, if any.
func noteCode(ctx context.Context, code policy.Code) {
	if n, ok := ctx.Value(callNoteKey{}).(*callNote); ok {
		n.mu.Lock()
		n.code = code
		n.mu.Unlock()
	}
}

// codeOf returns the error code of the call r answers: the code its handler
// noted, internal for an error result nobody noted, "" for a success.
func (n *callNote) codeOf(r *mcp.CallToolResult) policy.Code {
	if r == nil || !r.IsError {
		return ""
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.code == "" {
		return policy.CodeInternal
	}
	return n.code
}

// minLevel drops records below min.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(a []slog.Attr) slog.Handler {
	return minLevel{Handler: h.Handler.WithAttrs(a), min: h.min}
}

func (h minLevel) WithGroup(n string) slog.Handler {
	return minLevel{Handler: h.Handler.WithGroup(n), min: h.min}
}

// inputRequired carries a result that asks the client for input (an
// elicitation) instead of an output.
type inputRequired struct {
	res *mcp.CallToolResult
}

func (e *inputRequired) Error() string { return "input required" }
