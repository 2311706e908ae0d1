package projections

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestKeyEncoding: encoded strings sort like the strings and never collide, NULs included.
func TestKeyEncoding(t *testing.T) {
	ss := []string{"", "a", "a\x00", "a\x00b", "a\x01", "ab", "b", "\x00", "\xff"}
	sorted := slices.Clone(ss)
	slices.Sort(sorted)
	encs := make([][]byte, len(sorted))
	for i, s := range sorted {
		encs[i] = enc(s)
		if got := decodeStr(encs[i]); got != s {
			t.Errorf("decodeStr(enc(%q)) = %q", s, got)
		}
	}
	if !slices.IsSortedFunc(encs, bytes.Compare) {
		t.Error("encoded strings do not sort like the strings")
	}
	// a pair never collides with another split of the same bytes
	if bytes.Equal(enc("a\x00", "b"), enc("a", "\x00b")) {
		t.Error("enc(a\\x00, b) collides with enc(a, \\x00b)")
	}
	if !bytes.Equal(prefixEnd([]byte{1, 0xff}), []byte{2}) || prefixEnd([]byte{0xff}) != nil {
		t.Error("prefixEnd")
	}
}

type panicky struct{}

func (panicky) Name() string                  { return "panicky" }
func (panicky) Version() int                  { return 1 }
func (panicky) Apply(tx *Tx, ev *Event) error { panic("odd data") }

// TestPanicIsQuarantined: a projection that panics on odd data returns an error instead of
// crashing the process, so the runtime quarantines the event.
func TestPanicIsQuarantined(t *testing.T) {
	err := safeApply(panicky{}, nil, &Event{})
	if !errors.Is(err, ErrInvalidData) || !strings.Contains(err.Error(), "odd data") {
		t.Fatalf("safeApply of a panicking projection: %v", err)
	}
}

// TestSeenRecord: a seen record gives back the sequence and type it was made of, in its short
// form (a known type) and its long form (any other type), and reads records of the long form
// written before the short one existed.
func TestSeenRecord(t *testing.T) {
	for _, typ := range append(slices.Clone(seenTypes), "compact.", "compact.some.new_type") {
		v := encodeSeen(1<<40+7, typ)
		if got := decodeSeen(v); got != (Original{Seq: 1<<40 + 7, Type: typ}) {
			t.Errorf("decodeSeen(encodeSeen(%q)) = %+v", typ, got)
		}
		if _, known := seenCode[typ]; known != (len(v) == 9) {
			t.Errorf("%q: record of %d bytes", typ, len(v))
		}
		long := append(u64(3), typ...)
		if got := decodeSeen(long); got != (Original{Seq: 3, Type: typ}) {
			t.Errorf("decodeSeen of the long form of %q = %+v", typ, got)
		}
	}
}
