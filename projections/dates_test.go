package projections

import (
	"errors"
	"testing"
)

func TestFormatDates(t *testing.T) {
	for _, c := range []struct{ start, end, precision, want string }{
		{"2025-05-05", "2025-05-08", "", "5-8 May"},
		{"2025-06-25", "", "", "25 June"},
		{"2025-06-25", "2025-06-25", "day", "25 June"},
		{"2025-05-29", "2025-06-02", "day", "29 May-2 June"},
		{"2025-06-01", "", "month", "June"},
		{"2025-06-01", "2025-06-30", "month", "June"},
		{"2025-05-01", "2025-06-30", "month", "May-June"},
		{"2025-12-29", "2026-01-02", "", "29 December 2025-2 January 2026"},
		{"2025-12-01", "2026-01-31", "month", "December 2025-January 2026"},
		{"2025-06-10", "2025-06-01", "", "10 June"}, // end before start: the start alone
		{"not a date", "", "", "not a date"},
		// A year before 1000 is written with its four digits, as the period names it: "0025"
		// is not 25, nor 2025 with a digit lost.
		{"0999-12-29", "1000-01-02", "", "29 December 0999-2 January 1000"},
		{"0000-11-01", "0001-02-28", "month", "November 0000-February 0001"},
	} {
		if got := FormatDates(c.start, c.end, c.precision); got != c.want {
			t.Errorf("FormatDates(%q, %q, %q) = %q, want %q", c.start, c.end, c.precision, got, c.want)
		}
	}
}

func TestPeriods(t *testing.T) {
	for _, c := range []struct{ date, period string }{
		{"2025-05-01", "2025-05"}, {"2025-06-30", "2025-05"}, {"2025-07-01", "2025-07"},
		{"2025-01-15", "2025-01"}, {"2025-02-28", "2025-01"}, {"2025-12-31", "2025-11"},
	} {
		if p, err := PeriodOf(c.date); err != nil || p != c.period {
			t.Errorf("PeriodOf(%s) = %q, %v; want %s", c.date, p, err, c.period)
		}
	}
	from, to, err := PeriodBounds("2024-01")
	if err != nil || from != "2024-01-01" || to != "2024-02-29" {
		t.Errorf("PeriodBounds(2024-01) = %s %s %v", from, to, err)
	}
	if title, _ := PeriodTitle("2025-05"); title != "Counter-Terrorism Compact in Review May-June 2025" {
		t.Errorf("title %q", title)
	}
	for period, want := range map[string]string{"0000-01": "January-February 0000", "0025-05": "May-June 0025", "9999-11": "November-December 9999"} {
		if title, _ := PeriodTitle(period); title != "Counter-Terrorism Compact in Review "+want {
			t.Errorf("PeriodTitle(%s) = %q, want it to end %q", period, title, want)
		}
	}
	if p, _ := PreviousPeriod("2025-01"); p != "2024-11" {
		t.Errorf("PreviousPeriod(2025-01) = %s", p)
	}
	// the first period a date YYYY-MM-DD can be in has none before it, not "-0001-11"
	if p, err := PreviousPeriod("0000-03"); err != nil || p != FirstPeriod {
		t.Errorf("PreviousPeriod(0000-03) = %s, %v", p, err)
	}
	if p, err := PreviousPeriod(FirstPeriod); !errors.Is(err, ErrBadPeriod) {
		t.Errorf("PreviousPeriod(%s) = %q, %v; want ErrBadPeriod", FirstPeriod, p, err)
	}
	if p, err := PeriodOf("0000-01-01"); err != nil || p != FirstPeriod {
		t.Errorf("PeriodOf(0000-01-01) = %s, %v; want %s", p, err, FirstPeriod)
	}
	for _, bad := range []string{"2025-06", "2025-5", "25-05", "2025-13", ""} {
		if _, err := ParsePeriod(bad); !errors.Is(err, ErrBadPeriod) {
			t.Errorf("ParsePeriod(%q) = %v, want ErrBadPeriod", bad, err)
		}
	}
	if _, err := PeriodOf("2025-02-30"); !errors.Is(err, ErrBadDate) {
		t.Errorf("PeriodOf(2025-02-30) = %v", err)
	}
}
