package projections

import "fmt"

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
	if precision == "month" {
		switch {
		case s.Year() == e.Year() && s.Month() == e.Month():
			return s.Month().String()
		case s.Year() == e.Year():
			return fmt.Sprintf("%s-%s", s.Month(), e.Month())
		default:
			return fmt.Sprintf("%s %d-%s %d", s.Month(), s.Year(), e.Month(), e.Year())
		}
	}
	switch {
	case s.Equal(e):
		return fmt.Sprintf("%d %s", s.Day(), s.Month())
	case s.Year() == e.Year() && s.Month() == e.Month():
		return fmt.Sprintf("%d-%d %s", s.Day(), e.Day(), s.Month())
	case s.Year() == e.Year():
		return fmt.Sprintf("%d %s-%d %s", s.Day(), s.Month(), e.Day(), e.Month())
	default:
		return fmt.Sprintf("%d %s %d-%d %s %d", s.Day(), s.Month(), s.Year(), e.Day(), e.Month(), e.Year())
	}
}
