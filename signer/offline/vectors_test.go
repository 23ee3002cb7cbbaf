package offline

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

type bcurVectors struct {
	CRC32 []struct {
		Text  string `json:"text"`
		CRC32 string `json:"crc32"`
	} `json:"crc32"`
	Bytewords []struct {
		Hex     string `json:"hex"`
		Minimal string `json:"minimal"`
	} `json:"bytewords"`
	BytewordsBad  []string `json:"bytewords_bad_checksum"`
	RngMod100     []int    `json:"rng_wolf_next_mod_100"`
	RngInt1to10   []int    `json:"rng_wolf_next_int_1_10"`
	NominalLength []struct {
		MessageLen int `json:"message_len"`
		Min        int `json:"min"`
		Max        int `json:"max"`
		Want       int `json:"want"`
	} `json:"nominal_fragment_length"`
	ChooseDegree    []int    `json:"choose_degree_1024_10_100"`
	ChooseFragments [][]int  `json:"choose_fragments_1024_10_100"`
	NextData        []string `json:"next_data_wolf"`
	FountainCBOR    []string `json:"fountain_encoder_256_30_cbor"`
	SinglePartUR50  string   `json:"single_part_ur_50"`
	UREncoder       []string `json:"ur_encoder_256_30"`
	ShortCRC32      string   `json:"short_crc32_fragment"`
}

func loadJSON(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

// makeMessage is the reference test suite's make_message: n bytes from
// Xoshiro256** seeded with seed.
func makeMessage(n int, seed string) []byte { return newXoshiro([]byte(seed)).nextData(n) }

// makeMessageUR is make_message_ur: the message as a CBOR byte string.
func makeMessageUR(t *testing.T, n int) []byte {
	b, err := cbor.Marshal(makeMessage(n, "Wolf"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBCURVectors(t *testing.T) {
	var v bcurVectors
	loadJSON(t, "bc-ur-vectors.json", &v)

	t.Run("crc32", func(t *testing.T) {
		for _, c := range v.CRC32 {
			if got := fmt.Sprintf("%08x", crc32.ChecksumIEEE([]byte(c.Text))); got != c.CRC32 {
				t.Errorf("crc32(%q) = %s, want %s", c.Text, got, c.CRC32)
			}
		}
	})
	t.Run("bytewords", func(t *testing.T) {
		for _, c := range v.Bytewords {
			data, _ := hex.DecodeString(c.Hex)
			if got := BytewordsEncode(data); got != c.Minimal {
				t.Errorf("encode(%s) = %s, want %s", c.Hex, got, c.Minimal)
			}
			for _, in := range []string{c.Minimal, strings.ToUpper(c.Minimal)} {
				got, err := BytewordsDecode(in, 1000)
				if err != nil || !bytes.Equal(got, data) {
					t.Errorf("decode(%s) = %x, %v", in, got, err)
				}
			}
		}
		for _, bad := range v.BytewordsBad {
			if _, err := BytewordsDecode(bad, 1000); err == nil {
				t.Errorf("decode(%s) accepted a bad checksum", bad)
			}
		}
	})
	t.Run("rng", func(t *testing.T) {
		r := newXoshiro([]byte("Wolf"))
		var got []int
		for range v.RngMod100 {
			got = append(got, int(r.next()%100))
		}
		if !slices.Equal(got, v.RngMod100) {
			t.Errorf("next()%%100 = %v", got)
		}
		r = newXoshiro([]byte("Wolf"))
		got = nil
		for range v.RngInt1to10 {
			got = append(got, r.nextInt(1, 10))
		}
		if !slices.Equal(got, v.RngInt1to10) {
			t.Errorf("nextInt(1,10) = %v", got)
		}
		r = newXoshiro([]byte("Wolf"))
		for i, want := range v.NextData {
			if got := hex.EncodeToString(r.nextData(10)); got != want {
				t.Errorf("nextData #%d = %s, want %s", i, got, want)
			}
		}
	})
	t.Run("nominal fragment length", func(t *testing.T) {
		for _, c := range v.NominalLength {
			if got := nominalFragmentLen(c.MessageLen, c.Min, c.Max); got != c.Want {
				t.Errorf("nominalFragmentLen(%d,%d,%d) = %d, want %d", c.MessageLen, c.Min, c.Max, got, c.Want)
			}
		}
	})
	msg := makeMessage(1024, "Wolf")
	fl := nominalFragmentLen(len(msg), 10, 100)
	seqLen := (len(msg) + fl - 1) / fl
	t.Run("choose degree", func(t *testing.T) {
		ds := degreeSampler(seqLen)
		var got []int
		for nonce := 1; nonce <= len(v.ChooseDegree); nonce++ {
			got = append(got, ds.next(newXoshiro([]byte(fmt.Sprintf("Wolf-%d", nonce))))+1)
		}
		if !slices.Equal(got, v.ChooseDegree) {
			t.Errorf("degrees = %v", got)
		}
	})
	t.Run("choose fragments", func(t *testing.T) {
		ds := degreeSampler(seqLen)
		sum := crc32.ChecksumIEEE(msg)
		for i, want := range v.ChooseFragments {
			got := chooseFragments(uint32(i+1), seqLen, sum, ds)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("seqNum %d: %v, want %v", i+1, got, want)
			}
		}
	})
	t.Run("fountain encoder", func(t *testing.T) {
		e := newFountainEncoder(makeMessage(256, "Wolf"), 30, MinFragmentLen)
		for i, want := range v.FountainCBOR {
			b, err := cbor.Marshal(e.nextPart())
			if err != nil || hex.EncodeToString(b) != want {
				t.Errorf("part %d = %x (%v), want %s", i+1, b, err, want)
			}
		}
	})
	t.Run("single-part UR", func(t *testing.T) {
		payload := makeMessageUR(t, 50)
		parts, err := EncodeUR("bytes", payload, 9999)
		if err != nil || len(parts) != 1 || parts[0] != v.SinglePartUR50 {
			t.Fatalf("EncodeUR = %v, %v", parts, err)
		}
		got, err := DecodeUR("bytes", []string{strings.ToUpper(v.SinglePartUR50)}, nil)
		if err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("DecodeUR = %x, %v", got, err)
		}
	})
	t.Run("multi-part UR", func(t *testing.T) {
		payload := makeMessageUR(t, 256)
		e, err := NewFountainEncoder("bytes", payload, 30)
		if err != nil {
			t.Fatal(err)
		}
		for i, want := range v.UREncoder {
			if got := e.NextPart(); got != want {
				t.Errorf("part %d = %s, want %s", i+1, got, want)
			}
		}
		parts, err := EncodeUR("bytes", payload, 30)
		if err != nil || !slices.Equal(parts, v.UREncoder[:9]) {
			t.Errorf("EncodeUR = %v, %v", parts, err)
		}
		// Any order, with repeats and mixed parts: the 20 vectors decode.
		d := NewURDecoder(nil)
		for _, i := range []int{19, 3, 3, 12, 17, 0, 5, 9, 14, 1, 2, 4, 6, 7, 8, 10, 11, 13, 15, 16, 18} {
			if err := d.Receive(v.UREncoder[i]); err != nil {
				t.Fatalf("Receive(%d): %v", i, err)
			}
		}
		typ, got, err := d.Result()
		if err != nil || typ != "bytes" || !bytes.Equal(got, payload) {
			t.Fatalf("Result = %s %x %v", typ, got, err)
		}
	})
	t.Run("short crc32", func(t *testing.T) {
		if err := NewURDecoder(nil).Receive(v.ShortCRC32); err != nil {
			t.Fatal(err)
		}
	})
}

// TestFountainDecoderWolf is the reference test_fountain_decoder: a 32,767
// byte message in fragments of at most 1,000 bytes, fed part by part
// (mixed parts included) until it decodes.
func TestFountainDecoderWolf(t *testing.T) {
	msg := makeMessage(32767, "Wolf")
	e, err := NewFountainEncoder("bytes", msg, 1000)
	if err != nil {
		t.Fatal(err)
	}
	d := NewURDecoder(nil)
	// Skip the first few plain fragments so the mixed parts must fill in.
	for i := 0; i < 5; i++ {
		e.NextPart()
	}
	for n := 0; !d.Complete(); n++ {
		if n > 1000 {
			t.Fatal("no result after 1000 parts")
		}
		if err := d.Receive(e.NextPart()); err != nil {
			t.Fatal(err)
		}
	}
	_, got, err := d.Result()
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("Result: %v", err)
	}
}

type eip4527Vectors struct {
	Legacy struct {
		UR        string `json:"ur"`
		RequestID string `json:"request_id"`
		SignData  string `json:"sign_data"`
		DataType  int    `json:"data_type"`
		ChainID   uint64 `json:"chain_id"`
		Path      string `json:"path"`
		XFP       string `json:"xfp"`
		Origin    string `json:"origin"`
	} `json:"sign_request_legacy"`
	Typed struct {
		UR       string `json:"ur"`
		SignData string `json:"sign_data"`
	} `json:"sign_request_typed_tx"`
	Signature struct {
		CBOR      string `json:"cbor"`
		RequestID string `json:"request_id"`
		Signature string `json:"signature"`
		Origin    string `json:"origin"`
	} `json:"signature"`
}

func TestEIP4527Vectors(t *testing.T) {
	var v eip4527Vectors
	loadJSON(t, "eip4527-vectors.json", &v)

	t.Run("legacy sign request", func(t *testing.T) {
		r, err := ParseSignRequestUR([]string{v.Legacy.UR}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(r.RequestID[:]) != v.Legacy.RequestID || hex.EncodeToString(r.SignData) != v.Legacy.SignData ||
			int(r.DataType) != v.Legacy.DataType || r.ChainID != v.Legacy.ChainID || r.Path.String() != v.Legacy.Path ||
			fmt.Sprintf("%08x", r.Path.SourceFingerprint) != v.Legacy.XFP || r.Origin != v.Legacy.Origin || r.Address != nil {
			t.Fatalf("parsed %+v", r)
		}
		// Our encoding of the same request is byte for byte Keystone's.
		parts, err := r.UR(1000)
		if err != nil || len(parts) != 1 || parts[0] != v.Legacy.UR {
			t.Fatalf("UR = %v, %v", parts, err)
		}
		if _, err := r.Tx(); err == nil {
			t.Fatal("Tx accepted a legacy (data type 1) request")
		}
	})
	t.Run("typed transaction sign request", func(t *testing.T) {
		r, err := ParseSignRequestUR([]string{v.Typed.UR}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(r.SignData) != v.Typed.SignData || r.DataType != DataTypeTypedTx {
			t.Fatalf("parsed %+v", r)
		}
		tx, err := r.Tx()
		if err != nil {
			t.Fatal(err)
		}
		if tx.ChainId().Uint64() != 4 || tx.Gas() != 21000 || !strings.EqualFold(tx.To().Hex(), "0xe0cfe8a9f55942c6a70b845cd07a3a7d61a04325") {
			t.Fatalf("tx = chain %v gas %d to %v", tx.ChainId(), tx.Gas(), tx.To())
		}
		parts, err := r.UR(1000)
		if err != nil || parts[0] != v.Typed.UR {
			t.Fatalf("re-encoded %v, %v", parts, err)
		}
	})
	t.Run("signature", func(t *testing.T) {
		b, _ := hex.DecodeString(v.Signature.CBOR)
		s, err := ParseSignatureCBOR(b)
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(s.RequestID[:]) != v.Signature.RequestID || hex.EncodeToString(s.Signature) != v.Signature.Signature || s.Origin != v.Signature.Origin {
			t.Fatalf("parsed %+v", s)
		}
		again, err := s.MarshalCBOR()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("re-encoded %x, %v", again, err)
		}
		// Through the UR layer: ParseSignature maps v 27/28 to 0/1 (0x13 is neither: refused).
		u, err := s.UR()
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := ParseSignature(u); err == nil {
			t.Fatal("ParseSignature accepted v = 0x13")
		}
	})
}
