package mcpserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/walletmcp/walletmcp/approval"
	"github.com/walletmcp/walletmcp/internal/approvalstate"
	"github.com/walletmcp/walletmcp/policy"
)

// MaxArgumentsBytes bounds the raw arguments of one tool call.
const MaxArgumentsBytes = 16 << 10

// argField describes one string field of a tool's input struct.
type argField struct {
	name     string
	index    int
	required bool
	maxLen   int
}

// argSpec is the decoding plan of an input struct: every field is a string,
// named by its json tag, bounded by maxArgLen, required unless omitempty.
type argSpec struct {
	fields []argField
	byName map[string]int
}

// txHashLen is the length of a transaction hash argument: "0x" + 64 hex digits.
const txHashLen = 66

// maxArgLen is the bound of the argument named name: the same constant the
// parser of that argument enforces. Every field of every tool input must be
// named here; an unknown name is a registration error.
func maxArgLen(name string) (int, bool) {
	switch name {
	case "address", "from", "to":
		return policy.MaxAddressLen, true
	case "asset":
		return policy.MaxAssetLen, true
	case "amount":
		return policy.MaxAmountLen, true
	case "idempotency_key":
		return policy.MaxIdempotencyKeyLen, true
	case "approval_id":
		return approvalstate.IDLen, true
	case "tx_hash":
		return txHashLen, true
	case "request_id":
		return approval.OfflineRequestIDLen, true
	case "signature":
		return approval.MaxOfflineSignatureLen, true
	}
	return 0, false
}

// specFor builds the decoding plan of In. A field that is not a string, has
// no json name or has no bound in maxArgLen is an error: addTool reports it
// when the server is built, so a test that builds a server finds it.
func specFor[In any]() (argSpec, error) {
	t := reflect.TypeFor[In]()
	s := argSpec{byName: map[string]int{}}
	if t.Kind() != reflect.Struct {
		return s, errors.New("mcpserver: tool input must be a struct: " + t.String())
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Type.Kind() != reflect.String {
			return s, errors.New("mcpserver: tool input fields must be strings: " + f.Name)
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			return s, errors.New("mcpserver: tool input field needs a json name: " + f.Name)
		}
		if _, dup := s.byName[name]; dup {
			return s, errors.New("mcpserver: tool input field named twice: " + name)
		}
		maxLen, ok := maxArgLen(name)
		if !ok {
			return s, errors.New("mcpserver: tool input field has no bound in maxArgLen: " + name)
		}
		s.byName[name] = len(s.fields)
		s.fields = append(s.fields, argField{name: name, index: i, required: !strings.Contains(opts, "omitempty"), maxLen: maxLen})
	}
	return s, nil
}

// schema returns the JSON schema of In with maxLength on every property.
func (s argSpec) schema(t reflect.Type) (*jsonschema.Schema, error) {
	sch, err := jsonschema.ForType(t, nil)
	if err != nil {
		return nil, errors.New("mcpserver: input schema: " + err.Error())
	}
	for _, f := range s.fields {
		if p := sch.Properties[f.name]; p != nil {
			p.MaxLength = jsonschema.Ptr(f.maxLen)
		}
	}
	sch.AdditionalProperties = &jsonschema.Schema{Not: &jsonschema.Schema{}}
	return sch, nil
}

// fieldName renders an agent-supplied key for an error message: short plain
// identifiers are named, anything else is not echoed.
func fieldName(k string) string {
	if len(k) == 0 || len(k) > 40 {
		return "(unnamed)"
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return "(unnamed)"
		}
	}
	return strconv.Quote(k)
}

// decodeArgs decodes raw tool arguments into an In strictly.
func decodeArgs[In any](spec argSpec, raw json.RawMessage) (In, error) {
	var in In
	if len(raw) > MaxArgumentsBytes {
		return in, policy.Errorf(policy.CodeInvalidArgument, "arguments: larger than %d bytes", MaxArgumentsBytes)
	}
	m := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(raw)) > 0 && string(bytes.TrimSpace(raw)) != "null" {
		if err := json.Unmarshal(raw, &m); err != nil {
			return in, policy.Errorf(policy.CodeInvalidArgument, "arguments: must be a JSON object")
		}
		// A key given twice: the last one would be the one decided and
		// signed, while the audit log keeps the arguments as sent, where a
		// reader that takes the first one sees another transfer.
		if k, ok := repeatedKey(raw); ok {
			return in, policy.Errorf(policy.CodeInvalidArgument, "%s: given twice", fieldName(k))
		}
	}
	v := reflect.ValueOf(&in).Elem()
	seen := make([]bool, len(spec.fields))
	// Report unknown fields first, in a stable order.
	var unknown []string
	for k := range m {
		if _, ok := spec.byName[k]; !ok {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return in, policy.Errorf(policy.CodeInvalidArgument, "%s: unknown field (allowed: %s)", fieldName(unknown[0]), spec.allowed())
	}
	for k, rv := range m {
		f := spec.fields[spec.byName[k]]
		var s string
		if err := json.Unmarshal(rv, &s); err != nil {
			return in, policy.Errorf(policy.CodeInvalidArgument, "%s: must be a string", f.name)
		}
		if len([]rune(s)) > f.maxLen {
			return in, policy.Errorf(policy.CodeInvalidArgument, "%s: longer than %d characters", f.name, f.maxLen)
		}
		v.Field(f.index).SetString(s)
		seen[spec.byName[k]] = true
	}
	for i, f := range spec.fields {
		if f.required && (!seen[i] || v.Field(f.index).String() == "") {
			return in, policy.Errorf(policy.CodeInvalidArgument, "%s: required", f.name)
		}
	}
	return in, nil
}

// repeatedKey returns a key that the JSON object raw (valid) has twice,
// compared after unescaping.
func repeatedKey(raw json.RawMessage) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return "", false
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return "", false
		}
		k, _ := t.(string)
		if seen[k] {
			return k, true
		}
		seen[k] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return "", false
		}
	}
	return "", false
}

func (s argSpec) allowed() string {
	if len(s.fields) == 0 {
		return "none"
	}
	names := make([]string, len(s.fields))
	for i, f := range s.fields {
		names[i] = f.name
	}
	return strings.Join(names, ", ")
}
