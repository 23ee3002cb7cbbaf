package offline

import (
	"fmt"
	"strings"

	qrcode "github.com/skip2/go-qrcode"
)

// MaxQRText is the longest text QRPNG encodes: an alphanumeric QR at
// level Medium holds 3,391 characters.
const MaxQRText = 3391

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
