package mcpserver

import (
	"reflect"
	"strconv"
	"testing"
)

// TestOfflineInputBounds: the schema bounds of submit_offline_signature are
// the named constants (a tag cannot name a constant, so this test ties them).
func TestOfflineInputBounds(t *testing.T) {
	typ := reflect.TypeFor[submitIn]()
	for field, want := range map[string]int{"RequestID": maxRequestIDLen, "Signature": maxSignatureLen} {
		f, _ := typ.FieldByName(field)
		if got, err := strconv.Atoi(f.Tag.Get("maxlen")); err != nil || got != want {
			t.Errorf("%s: maxlen %q, want %d", field, f.Tag.Get("maxlen"), want)
		}
	}
}
