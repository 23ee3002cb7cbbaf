package audit

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
)

// CheckpointSuffix is appended to the log's path to name its checkpoint
// file: where a keyed Log records how far it has verified the chain, so that
// the next Open verifies only the records after it.
const CheckpointSuffix = ".checkpoint"

// checkpointEvery is how many records a Log commits between two checkpoint
// writes (besides one at Open and one at Close), so that a process killed
// without Close leaves little for the next Open to verify.
const checkpointEvery = 16384

// maxCheckpointFile bounds how much of a checkpoint file is read.
const maxCheckpointFile = 1024

// checkpointDomain separates the checkpoint's MAC from the head file's,
// which is made with the same key.
const checkpointDomain = "walletmcp audit checkpoint v1\x00"

// checkpoint is the content of the checkpoint file: the state of a verified
// chain up to and including record Seq, whose line is the bytes
// [Start, End) of the log, and its MAC with the head key.
type checkpoint struct {
	Seq      uint64 `json:"seq"`
	Hash     string `json:"hash"`
	Start    int64  `json:"start"`
	End      int64  `json:"end"`
	Records  int    `json:"records"`
	KeyedSeq uint64 `json:"keyed_seq"`
	MAC      string `json:"mac"`
}

// checkpointMAC is HMAC-SHA256 with key over the domain and every field.
func checkpointMAC(key []byte, seq uint64, hash *[sha256.Size]byte, start, end int64, records int, keyedSeq uint64) [sha256.Size]byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(checkpointDomain))
	var b [8]byte
	for _, v := range []uint64{seq, uint64(start), uint64(end), uint64(records), keyedSeq} {
		binary.BigEndian.PutUint64(b[:], v)
		m.Write(b[:])
	}
	m.Write(hash[:])
	var out [sha256.Size]byte
	m.Sum(out[:0])
	return out
}

// loadCheckpoint, called by Open with the lock held and the Log at the start
// of the log, moves the Log's verified state to the checkpoint when the
// checkpoint's MAC verifies with the Log's key and the log still holds, at
// the checkpoint's offsets, the intact record the checkpoint names. Records
// before it are then not read again (Verify and `audit verify` read them
// all); the scan continues from it. Any mismatch leaves the Log at the
// start: the whole chain is verified, which finds what changed.
func (l *Log) loadCheckpoint(size int64) {
	if l.key == nil {
		return
	}
	f, err := os.Open(l.path + CheckpointSuffix)
	if err != nil {
		return
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxCheckpointFile))
	if err != nil {
		return
	}
	var cp checkpoint
	if json.Unmarshal(data, &cp) != nil {
		return
	}
	hash, ok := parseHash(cp.Hash)
	mac, err := hex.DecodeString(cp.MAC)
	if !ok || err != nil || cp.Seq == 0 || cp.Start < 0 || cp.End <= cp.Start || cp.End > size ||
		cp.End-cp.Start > maxLineSize+1 || cp.Records <= 0 || uint64(cp.Records) > cp.Seq || cp.KeyedSeq > cp.Seq {
		return
	}
	want := checkpointMAC(l.key, cp.Seq, &hash, cp.Start, cp.End, cp.Records, cp.KeyedSeq)
	if !hmac.Equal(want[:], mac) {
		return
	}
	line := make([]byte, cp.End-cp.Start)
	if _, err := l.f.ReadAt(line, cp.Start); err != nil || line[len(line)-1] != '\n' {
		return
	}
	if cp.Start > 0 {
		// The line must start a line: the byte before it ends one.
		var prev [1]byte
		if _, err := l.f.ReadAt(prev[:], cp.Start-1); err != nil || prev[0] != '\n' {
			return
		}
	}
	rec, err := parseRecord(bytes.TrimSuffix(line, []byte{'\n'}))
	if err != nil || rec.Sum != rec.Hash || rec.Seq != cp.Seq || rec.Hash != hash {
		return
	}
	l.off, l.lines, l.lastSeq, l.lastHash, l.keyedSeq = cp.End, cp.Records, cp.Seq, hash, cp.KeyedSeq
	l.lastStart = cp.Start
}

// writeCheckpoint records the Log's verified state in the checkpoint file
// (a new file renamed over the old one, so a reader sees one or the other).
// It is best effort: a missing, stale or torn checkpoint only makes the next
// Open verify more of the chain.
func (l *Log) writeCheckpoint() {
	if l.key == nil || l.lastSeq == 0 || l.off <= l.lastStart {
		return
	}
	mac := checkpointMAC(l.key, l.lastSeq, &l.lastHash, l.lastStart, l.off, l.lines, l.keyedSeq)
	data, err := json.Marshal(checkpoint{
		Seq: l.lastSeq, Hash: hex.EncodeToString(l.lastHash[:]), Start: l.lastStart, End: l.off,
		Records: l.lines, KeyedSeq: l.keyedSeq, MAC: hex.EncodeToString(mac[:]),
	})
	if err != nil {
		return
	}
	dir := filepath.Dir(l.path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(l.path)+CheckpointSuffix+".tmp*")
	if err != nil {
		return
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if werr != nil || cerr != nil || os.Rename(tmp.Name(), l.path+CheckpointSuffix) != nil {
		os.Remove(tmp.Name())
		return
	}
	l.sinceCheckpoint = 0
}
