package offline

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	_ "image/png" // PNG decoding for DecodeQRPNG
	"io"
	"strings"

	"github.com/makiuchi-d/gozxing"
	gzqr "github.com/makiuchi-d/gozxing/qrcode"
	qrcode "github.com/skip2/go-qrcode"
)

// MaxQRText is the longest text QRPNG encodes: an alphanumeric QR at
// level Medium holds 3,391 characters.
const MaxQRText = 3391

// MaxPNGBytes bounds a PNG read by DecodeQRPNG.
const MaxPNGBytes = 4 << 20

// ErrQR is returned when an image holds no readable QR code.
var ErrQR = errors.New("offline: no QR code found")

// qrText uppercases a UR so that the QR uses the alphanumeric mode
// (bytewords and "ur:" are case-insensitive).
func qrText(text string) string {
	if len(text) >= 3 && strings.EqualFold(text[:3], "ur:") {
		return strings.ToUpper(text)
	}
	return text
}

// QRPNG returns a PNG image of a QR code (level Medium) holding text, a UR
// uppercased so that it is alphanumeric. size is the image width in
// pixels; 0 means 512.
func QRPNG(text string, size int) ([]byte, error) {
	if size == 0 {
		size = 512
	}
	if len(text) > MaxQRText {
		return nil, fmt.Errorf("offline: QR text over %d characters", MaxQRText)
	}
	return qrcode.Encode(qrText(text), qrcode.Medium, size)
}

// QRTerminal returns text as a QR code drawn with Unicode half blocks, for
// a terminal.
func QRTerminal(text string) (string, error) {
	q, err := qrcode.New(qrText(text), qrcode.Low)
	if err != nil {
		return "", fmt.Errorf("offline: qr: %w", err)
	}
	return q.ToSmallString(false), nil
}

// DecodeQRPNG reads one QR code from a PNG (or any registered image format)
// of at most MaxPNGBytes, as a clean image made by QRPNG or a screenshot of
// one (gozxing with the PURE_BARCODE hint, then without it).
func DecodeQRPNG(r io.Reader) (string, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxPNGBytes+1))
	if err != nil {
		return "", fmt.Errorf("offline: reading image: %w", err)
	}
	if len(data) > MaxPNGBytes {
		return "", fmt.Errorf("offline: image over %d bytes", MaxPNGBytes)
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil || cfg.Width > 8192 || cfg.Height > 8192 {
		return "", fmt.Errorf("offline: not a readable image")
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return "", fmt.Errorf("offline: not a readable image")
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return "", ErrQR
	}
	reader := gzqr.NewQRCodeReader()
	for _, hints := range []map[gozxing.DecodeHintType]any{
		{gozxing.DecodeHintType_PURE_BARCODE: true},
		{gozxing.DecodeHintType_TRY_HARDER: true},
	} {
		res, err := reader.Decode(bmp, hints)
		if err == nil {
			return res.GetText(), nil
		}
	}
	return "", ErrQR
}
