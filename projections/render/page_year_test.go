package render

import (
	"strings"
	"testing"

	"compact/projections"
)

// TestYearsBeforeOneThousand: the renderers write a year with its four digits, as the period
// names it. The ledger takes any YYYY, and "May-June 25" or "As of 30 June 25" read as 2025.
func TestYearsBeforeOneThousand(t *testing.T) {
	r := &projections.Review{Period: "0025-05", From: "0025-05-01", To: "0025-06-30",
		Counters: projections.Counters{AsOf: "0025-06-30"},
		History:  []projections.Counters{{AsOf: "0025-04-30"}, {AsOf: "0025-06-30"}}}
	var md, html strings.Builder
	if err := Markdown(&md, r); err != nil {
		t.Fatal(err)
	}
	if err := HTML(&html, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# Counter-Terrorism Compact in Review May-June 0025", "As of 30 June 0025."} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("the Markdown lacks %q:\n%s", want, md.String())
		}
	}
	for _, want := range []string{"May-June 0025", "As of 30 June 0025", "Mar-Apr 0025 to May-Jun 0025"} {
		if !strings.Contains(html.String(), want) {
			t.Errorf("the HTML page lacks %q", want)
		}
	}
	var index strings.Builder
	if err := Index(&index, []string{"0025-05"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(index.String(), ">May-June 0025<") {
		t.Errorf("the home page lacks May-June 0025:\n%s", index.String())
	}
}
