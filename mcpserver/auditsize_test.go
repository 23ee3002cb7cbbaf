package mcpserver_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/walletmcp/walletmcp/internal/audit"
)

// maxReadRecordBytes bounds an audit log line (framing included: seq,
// time, prev and hash take about 200 bytes) recording one read tool call:
// about twice what one takes today (some 300 bytes).
const maxReadRecordBytes = 640

// TestReadCallAuditRecordIsSmall: the tool_call record of a read tool
// (list_accounts, get_balance, get_policy) holds the call (tool, arguments,
// outcome, duration), never its response: none of the response's values is
// in it, and it stays a few hundred bytes however large the response. An
// agent may call them as often as the rate limit lets it, into a log the
// user cannot trim. Arguments over 4 KiB are recorded by their size only.
func TestReadCallAuditRecordIsSmall(t *testing.T) {
	e := newEnv(t, envOpts{accounts: 3})
	from := e.accounts[0].Hex()
	calls := []struct {
		tool string
		args map[string]any
		want func(res *mcp.CallToolResult) []string // the response's distinctive values
	}{
		{"list_accounts", map[string]any{}, func(*mcp.CallToolResult) []string {
			var v []string
			for _, a := range e.accounts {
				v = append(v, a.Hex())
			}
			return v
		}},
		{"get_balance", map[string]any{"address": from}, func(res *mcp.CallToolResult) []string {
			var out struct {
				BalanceBaseUnits string `json:"balance_base_units"`
			}
			decode(t, res, &out)
			return []string{out.BalanceBaseUnits}
		}},
		{"get_policy", map[string]any{}, func(res *mcp.CallToolResult) []string {
			var out struct {
				PolicySHA256 string `json:"policy_sha256"`
			}
			decode(t, res, &out)
			return []string{out.PolicySHA256}
		}},
	}
	// values[tool] is what the record of tool's call must not hold: the
	// distinctive values above, and every string of 8 characters or more in
	// the response that is not in the call's arguments.
	values := map[string][]string{}
	for _, c := range calls {
		res := e.call(c.tool, c.args)
		if res.IsError {
			t.Fatalf("%s: %s", c.tool, text(res))
		}
		want := c.want(res)
		for _, w := range want {
			if len(w) < 20 {
				t.Fatalf("%s: distinctive value %q from %v is too short to look for", c.tool, w, want)
			}
		}
		args, _ := json.Marshal(c.args)
		var leaves []string
		collectStrings(res.StructuredContent, &leaves)
		leaves = append(leaves, text(res))
		for _, s := range leaves {
			if len(s) >= 8 && !strings.Contains(strings.ToLower(string(args)), strings.ToLower(s)) {
				want = append(want, s)
			}
		}
		values[c.tool] = want
	}
	big := map[string]any{"address": from, "pad": strings.Repeat("Z", 5000)}
	bigArgs, _ := json.Marshal(big)
	e.fail("get_policy", big, "invalid_argument")

	// Queued records are written at the latest when the log closes.
	if err := e.audit.Close(); err != nil {
		t.Fatal(err)
	}
	recs := toolCallLines(t, filepath.Join(e.dir, "audit.log"))
	seen := map[string]int{}
	for _, r := range recs {
		seen[r.tool]++
		if len(r.line) > maxReadRecordBytes {
			t.Errorf("the %s call's tool_call record is %d bytes, want at most %d: %.300s", r.tool, len(r.line), maxReadRecordBytes, r.line)
		}
		if r.tool == "get_policy" && r.data.Code != "" { // the oversize call
			if r.data.Args != nil || r.data.ArgsBytes != len(bigArgs) || bytes.Contains(r.line, []byte("ZZZZ")) {
				t.Errorf("a call with %d bytes of arguments: record %.300s, want args_bytes %d and not the arguments", len(bigArgs), r.line, len(bigArgs))
			}
			continue
		}
		if r.data.Outcome != "ok" {
			t.Errorf("record %s: want outcome ok", r.line)
		}
		var held []string
		for _, v := range values[r.tool] {
			if bytes.Contains(bytes.ToLower(r.line), []byte(strings.ToLower(v))) && !slices.Contains(held, v) {
				held = append(held, v)
			}
		}
		if len(held) > 0 {
			t.Errorf("the %s call's tool_call record holds %q from its response: %.300s", r.tool, held, r.line)
		}
	}
	for tool, n := range map[string]int{"list_accounts": 1, "get_balance": 1, "get_policy": 2} {
		if seen[tool] != n {
			t.Errorf("%d tool_call records of %s, want %d (records: %v)", seen[tool], tool, n, seen)
		}
	}
}

// decode decodes a tool result's structured content into out.
func decode(t *testing.T, res *mcp.CallToolResult, out any) {
	t.Helper()
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
}

// collectStrings appends the string leaves of a decoded JSON value (any
// value: it is encoded and decoded first).
func collectStrings(v any, out *[]string) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	var d any
	if json.Unmarshal(b, &d) != nil {
		return
	}
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			*out = append(*out, v)
		case []any:
			for _, x := range v {
				walk(x)
			}
		case map[string]any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(d)
}

// toolCallLine is one tool_call record of the audit log, as written.
type toolCallLine struct {
	tool string
	line []byte
	data struct {
		Tool      string          `json:"tool"`
		Args      json.RawMessage `json:"args"`
		ArgsBytes int             `json:"args_bytes"`
		Outcome   string          `json:"outcome"`
		Code      string          `json:"code"`
	}
}

// toolCallLines reads the tool_call records of the audit log at path.
func toolCallLines(t *testing.T, path string) []toolCallLine {
	t.Helper()
	if _, err := audit.Verify(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var recs []toolCallLine
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec struct {
			Type string          `json:"type"`
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		if rec.Type != audit.TypeToolCall {
			continue
		}
		r := toolCallLine{line: bytes.Clone(sc.Bytes())}
		if err := json.Unmarshal(rec.Data, &r.data); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		r.tool = r.data.Tool
		recs = append(recs, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return recs
}
