package mcpserver

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/walletmcp/walletmcp/internal/approvalstate"
	"github.com/walletmcp/walletmcp/policy"
)

// TestSpecForRefusesBadInputTypes: an input struct the decoder cannot
// handle is an error at registration, not a panic at a call.
func TestSpecForRefusesBadInputTypes(t *testing.T) {
	type intField struct {
		Address int `json:"address"`
	}
	type noBound struct {
		Colour string `json:"colour"`
	}
	type noName struct {
		Address string
	}
	for name, f := range map[string]func() (argSpec, error){
		"int field":  specFor[intField],
		"no bound":   specFor[noBound],
		"no name":    specFor[noName],
		"not struct": specFor[string],
	} {
		if _, err := f(); err == nil || !strings.HasPrefix(err.Error(), "mcpserver: ") {
			t.Errorf("%s: specFor returned %v, want an mcpserver error", name, err)
		}
	}
	s := &Server{mcp: mcp.NewServer(&mcp.Implementation{Name: "t"}, nil)}
	err := addTool(s, &mcp.Tool{Name: "bad"}, func(context.Context, *mcp.CallToolRequest, intField) (txOut, string, error) {
		return txOut{}, "", nil
	})
	if err == nil {
		t.Fatal("addTool accepted an input struct with an int field")
	}
}

// hexOf returns n hex digits.
func hexOf(n int) string { return strings.Repeat("a", n) }

// TestSchemaBoundsAreParserConstants: every maxLength the tools advertise is
// the constant its parser enforces, and the parser accepts an input of
// exactly that length and refuses one longer.
func TestSchemaBoundsAreParserConstants(t *testing.T) {
	want := map[string]int{
		"address":         policy.MaxAddressLen,
		"from":            policy.MaxAddressLen,
		"to":              policy.MaxAddressLen,
		"asset":           policy.MaxAssetLen,
		"amount":          policy.MaxAmountLen,
		"idempotency_key": policy.MaxIdempotencyKeyLen,
		"approval_id":     approvalstate.IDLen,
		"tx_hash":         txHashLen,
	}
	seen := map[string]bool{}
	check := func(typ reflect.Type, spec argSpec, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		sch, err := spec.schema(typ)
		if err != nil {
			t.Fatal(err)
		}
		for name, p := range sch.Properties {
			w, ok := want[name]
			if !ok {
				t.Errorf("%s.%s: no parser constant known to this test", typ.Name(), name)
				continue
			}
			if p.MaxLength == nil || *p.MaxLength != w {
				t.Errorf("%s.%s: maxLength %v, parser constant %d", typ.Name(), name, p.MaxLength, w)
			}
			seen[name] = true
		}
	}
	sp, err := specFor[balanceIn]()
	check(reflect.TypeFor[balanceIn](), sp, err)
	sp, err = specFor[policyIn]()
	check(reflect.TypeFor[policyIn](), sp, err)
	sp, err = specFor[transferIn]()
	check(reflect.TypeFor[transferIn](), sp, err)
	sp, err = specFor[sendIn]()
	check(reflect.TypeFor[sendIn](), sp, err)
	sp, err = specFor[approvalIn]()
	check(reflect.TypeFor[approvalIn](), sp, err)
	sp, err = specFor[txIn]()
	check(reflect.TypeFor[txIn](), sp, err)
	for name := range want {
		if !seen[name] {
			t.Errorf("%s: no tool input has it; drop it from maxArgLen", name)
		}
	}

	// The parsers: exactly the bound is accepted, one more is refused.
	addr := "0x" + hexOf(policy.MaxAddressLen-2)
	if _, err := policy.ParseAddress("to", addr); err != nil {
		t.Errorf("ParseAddress refuses %d characters: %v", len(addr), err)
	}
	if _, err := policy.ParseAddress("to", addr+"a"); err == nil {
		t.Errorf("ParseAddress accepts %d characters", len(addr)+1)
	}
	amt := "0." + strings.Repeat("0", policy.MaxAmountLen-3) + "1"
	if _, err := policy.ParseAmount("amount", amt, policy.MaxAmountLen); err != nil && strings.Contains(err.Error(), "longer") {
		t.Errorf("ParseAmount refuses %d characters as too long: %v", len(amt), err)
	}
	if _, err := policy.ParseAmount("amount", "1"+amt, policy.MaxAmountLen); err == nil || !strings.Contains(err.Error(), "longer") {
		t.Errorf("ParseAmount of %d characters: %v, want too long", len(amt)+1, err)
	}
	key := strings.Repeat("k", policy.MaxIdempotencyKeyLen)
	if err := policy.ValidateIdempotencyKey(key); err != nil {
		t.Errorf("idempotency key of %d characters refused: %v", len(key), err)
	}
	if err := policy.ValidateIdempotencyKey(key + "k"); err == nil {
		t.Errorf("idempotency key of %d characters accepted", len(key)+1)
	}
	if id := hexOf(approvalstate.IDLen); !approvalstate.ValidID(id) || approvalstate.ValidID(id+"a") {
		t.Errorf("approval id of %d hex digits is not exactly the format", approvalstate.IDLen)
	}
	h := "0x" + hexOf(txHashLen-2)
	if _, err := parseHash("tx_hash", h); err != nil {
		t.Errorf("parseHash refuses %d characters: %v", len(h), err)
	}
	if _, err := parseHash("tx_hash", h+"a"); err == nil {
		t.Errorf("parseHash accepts %d characters", len(h)+1)
	}
	// An asset is a symbol or an address: an address must fit.
	if policy.MaxAssetLen < policy.MaxAddressLen {
		t.Errorf("MaxAssetLen %d cannot hold an address", policy.MaxAssetLen)
	}
}

// TestToolErrorNotesTypedCode: the audit record's code is the error's code
// as the handler knew it, not parsed back from the rendered text.
func TestToolErrorNotesTypedCode(t *testing.T) {
	ctx, note := withCallNote(context.Background())
	// A message with a colon early, and a code the text would misparse.
	r := toolError(ctx, policy.Errorf(policy.CodeExpired, "requestState: expired"))
	if got := note.codeOf(r); got != policy.CodeExpired {
		t.Errorf("code %q, want expired", got)
	}
	ctx, note = withCallNote(context.Background())
	r = toolError(ctx, errors.New("policy_denied: a plain error pretending"))
	if got := note.codeOf(r); got != policy.CodeInternal {
		t.Errorf("untyped error noted as %q, want internal", got)
	}
	_, note = withCallNote(context.Background())
	if got := note.codeOf(&mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "not_found: x"}}}); got != policy.CodeInternal {
		t.Errorf("an error result no handler noted has code %q, want internal", got)
	}
	if got := note.codeOf(&mcp.CallToolResult{}); got != "" {
		t.Errorf("a success has code %q", got)
	}
}

// TestRepeatedKeyRefused: a key given twice was decided and signed as its
// last value while the audit log kept both, so a reader of the log that
// takes the first saw another recipient. It is refused, escapes undone.
func TestRepeatedKeyRefused(t *testing.T) {
	spec, err := specFor[sendIn]()
	if err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{
		`{"from":"0x01","to":"0x1111111111111111111111111111111111111111","amount":"1","to":"0x2222222222222222222222222222222222222222"}`,
		`{"from":"0x01","to":"0x11","amount":"1","\u0074o":"0x22"}`,
	} {
		_, err := decodeArgs[sendIn](spec, json.RawMessage(raw))
		var pe *policy.Error
		if !errors.As(err, &pe) || pe.Code != policy.CodeInvalidArgument || pe.Msg != `"to": given twice` {
			t.Fatalf("%s: %v", raw, err)
		}
	}
	if _, err := decodeArgs[sendIn](spec, json.RawMessage(`{"from":"0x01","to":"0x02","amount":"1","asset":"ETH"}`)); err != nil {
		t.Fatal(err)
	}
}
