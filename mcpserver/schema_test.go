package mcpserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/walletmcp/walletmcp/approval"
	"github.com/walletmcp/walletmcp/mcpserver"
	"github.com/walletmcp/walletmcp/policy"
)

// MCP clients are stricter than the go-sdk: the TypeScript SDK's listTools
// throws on an outputSchema whose type is not "object", Inspector drops such
// tools, and type lists such as ["null","array"] are flagged as non-portable.
// Every schema is plain: "type" is one string, never "null", and the root of
// both schemas is an object.
func TestToolSchemasArePortable(t *testing.T) {
	e := newEnv(t, envOpts{})
	res, err := e.cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Tools) == 0 {
		t.Fatal("no tools listed")
	}
	for _, tool := range res.Tools {
		for _, s := range []struct {
			kind   string
			schema any
		}{{"inputSchema", tool.InputSchema}, {"outputSchema", tool.OutputSchema}} {
			m := schemaMap(t, s.schema)
			where := tool.Name + "." + s.kind
			if m["type"] != "object" {
				t.Errorf("%s: type is %v, want \"object\"", where, m["type"])
			}
			for _, p := range nonPortable(where, m) {
				t.Error(p)
			}
		}
	}
}

// TestNonPortableFindsTypeLists checks the checker on the schemas the server
// advertised before: a pointer result and a slice.
func TestNonPortableFindsTypeLists(t *testing.T) {
	var m map[string]any
	old := `{"type":["null","object"],"properties":{"reasons":{"type":["null","array"],"items":{"type":"string"}},
		"summary":{"type":"object","properties":{"to":{"type":"string"},"tags":{"items":{"type":["string","null"]}}}},
		"n":{"anyOf":[{"type":"null"},{"type":"integer"}]},"x":{"type":"string","nullable":true}}}`
	if err := json.Unmarshal([]byte(old), &m); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(nonPortable("t", m), "\n")
	for _, want := range []string{"t: type", "t.reasons: type", "t.summary.tags[]: type", "t.n.anyOf[0]: type", "t.x: nullable"} {
		if !strings.Contains(got, want+" ") {
			t.Errorf("missed %q in:\n%s", want, got)
		}
	}
	if ps := nonPortable("ok", map[string]any{"type": "object", "properties": map[string]any{"type": map[string]any{"type": "string"}}}); len(ps) != 0 {
		t.Errorf("a property named type is not a keyword: %v", ps)
	}
}

// Every tool, in the states whose results differ in shape (empty and full
// arrays, optional fields), returns structured content that validates
// against its own output schema; env.call checks each result.
func TestStructuredResultsMatchOutputSchemas(t *testing.T) {
	e := newEnv(t, envOpts{policy: basePolicy(), accounts: 2})
	from := e.accounts[0].Hex()
	e.ok("list_accounts", map[string]any{}, nil)
	e.ok("get_balance", map[string]any{"address": from}, nil)
	e.ok("get_policy", map[string]any{}, nil)
	e.ok("get_policy", map[string]any{"address": from}, nil)
	var prep struct {
		Verdict string `json:"verdict"`
		Reasons []any  `json:"reasons"`
	}
	e.ok("prepare_transfer", map[string]any{"from": from, "to": recipient.Hex(), "amount": "0.01"}, &prep)
	if prep.Verdict != "allow" || prep.Reasons == nil {
		t.Errorf("small transfer: verdict %q, reasons %v (want allow and [] not null)", prep.Verdict, prep.Reasons)
	}
	e.ok("prepare_transfer", map[string]any{"from": from, "to": recipient.Hex(), "amount": "1"}, nil)
	e.ok("prepare_transfer", map[string]any{"from": from, "to": recipient.Hex(), "amount": "6"}, nil)
	var sent struct {
		Status     string `json:"status"`
		TxHash     string `json:"tx_hash"`
		ApprovalID string `json:"approval_id"`
	}
	e.ok("send_transfer", map[string]any{"from": from, "to": recipient.Hex(), "amount": "0.01"}, &sent)
	if sent.Status != "submitted" {
		t.Fatalf("small transfer: %+v", sent)
	}
	e.waitMined(sent.TxHash)
	e.ok("get_transaction", map[string]any{"tx_hash": sent.TxHash}, nil)
	e.ok("get_transaction", map[string]any{"tx_hash": "0x" + strings.Repeat("ab", 32)}, nil)
	e.ok("send_transfer", map[string]any{"from": from, "to": recipient.Hex(), "amount": "1"}, &sent)
	if sent.Status != "approval_required" {
		t.Fatalf("1 ETH: %+v", sent)
	}
	e.ok("get_approval", map[string]any{"approval_id": sent.ApprovalID}, nil)
	e.approve(sent.ApprovalID) // polls get_approval until executed (with tx_hash)
	if n := e.outputs.checked.Load(); n < 12 {
		t.Fatalf("only %d results were checked against their schema", n)
	}
}

// toolOutputs caches the resolved output schemas of one session's tools.
type toolOutputs struct {
	once    sync.Once
	err     error
	schemas map[string]*jsonschema.Resolved
	checked atomic.Int64
}

// checkOutput fails the test if a successful result of tool name has no
// structured content or content that its output schema refuses.
func (e *env) checkOutput(name string, res *mcp.CallToolResult) {
	e.t.Helper()
	if res.IsError || len(res.InputRequests) > 0 {
		return
	}
	o := e.outputs
	o.once.Do(func() { o.schemas, o.err = loadOutputSchemas(e.cs) })
	if o.err != nil {
		e.t.Errorf("loading output schemas: %v", o.err)
		return
	}
	rs, ok := o.schemas[name]
	if !ok {
		e.t.Errorf("%s: not in tools/list or without an output schema", name)
		return
	}
	if res.StructuredContent == nil {
		e.t.Errorf("%s: a tool with an output schema returned no structured content", name)
		return
	}
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		e.t.Errorf("%s: %v", name, err)
		return
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		e.t.Errorf("%s: %v", name, err)
		return
	}
	if err := rs.Validate(v); err != nil {
		e.t.Errorf("%s: structured content does not match the output schema: %v\n%s", name, err, b)
		return
	}
	o.checked.Add(1)
}

func loadOutputSchemas(cs *mcp.ClientSession) (map[string]*jsonschema.Resolved, error) {
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		return nil, err
	}
	out := map[string]*jsonschema.Resolved{}
	for _, tool := range res.Tools {
		if tool.OutputSchema == nil {
			continue
		}
		b, err := json.Marshal(tool.OutputSchema)
		if err != nil {
			return nil, err
		}
		var s jsonschema.Schema
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, fmt.Errorf("%s: %w", tool.Name, err)
		}
		rs, err := s.Resolve(nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", tool.Name, err)
		}
		out[tool.Name] = rs
	}
	return out, nil
}

// schemaMap returns a schema as decoded JSON.
func schemaMap(t *testing.T, s any) map[string]any {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("schema %s: %v", b, err)
	}
	return m
}

// nonPortable lists every place in schema m (at path where) whose "type" is
// not one string naming a type other than null, or that uses "nullable".
func nonPortable(where string, m map[string]any) []string {
	var out []string
	if t, ok := m["type"]; ok {
		if s, isStr := t.(string); !isStr || s == "null" {
			out = append(out, fmt.Sprintf("%s: type %v is not one non-null type", where, t))
		}
	}
	if _, ok := m["nullable"]; ok {
		out = append(out, where+": nullable is not JSON Schema")
	}
	for _, k := range []string{"properties", "$defs", "definitions", "patternProperties"} {
		if sub, ok := m[k].(map[string]any); ok {
			for name, v := range sub {
				if sm, ok := v.(map[string]any); ok {
					out = append(out, nonPortable(where+"."+name, sm)...)
				}
			}
		}
	}
	for _, k := range []string{"items", "additionalProperties", "not", "contains"} {
		if sm, ok := m[k].(map[string]any); ok {
			suffix := "." + k
			if k == "items" {
				suffix = "[]"
			}
			out = append(out, nonPortable(where+suffix, sm)...)
		}
	}
	for _, k := range []string{"anyOf", "oneOf", "allOf", "prefixItems"} {
		if arr, ok := m[k].([]any); ok {
			for i, v := range arr {
				if sm, ok := v.(map[string]any); ok {
					out = append(out, nonPortable(fmt.Sprintf("%s.%s[%d]", where, k, i), sm)...)
				}
			}
		}
	}
	return out
}

// nilSlicesGuard answers get_policy and prepare_transfer with every slice
// nil, as a future view might (its other methods are not called).
type nilSlicesGuard struct{ mcpserver.Guard }

func (nilSlicesGuard) PolicyInfo(context.Context, []common.Address) (*approval.PolicyInfo, error) {
	return &approval.PolicyInfo{PolicySHA256: strings.Repeat("0", 64), ChainID: 1337}, nil
}

func (nilSlicesGuard) Prepare(context.Context, approval.TransferArgs) (*policy.Decision, error) {
	return &policy.Decision{Verdict: policy.Allow}, nil
}

// A nil slice is encoded as [], never null: the schemas say "array".
func TestNilSlicesAreEmptyArrays(t *testing.T) {
	e := newEnv(t, envOpts{guard: nilSlicesGuard{}})
	var pol map[string]any
	e.ok("get_policy", map[string]any{}, &pol)
	rec, _ := pol["recipients"].(map[string]any)
	for name, v := range map[string]any{"limits": pol["limits"], "remaining": pol["remaining"], "recipients.allow": rec["allow"], "recipients.deny": rec["deny"]} {
		if a, ok := v.([]any); !ok || len(a) != 0 {
			t.Errorf("get_policy %s = %#v, want []", name, v)
		}
	}
	var prep map[string]any
	e.ok("prepare_transfer", map[string]any{"from": e.accounts[0].Hex(), "to": recipient.Hex(), "amount": "0.01"}, &prep)
	if a, ok := prep["reasons"].([]any); !ok || len(a) != 0 {
		t.Errorf("prepare_transfer reasons = %#v, want []", prep["reasons"])
	}
}
