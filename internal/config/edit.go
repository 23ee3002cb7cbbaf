package config

import (
	"bytes"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"sync"

	"github.com/BurntSushi/toml"
)

// Compiled on first use (the commands that edit), not at every start.
var (
	// tableLine matches a standard table header ("[approval]  # comment").
	tableLine = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^\s*\[\s*([A-Za-z0-9_-]+(?:\s*\.\s*[A-Za-z0-9_-]+)*)\s*\]\s*(?:#.*)?$`)
	})
	// keyName is a bare TOML key.
	keyName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_-]+$`) })
)

// SetString returns the TOML document text with the string value of key set
// to value, keeping every other line (comments, layout, other keys) as it
// is. key is "name" (top level) or "table.name" (in a standard table); an
// existing assignment in that table is replaced, else one is added at the end
// of the table (the table is created when missing). The result is decoded
// and checked: key holds value and every other value is unchanged, else an
// error (the text is then not edited by this function: dotted keys, inline
// tables and multi-line values are refused). Errors do not echo value.
func SetString(text, key, value string) (string, error) {
	table, name := "", key
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		table, name = key[:i], key[i+1:]
	}
	if !keyName().MatchString(name) || (table != "" && !keyName().MatchString(table)) {
		return "", fmt.Errorf("config: edit: unsupported key %q", key)
	}
	before := map[string]any{}
	if _, err := toml.Decode(text, &before); err != nil {
		return "", fmt.Errorf("config: edit: the document does not parse: %v", err)
	}
	var enc bytes.Buffer
	if err := toml.NewEncoder(&enc).Encode(map[string]string{name: value}); err != nil {
		return "", fmt.Errorf("config: edit: %s: the value cannot be encoded", key)
	}
	assign := strings.TrimRight(enc.String(), "\n")
	assignRe := regexp.MustCompile(`^(\s*)` + regexp.QuoteMeta(name) + `\s*=`)

	lines := strings.SplitAfter(text, "\n")
	cur, found, insertAt := "", false, -1
	for i, l := range lines {
		if m := tableLine().FindStringSubmatch(strings.TrimRight(l, "\r\n")); m != nil {
			if table == "" && insertAt < 0 {
				insertAt = i // a top-level key goes before the first table
			}
			cur = strings.Join(strings.Fields(strings.ReplaceAll(m[1], ".", " . ")), "")
			if cur == table {
				insertAt = i + 1
			}
			continue
		}
		if cur != table {
			continue
		}
		if m := assignRe.FindStringSubmatch(l); m != nil {
			nl := ""
			if strings.HasSuffix(l, "\n") {
				nl = "\n"
			}
			lines[i] = m[1] + assign + nl
			found = true
			break
		}
		if table != "" && strings.TrimSpace(l) != "" {
			insertAt = i + 1
		}
	}
	out := strings.Join(lines, "")
	if !found {
		if insertAt < 0 {
			insertAt = len(lines)
		}
		head, tail := strings.Join(lines[:insertAt], ""), strings.Join(lines[insertAt:], "")
		if head != "" && !strings.HasSuffix(head, "\n") {
			head += "\n"
		}
		if insertAt == len(lines) && table != "" && (len(lines) == 0 || !tableIs(lines, table)) {
			head += "\n[" + table + "]\n"
		}
		out = head + assign + "\n" + tail
	}

	after := map[string]any{}
	if _, err := toml.Decode(out, &after); err != nil {
		return "", fmt.Errorf("config: edit: %s: the edited document does not parse", key)
	}
	if !setIn(before, table, name, value) || !reflect.DeepEqual(before, after) {
		return "", fmt.Errorf("config: edit: %s: cannot be set in this document", key)
	}
	return out, nil
}

// tableIs reports whether lines hold the header of table.
func tableIs(lines []string, table string) bool {
	for _, l := range lines {
		if m := tableLine().FindStringSubmatch(strings.TrimRight(l, "\r\n")); m != nil && strings.Join(strings.Fields(strings.ReplaceAll(m[1], ".", " . ")), "") == table {
			return true
		}
	}
	return false
}

// setIn sets m[table][name] (m[name] when table is "") to value, as the
// decoder would have; false when table is not a table.
func setIn(m map[string]any, table, name, value string) bool {
	if table == "" {
		m[name] = value
		return true
	}
	t, ok := m[table]
	if !ok {
		t = map[string]any{}
		m[table] = t
	}
	tm, ok := t.(map[string]any)
	if !ok {
		return false
	}
	tm[name] = value
	return true
}
