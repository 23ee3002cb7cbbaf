package offline

import (
	"crypto/sha256"
	"encoding/binary"
	"math/bits"
)

// xoshiro256 is the Xoshiro256** generator as BCR-2020-005's fountain codes
// use it: seeded from SHA-256 of a byte string, the digest read as four
// big-endian 64-bit words.
type xoshiro256 struct{ s [4]uint64 }

func newXoshiro(seed []byte) *xoshiro256 {
	d := sha256.Sum256(seed)
	var x xoshiro256
	for i := range x.s {
		x.s[i] = binary.BigEndian.Uint64(d[i*8:])
	}
	return &x
}

func (x *xoshiro256) next() uint64 {
	s := &x.s
	result := bits.RotateLeft64(s[1]*5, 7) * 9
	t := s[1] << 17
	s[2] ^= s[0]
	s[3] ^= s[1]
	s[1] ^= s[2]
	s[0] ^= s[3]
	s[2] ^= t
	s[3] = bits.RotateLeft64(s[3], 45)
	return result
}

// nextDouble returns next() / 2^64 as the reference implementation does
// (a float64 division, so values may round to 1.0 only in theory).
func (x *xoshiro256) nextDouble() float64 {
	return float64(x.next()) / 18446744073709551616.0
}

// nextInt returns an integer in [low, high].
func (x *xoshiro256) nextInt(low, high int) int {
	return int(x.nextDouble()*float64(high-low+1)) + low
}

func (x *xoshiro256) nextByte() byte { return byte(x.nextInt(0, 255)) }

func (x *xoshiro256) nextData(n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = x.nextByte()
	}
	return out
}

// sampler is Vose's alias method, built exactly as the reference
// RandomSampler (index lists filled in reverse order).
type sampler struct {
	probs   []float64
	aliases []int
}

func newSampler(p []float64) *sampler {
	n := len(p)
	var sum float64
	for _, v := range p {
		sum += v
	}
	P := make([]float64, n)
	for i, v := range p {
		P[i] = v * float64(n) / sum
	}
	var S, L []int
	for i := n - 1; i >= 0; i-- {
		if P[i] < 1 {
			S = append(S, i)
		} else {
			L = append(L, i)
		}
	}
	probs := make([]float64, n)
	aliases := make([]int, n)
	for len(S) > 0 && len(L) > 0 {
		a := S[len(S)-1]
		S = S[:len(S)-1]
		g := L[len(L)-1]
		L = L[:len(L)-1]
		probs[a] = P[a]
		aliases[a] = g
		P[g] += P[a] - 1
		if P[g] < 1 {
			S = append(S, g)
		} else {
			L = append(L, g)
		}
	}
	for _, i := range L {
		probs[i] = 1
	}
	for _, i := range S {
		probs[i] = 1
	}
	return &sampler{probs: probs, aliases: aliases}
}

func (s *sampler) next(x *xoshiro256) int {
	r1, r2 := x.nextDouble(), x.nextDouble()
	i := int(float64(len(s.probs)) * r1)
	if r2 < s.probs[i] {
		return i
	}
	return s.aliases[i]
}

// degreeSampler returns the sampler of fragment degrees 1..seqLen with
// probability proportional to 1/degree.
func degreeSampler(seqLen int) *sampler {
	p := make([]float64, seqLen)
	for i := range p {
		p[i] = 1 / float64(i+1)
	}
	return newSampler(p)
}

// chooseFragments returns the (unsorted) fragment indexes mixed into part
// seqNum, as BCR-2020-005 defines: the first seqLen parts are the fragments
// themselves; later parts draw a degree and shuffle with a generator seeded
// by seqNum‖checksum. ds is degreeSampler(seqLen), passed in to be reused.
func chooseFragments(seqNum uint32, seqLen int, checksum uint32, ds *sampler) []int {
	if int64(seqNum) <= int64(seqLen) {
		return []int{int(seqNum) - 1}
	}
	var seed [8]byte
	binary.BigEndian.PutUint32(seed[:4], seqNum)
	binary.BigEndian.PutUint32(seed[4:], checksum)
	rng := newXoshiro(seed[:])
	degree := ds.next(rng) + 1
	remaining := make([]int, seqLen)
	for i := range remaining {
		remaining[i] = i
	}
	out := make([]int, 0, degree)
	for len(out) < degree {
		j := rng.nextInt(0, len(remaining)-1)
		out = append(out, remaining[j])
		remaining = append(remaining[:j], remaining[j+1:]...)
	}
	return out
}
