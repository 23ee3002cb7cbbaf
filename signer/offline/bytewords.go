package offline

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"strings"
)

// bytewordList is BCR-2020-012's 256 four-letter words, in byte order.
const bytewordList = "able acid also apex aqua arch atom aunt away axis back bald barn belt beta bias blue body brag brew bulb buzz calm cash cats chef city claw code cola cook cost crux curl cusp cyan dark data days deli dice diet door down draw drop drum dull duty each easy echo edge epic even exam exit eyes fact fair fern figs film fish fizz flap flew flux foxy free frog fuel fund gala game gear gems gift girl glow good gray grim guru gush gyro half hang hard hawk heat help high hill holy hope horn huts iced idea idle inch inky into iris iron item jade jazz join jolt jowl judo jugs jump junk jury keep keno kept keys kick kiln king kite kiwi knob lamb lava lazy leaf legs liar limp lion list logo loud love luau luck lung main many math maze memo menu meow mild mint miss monk nail navy need news next noon note numb obey oboe omit onyx open oval owls paid part peck play plus poem pool pose puff puma purr quad quiz race ramp real redo rich road rock roof ruby ruin runs rust safe saga scar sets silk skew slot soap solo song stub surf swan taco task taxi tent tied time tiny toil tomb toys trip tuna twin ugly undo unit urge user vast very veto vial vibe view visa void vows wall wand warm wasp wave waxy webs what when whiz wolf work yank yawn yell yoga yurt zaps zero zest zinc zone zoom"

// ErrBytewords is returned for bytewords text that is malformed, names no
// byteword, or whose CRC-32 does not match.
var ErrBytewords = errors.New("offline: invalid bytewords")

// minimalTable returns the 26×26 table of minimal bytewords (value+1, 0 for none).
func minimalTable() *[26 * 26]uint16 {
	var t [26 * 26]uint16
	for i := 0; i < 256; i++ {
		w := bytewordList[i*5 : i*5+4]
		t[int(w[0]-'a')*26+int(w[3]-'a')] = uint16(i + 1)
	}
	return &t
}

// BytewordsEncode returns data in BCR-2020-012 minimal style (two
// lowercase letters per byte) followed by its CRC-32 (big-endian), as used
// in UR bodies.
func BytewordsEncode(data []byte) string {
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc32.ChecksumIEEE(data))
	var b strings.Builder
	b.Grow(2 * (len(data) + 4))
	for _, p := range [][]byte{data, sum[:]} {
		for _, c := range p {
			w := bytewordList[int(c)*5 : int(c)*5+4]
			b.WriteByte(w[0])
			b.WriteByte(w[3])
		}
	}
	return b.String()
}

// BytewordsDecode decodes minimal-style bytewords (either case) and checks
// and strips the trailing CRC-32. It refuses text longer than maxLen
// characters.
func BytewordsDecode(s string, maxLen int) ([]byte, error) {
	if len(s) > maxLen || len(s)%2 != 0 || len(s) < 8 {
		return nil, ErrBytewords
	}
	t := minimalTable()
	out := make([]byte, 0, len(s)/2)
	for i := 0; i < len(s); i += 2 {
		a, b := lower(s[i]), lower(s[i+1])
		if a < 'a' || a > 'z' || b < 'a' || b > 'z' {
			return nil, ErrBytewords
		}
		v := t[int(a-'a')*26+int(b-'a')]
		if v == 0 {
			return nil, ErrBytewords
		}
		out = append(out, byte(v-1))
	}
	body, sum := out[:len(out)-4], out[len(out)-4:]
	if crc32.ChecksumIEEE(body) != binary.BigEndian.Uint32(sum) {
		return nil, ErrBytewords
	}
	return body, nil
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
