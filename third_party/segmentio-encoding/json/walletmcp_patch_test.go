package json_test

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/segmentio/encoding/json"
)

// shortLen is a reader whose Len reports less than it holds: the first
// buffer (sized by Len) is too small and later reads must grow it.
type shortLen struct{ r *strings.Reader }

func (s shortLen) Read(p []byte) (int, error) { return s.r.Read(p) }
func (s shortLen) Len() int                   { return 1 }

// negativeLen reports a length no reader holds.
type negativeLen struct{ r *strings.Reader }

func (n negativeLen) Read(p []byte) (int, error) { return n.r.Read(p) }
func (n negativeLen) Len() int                   { return -5 }

// TestDecoderFirstBufferSizedByLen covers walletmcp's change to readValue
// (PATCHES.md): whatever a reader's Len says, every value is decoded whole
// and in order, and the end of the input is io.EOF.
func TestDecoderFirstBufferSizedByLen(t *testing.T) {
	long := `{"a":"` + strings.Repeat("x", 70000) + `"}`
	input := `{"a":"one"} ` + long + ` {"a":"three"}`
	want := []int{3, 70000, 5}
	readers := map[string]func() io.Reader{
		"bytes.Reader":   func() io.Reader { return bytes.NewReader([]byte(input)) },
		"strings.Reader": func() io.Reader { return strings.NewReader(input) },
		"short Len":      func() io.Reader { return shortLen{strings.NewReader(input)} },
		"negative Len":   func() io.Reader { return negativeLen{strings.NewReader(input)} },
		"no Len":         func() io.Reader { return io.MultiReader(strings.NewReader(input)) },
	}
	for name, r := range readers {
		t.Run(name, func(t *testing.T) {
			dec := json.NewDecoder(r())
			for i, n := range want {
				var v struct{ A string }
				if err := dec.Decode(&v); err != nil {
					t.Fatalf("value %d: %v", i, err)
				}
				if len(v.A) != n {
					t.Fatalf("value %d: %d bytes, want %d", i, len(v.A), n)
				}
			}
			var v struct{ A string }
			if err := dec.Decode(&v); err != io.EOF {
				t.Fatalf("after the last value: %v, want io.EOF", err)
			}
		})
	}
	t.Run("empty", func(t *testing.T) {
		var v any
		if err := json.NewDecoder(bytes.NewReader(nil)).Decode(&v); err != io.EOF {
			t.Fatalf("empty input: %v, want io.EOF", err)
		}
	})
}
