package offline

import (
	"bytes"
	"context"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestQRPNGDecodesWithZbar: another decoder than ours (zbar, as in a
// phone's or a webcam's scanner) reads our PNGs to exactly the uppercase
// UR text. zbarimg comes from Debian's zbar-tools (scripts/ensure-tools.sh
// zbar); without it the test fails under CI and skips elsewhere.
func TestQRPNGDecodesWithZbar(t *testing.T) {
	zbar, err := exec.LookPath("zbarimg")
	if err != nil {
		msg := "zbarimg not found; run `scripts/ensure-tools.sh zbar` (make test does)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	r, err := NewTxSignRequest(testTx(bytes.Repeat([]byte{0x5a}, 700)), common20(), big.NewInt(1337), DefaultPath(), testID)
	if err != nil {
		t.Fatal(err)
	}
	texts, err := r.UR(DefaultMaxFragmentLen)
	if err != nil || len(texts) < 2 {
		t.Fatalf("%d parts, %v", len(texts), err)
	}
	single, err := r.UR(2000)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := (&Signature{RequestID: testID, Signature: bytes.Repeat([]byte{7}, 65), Origin: "airsign"}).UR()
	if err != nil {
		t.Fatal(err)
	}
	texts = append(texts, single[0], sig)
	dir := t.TempDir()
	for i, text := range texts {
		png, err := QRPNG(text, 0)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Join(dir, "qr.png")
		if err := os.WriteFile(name, png, 0o600); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		out, err := exec.CommandContext(ctx, zbar, "--raw", "-q", name).Output()
		cancel()
		if err != nil {
			t.Fatalf("text %d: zbarimg: %v", i, err)
		}
		if got := strings.TrimRight(string(out), "\n"); got != strings.ToUpper(text) {
			t.Fatalf("text %d: zbarimg read %.60s…, want %.60s…", i, got, strings.ToUpper(text))
		}
	}
}
