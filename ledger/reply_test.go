package ledger

import (
	"encoding/json"
	"testing"
)

// The hand-written reply is byte for byte what encoding/json writes for the same structure.
func TestReplyJSONIsEncodingJSON(t *testing.T) {
	type wireError struct {
		Field   string `json:"field"`
		Message string `json:"message"`
		Reason  string `json:"reason"`
	}
	type wireResult struct {
		ID        string     `json:"id"`
		Seq       *uint64    `json:"seq,omitempty"`
		Duplicate *bool      `json:"duplicate,omitempty"`
		Error     *wireError `json:"error,omitempty"`
	}
	type wireReply struct {
		Results []wireResult `json:"results"`
		Error   *wireError   `json:"error,omitempty"`
	}
	seq, dup := uint64(18446744073709551615), true
	no := false
	zero := uint64(0)
	odd := "a\"b\\c<d>e&f\x01g\u00e9h\u2028i\U0001F600"
	for _, c := range []struct {
		reply Reply
		want  wireReply
	}{
		{Reply{}, wireReply{}},
		{Reply{Results: []Result{}}, wireReply{Results: []wireResult{}}},
		{Reply{Error: &FieldError{Field: "/data", Message: odd, Kind: ErrTooLarge}}, wireReply{Error: &wireError{"/data", odd, "too_large"}}},
		{Reply{Results: []Result{
			{ID: "unodc-1", Seq: seq, Duplicate: true},
			{ID: odd, Seq: 0},
			{ID: "x", Seq: 7, Error: &FieldError{Field: "/data/start", Message: "not a date"}},
			{ID: "y", Error: &FieldError{Field: "/id", Message: "stored already", Kind: ErrConflict}},
		}}, wireReply{Results: []wireResult{
			{ID: "unodc-1", Seq: &seq, Duplicate: &dup},
			{ID: odd, Seq: &zero, Duplicate: &no},
			{ID: "x", Error: &wireError{"/data/start", "not a date", "invalid"}},
			{ID: "y", Error: &wireError{"/id", "stored already", "conflict"}},
		}}},
	} {
		got, err := json.Marshal(c.reply)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(c.want)
		if string(got) != string(want) {
			t.Errorf("\ngot  %s\nwant %s", got, want)
		}
	}
}
