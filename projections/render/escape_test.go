package render

import (
	"slices"
	"strings"
	"testing"

	"compact/projections"
)

// TestOnlyWebAndMailLinksAreLive: an item's link becomes a link only for an http, https or
// mailto URL; any other (javascript:, data:, vbscript:, relative...) shows as its text, in
// the HTML page and in the Markdown once rendered.
func TestOnlyWebAndMailLinksAreLive(t *testing.T) {
	for _, u := range []string{"javascript:alert(1)", "JaVaScRiPt:alert(1)", " javascript:alert(1)", "java\tscript:alert(1)",
		"data:text/html,<script>alert(1)</script>", "vbscript:msgbox(1)", "file:///etc/passwd", "//evil.example/x",
		"/v1/reviews/2025-05", "", "https:evil.example", "https:/\\evil.example", "ftp://ok.example/"} {
		r := sampleReview()
		r.Sections[0].Items[0].Links = []projections.Link{{URL: u, Label: "Chemical Security"}, {URL: u}, {URL: u, Label: "elsewhere"}}
		page, md := renderBoth(t, r)
		for name, out := range map[string]string{"html": page, "markdown": md} {
			tk := tokenize(t, out)
			for _, h := range tk.hrefs {
				if !liveScheme(h) {
					t.Errorf("%s: URL %q gives a link to %q", name, u, h)
				}
			}
			if !strings.Contains(tk.text, "Chemical Security") || !strings.Contains(tk.text, "elsewhere") {
				t.Errorf("%s: URL %q: the labels are not shown", name, u)
			}
		}
	}
	for _, u := range []string{"https://ok.example/a", "HTTP://ok.example/", "mailto:someone@ok.example"} {
		r := sampleReview()
		r.Sections[0].Items[0].Links = []projections.Link{{URL: u, Label: "Chemical Security"}, {URL: u, Label: "elsewhere"}}
		page, md := renderBoth(t, r)
		for name, out := range map[string]string{"html": page, "markdown": md} {
			hrefs := tokenize(t, out).hrefs
			if n := len(slices.DeleteFunc(hrefs, func(h string) bool { return h != u })); n != 2 {
				t.Errorf("%s: URL %q is linked %d times, want 2", name, u, n)
			}
		}
	}
}
