package render

import (
	"testing"

	"compact/projections"
)

// TestItemText: the summary follows the title as its next sentences, and its last full stop
// gives way to the dates.
func TestItemText(t *testing.T) {
	for _, c := range []struct{ title, summary, want string }{
		{"UNOCT held a retreat", "", "UNOCT held a retreat"},
		{"UNOCT held a retreat", "It gathered 100 participants.", "UNOCT held a retreat. It gathered 100 participants"},
		{"UNOCT held a retreat.", "It gathered 100 participants", "UNOCT held a retreat. It gathered 100 participants"},
		{"Why a retreat?", " It gathered 100 participants. ", "Why a retreat? It gathered 100 participants"},
		{"UNOCT held a retreat", "   ", "UNOCT held a retreat"},
	} {
		if got := itemText(projections.Item{Title: c.title, Summary: c.summary}); got != c.want {
			t.Errorf("itemText(%q, %q) = %q, want %q", c.title, c.summary, got, c.want)
		}
	}
}
