package render

import (
	"errors"
	"fmt"

	"compact/projections"
)

// ErrNotFound is what a Source returns (wrapped) for a period it has no review for; the
// handlers answer 404.
var ErrNotFound = errors.New("review not found")

// PeriodError says why a path's period is not a review period, and what to write instead.
type PeriodError struct {
	Period string
	// Suggest is the period that holds Period when Period is a month, else "".
	Suggest string
}

func (e *PeriodError) Error() string {
	if e.Suggest != "" {
		return fmt.Sprintf("%s is not a period start: reviews are bimonthly and named by their first month "+
			"(01, 03, 05, 07, 09 or 11); %s is in %s (%s)", e.Period, e.Period, e.Suggest, periodLabel(e.Suggest))
	}
	return fmt.Sprintf("%q is not a review period: write YYYY-MM with the first month of a bimonthly period, "+
		"one of 01, 03, 05, 07, 09, 11 (2025-05 is May-June 2025)", e.Period)
}

// Unwrap lets callers test with errors.Is(err, projections.ErrBadPeriod).
func (e *PeriodError) Unwrap() error { return projections.ErrBadPeriod }

// CheckPeriod returns nil for a review period ("2025-05"), else a *PeriodError that says what to
// write instead ("2025-04 is not a period start ... 2025-04 is in 2025-03").
func CheckPeriod(p string) error {
	if _, err := projections.ParsePeriod(p); err == nil {
		return nil
	}
	if holder, err := projections.PeriodOf(p + "-01"); err == nil && len(p) == 7 {
		return &PeriodError{Period: p, Suggest: holder}
	}
	return &PeriodError{Period: p}
}
