package offline

import (
	"hash/crc32"
	"slices"
)

// fountainPart is one BCR-2020-005 multi-part fragment: CBOR
// [seqNum, seqLen, messageLen, checksum, data].
type fountainPart struct {
	_          struct{} `cbor:",toarray"`
	SeqNum     uint32
	SeqLen     uint32
	MessageLen uint32
	Checksum   uint32
	Data       []byte
}

// nominalFragmentLen is the reference findNominalFragmentLength: the
// smallest fragment count whose (equal, rounded-up) fragments fit maxLen.
func nominalFragmentLen(messageLen, minLen, maxLen int) int {
	maxCount := max(messageLen/minLen, 1)
	fl := messageLen
	for count := 1; count <= maxCount; count++ {
		fl = (messageLen + count - 1) / count
		if fl <= maxLen {
			break
		}
	}
	return fl
}

// fountainEncoder yields the parts of one message, starting at seqNum 1.
type fountainEncoder struct {
	messageLen int
	checksum   uint32
	fragments  [][]byte
	seqNum     uint32
	ds         *sampler
}

func newFountainEncoder(message []byte, maxFragmentLen, minFragmentLen int) *fountainEncoder {
	fl := nominalFragmentLen(len(message), minFragmentLen, maxFragmentLen)
	var frags [][]byte
	for i := 0; i < len(message); i += fl {
		f := make([]byte, fl)
		copy(f, message[i:min(i+fl, len(message))])
		frags = append(frags, f)
	}
	return &fountainEncoder{
		messageLen: len(message),
		checksum:   crc32.ChecksumIEEE(message),
		fragments:  frags,
		ds:         degreeSampler(len(frags)),
	}
}

func (e *fountainEncoder) seqLen() int { return len(e.fragments) }

func (e *fountainEncoder) nextPart() fountainPart {
	e.seqNum++
	idx := chooseFragments(e.seqNum, len(e.fragments), e.checksum, e.ds)
	data := make([]byte, len(e.fragments[0]))
	for _, i := range idx {
		xorInto(data, e.fragments[i])
	}
	return fountainPart{
		SeqNum:     e.seqNum,
		SeqLen:     uint32(len(e.fragments)),
		MessageLen: uint32(e.messageLen),
		Checksum:   e.checksum,
		Data:       data,
	}
}

func xorInto(dst, src []byte) {
	for i := range dst {
		dst[i] ^= src[i]
	}
}

// fountainDecoder collects parts until the message is whole. Mixed parts
// are reduced by the simple ones known so far (a peeling decoder).
type fountainDecoder struct {
	seqLen, messageLen, fragmentLen int
	checksum                        uint32
	started                         bool
	ds                              *sampler
	simple                          map[int][]byte
	mixed                           []mixedPart
	result                          []byte
}

type mixedPart struct {
	idx  []int // sorted
	data []byte
}

// receive adds one part; it reports whether the part was consistent with
// the earlier ones. It returns errMultipart-wrapped reasons for a bad part.
func (d *fountainDecoder) receive(p fountainPart, lim *Limits) error {
	if d.result != nil {
		return nil
	}
	if p.SeqNum == 0 || p.SeqLen == 0 || p.MessageLen == 0 || len(p.Data) == 0 {
		return errPart("empty field")
	}
	if int64(p.SeqLen) > int64(lim.maxFragments()) {
		return errPart("too many fragments")
	}
	if int64(p.MessageLen) > int64(lim.maxMessage()) {
		return errPart("message too long")
	}
	if !d.started {
		fl := len(p.Data)
		// The fragments must cover the message, with less than one fragment of padding.
		if int64(fl)*int64(p.SeqLen) < int64(p.MessageLen) || int64(fl)*int64(p.SeqLen-1) >= int64(p.MessageLen) {
			return errPart("inconsistent lengths")
		}
		d.seqLen, d.messageLen, d.fragmentLen, d.checksum = int(p.SeqLen), int(p.MessageLen), fl, p.Checksum
		d.ds = degreeSampler(d.seqLen)
		d.simple = make(map[int][]byte)
		d.started = true
	} else if int(p.SeqLen) != d.seqLen || int(p.MessageLen) != d.messageLen || p.Checksum != d.checksum || len(p.Data) != d.fragmentLen {
		return errPart("part does not belong to this message")
	}
	idx := chooseFragments(p.SeqNum, d.seqLen, d.checksum, d.ds)
	slices.Sort(idx)
	data := slices.Clone(p.Data)
	d.add(mixedPart{idx: idx, data: data}, lim)
	if len(d.simple) == d.seqLen {
		msg := make([]byte, 0, d.seqLen*d.fragmentLen)
		for i := 0; i < d.seqLen; i++ {
			msg = append(msg, d.simple[i]...)
		}
		msg = msg[:d.messageLen]
		if crc32.ChecksumIEEE(msg) != d.checksum {
			return errPart("message checksum mismatch")
		}
		d.result = msg
		d.mixed = nil
	}
	return nil
}

// add reduces p by the known simple fragments and either records a new
// simple fragment (then reduces the mixed parts by it, repeatedly) or keeps
// p as a mixed part (bounded: the oldest is dropped beyond the limit).
func (d *fountainDecoder) add(p mixedPart, lim *Limits) {
	queue := []mixedPart{p}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		p = d.reduce(p)
		switch len(p.idx) {
		case 0:
			continue
		case 1:
			if _, ok := d.simple[p.idx[0]]; ok {
				continue
			}
			d.simple[p.idx[0]] = p.data
			var keep []mixedPart
			for _, m := range d.mixed {
				if slices.Contains(m.idx, p.idx[0]) {
					queue = append(queue, m)
				} else {
					keep = append(keep, m)
				}
			}
			d.mixed = keep
		default:
			dup := false
			for _, m := range d.mixed {
				if slices.Equal(m.idx, p.idx) {
					dup = true
					break
				}
			}
			if dup {
				continue
			}
			if len(d.mixed) >= lim.maxMixed() {
				d.mixed = d.mixed[1:]
			}
			d.mixed = append(d.mixed, p)
		}
	}
}

// reduce removes every known simple fragment from p (XOR), returning a copy.
func (d *fountainDecoder) reduce(p mixedPart) mixedPart {
	var idx []int
	data := p.data
	copied := false
	for _, i := range p.idx {
		s, ok := d.simple[i]
		if !ok {
			idx = append(idx, i)
			continue
		}
		if !copied {
			data = slices.Clone(data)
			copied = true
		}
		xorInto(data, s)
	}
	return mixedPart{idx: idx, data: data}
}
