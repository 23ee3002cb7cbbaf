package mcphttp

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/walletmcp/walletmcp/mcpserver"
)

// The scopes a token may carry.
const (
	ScopeRead     = "read"     // the read-only tools
	ScopeTransfer = "transfer" // prepare_transfer, send_transfer, get_approval
	ScopeOffline  = "offline"  // create_offline_request, submit_offline_signature
)

// Scopes lists every scope, in the order they are documented.
func Scopes() []string { return []string{ScopeRead, ScopeTransfer, ScopeOffline} }

// ToolScope returns the scope that allows calling tool, and false for a tool
// in no scope (hidden from every token and refused).
func ToolScope(tool string) (string, bool) {
	switch tool {
	case mcpserver.ToolListAccounts, mcpserver.ToolGetBalance, mcpserver.ToolGetPolicy, mcpserver.ToolGetTransaction:
		return ScopeRead, true
	case mcpserver.ToolPrepareTransfer, mcpserver.ToolSendTransfer, mcpserver.ToolGetApproval:
		return ScopeTransfer, true
	case mcpserver.ToolCreateOfflineRequest, mcpserver.ToolSubmitOfflineSignature:
		return ScopeOffline, true
	}
	return "", false
}

// ParseScopes parses a comma- or space-separated scope list ("read,transfer"),
// refusing unknown scopes (named, they are not secret) and an empty list. The
// result is sorted in the order of Scopes, without duplicates.
func ParseScopes(s string) ([]string, error) {
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
	if len(fields) == 0 {
		return nil, fmt.Errorf("mcphttp: no scope given (one or more of %s)", strings.Join(Scopes(), ", "))
	}
	var out []string
	for _, f := range fields {
		if !slices.Contains(Scopes(), f) {
			if len(f) > 32 {
				f = f[:32] + "…"
			}
			return nil, fmt.Errorf("mcphttp: unknown scope %q (one or more of %s)", f, strings.Join(Scopes(), ", "))
		}
	}
	for _, sc := range Scopes() {
		if slices.Contains(fields, sc) {
			out = append(out, sc)
		}
	}
	return out, nil
}

// allows reports whether ti lets its holder call tool.
func allows(ti *auth.TokenInfo, tool string) bool {
	scope, ok := ToolScope(tool)
	return ok && ti != nil && slices.Contains(ti.Scopes, scope)
}

// ScopeMiddleware filters tools/list to the tools the request's token allows
// and refuses a tools/call beyond them with a tool error
// "insufficient_scope". A request without token information (not from the
// authorized HTTP handler) is treated as a token with no scope.
func ScopeMiddleware(next mcp.MethodHandler) mcp.MethodHandler { return scopeMiddleware(nil)(next) }

// codeInsufficientScope is the code of a call the token's scopes refuse.
const codeInsufficientScope = "insufficient_scope"

// scopeMiddleware is ScopeMiddleware, telling refused (when not nil) each
// call it refuses.
func scopeMiddleware(refused func(context.Context, *mcp.CallToolRequest, string)) mcp.Middleware {
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return scopeCheck(next, refused)
	}
}

func scopeCheck(next mcp.MethodHandler, refused func(context.Context, *mcp.CallToolRequest, string)) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		var ti *auth.TokenInfo
		if ex := req.GetExtra(); ex != nil {
			ti = ex.TokenInfo
		}
		switch method {
		case "tools/call":
			call, ok := req.(*mcp.CallToolRequest)
			if ok && refused != nil && (call.Params == nil || !allows(ti, call.Params.Name)) {
				refused(ctx, call, codeInsufficientScope)
			}
			if !ok || call.Params == nil {
				// Not a call this check can read: refused, never passed on.
				return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "insufficient_scope: this token does not allow this tool"}}}, nil
			}
			if !allows(ti, call.Params.Name) {
				scope, known := ToolScope(call.Params.Name)
				text := "insufficient_scope: this token does not allow this tool"
				if known {
					text = fmt.Sprintf("insufficient_scope: this tool needs the %q scope, which this token lacks", scope)
				}
				return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: text}}}, nil
			}
		case "tools/list":
			res, err := next(ctx, method, req)
			if err != nil {
				return res, err
			}
			if lr, ok := res.(*mcp.ListToolsResult); ok {
				kept := make([]*mcp.Tool, 0, len(lr.Tools))
				for _, t := range lr.Tools {
					if allows(ti, t.Name) {
						kept = append(kept, t)
					}
				}
				cp := *lr
				cp.Tools = kept
				// The list depends on the token: no shared cache may serve it
				// to another.
				cp.CacheScope, cp.TTLMs = "private", 0
				return &cp, nil
			}
			return res, err
		}
		return next(ctx, method, req)
	}
}
