package main

import (
	"context"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/walletmcp/walletmcp/approval"
	"github.com/walletmcp/walletmcp/internal/chain"
	"github.com/walletmcp/walletmcp/mcpserver"
	"github.com/walletmcp/walletmcp/policy"
)

// startGate lets serve answer the MCP handshake (initialize, tools/list)
// as soon as its configuration and policy are read, while the rest of
// start-up (the home passphrase, the policy's attestation, the chain, the
// store, the audit log's check, the Guard) goes on: every other request
// waits at the gate, bounded by its context, until start-up has finished.
// It is also the Guard, chain and Auditor the MCP server is built with: each
// waits for the gate, then calls the real one. A start-up that fails opens
// the gate on its error, so that nothing is ever executed by a server whose
// checks did not pass.
type startGate struct {
	done    chan struct{} // closed by open or fail
	greeted chan struct{} // closed once the first handshake request was answered
	greet   sync.Once
	err     error // set before done is closed
	guard   mcpserver.Guard
	chain   mcpserver.ChainReader
	audit   mcpserver.Auditor
	chainID *big.Int
}

// newStartGate returns a gate that holds requests, for a server on the
// chain whose id the policy (read, not yet attested) names.
func newStartGate(chainID uint64) *startGate {
	return &startGate{done: make(chan struct{}), greeted: make(chan struct{}), chainID: new(big.Int).SetUint64(chainID)}
}

// handshakeWait bounds how long start-up waits for the client's handshake
// before it begins anyway (a client that does not speak first).
const handshakeWait = 100 * time.Millisecond

// afterHandshake returns once the first initialize (or server/discover)
// was answered, after handshakeWait, or when ctx ends: start-up's CPU work
// (scrypts, the chain) then does not compete with the answer on a small
// machine, and a silent client delays it by handshakeWait at most.
func (g *startGate) afterHandshake(ctx context.Context) {
	t := time.NewTimer(handshakeWait)
	defer t.Stop()
	select {
	case <-g.greeted:
	case <-t.C:
	case <-ctx.Done():
	}
}

// open lets every request through to guard, ch and audit. open and fail
// are called by serve's start-up only, once.
func (g *startGate) open(guard mcpserver.Guard, ch mcpserver.ChainReader, audit mcpserver.Auditor) {
	g.guard, g.chain, g.audit = guard, ch, audit
	close(g.done)
}

// fail makes every request, waiting or to come, fail (start-up failed).
// It does nothing once the gate is open or failed.
func (g *startGate) fail() {
	select {
	case <-g.done:
		return
	default:
	}
	// What a request that waited is told; the cause is on serve's stderr.
	g.err = policy.Errorf(policy.CodeInternal, "the server could not start; see its log")
	close(g.done)
}

// opened reports whether start-up has finished (open).
func (g *startGate) opened() bool {
	select {
	case <-g.done:
		return g.err == nil
	default:
		return false
	}
}

// wait returns nil once the gate is open, an error when start-up failed or
// when ctx ends first.
func (g *startGate) wait(ctx context.Context) error {
	select {
	case <-g.done:
		return g.err
	case <-ctx.Done():
		return policy.Errorf(policy.CodeInternal, "the server is still starting; retry")
	}
}

// ungated are the requests answered before start-up has finished: the
// handshake (initialize, or server/discover from 2026-07-28 on), ping, the
// static tool list and the session's own settings (the list-changed
// subscription, the log level), which read nothing the start-up checks,
// and notifications, which are never answered.
func ungated(method string) bool {
	switch method {
	case "initialize", "server/discover", "ping", "tools/list", "subscriptions/listen", "logging/setLevel":
		return true
	}
	return strings.HasPrefix(method, "notifications/")
}

// middleware holds every request but the ungated ones at the gate. A tool
// call refused here is a tool error (it waited for nothing it could use);
// any other request a JSON-RPC error.
func (g *startGate) middleware(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		if ungated(method) {
			res, err := next(ctx, method, req)
			if method == "initialize" || method == "server/discover" {
				g.greet.Do(func() { close(g.greeted) })
			}
			return res, err
		}
		if err := g.wait(ctx); err != nil {
			if _, ok := req.(*mcp.CallToolRequest); ok {
				return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: err.Error()}}}, nil
			}
			return nil, err
		}
		return next(ctx, method, req)
	}
}

var (
	_ mcpserver.Guard        = (*startGate)(nil)
	_ mcpserver.ChainReader  = (*startGate)(nil)
	_ mcpserver.AsyncAuditor = (*startGate)(nil)
	_ mcpserver.Auditor      = (*startGate)(nil)
)

// Prepare waits for the gate, then asks the Guard.
func (g *startGate) Prepare(ctx context.Context, args approval.TransferArgs) (*policy.Decision, error) {
	if err := g.wait(ctx); err != nil {
		return nil, err
	}
	return g.guard.Prepare(ctx, args)
}

// Send waits for the gate, then asks the Guard.
func (g *startGate) Send(ctx context.Context, args approval.TransferArgs) (*approval.Outcome, error) {
	if err := g.wait(ctx); err != nil {
		return nil, err
	}
	return g.guard.Send(ctx, args)
}

// PolicyInfo waits for the gate, then asks the Guard.
func (g *startGate) PolicyInfo(ctx context.Context, addrs []common.Address) (*approval.PolicyInfo, error) {
	if err := g.wait(ctx); err != nil {
		return nil, err
	}
	return g.guard.PolicyInfo(ctx, addrs)
}

// Balance waits for the gate, then asks the Guard.
func (g *startGate) Balance(ctx context.Context, address, asset string) (*approval.BalanceInfo, error) {
	if err := g.wait(ctx); err != nil {
		return nil, err
	}
	return g.guard.Balance(ctx, address, asset)
}

// Approval waits for the gate, then asks the Guard.
func (g *startGate) Approval(ctx context.Context, id string) (*approval.ApprovalInfo, error) {
	if err := g.wait(ctx); err != nil {
		return nil, err
	}
	return g.guard.Approval(ctx, id)
}

// TxStatus waits for the gate, then asks the Guard.
func (g *startGate) TxStatus(ctx context.Context, hash common.Hash) (chain.TxStatus, error) {
	if err := g.wait(ctx); err != nil {
		return chain.TxStatus{}, err
	}
	return g.guard.TxStatus(ctx, hash)
}

// CreateOfflineRequest waits for the gate, then asks the Guard.
func (g *startGate) CreateOfflineRequest(ctx context.Context, args approval.TransferArgs) (*approval.OfflineRequest, error) {
	if err := g.wait(ctx); err != nil {
		return nil, err
	}
	return g.guard.CreateOfflineRequest(ctx, args)
}

// SubmitOfflineSignature waits for the gate, then asks the Guard.
func (g *startGate) SubmitOfflineSignature(ctx context.Context, requestID, signature string) (*approval.Outcome, error) {
	if err := g.wait(ctx); err != nil {
		return nil, err
	}
	return g.guard.SubmitOfflineSignature(ctx, requestID, signature)
}

// ChainID is the chain's id once the gate is open (the chain was checked to
// be the policy's), the policy's before: a request is held at the gate
// before anything reads it.
func (g *startGate) ChainID() *big.Int {
	if g.opened() {
		return g.chain.ChainID()
	}
	return new(big.Int).Set(g.chainID)
}

// Append waits for the gate, then records with the real Auditor.
func (g *startGate) Append(ctx context.Context, typ string, fields any) error {
	if err := g.wait(ctx); err != nil {
		return err
	}
	return g.audit.Append(ctx, typ, fields)
}

// Enqueue waits for the gate (start-up ends, one way or the other), then
// queues with the real Auditor (or appends, when it cannot queue).
func (g *startGate) Enqueue(typ string, fields any) error {
	if err := g.wait(context.Background()); err != nil {
		return err
	}
	if a, ok := g.audit.(mcpserver.AsyncAuditor); ok {
		return a.Enqueue(typ, fields)
	}
	return g.audit.Append(context.Background(), typ, fields)
}
