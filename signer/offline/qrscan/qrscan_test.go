package qrscan_test

import (
	"bytes"
	"errors"
	"image"
	"image/png"
	"strings"
	"testing"

	"github.com/walletmcp/walletmcp/signer/offline"
	"github.com/walletmcp/walletmcp/signer/offline/qrscan"
)

func TestDecodeReadsWhatQRPNGDraws(t *testing.T) {
	for _, text := range []string{"ur:eth-sign-request/oladtpdagdndcawmgtfrkigrpmndutdnbtkgfssbjnaolytaadmeaxlfaoyksgjsktipkttj", "0x" + strings.Repeat("ab", 65)} {
		img, err := offline.QRPNG(text, 0)
		if err != nil {
			t.Fatal(err)
		}
		got, err := qrscan.Decode(bytes.NewReader(img))
		if err != nil {
			t.Fatal(err)
		}
		want := text
		if strings.HasPrefix(text, "ur:") {
			want = strings.ToUpper(text)
		}
		if got != want {
			t.Fatalf("decoded %q, want %q", got, want)
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	var blank bytes.Buffer
	if err := png.Encode(&blank, image.NewGray(image.Rect(0, 0, 64, 64))); err != nil {
		t.Fatal(err)
	}
	var huge bytes.Buffer
	if err := png.Encode(&huge, image.NewGray(image.Rect(0, 0, 8193, 1))); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		in   []byte
		want string
	}{
		"garbage":        {[]byte("not a png"), "not a readable image"},
		"too many bytes": {bytes.Repeat([]byte{0}, qrscan.MaxPNGBytes+1), "image over"},
		"too wide":       {huge.Bytes(), "not a readable image"},
		"no code":        {blank.Bytes(), qrscan.ErrNoQR.Error()},
	} {
		_, err := qrscan.Decode(bytes.NewReader(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", name, err, tc.want)
		}
		if name == "no code" && !errors.Is(err, qrscan.ErrNoQR) {
			t.Errorf("no code: %v is not ErrNoQR", err)
		}
	}
}
