package schemas

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func meeting(fields string) []byte {
	return []byte(`{"title":"UNODC held a seminar","organizers":[{"entity":"UNODC"}],"format":"seminar",` + fields + `}`)
}

// problems returns the problems Validate reports, failing the test on any other error.
func problems(t *testing.T, typ string, data []byte) []FieldError {
	t.Helper()
	err := Default().Validate(typ, data)
	if err == nil {
		return nil
	}
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("Validate(%s, %s): want nil or *ValidationError, got %T %v", typ, data, err, err)
	}
	return verr.Problems
}

// AssertFormat makes "format": "date" a real calendar check; this pins that it is on and that
// the library's idea of a date is the contract's.
func TestDates(t *testing.T) {
	for _, tc := range []struct {
		date string
		ok   bool
	}{
		{"2024-02-29", true},  // leap year
		{"2000-02-29", true},  // divisible by 400
		{"2025-12-31", true},  // last day of a year
		{"2025-02-29", false}, // not a leap year
		{"1900-02-29", false}, // divisible by 100, not 400
		{"2025-02-30", false},
		{"2025-04-31", false},
		{"2025-13-01", false},
		{"2025-00-10", false},
		{"2025-06-00", false},
		{"2025-5-1", false},
		{"2025-05-1", false},
		{"25-05-01", false},
		{"2025/05/01", false},
		{"2025-05-01T00:00:00Z", false},
		{" 2025-05-01", false},
		{"2025-05", false},
		{"", false},
	} {
		got := problems(t, "compact.meeting.held", meeting(`"start":"`+tc.date+`"`))
		if tc.ok {
			if got != nil {
				t.Errorf("%q: rejected: %v", tc.date, got)
			}
			continue
		}
		want := FieldError{Field: "/start", Message: "not a date (YYYY-MM-DD)"}
		if len(got) != 1 || got[0] != want {
			t.Errorf("%q: got %v, want exactly [%v]", tc.date, got, want)
		}
		if isDate(tc.date) {
			t.Errorf("isDate(%q) = true", tc.date)
		}
	}
}

func TestDateOrder(t *testing.T) {
	for _, tc := range []struct {
		name, typ string
		data      []byte
		want      []FieldError
	}{
		{"same day", "compact.meeting.held", meeting(`"start":"2025-06-05","end":"2025-06-05"`), nil},
		{"across a year", "compact.meeting.held", meeting(`"start":"2024-12-30","end":"2025-01-02"`), nil},
		{"end before start", "compact.meeting.held", meeting(`"start":"2025-06-05","end":"2025-06-04"`),
			[]FieldError{{"/end", "must not be before start"}}},
		{"end before start by a year", "compact.meeting.held", meeting(`"start":"2025-01-02","end":"2024-12-30"`),
			[]FieldError{{"/end", "must not be before start"}}},
		// A bad date is reported once, at its own field; the order cannot be judged then.
		{"end not a date", "compact.meeting.held", meeting(`"start":"2025-06-05","end":"2025-06-31"`),
			[]FieldError{{"/end", "not a date (YYYY-MM-DD)"}}},
		{"start not a date", "compact.meeting.held", meeting(`"start":"2025-02-30","end":"2025-01-01"`),
			[]FieldError{{"/start", "not a date (YYYY-MM-DD)"}}},
		{"end without start", "compact.meeting.held", meeting(`"end":"2025-01-01"`),
			[]FieldError{{"/start", "required"}}},
		{"to before from", "compact.platform.visits.counted", []byte(`{"from":"2025-05-01","to":"2025-04-30","count":1}`),
			[]FieldError{{"/to", "must not be before from"}}},
		{"one-day count", "compact.platform.visits.counted", []byte(`{"from":"2025-05-01","to":"2025-05-01","count":0}`), nil},
		// Other problems do not hide the order: every problem is reported at once.
		{"with other problems", "compact.training.delivered",
			[]byte(`{"title":"t","start":"2025-06-05","end":"2025-06-01","organizers":[{"entity":"UNODC"}],"format":"webinar"}`),
			[]FieldError{{"/end", "must not be before start"}, {"/format", "must be one of workshop, training, seminar, lecture, exercise, advocacy_event"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := problems(t, tc.typ, tc.data)
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}

// Only the types whose schema has both fields of a pair get the order check.
func TestSpansFollowTheSchemas(t *testing.T) {
	v := Default()
	for _, typ := range Types() {
		spans := v.spans[typ]
		activity := strings.Contains(string(mustRead(t, typ+".json")), `"start"`)
		switch {
		case typ == "compact.platform.visits.counted":
			if len(spans) != 1 || spans[0].first != "from" {
				t.Errorf("%s: spans %v, want from/to", typ, spans)
			}
		case activity:
			if len(spans) != 1 || spans[0].first != "start" {
				t.Errorf("%s: spans %v, want start/end", typ, spans)
			}
		default:
			if len(spans) != 0 {
				t.Errorf("%s: spans %v, want none", typ, spans)
			}
		}
	}
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := FS.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// isDate says what time.Parse(time.DateOnly, ·) says: every month and day of leap and common
// years, the boundaries around them, and shapes that are not dates.
func TestIsDateIsTimeParse(t *testing.T) {
	var cases []string
	for _, y := range []string{"0000", "0004", "1900", "2000", "2023", "2024", "2100", "9999"} {
		for m := 0; m <= 13; m++ {
			for d := 0; d <= 32; d++ {
				cases = append(cases, fmt.Sprintf("%s-%02d-%02d", y, m, d))
			}
		}
	}
	cases = append(cases, "", "2025-1-01", "2025-01-1", "2025/01/01", "20250-1-01", "2025-01-01 ",
		" 2025-01-01", "2025-0a-01", "+025-01-01", "-025-01-01", "2025-+1-01", "2025-01-+1", "2025-01-01Z")
	for _, s := range cases {
		_, err := time.Parse(time.DateOnly, s)
		if got, want := isDate(s), err == nil; got != want {
			t.Errorf("isDate(%q) = %v, time.Parse says %v", s, got, want)
		}
	}
}
