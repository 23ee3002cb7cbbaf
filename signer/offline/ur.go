package offline

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/fxamacker/cbor/v2"
)

// Errors returned by the UR layer. Callers branch on them with errors.Is.
var (
	// ErrUR is returned for text that is not a well-formed UR.
	ErrUR = errors.New("offline: invalid UR")
	// ErrURType is returned when a UR's type is not the one expected, or
	// when the parts of a multi-part UR name different types.
	ErrURType = errors.New("offline: unexpected UR type")
	// ErrTooLarge is returned when a UR exceeds one of the decoder's Limits.
	ErrTooLarge = errors.New("offline: UR exceeds a limit")
	// ErrIncomplete is returned by Result before every part has arrived.
	ErrIncomplete = errors.New("offline: UR incomplete")
)

func errPart(why string) error { return fmt.Errorf("%w: multi-part: %s", ErrUR, why) }

// Defaults of Limits (see its fields).
const (
	DefaultMaxURLen      = 8192
	DefaultMaxMessageLen = 64 << 10
	DefaultMaxFragments  = 256
	DefaultMaxParts      = 2048
	DefaultMaxMixedParts = 512
)

// MinFragmentLen is the reference encoder's minimum fragment length in
// bytes; EncodeUR refuses a smaller maxFragmentLen.
const MinFragmentLen = 10

// DefaultMaxFragmentLen is a good maxFragmentLen for QR codes: a part is
// then at most about 850 characters, far below MaxQRText, so each QR code
// stays coarse enough for a camera to read from a screen.
const DefaultMaxFragmentLen = 400

// Limits bounds a URDecoder. Nil or zero fields mean the defaults.
type Limits struct {
	// MaxURLen is the longest accepted part text in characters; default 8192.
	MaxURLen int
	// MaxMessageLen is the longest accepted message (the CBOR payload) in
	// bytes; default 65536.
	MaxMessageLen int
	// MaxFragments is the largest accepted fragment count (seqLen) of a
	// multi-part UR; default 256.
	MaxFragments int
	// MaxParts is how many parts Receive accepts before refusing more;
	// default 2048.
	MaxParts int
	// MaxMixedParts bounds the mixed (XOR-ed) parts held while decoding;
	// default 512 (the oldest is dropped beyond it).
	MaxMixedParts int
}

func pick(p *Limits, f func(*Limits) int, def int) int {
	if p == nil || f(p) <= 0 {
		return def
	}
	return f(p)
}
func (l *Limits) maxURLen() int {
	return pick(l, func(l *Limits) int { return l.MaxURLen }, DefaultMaxURLen)
}
func (l *Limits) maxMessage() int {
	return pick(l, func(l *Limits) int { return l.MaxMessageLen }, DefaultMaxMessageLen)
}
func (l *Limits) maxFragments() int {
	return pick(l, func(l *Limits) int { return l.MaxFragments }, DefaultMaxFragments)
}
func (l *Limits) maxParts() int {
	return pick(l, func(l *Limits) int { return l.MaxParts }, DefaultMaxParts)
}
func (l *Limits) maxMixed() int {
	return pick(l, func(l *Limits) int { return l.MaxMixedParts }, DefaultMaxMixedParts)
}

// validType reports whether t is a UR type: lowercase letters, digits and
// hyphens, not empty.
func validType(t string) bool {
	if t == "" || len(t) > 64 {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// EncodeUR encodes a CBOR payload as a UR of type urType: a single part
// "ur:<type>/<bytewords>" when the payload fits in maxFragmentLen bytes,
// otherwise the first seqLen parts of the fountain code,
// "ur:<type>/<seq>-<len>/<bytewords>", which are exactly the message's
// fragments (a reader needs all of them; more parts can be made with a
// FountainEncoder). Text is lowercase; uppercase it for alphanumeric QR.
func EncodeUR(urType string, payload []byte, maxFragmentLen int) ([]string, error) {
	if !validType(urType) {
		return nil, fmt.Errorf("%w: type", ErrUR)
	}
	if len(payload) == 0 {
		return nil, fmt.Errorf("%w: empty payload", ErrUR)
	}
	if maxFragmentLen < MinFragmentLen {
		return nil, fmt.Errorf("offline: maxFragmentLen below %d", MinFragmentLen)
	}
	if len(payload) > DefaultMaxMessageLen {
		return nil, ErrTooLarge
	}
	if len(payload) <= maxFragmentLen {
		return []string{"ur:" + urType + "/" + BytewordsEncode(payload)}, nil
	}
	e, err := NewFountainEncoder(urType, payload, maxFragmentLen)
	if err != nil {
		return nil, err
	}
	parts := make([]string, e.SeqLen())
	for i := range parts {
		parts[i] = e.NextPart()
	}
	return parts, nil
}

// FountainEncoder makes the parts of a multi-part UR, in order, without
// end: after the seqLen plain fragments come mixed ones, any seqLen-or-so
// of which usually suffice to decode (for an animated QR).
type FountainEncoder struct {
	urType string
	enc    *fountainEncoder
}

// NewFountainEncoder returns an encoder of payload as UR type urType with
// fragments of at most maxFragmentLen bytes (at least MinFragmentLen).
func NewFountainEncoder(urType string, payload []byte, maxFragmentLen int) (*FountainEncoder, error) {
	if !validType(urType) || len(payload) == 0 || maxFragmentLen < MinFragmentLen {
		return nil, fmt.Errorf("%w: encoder parameters", ErrUR)
	}
	return &FountainEncoder{urType: urType, enc: newFountainEncoder(payload, maxFragmentLen, MinFragmentLen)}, nil
}

// SeqLen returns the number of fragments of the message.
func (e *FountainEncoder) SeqLen() int { return e.enc.seqLen() }

// NextPart returns the next part's text, "ur:<type>/<seq>-<len>/<bytewords>".
func (e *FountainEncoder) NextPart() string {
	p := e.enc.nextPart()
	body, err := cbor.Marshal(p)
	if err != nil { // a fixed struct of integers and bytes always encodes
		panic("offline: encoding a fountain part: " + err.Error())
	}
	return "ur:" + e.urType + "/" + strconv.FormatUint(uint64(p.SeqNum), 10) + "-" +
		strconv.FormatUint(uint64(p.SeqLen), 10) + "/" + BytewordsEncode(body)
}

// URDecoder assembles a UR from its parts, single or multi-part, in any
// order and with repeats (as scanned from an animated QR). It is bounded
// by its Limits. The zero value is not usable: use NewURDecoder.
type URDecoder struct {
	lim      *Limits
	urType   string
	parts    int
	single   []byte
	fountain fountainDecoder
}

// NewURDecoder returns a decoder bounded by lim (nil means the defaults).
func NewURDecoder(lim *Limits) *URDecoder {
	return &URDecoder{lim: lim}
}

// Receive adds one part (either case, surrounding space ignored). A part
// of another type than the first, a malformed part, or one over a limit is
// refused with an error and leaves the decoder as it was. Parts received
// after completion are ignored.
func (d *URDecoder) Receive(part string) error {
	if d.Complete() {
		return nil
	}
	if d.parts >= d.lim.maxParts() {
		return fmt.Errorf("%w: too many parts", ErrTooLarge)
	}
	part = strings.TrimSpace(part)
	if len(part) > d.lim.maxURLen() {
		return fmt.Errorf("%w: part length", ErrTooLarge)
	}
	urType, seq, body, err := splitUR(part)
	if err != nil {
		return err
	}
	if d.urType != "" && urType != d.urType {
		return ErrURType
	}
	payload, err := BytewordsDecode(body, d.lim.maxURLen())
	if err != nil {
		return err
	}
	if seq == "" {
		if d.fountain.started {
			return errPart("single-part UR among multi-part ones")
		}
		if len(payload) > d.lim.maxMessage() {
			return fmt.Errorf("%w: message length", ErrTooLarge)
		}
		d.urType, d.single = urType, payload
		d.parts++
		return nil
	}
	seqNum, seqLen, err := parseSeq(seq)
	if err != nil {
		return err
	}
	var p fountainPart
	if err := decMode().Unmarshal(payload, &p); err != nil {
		return fmt.Errorf("%w: multi-part: fragment CBOR", ErrUR)
	}
	if p.SeqNum != seqNum || p.SeqLen != seqLen {
		return errPart("sequence does not match its header")
	}
	if err := d.fountain.receive(p, d.lim); err != nil {
		return err
	}
	d.urType = urType
	d.parts++
	return nil
}

// Complete reports whether the whole message has been received.
func (d *URDecoder) Complete() bool { return d.single != nil || d.fountain.result != nil }

// Progress returns how many of the message's fragments are known (1 of 1
// for a single-part UR; 0 of 0 before the first part).
func (d *URDecoder) Progress() (have, total int) {
	if d.single != nil {
		return 1, 1
	}
	return len(d.fountain.simple), d.fountain.seqLen
}

// Result returns the UR type and its CBOR payload, or ErrIncomplete.
func (d *URDecoder) Result() (urType string, payload []byte, err error) {
	switch {
	case d.single != nil:
		return d.urType, d.single, nil
	case d.fountain.result != nil:
		return d.urType, d.fountain.result, nil
	}
	return "", nil, ErrIncomplete
}

// DecodeUR decodes a complete UR given as all its parts (one for a
// single-part UR) and checks its type is wantType.
func DecodeUR(wantType string, parts []string, lim *Limits) ([]byte, error) {
	d := NewURDecoder(lim)
	for _, p := range parts {
		if err := d.Receive(p); err != nil {
			return nil, err
		}
	}
	t, payload, err := d.Result()
	if err != nil {
		return nil, err
	}
	if t != wantType {
		return nil, ErrURType
	}
	return payload, nil
}

// splitUR splits "ur:type[/seq]/body", case-insensitively.
func splitUR(s string) (urType, seq, body string, err error) {
	if len(s) < 3 || !strings.EqualFold(s[:3], "ur:") {
		return "", "", "", fmt.Errorf("%w: scheme", ErrUR)
	}
	comps := strings.Split(strings.ToLower(s[3:]), "/")
	switch len(comps) {
	case 2:
		urType, body = comps[0], comps[1]
	case 3:
		urType, seq, body = comps[0], comps[1], comps[2]
	default:
		return "", "", "", fmt.Errorf("%w: path", ErrUR)
	}
	if !validType(urType) {
		return "", "", "", fmt.Errorf("%w: type", ErrUR)
	}
	return urType, seq, body, nil
}

func parseSeq(s string) (num, length uint32, err error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, fmt.Errorf("%w: sequence", ErrUR)
	}
	n, err1 := strconv.ParseUint(a, 10, 32)
	l, err2 := strconv.ParseUint(b, 10, 32)
	if err1 != nil || err2 != nil || n == 0 || l == 0 {
		return 0, 0, fmt.Errorf("%w: sequence", ErrUR)
	}
	return uint32(n), uint32(l), nil
}

// decMode is the bounded CBOR decoder every parser here uses: definite
// lengths only, no duplicate map keys, shallow nesting, small arrays and maps,
// valid UTF-8, unknown struct fields refused (input length is bounded by the caller).
func decMode() cbor.DecMode {
	dm, err := cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		MaxNestedLevels:   8,
		MaxArrayElements:  64,
		MaxMapPairs:       16,
		TagsMd:            cbor.TagsAllowed,
		IntDec:            cbor.IntDecConvertNone,
		UTF8:              cbor.UTF8RejectInvalid,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
	}.DecMode()
	if err != nil { // fixed, valid options
		panic("offline: cbor options: " + err.Error())
	}
	return dm
}
