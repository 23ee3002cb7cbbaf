// Package qrscan reads a QR code from an image (gozxing, with the
// PURE_BARCODE hint first): what an air-gapped signer (cmd/airsign) and the
// tests do with the QR codes walletmcp shows (offline.QRPNG).
//
// It is a package of its own so that walletmcp, which only draws QR codes,
// does not link the decoder: gozxing and the character-set tables it pulls
// in cost about 8 ms at every process start.
//
// # Security model
//
// The image comes from outside (a screenshot, a camera): it is at most
// MaxPNGBytes and 8192 pixels a side, and what it decodes to is text for a
// parser (offline.ParseSignRequest and the like) that bounds it again.
package qrscan

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	_ "image/png" // PNG decoding for Decode
	"io"

	"github.com/makiuchi-d/gozxing"
	gzqr "github.com/makiuchi-d/gozxing/qrcode"
)

// MaxPNGBytes bounds an image read by Decode.
const MaxPNGBytes = 4 << 20

// ErrNoQR is returned when an image holds no readable QR code.
var ErrNoQR = errors.New("qrscan: no QR code found")

// Decode reads one QR code from a PNG (or any registered image format) of
// at most MaxPNGBytes, as a clean image made by offline.QRPNG or a
// screenshot of one (gozxing with the PURE_BARCODE hint, then without it).
func Decode(r io.Reader) (string, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxPNGBytes+1))
	if err != nil {
		return "", fmt.Errorf("qrscan: reading image: %w", err)
	}
	if len(data) > MaxPNGBytes {
		return "", fmt.Errorf("qrscan: image over %d bytes", MaxPNGBytes)
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil || cfg.Width > 8192 || cfg.Height > 8192 {
		return "", errors.New("qrscan: not a readable image")
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return "", errors.New("qrscan: not a readable image")
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return "", ErrNoQR
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
	return "", ErrNoQR
}
