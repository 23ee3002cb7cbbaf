package walletmcp_test

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
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

// segmentioSum is the go.sum hash of github.com/segmentio/encoding v0.5.4,
// as go.sum held it before the replace.
const segmentioSum = "h1:OW1VRern8Nw6ITAtwSZ7Idrl3MXCFwXHPgqESYfvNt0="

// TestSegmentioCopyIsUpstreamPlusPatch: go.sum no longer covers
// third_party/segmentio-encoding, so this does. It downloads v0.5.4 through
// the module proxy (checked against its go.sum hash) and requires every file
// of the copy to be upstream's byte for byte, except the patched
// json/json.go and the two files walletmcp added; and every upstream file to
// be in the copy, except what PATCHES.md says was left out.
func TestSegmentioCopyIsUpstreamPlusPatch(t *testing.T) {
	out, err := exec.Command("go", "mod", "download", "-json", "github.com/segmentio/encoding@v0.5.4").Output()
	if err != nil {
		t.Fatalf("go mod download: %v", err)
	}
	var dl struct{ Dir, Sum string }
	if err := json.Unmarshal(out, &dl); err != nil {
		t.Fatal(err)
	}
	if dl.Sum != segmentioSum {
		t.Fatalf("the downloaded v0.5.4 hashes to %s, want %s", dl.Sum, segmentioSum)
	}
	const copyDir = "third_party/segmentio-encoding"
	ours := map[string]bool{"PATCHES.md": true, "json/walletmcp_patch_test.go": true}
	patched := map[string]bool{"json/json.go": true}
	leftOut := func(rel string) bool {
		for _, p := range []string{"proto/", "thrift/", ".github/", "json/testdata/"} {
			if strings.HasPrefix(rel, p) {
				return true
			}
		}
		return rel == ".golangci.yml" || rel == "Makefile"
	}
	files := func(root string) map[string][]byte {
		m := map[string][]byte{}
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			b, err := os.ReadFile(path)
			m[filepath.ToSlash(rel)] = b
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	up, cp := files(dl.Dir), files(copyDir)
	for rel, b := range cp {
		switch u, ok := up[rel]; {
		case ours[rel]:
		case !ok:
			t.Errorf("%s/%s is not upstream's and not listed as walletmcp's", copyDir, rel)
		case patched[rel]:
			if bytes.Equal(u, b) {
				t.Errorf("%s/%s is upstream's: the patch is gone", copyDir, rel)
			}
		case !bytes.Equal(u, b):
			t.Errorf("%s/%s differs from upstream's v0.5.4", copyDir, rel)
		}
	}
	for rel := range up {
		if _, ok := cp[rel]; !ok && !leftOut(rel) {
			t.Errorf("upstream's %s is missing from %s (PATCHES.md lists what was left out)", rel, copyDir)
		}
	}
}
