package projections

import (
	"encoding/binary"
	"strings"
	"unsafe"
)

// Key layout of the one Pebble that holds every view (see doc.go for the picture).
//
// Meta keys start with 'm'; everything a generation of a view owns starts with its generation
// prefix 'v' 0x00 <view> 0x00 <gen, 8 bytes big-endian>, so that a rebuild writes a fresh
// generation beside the live one and dropping the old one is one DeleteRange.
const (
	metaLive     = "m\x00live\x00"     // + view → genRecord of the generation queries read
	metaBuilding = "m\x00building\x00" // + view → genRecord of a rebuild in progress
	metaNextGen  = "m\x00nextgen\x00"  // + view → 8 bytes: the last generation number handed out
	genSpace     = "v\x00"
)

// Suffixes inside a generation prefix. Only 'd' belongs to the projection; the rest is the runtime's.
const (
	subCheckpoint = 'k' // 8 bytes: last stream sequence applied
	subQCount     = 'c' // 8 bytes: quarantined events
	subQuarantine = 'q' // + seq8 → QuarantineEntry JSON
	subData       = 'd' // the projection's own keyspace
)

// genPrefix is the prefix of everything generation gen of view owns.
func genPrefix(view string, gen uint64) []byte {
	b := make([]byte, 0, len(genSpace)+len(view)+1+8)
	b = append(b, genSpace...)
	b = append(b, view...)
	b = append(b, 0)
	return binary.BigEndian.AppendUint64(b, gen)
}

// viewSpace is the prefix of every generation of a view.
func viewSpace(view string) []byte {
	return append(append([]byte(genSpace), view...), 0)
}

// sub returns prefix+c+rest in a fresh slice.
func sub(prefix []byte, c byte, rest ...[]byte) []byte {
	n := len(prefix) + 1
	for _, r := range rest {
		n += len(r)
	}
	b := make([]byte, 0, n)
	b = append(b, prefix...)
	b = append(b, c)
	for _, r := range rest {
		b = append(b, r...)
	}
	return b
}

// prefixEnd is the smallest key greater than every key that starts with p
// (nil when there is none, i.e. p is all 0xff).
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

// appendStr appends s so that the encoding sorts like s and no encoded string is a prefix of
// another: 0x00 is escaped as 0x00 0xff and the string ends with 0x00 0x01. Odd data (a NUL in
// an org name) can then never make two keys collide.
func appendStr(b []byte, s string) []byte {
	for {
		i := strings.IndexByte(s, 0)
		if i < 0 {
			break
		}
		b = append(append(b, s[:i]...), 0, 0xff)
		s = s[i+1:]
	}
	return append(append(b, s...), 0, 1)
}

// enc encodes strings with appendStr, one after the other, in one allocation unless a string
// holds a NUL.
func enc(ss ...string) []byte {
	n := 0
	for _, s := range ss {
		n += len(s) + 2
	}
	b := make([]byte, 0, n)
	for _, s := range ss {
		b = appendStr(b, s)
	}
	return b
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func getU64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// cat concatenates byte slices into a fresh slice.
func cat(parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	b := make([]byte, 0, n)
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// unsafeBytes is s as a byte slice without a copy, for a callee that only reads it and keeps
// no reference (a Pebble batch's Set copies the key).
func unsafeBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
