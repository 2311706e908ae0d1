package projections

import (
	"fmt"
	"testing"
	"time"
)

// TestParseDateOnlyLikeTimeParse: the fast date parser gives time.Parse's time or error on
// every day of years around the leap rules, and on dates that are not.
func TestParseDateOnlyLikeTimeParse(t *testing.T) {
	var in []string
	for _, y := range []int{0, 1, 4, 100, 1899, 1900, 1999, 2000, 2023, 2024, 2025, 2100, 2400, 9999} {
		for m := 0; m <= 13; m++ {
			for d := 0; d <= 32; d++ {
				in = append(in, fmt.Sprintf("%04d-%02d-%02d", y, m, d))
			}
		}
	}
	in = append(in, "", "2025-5-01", "2025-05-1", "2025/05/01", "2025-05-01 ", " 2025-05-01", "+025-05-01",
		"-025-05-01", "2025-05-0a", "20a5-05-01", "2025-05-01T00:00:00Z", "25-05-01", "2025-0501", "2025--5-01")
	for _, s := range in {
		got, err := parseDateOnly(s)
		want, werr := time.Parse(time.DateOnly, s)
		if got != want || fmt.Sprint(err) != fmt.Sprint(werr) {
			t.Fatalf("parseDateOnly(%q) = %v, %v; time.Parse: %v, %v", s, got, err, want, werr)
		}
	}
}

// TestPeriodOfTimeLikeSprintf: the period of a time is written as Sprintf writes it.
func TestPeriodOfTimeLikeSprintf(t *testing.T) {
	for _, y := range []int{-1, 0, 7, 99, 999, 1900, 2025, 9999, 10000} {
		for m := time.January; m <= time.December; m++ {
			tm := time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
			if got, want := periodOfTime(tm), fmt.Sprintf("%04d-%02d", y, int(m)-(int(m)-1)%2); got != want {
				t.Fatalf("periodOfTime(%v) = %q, want %q", tm, got, want)
			}
		}
	}
}
