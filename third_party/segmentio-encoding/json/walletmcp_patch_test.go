package json_test

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/segmentio/encoding/json"
)

// The tests of walletmcp's change to (*Decoder).readValue (PATCHES.md).

// lenReader is a reader with a Len method that need not be what it holds:
// the patch must not trust it (only *bytes.Reader, *strings.Reader and
// *bytes.Buffer are sized).
type lenReader struct {
	r    io.Reader
	lens []int // returned by successive Len calls, the last one repeated
	n    int
}

func (l *lenReader) Read(p []byte) (int, error) { return l.r.Read(p) }
func (l *lenReader) Len() int {
	v := l.lens[min(l.n, len(l.lens)-1)]
	l.n++
	return v
}

// step is what one Decode returned, with the decoder's state after it.
type step struct {
	v        any
	err      string
	offset   int64
	buffered string
}

func decodeAll(r io.Reader, opts func(*json.Decoder)) []step {
	dec := json.NewDecoder(r)
	if opts != nil {
		opts(dec)
	}
	var out []step
	for range 20 {
		var v any
		err := dec.Decode(&v)
		buf, _ := io.ReadAll(dec.Buffered())
		s := step{v: v, offset: dec.InputOffset(), buffered: string(buf)}
		if err != nil {
			s.err = err.Error()
		}
		out = append(out, s)
		if err != nil {
			break
		}
	}
	return out
}

// TestPatchedDecoderMatchesUpstream decodes each input through every kind
// of reader and compares every step (value, error, InputOffset, Buffered)
// with a reader that has no Len, which takes upstream's unchanged path.
func TestPatchedDecoderMatchesUpstream(t *testing.T) {
	inputs := []string{
		``,
		`   `,
		` {}`,
		`{"a":"one"}`,
		`{"a":"one"} ` + `{"a":"` + strings.Repeat("x", 70000) + `"}` + ` {"a":"three"}`,
		`1 2 3`,
		`123456789 42`,
		`false null true`,
		`[1,2,{"b":[3,4]}]` + "\n" + `"s"` + "\r\n",
		`{"a":`,
		`{"a":1}}`,
		`{"a":1} x`,
		strings.Repeat(" ", 40000) + `{"late":true}`,
		`{"n":12345678901234567890}`,
	}
	opts := map[string]func(*json.Decoder){
		"default":   nil,
		"UseNumber": func(d *json.Decoder) { d.UseNumber() },
	}
	for i, in := range inputs {
		for on, opt := range opts {
			want := decodeAll(io.MultiReader(strings.NewReader(in)), opt)
			readers := map[string]io.Reader{
				"bytes.Reader":            bytes.NewReader([]byte(in)),
				"strings.Reader":          strings.NewReader(in),
				"bytes.Buffer":            bytes.NewBufferString(in),
				"Len too small":           &lenReader{r: strings.NewReader(in), lens: []int{0}},
				"Len negative":            &lenReader{r: strings.NewReader(in), lens: []int{-5}},
				"Len too large":           &lenReader{r: strings.NewReader(in), lens: []int{1 << 40}},
				"Len changing":            &lenReader{r: strings.NewReader(in), lens: []int{5, 5, -10, 0, 1 << 40}},
				"bytes.Reader, read half": halfRead(in),
			}
			for name, r := range readers {
				if got := decodeAll(r, opt); !reflect.DeepEqual(got, want) {
					t.Errorf("input %d (%.20q…), %s, %s:\n got  %v\n want %v", i, in, on, name, got, want)
				}
			}
		}
	}
}

// halfRead is a bytes.Reader from which half the input was already read:
// its Len is what is left.
func halfRead(in string) io.Reader {
	r := bytes.NewReader([]byte(" " + in))
	r.ReadByte()
	return r
}

// TestPatchedDecoderOnAGrowingBuffer: a bytes.Buffer written to after the
// first Decode (sized by its Len then) decodes what follows as upstream does,
// including a number longer than the first buffer: every step (value,
// error, InputOffset, Buffered) equals that of the same writes read through
// a reader without Len, which takes upstream's path.
func TestPatchedDecoderOnAGrowingBuffer(t *testing.T) {
	run := func(wrap func(*bytes.Buffer) io.Reader) (vals []any, steps []step) {
		var buf bytes.Buffer
		dec := json.NewDecoder(wrap(&buf))
		writes := []struct {
			data   string
			values int // complete values it adds: decoding more would hit EOF
		}{
			{"1 ", 1},
			{"123456789012 7 ", 2},
			{`{"a":"` + strings.Repeat("y", 40000) + `"} 5 `, 2},
			{"", 1}, // the end: io.EOF
		}
		for _, w := range writes {
			buf.WriteString(w.data)
			for range w.values {
				var v any
				err := dec.Decode(&v)
				b, _ := io.ReadAll(dec.Buffered())
				s := step{v: v, offset: dec.InputOffset(), buffered: string(b)}
				if err != nil {
					s.err = err.Error()
				}
				steps = append(steps, s)
				if err == nil {
					vals = append(vals, v)
				}
			}
		}
		return vals, steps
	}
	gotVals, got := run(func(b *bytes.Buffer) io.Reader { return b })
	_, want := run(func(b *bytes.Buffer) io.Reader { return struct{ io.Reader }{b} })
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("steps differ from upstream's path:\n got  %v\n want %v", got, want)
	}
	if len(gotVals) != 5 || gotVals[0] != 1.0 || gotVals[1] != 123456789012.0 || gotVals[2] != 7.0 || gotVals[4] != 5.0 {
		t.Fatalf("decoded %.60v", gotVals)
	}
}

// TestPatchedDecoderSizedToItsInput is the point of the change: decoding a
// small message held in memory no longer allocates upstream's 32 KiB buffer.
func TestPatchedDecoderSizedToItsInput(t *testing.T) {
	msg := []byte(fmt.Sprintf(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"x","arguments":{"a":%q}}}`, strings.Repeat("b", 100)))
	decode := func() {
		var v struct {
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
		}
		if err := json.NewDecoder(bytes.NewReader(msg)).Decode(&v); err != nil || v.Method != "tools/call" {
			t.Fatalf("decoded %+v, %v", v, err)
		}
	}
	decode()
	const runs = 100
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		decode()
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 4<<10 {
		t.Fatalf("a decode of %d bytes allocates %d bytes", len(msg), per)
	}
}
