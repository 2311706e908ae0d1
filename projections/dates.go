package projections

import (
	"strconv"
	"time"
)

// FormatDates writes an item's dates as the review prints them:
//
//	one day                "25 June"
//	days of one month      "5-8 May"
//	days across months     "29 May-2 June"
//	month precision        "June", "May-June"
//	across years           "29 December 2025-2 January 2026", "December 2025-January 2026"
//
// The year is left out within one year because the review's title carries it. end may be empty
// (one day, or one month with precision "month"). Dates it cannot parse are returned as given,
// so a bad record still shows something rather than nothing.
func FormatDates(start, end, precision string) string {
	s, err := parseDateOnly(start)
	if err != nil {
		return start
	}
	e := s
	if end != "" {
		if e, err = parseDateOnly(end); err != nil || e.Before(s) {
			e = s
		}
	}
	// Appended by hand rather than with fmt: a build formats the dates of every activity.
	b := make([]byte, 0, 40)
	if precision == "month" {
		switch {
		case s.Year() == e.Year() && s.Month() == e.Month():
			return s.Month().String()
		case s.Year() == e.Year():
			b = append(append(append(b, s.Month().String()...), '-'), e.Month().String()...)
		default:
			b = appendMonthYear(append(appendMonthYear(b, s), '-'), e)
		}
		return string(b)
	}
	switch {
	case s.Equal(e):
		b = appendDayMonth(b, s)
	case s.Year() == e.Year() && s.Month() == e.Month():
		b = strconv.AppendInt(append(strconv.AppendInt(b, int64(s.Day()), 10), '-'), int64(e.Day()), 10)
		b = append(append(b, ' '), s.Month().String()...)
	case s.Year() == e.Year():
		b = appendDayMonth(append(appendDayMonth(b, s), '-'), e)
	default:
		b = appendDayMonthYear(append(appendDayMonthYear(b, s), '-'), e)
	}
	return string(b)
}

// appendDayMonth appends "25 June".
func appendDayMonth(b []byte, t time.Time) []byte {
	return append(append(strconv.AppendInt(b, int64(t.Day()), 10), ' '), t.Month().String()...)
}

// appendDayMonthYear appends "25 June 2025".
func appendDayMonthYear(b []byte, t time.Time) []byte {
	return appendYear(append(appendDayMonth(b, t), ' '), t.Year())
}

// appendMonthYear appends "June 2025".
func appendMonthYear(b []byte, t time.Time) []byte {
	return appendYear(append(append(b, t.Month().String()...), ' '), t.Year())
}

// appendYear appends a year as a period names it, with four digits: "0025" is not 25. (The
// dates are YYYY-MM-DD: a year has at most four.)
func appendYear(b []byte, y int) []byte {
	for d := 1000; d > 1 && y < d; d /= 10 {
		b = append(b, '0')
	}
	return strconv.AppendInt(b, int64(y), 10)
}
