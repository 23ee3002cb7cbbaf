package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
)

// HeadKeySize is the size in bytes of the key of the head file's MAC
// (Options.HeadKey, VerifyWithKey).
const HeadKeySize = 32

// EventHeadKeyed is the "event" of the TypeSecurity record that the first
// writer holding the head key appends to a log whose head file has no MAC
// yet (a new log, or one written by an earlier version). From that record on,
// a head file without a MAC is refused as rewritten.
const EventHeadKeyed = "audit_head_keyed"

// ErrKeyRequired is returned by Open, and by a commit, when the head file has
// a MAC but the Log was opened without Options.HeadKey: writing the head
// without the key would strip its MAC.
var ErrKeyRequired = errors.New("audit: the head file is keyed: writing this log needs its key")

// errKeySize is returned for a head key of the wrong size.
var errKeySize = fmt.Errorf("audit: head key must be %d bytes", HeadKeySize)

// The values of Summary.HeadMAC.
const (
	// HeadMACVerified means the head file's MAC verified with the key: the
	// log was not cut back and its head rewritten by someone without the key.
	HeadMACVerified = "verified"
	// HeadMACUnchecked means the head file has a MAC but no key was given to
	// check it: records cut from the end with the head rewritten would not
	// have been found.
	HeadMACUnchecked = "unchecked"
	// HeadMACAbsent means the head file has no MAC and no record says the log
	// was ever keyed: it is new, or was written only by an earlier version
	// (the first keyed writer adds the MAC). Records cut from the end with
	// the head rewritten would not have been found.
	HeadMACAbsent = "absent"
)

// headKeyedInfo is the data of the EventHeadKeyed record.
type headKeyedInfo struct {
	Event    string `json:"event"`
	AfterSeq uint64 `json:"after_seq"` // the last record written under a head without a MAC
}

// headKeyedPrefix is how the data of an EventHeadKeyed record starts.
const headKeyedPrefix = `{"event":"` + EventHeadKeyed + `"`

// isHeadKeyed reports whether r is an EventHeadKeyed record.
func isHeadKeyed(r *record) bool {
	return r.Type == TypeSecurity && len(r.Data) > len(headKeyedPrefix) &&
		string(r.Data[:len(headKeyedPrefix)]) == headKeyedPrefix
}

// appendHeadPrefix appends the part of the head file that its MAC covers:
//
//	{"seq":N,"hash":"<64 hex>"
func appendHeadPrefix(dst []byte, seq uint64, sum *[sha256.Size]byte) []byte {
	dst = append(dst, `{"seq":`...)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, `,"hash":"`...)
	dst = hex.AppendEncode(dst, sum[:])
	dst = append(dst, '"')
	return dst
}

// headMAC returns the head file's MAC of record seq with hash sum:
// HMAC-SHA256 with key over the head prefix (appendHeadPrefix).
func headMAC(key []byte, seq uint64, sum *[sha256.Size]byte) [sha256.Size]byte {
	var buf [128]byte
	m := hmac.New(sha256.New, key)
	m.Write(appendHeadPrefix(buf[:0], seq, sum))
	var out [sha256.Size]byte
	m.Sum(out[:0])
	return out
}

// checkHeadAuth checks the head file h of a chain whose first EventHeadKeyed
// record is keyedSeq (0 if none). With key, a head that has a MAC must
// verify. With or without key, a head without a MAC is refused once the
// chain holds an EventHeadKeyed record: a keyed writer writes the keyed head
// before that record, so only a writer without the key leaves a head without
// a MAC after it.
func checkHeadAuth(h *headState, keyedSeq uint64, key []byte) *TamperError {
	switch {
	case h.keyed && key != nil:
		want := headMAC(key, h.seq, &h.hash)
		if !hmac.Equal(want[:], h.mac[:]) {
			return &TamperError{Kind: KindTruncated, Detail: fmt.Sprintf(
				"the head file's MAC does not verify: it was rewritten without the key (records cut from the end?); it names record %d", h.seq)}
		}
	case !h.keyed && keyedSeq != 0:
		return &TamperError{Kind: KindTruncated, Detail: fmt.Sprintf(
			"the head file has no MAC, but record %d keyed it: it was rewritten without the key (records cut from the end?); it names record %d", keyedSeq, h.seq)}
	}
	return nil
}

// headMACState is Summary.HeadMAC for a head h that passed checkHeadAuth.
func headMACState(h *headState, key []byte) string {
	switch {
	case h.keyed && key != nil:
		return HeadMACVerified
	case h.keyed:
		return HeadMACUnchecked
	}
	return HeadMACAbsent
}
