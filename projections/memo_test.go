package projections

import (
	"strconv"
	"testing"
)

// TestFirstsFilter: an id is "first" at most once, whatever else was added, and at the
// filter's full size (firstsMax ids) few new ids are mistaken for seen ones. A filter past
// firstsMax, or a nil one, knows nothing.
func TestFirstsFilter(t *testing.T) {
	fs := newFirsts()
	for i := range firstsMax {
		fs.first("/entities/UNODC", "ev-"+strconv.Itoa(i))
	}
	for i := range 1000 {
		if fs.first("/entities/UNODC", "ev-"+strconv.Itoa(i*997)) {
			t.Fatalf("ev-%d reported first a second time", i*997)
		}
	}
	// fs.n has reached firstsMax only if there were no false positives at all; test the rate
	// on a filter stopped just below it.
	fs.n = firstsMax - 200_000
	fp := 0
	for i := range 100_000 {
		if !fs.first("/entities/CTED", "new-"+strconv.Itoa(i)) {
			fp++
		}
	}
	t.Logf("false positives at %d ids: %.2f%%", firstsMax, float64(fp)/1000)
	if rate := float64(fp) / 100_000; rate > 0.03 {
		t.Errorf("%.2f%% of new ids taken for seen ones at %d ids: the filter is too small or its bits are not spread", rate*100, firstsMax)
	}
	fs.n = firstsMax
	if fs.first("/entities/CTED", "never-added") {
		t.Error("a full filter said first")
	}
	var none *firsts
	if none.first("/entities/CTED", "x") {
		t.Error("a nil filter said first")
	}
}
