package projections

import (
	"fmt"
	"time"
)

// A period is a bimonthly review period named by its first month: "2025-05" is May-June 2025.

// ParseDate parses a YYYY-MM-DD date; the error wraps ErrBadDate.
func ParseDate(s string) (time.Time, error) {
	t, err := parseDateOnly(s)
	if err != nil || len(s) != len(time.DateOnly) {
		return time.Time{}, fmt.Errorf("%w: %q is not a date YYYY-MM-DD", ErrBadDate, s)
	}
	return t, nil
}

// PeriodOf returns the period that holds date (YYYY-MM-DD).
func PeriodOf(date string) (string, error) {
	t, err := ParseDate(date)
	if err != nil {
		return "", err
	}
	return periodOfTime(t), nil
}

func periodOfTime(t time.Time) string {
	m := int(t.Month())
	m -= (m - 1) % 2
	y := t.Year()
	if y < 0 || y > 9999 {
		return fmt.Sprintf("%04d-%02d", y, m)
	}
	// as Sprintf writes it, without its cost on every activity
	b := [7]byte{byte('0' + y/1000), byte('0' + y/100%10), byte('0' + y/10%10), byte('0' + y%10), '-', byte('0' + m/10), byte('0' + m%10)}
	return string(b[:])
}

// ParsePeriod checks a period and returns its first day; the error wraps ErrBadPeriod.
func ParsePeriod(p string) (time.Time, error) {
	t, err := time.Parse("2006-01", p)
	if err != nil || len(p) != 7 || int(t.Month())%2 != 1 {
		return time.Time{}, fmt.Errorf("%w: %q is not a period: write the first month of a bimonthly period, "+
			"YYYY-MM with MM one of 01, 03, 05, 07, 09, 11 (2025-05 is May-June 2025)", ErrBadPeriod, p)
	}
	return t, nil
}

// PeriodBounds returns the first and last day (YYYY-MM-DD) of a period.
func PeriodBounds(p string) (from, to string, err error) {
	t, err := ParsePeriod(p)
	if err != nil {
		return "", "", err
	}
	return t.Format(time.DateOnly), t.AddDate(0, 2, -1).Format(time.DateOnly), nil
}

// PeriodTitle is the review's title: "Counter-Terrorism Compact in Review May-June 2025".
func PeriodTitle(p string) (string, error) {
	t, err := ParsePeriod(p)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("Counter-Terrorism Compact in Review %s-%s %04d", t.Month(), t.AddDate(0, 1, 0).Month(), t.Year()), nil
}

// FirstPeriod is the first period a date YYYY-MM-DD can fall in: there is none before it.
const FirstPeriod = "0000-01"

// PreviousPeriod returns the period before p; before FirstPeriod there is none (ErrBadPeriod),
// as a year before 0000 is no YYYY.
func PreviousPeriod(p string) (string, error) {
	t, err := ParsePeriod(p)
	if err != nil {
		return "", err
	}
	if p == FirstPeriod {
		return "", fmt.Errorf("%w: %s is the first period: there is none before it", ErrBadPeriod, p)
	}
	return t.AddDate(0, -2, 0).Format("2006-01"), nil
}
