package walletmcp_test

import (
	"runtime"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// TestSDKDecodeSizedToItsMessage pins third_party/segmentio-encoding, the
// one-change copy of the JSON library the go-sdk decodes every message with
// (go.mod replaces github.com/segmentio/encoding with it; see its
// PATCHES.md). The go-sdk unmarshals through a json.Decoder on a
// bytes.Reader, and the upstream Decoder starts every read with a 32 KiB
// buffer: about ten a send_transfer, a third of a megabyte of garbage a
// call. The copy sizes the first buffer to what the reader holds. Without
// the replace this test fails: one decode of a small request allocates more
// than 32 KiB.
func TestSDKDecodeSizedToItsMessage(t *testing.T) {
	msg := []byte(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"send_transfer","arguments":{"from":"0x` +
		strings.Repeat("ab", 20) + `","to":"0x` + strings.Repeat("cd", 20) + `","amount":"0.000001"}}}`)
	decode := func() {
		m, err := jsonrpc.DecodeMessage(msg)
		if err != nil {
			t.Fatal(err)
		}
		if r, ok := m.(*jsonrpc.Request); !ok || r.Method != "tools/call" || !strings.Contains(string(r.Params), "send_transfer") {
			t.Fatalf("decoded %#v", m)
		}
	}
	decode() // warm the library's type caches
	const runs = 200
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		decode()
	}
	runtime.ReadMemStats(&after)
	perDecode := (after.TotalAlloc - before.TotalAlloc) / runs
	// The message is about 220 bytes: a decode allocates the message and its
	// params, a few small objects, and a buffer of the message's size.
	if limit := uint64(8 << 10); perDecode > limit {
		t.Fatalf("one go-sdk decode of a %d-byte request allocates %d bytes, over %d: is go.mod's replace of github.com/segmentio/encoding gone?", len(msg), perDecode, limit)
	}
	t.Logf("%d bytes allocated a decode", perDecode)
}
