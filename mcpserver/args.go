package mcpserver

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"

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
// named by its json tag, bounded by its maxlen tag, required unless omitempty.
type argSpec struct {
	fields []argField
	byName map[string]int
}

func specFor[In any]() argSpec {
	t := reflect.TypeFor[In]()
	s := argSpec{byName: map[string]int{}}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Type.Kind() != reflect.String {
			panic("mcpserver: tool input fields must be strings: " + f.Name)
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		maxLen, err := strconv.Atoi(f.Tag.Get("maxlen"))
		if err != nil || maxLen <= 0 {
			panic("mcpserver: tool input field needs a maxlen tag: " + f.Name)
		}
		s.byName[name] = len(s.fields)
		s.fields = append(s.fields, argField{name: name, index: i, required: !strings.Contains(opts, "omitempty"), maxLen: maxLen})
	}
	return s
}

// schema returns the JSON schema of In with maxLength on every property.
func (s argSpec) schema(t reflect.Type) *jsonschema.Schema {
	sch, err := jsonschema.ForType(t, nil)
	if err != nil {
		panic("mcpserver: schema: " + err.Error())
	}
	for _, f := range s.fields {
		if p := sch.Properties[f.name]; p != nil {
			p.MaxLength = jsonschema.Ptr(f.maxLen)
		}
	}
	sch.AdditionalProperties = &jsonschema.Schema{Not: &jsonschema.Schema{}}
	return sch
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
