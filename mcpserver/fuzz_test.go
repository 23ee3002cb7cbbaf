package mcpserver

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/walletmcp/walletmcp/policy"
)

// FuzzDecodeArgs: whatever an agent sends as send_transfer's arguments, the
// decoder does not panic; a refusal is invalid_argument naming a field (or
// "arguments") and never echoes a value; an accepted input respects every
// bound and re-encodes to arguments that decode to the same input.
func FuzzDecodeArgs(f *testing.F) {
	for _, s := range []string{
		``, `null`, `{}`, `[]`, `"x"`, `{"from":1}`,
		`{"from":"0x0000000000000000000000000000000000000001","to":"0x0000000000000000000000000000000000000002","amount":"0.25"}`,
		`{"from":"a","to":"b","amount":"1","asset":"USDC","idempotency_key":"k-1"}`,
		`{"from":"a","to":"b","amount":"1","colour":"red"}`,
		`{"from":"a","to":"b","amount":"` + strings.Repeat("9", 101) + `"}`,
		`{"from":"a","to":"b","amount":""}`,
		`{"from":"a","from":"b","to":"c","amount":"1"}`,
		`{"from":"\u00e9\u00e9","to":"b","amount":"1","secret-value-123":"x"}`,
		`{"from":"a","to":"b","amount":"1"` + strings.Repeat(" ", MaxArgumentsBytes) + `}`,
	} {
		f.Add([]byte(s))
	}
	spec, err := specFor[sendIn]()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		in, err := decodeArgs[sendIn](spec, raw)
		if err != nil {
			var pe *policy.Error
			if !errors.As(err, &pe) || pe.Code != policy.CodeInvalidArgument {
				t.Fatalf("refusal %v is not invalid_argument", err)
			}
			field, _, ok := strings.Cut(pe.Msg, ": ")
			if !ok || field == "" {
				t.Fatalf("refusal %q names no field", pe.Msg)
			}
			if _, known := spec.byName[field]; !known && field != "arguments" && field != "(unnamed)" && !strings.HasPrefix(field, `"`) {
				t.Fatalf("refusal %q names no field of the input", pe.Msg)
			}
			return
		}
		for _, v := range []struct {
			name, val string
		}{{"from", in.From}, {"to", in.To}, {"amount", in.Amount}, {"asset", in.Asset}, {"idempotency_key", in.IdempotencyKey}} {
			f := spec.fields[spec.byName[v.name]]
			if utf8.RuneCountInString(v.val) > f.maxLen {
				t.Fatalf("%s: %d characters accepted, bound %d", v.name, utf8.RuneCountInString(v.val), f.maxLen)
			}
			if f.required && v.val == "" {
				t.Fatalf("%s: required, accepted empty", v.name)
			}
		}
		re, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		again, err := decodeArgs[sendIn](spec, re)
		if err != nil || again != in {
			t.Fatalf("round trip: %+v -> %s -> %+v, %v", in, re, again, err)
		}
	})
}

// FuzzOpenState: a request state the client sends back is refused as
// invalid_argument (or expired) naming requestState unless this server
// signed it for these arguments; one it signed opens to what it signed.
func FuzzOpenState(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	s := &Server{stateKey: []byte(strings.Repeat("k", 32)), opts: Options{Now: func() time.Time { return now }}}
	in := sendIn{From: "0x01", To: "0x02", Amount: "1"}
	good := s.signState(requestState{ApprovalID: strings.Repeat("a", 32), URL: "http://127.0.0.1:1/a/x", Args: argsDigest(in), Expires: now.Unix() + 60})
	for _, st := range []string{"", ".", "a.b", good, good + "x", "x" + good, strings.Repeat("A", 3000), strings.Replace(good, ".", "..", 1)} {
		f.Add(st, "a", now.Unix()+60)
	}
	f.Fuzz(func(t *testing.T, raw, id string, exp int64) {
		st, err := s.openState(raw, in)
		if err != nil {
			var pe *policy.Error
			if !errors.As(err, &pe) || (pe.Code != policy.CodeInvalidArgument && pe.Code != policy.CodeExpired) || !strings.HasPrefix(pe.Msg, "requestState: ") {
				t.Fatalf("refusal %v does not name requestState", err)
			}
		} else if st.ApprovalID == "" || st.Args != argsDigest(in) || !now.Before(time.Unix(st.Expires, 0)) {
			t.Fatalf("opened a state that is not valid here: %+v", st)
		}
		// Round trip: what this server signs opens to itself, until it expires.
		want := requestState{ApprovalID: id, URL: raw, Args: argsDigest(in), Expires: exp}
		signed := s.signState(want)
		got, err := s.openState(signed, in)
		switch {
		case id == "" || !utf8.ValidString(id) || !utf8.ValidString(raw):
			// Empty ids are refused; invalid UTF-8 does not survive JSON.
		case len(signed) > 2048:
			if err == nil {
				t.Fatalf("a state of %d bytes was opened", len(signed))
			}
		case !now.Before(time.Unix(exp, 0)):
			if policy.CodeOf(err) != policy.CodeExpired {
				t.Fatalf("expired state: %v", err)
			}
		case err != nil || *got != want:
			t.Fatalf("round trip of a state (id %q, %d-byte url): %v", id, len(raw), err)
		}
		if _, err := s.openState(s.signState(want), sendIn{From: "0x01", To: "0x03", Amount: "1"}); err == nil {
			t.Fatal("a state opened for other arguments")
		}
	})
}
