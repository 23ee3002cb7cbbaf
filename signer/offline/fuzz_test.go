package offline

import (
	"bytes"
	"math/big"
	"strings"
	"testing"
)

func seedParts(f *testing.F) {
	r, err := NewTxSignRequest(testTx(bytes.Repeat([]byte{3}, 300)), common20(), big.NewInt(1337), DefaultPath(), testID)
	if err != nil {
		f.Fatal(err)
	}
	parts, err := r.UR(60)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(strings.Join(parts, "\n"))
	f.Add(parts[0])
	single, _ := r.UR(1000)
	f.Add(single[0])
	f.Add("ur:bytes/1-9/lpadascfadaxcywenbpljkhdcahkadaemejtswhhylkepmykhhtsytsnoyoyaxaedsuttydmmhhpktpmsrjtdkgslpgh")
}

// FuzzURDecoder feeds newline-separated parts to a decoder: it must never
// panic, and a completed result must be a payload within the limits.
func FuzzURDecoder(f *testing.F) {
	seedParts(f)
	f.Fuzz(func(t *testing.T, in string) {
		lim := &Limits{MaxMessageLen: 4096, MaxFragments: 64}
		d := NewURDecoder(lim)
		for _, p := range strings.Split(in, "\n") {
			_ = d.Receive(p)
		}
		if d.Complete() {
			typ, payload, err := d.Result()
			if err != nil || !validType(typ) || len(payload) > 4096 {
				t.Fatalf("result %q %d %v", typ, len(payload), err)
			}
			_, _ = ParseSignRequest(payload)
		}
	})
}

// FuzzParseSignRequest parses arbitrary CBOR as an eth-sign-request; what
// parses must re-encode and parse to the same request.
func FuzzParseSignRequest(f *testing.F) {
	r, _ := NewTxSignRequest(testTx(nil), common20(), big.NewInt(1337), DefaultPath(), testID)
	b, _ := r.MarshalCBOR()
	f.Add(b)
	f.Add([]byte{0xd9, 0x01, 0x91, 0xa0})
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := ParseSignRequest(in)
		if err != nil {
			return
		}
		out, err := r.MarshalCBOR()
		if err != nil {
			t.Fatalf("parsed but does not encode: %v", err)
		}
		r2, err := ParseSignRequest(out)
		if err != nil || !bytes.Equal(r2.SignData, r.SignData) || r2.RequestID != r.RequestID || r2.Path.String() != r.Path.String() {
			t.Fatalf("round trip: %v", err)
		}
		_, _ = r.Tx()
	})
}

// FuzzParseSignature parses arbitrary text as a signature: a success is
// always 65 bytes with v 0 or 1.
func FuzzParseSignature(f *testing.F) {
	s, _ := (&Signature{RequestID: testID, Signature: bytes.Repeat([]byte{1}, 65)}).UR()
	f.Add(s)
	f.Add("0x" + strings.Repeat("ab", 64) + "1b")
	f.Fuzz(func(t *testing.T, in string) {
		_, sig, err := ParseSignature(in)
		if err == nil && (len(sig) != 65 || sig[64] > 1) {
			t.Fatalf("accepted %x", sig)
		}
	})
}

// FuzzBytewords checks decode never panics and inverts encode.
func FuzzBytewords(f *testing.F) {
	f.Add([]byte{0, 1, 2, 128, 255}, "aeadaolazmjendeoti")
	f.Fuzz(func(t *testing.T, data []byte, text string) {
		_, _ = BytewordsDecode(text, 1<<16)
		got, err := BytewordsDecode(BytewordsEncode(data), 1<<20)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("round trip of %x: %v", data, err)
		}
	})
}
