package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"compact/projections"
)

func renderHTML(t *testing.T, r *projections.Review) string {
	t.Helper()
	var b bytes.Buffer
	if err := HTML(&b, r); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

var (
	hrefRE = regexp.MustCompile(`(?i)\bhref\s*=\s*"([^"]*)"`)
	srcRE  = regexp.MustCompile(`(?i)\b(src|srcset|data|poster|action|xlink:href)\s*=`)
)

// itemLinks are the URLs of the review's items, the only external references a page may hold.
func itemLinks(r *projections.Review) []string {
	var out []string
	for _, s := range r.Sections {
		for _, it := range s.Items {
			for _, l := range it.Links {
				out = append(out, l.URL)
			}
		}
	}
	return out
}

func TestHTML(t *testing.T) {
	evil := sampleReview()
	evil.Sections[0].Items[0].Title = `Workshop <script>alert("x")</script> & "quotes" <img src=x onerror=alert(1)>`
	evil.Sections[0].Items[0].Links = []projections.Link{{URL: "javascript:alert(1)", Label: "Workshop"}}
	evil.Structure.WorkingGroups[0].Name = "<b>bold</b> group"
	evil.Provenance.CheckpointRoot = `"><script>x</script>`
	flat := sampleReview()
	flat.History = flat.History[len(flat.History)-1:]

	tests := []struct {
		name    string
		review  *projections.Review
		want    []string
		notWant []string
		svgs    int
	}{
		{
			name:   "seed-like review",
			review: sampleReview(),
			svgs:   len(projections.CounterNames),
			want: []string{
				"<title>Counter-Terrorism Compact in Review May-June 2025</title>",
				"@media print",
				`<h2 id="numbers">Counter-Terrorism Compact in numbers</h2>`,
				"As of 30 June 2025; charts show Jul-Aug 2024 to May-Jun 2025.",
				`<span class="value">1,050</span><span class="label">Total focal points</span>`,
				"<title>Total focal points over the last six periods: Jul-Aug 2024: 916; Sep-Oct 2024: 941;",
				`<span class="value">407,000</span><span class="label">Virtual visits to the CT Platform</span>`,
				"<h2>Leadership, coordination, coherence</h2>",
				`<h3 id="s-leadership.high_level_events">Key high-level events</h3>`,
				// The label that occurs in the title is the link, as the seed underlines it.
				`held a <a href="https://www.un.org/en/hate-speech/events/high-level-event">high-level event</a> on Hate Speech`,
				`<span class="dates">(16-18 June)</span>`,
				`<sup class="ref"><a href="#ref-2" title="Source event">2</a></sup>`,
				"<h2>Engagement with Member States</h2>",
				`<span class="dates">(16-18 June)</span>`, // Hungary: dates from FormatDates
				`<a href="https://unidir.org/publication/space-security-ai">Space Security</a> in the Age`,
				`<a class="more" href="https://unidir.org/files/space-security-ai.pdf">Full report (PDF)</a>`,
				`<h2 id="structure">Counter-Terrorism Compact structure</h2>`,
				"<caption>Four Compact working groups under three pillars</caption>",
				`<th scope="rowgroup" rowspan="2">Pillar II</th><td>Border management`,
				"<td>INTERPOL, UNODC</td>",
				"<h3>Counter-Terrorism Compact Coordination Committee</h3>",
				"<p>Chair: UNOCT</p>",
				"UNOCT&#39;s Policy, Knowledge Management and Coordination Branch (PKMCB).",
				`<li id="ref-4"><a href="#item-4" title="Back to the item">↑</a> <code>UNODC#2025-05-nga-technical-support@1940, corrected @1975</code></li>`,
				"Built from ledger sequence 1 to 1977 (review version 52, view version 1). Latest signed checkpoint: tree size 1977, root q1x0aY3Zb&#43;8n2m/9Kc7d4Q5r6s0tUvWxYzAbCdEfGhI=.",
			},
			notWant: []string{"Compact working groups meetings", "Regional focus", "No activities"},
		},
		{
			name:   "event text is escaped",
			review: evil,
			svgs:   len(projections.CounterNames),
			want: []string{
				// A javascript: URL is no link: its label stays text.
				`<li id="item-1">Workshop &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#34;quotes&#34; &lt;img src=x onerror=alert(1)&gt;`,
				"&lt;b&gt;bold&lt;/b&gt; group",
				"root &#34;&gt;&lt;script&gt;x&lt;/script&gt;.",
			},
			notWant: []string{"<script", "<img", "<b>bold", "javascript:", "ZgotmplZ"},
		},
		{
			name:    "no history, no chart",
			review:  flat,
			svgs:    0,
			notWant: []string{"charts show"},
		},
		{
			name:   "empty period",
			review: emptyReview(),
			svgs:   0,
			want: []string{
				"<title>Counter-Terrorism Compact in Review July-August 2025</title>",
				"No activities have been published for this period yet.",
				"Built from an empty ledger (review version 0, view version 0). No signed checkpoint covers it yet.",
			},
			notWant: []string{"<table", "Sources: the events cited"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := renderHTML(t, tt.review)
			rest := out
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Errorf("missing (or out of order): %q", w)
					continue
				}
				rest = rest[i+len(w):]
			}
			for _, w := range tt.notWant {
				if strings.Contains(out, w) {
					t.Errorf("unexpected %q", w)
				}
			}
			if got := strings.Count(out, "<svg "); got != tt.svgs {
				t.Errorf("%d charts, want %d", got, tt.svgs)
			}
			if t.Failed() {
				t.Logf("--- output ---\n%s", out)
			}
		})
	}
}

// TestHTMLIsSelfContained: no script, no external asset, and the only links out are the items'.
func TestHTMLIsSelfContained(t *testing.T) {
	for _, r := range []*projections.Review{sampleReview(), emptyReview()} {
		out := renderHTML(t, r)
		lower := strings.ToLower(out)
		for _, bad := range []string{"<script", "<link", "<iframe", "<object", "<embed", "<img", "@import", "url(", "http-equiv", "xmlns"} {
			if strings.Contains(lower, bad) {
				t.Errorf("%s: page contains %q", r.Period, bad)
			}
		}
		if m := srcRE.FindString(out); m != "" {
			t.Errorf("%s: page loads something: %q", r.Period, m)
		}
		allowed := itemLinks(r)
		for _, m := range hrefRE.FindAllStringSubmatch(out, -1) {
			href := m[1]
			if strings.HasPrefix(href, "#") || slices.Contains(allowed, href) {
				continue
			}
			t.Errorf("%s: link to %q, which is neither in-page nor an item's link", r.Period, href)
		}
		if !strings.Contains(out, "@media print") || !strings.Contains(out, "@page") {
			t.Errorf("%s: no print stylesheet", r.Period)
		}
	}
}

// TestHTMLChartsFollowHistory: the charts draw the history (rising values go up the page).
func TestHTMLChartsFollowHistory(t *testing.T) {
	r := sampleReview()
	c := newChart(r.History, "focal_points", "Total focal points")
	if c == nil {
		t.Fatal("no chart for six periods")
	}
	pts := strings.Fields(c.Line)
	if len(pts) != len(r.History) {
		t.Fatalf("%d points for %d periods", len(pts), len(r.History))
	}
	var prevY float64 = 1e9
	for _, p := range pts {
		var x, y float64
		if _, err := fmtSscanf(p, &x, &y); err != nil {
			t.Fatal(err)
		}
		if y > prevY {
			t.Errorf("focal points rise but the line goes down at %s (%s)", p, c.Line)
		}
		if x < 0 || x > chartWidth || y < 0 || y > chartHeight {
			t.Errorf("point %s outside the %dx%d chart", p, chartWidth, chartHeight)
		}
		prevY = y
	}
	// A flat counter is drawn flat, not divided by zero.
	flat := newChart([]projections.Counters{{AsOf: "2025-04-30", Entities: 46}, {AsOf: "2025-06-30", Entities: 46}}, "entities", "Compact entities")
	if ys := strings.Fields(flat.Line); strings.Split(ys[0], ",")[1] != strings.Split(ys[1], ",")[1] || strings.Contains(flat.Line, "NaN") {
		t.Errorf("flat history drawn as %q", flat.Line)
	}
}

func TestJSON(t *testing.T) {
	for _, r := range []*projections.Review{sampleReview(), emptyReview()} {
		var b bytes.Buffer
		if err := JSON(&b, r); err != nil {
			t.Fatal(err)
		}
		var back projections.Review
		if err := json.Unmarshal(b.Bytes(), &back); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(&back, r) {
			t.Errorf("%s: JSON does not round-trip:\n%s", r.Period, b.String())
		}
		// Every item cites its event.
		var raw struct {
			Sections []struct {
				Items []map[string]any `json:"items"`
			} `json:"sections"`
			Provenance map[string]any `json:"provenance"`
		}
		if err := json.Unmarshal(b.Bytes(), &raw); err != nil {
			t.Fatal(err)
		}
		for _, s := range raw.Sections {
			for _, it := range s.Items {
				for _, k := range []string{"source", "id", "seq"} {
					if _, ok := it[k]; !ok {
						t.Errorf("%s: item %v has no %q", r.Period, it["id"], k)
					}
				}
			}
		}
		if _, ok := raw.Provenance["last_seq"]; !ok {
			t.Errorf("%s: no provenance", r.Period)
		}
	}
	// "&" stays readable in JSON served as application/json.
	var b bytes.Buffer
	if err := JSON(&b, sampleReview()); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), `\u0026`) {
		t.Error("JSON escapes & as \\u0026")
	}
}

func TestIndex(t *testing.T) {
	var b bytes.Buffer
	if err := Index(&b, []string{"2024-11", "2025-05", "not-a-period", "2025-01", "2025-04", "2025-05", "2024-09"}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	order := []string{"2025-05", "2025-01", "2024-11", "2024-09"}
	last := -1
	for _, p := range order {
		i := strings.Index(out, `href="/reviews/`+p+`"`)
		if i < 0 {
			t.Fatalf("no link to %s:\n%s", p, out)
		}
		if i < last {
			t.Errorf("%s is listed out of order (want newest first: %v)", p, order)
		}
		last = i
	}
	for _, want := range []string{">May-June 2025</a>", ">January-February 2025</a>", `href="/v1/reviews/2025-05?format=md"`} {
		if !strings.Contains(out, want) {
			t.Errorf("index lacks %q", want)
		}
	}
	if strings.Count(out, `href="/reviews/2025-05"`) != 1 {
		t.Error("a period listed twice is shown twice")
	}
	for _, bad := range []string{"not-a-period", "2025-04", "<script"} {
		if strings.Contains(out, bad) {
			t.Errorf("index shows %q", bad)
		}
	}
	b.Reset()
	if err := Index(&b, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "No review yet") {
		t.Error("empty index says nothing")
	}
}

// fmtSscanf parses "x,y".
func fmtSscanf(p string, x, y *float64) (int, error) {
	return fmt.Sscanf(p, "%g,%g", x, y)
}
