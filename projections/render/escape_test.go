package render

import (
	"bytes"
	"net/url"
	"regexp"
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

// markdownTraps are texts that would turn into Markdown structure if written as they are.
var markdownTraps = []string{
	"# Heading", "## x ##", "Title #", "Title ##", "- list", "+ list", "* list", "1. ordered", "1) ordered", "2025. A year",
	"---", "***", "___", "===", "- - -", "    indented code", "\tindented code", "  \t  code", "~~~", "```", "~~~\ncode",
	"~~del~~", "~del~", "&amp; &lt;b&gt; &#106;avascript: &#x3C; &copy;", "[x](javascript:alert(1))", "](javascript:alert(1))",
	"<script>alert(1)</script>", "<!-- c -->", "a | b", "|", "`code`", "\\", "\\\\", "\\`", "line\nbreak\n- item\n# heading",
	"x\n===", "x\r\n---", "> quote", "[ ] task", "[x] task", "| a | b |\n| --- | --- |\n| c | d |", "[^1]", "[^1]: forged",
	"\\# not a heading", "*em* _em_ **b**", "<http://evil.example>", "![i](http://evil.example/i.png)",
	"trailing backslash \\", "  leading spaces", "\n\n- after a blank line",
}

// TestMarkdownShowsTextAsText: each trap, as an item's title and dates, a review's title, a
// working group's name and chair, the committee's name and description, renders once
// through a CommonMark renderer with the same elements as plain text and shows the text.
func TestMarkdownShowsTextAsText(t *testing.T) {
	for _, trap := range markdownTraps {
		set := func(r *projections.Review, s string) {
			r.Title = s
			r.Sections[0].Items[0].Title, r.Sections[0].Items[0].Dates = s, s
			r.Sections[0].Items[1].Title = s + " high-level event"
			wg := &r.Structure.WorkingGroups[0]
			wg.Name, wg.Chair = s, s
			r.Structure.CoordinationCommittee.Name, r.Structure.CoordinationCommittee.Description = s, s
			r.Structure.Secretariat.Description = s
		}
		r, twin := sampleReview(), sampleReview()
		set(r, trap)
		set(twin, "plain")
		t.Run(trap, func(t *testing.T) { checkHostile(t, r, twin) })
	}
}

// TestMarkdownLinkDestinations: a link's URL stays whole inside its parentheses.
func TestMarkdownLinkDestinations(t *testing.T) {
	for _, u := range []string{"https://ok.example/a\\", "https://ok.example/`x`y`", "https://ok.example/a)b(c",
		"https://ok.example/<x>", "https://ok.example/a\"b", "https://ok.example/a*b*_c_"} {
		r := sampleReview()
		r.Sections[0].Items[0].Links = []projections.Link{{URL: u, Label: "x`y"}, {URL: u, Label: "second"}}
		_, md := renderBoth(t, r)
		var hrefs []string
		for _, h := range tokenize(t, md).hrefs {
			if !strings.HasPrefix(h, "#") {
				hrefs = append(hrefs, h)
			}
		}
		want, _ := url.PathUnescape(u)
		var got []string
		for _, h := range hrefs {
			g, _ := url.PathUnescape(h)
			got = append(got, g)
		}
		if len(got) < 2 || got[0] != want || got[1] != want {
			t.Errorf("URL %q: the links go to %q", u, got)
		}
	}
	// An entity reference in a URL is escaped as CommonMark says (goldmark decodes it anyway,
	// unlike cmark and GitHub: it cannot serve as the check here).
	r := sampleReview()
	r.Sections[0].Items[0].Links = []projections.Link{{URL: "https://ok.example/?a=1&amp;b=2", Label: "x"}}
	var b bytes.Buffer
	if err := Markdown(&b, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "[x](https://ok.example/?a=1\\&amp;b=2)") {
		t.Errorf("the entity reference in the URL is not escaped:\n%s", b.String())
	}
}

// TestBidiControlsEndWithTheirText: a directional override, embedding or isolate that an
// event's text opens ends with that text, so that it cannot reverse what follows (the dates,
// the citation, the next cell); closers with nothing to close go.
func TestBidiControlsEndWithTheirText(t *testing.T) {
	for _, trap := range []string{"\u202eevil", "x\u202bright to left", "\u2067isolate", "\u2068first strong",
		"stray \u202c\u2069 closers", "\u2066a\u202bb\u2069c", "\u202e\u202e\u2067\u202a", "balanced \u2067x\u2069 and \u202ey\u202c"} {
		set := func(r *projections.Review, s string) {
			r.Title = s
			for si := range r.Sections {
				for ii := range r.Sections[si].Items {
					it := &r.Sections[si].Items[ii]
					it.Title, it.Dates, it.ID = s+" high-level event", s, s
					for li := range it.Links {
						it.Links[li].Label = s
					}
				}
			}
			for i := range r.History {
				r.History[i].AsOf = s
			}
			wg := &r.Structure.WorkingGroups[0]
			wg.Name, wg.Chair, wg.CoChairs, wg.ViceChairs = s, s, []string{s, s}, []string{s}
			r.Structure.CoordinationCommittee.Name, r.Structure.CoordinationCommittee.Description = s, s
		}
		r, twin := sampleReview(), sampleReview()
		set(r, trap)
		set(twin, "plain")
		t.Run(trap, func(t *testing.T) {
			checkHostile(t, r, twin)
			var b bytes.Buffer
			if err := Markdown(&b, r); err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(b.String(), "\n") {
				if !bidiBalanced(line) {
					t.Errorf("markdown line %q leaves a direction open", line)
				}
			}
		})
	}
	if got := closeBidi("\u2066a\u202bb\u2069c\u202e"); got != "\u2066a\u202bb\u202c\u2069c\u202e\u202c" {
		t.Errorf("closeBidi: %q", got)
	}
}

// TestHTMLWrapsLongWords: a word longer than the page (a URL, a run of letters without a
// space) wraps instead of widening the page past its column or the table past its width.
func TestHTMLWrapsLongWords(t *testing.T) {
	r := sampleReview()
	long := strings.Repeat("W", 400)
	r.Sections[0].Items[0].Title = long
	r.Structure.WorkingGroups[0].Name = long
	out := renderHTML(t, r)
	if !strings.Contains(out, long) {
		t.Fatal("the long word is not on the page")
	}
	rule := regexp.MustCompile(`(?m)^main \{[^}]*\}`).FindString(out)
	if !strings.Contains(rule, "overflow-wrap: anywhere") {
		t.Errorf("the page's column does not wrap long words: %q", rule)
	}
}
