package render

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	gmhtml "github.com/yuin/goldmark/renderer/html"
	"golang.org/x/net/html"

	"compact/ledger"
	"compact/projections"
	"compact/schemas"
)

// Every text of a review comes from events that 46 entities' systems publish: the renderers
// must show it as text, whatever it holds. These tests fill every field of a review with
// hostile strings and check the HTML page, and the Markdown once a CommonMark renderer has
// turned it into HTML, token by token.

// hostilePieces are the parts random hostile strings are made of.
var hostilePieces = []string{
	"<script>alert(1)</script>", "</script>", "</style>", "<style>", "</title>", "<!--", "-->", "<![CDATA[", "]]>",
	`"`, "'", "`", "```", "~~~", "~~del~~", "~x~", "<b>", "<img src=x onerror=alert(1)>", `" onmouseover="alert(1)`,
	"' onclick='x", "<a href=javascript:alert(1)>x</a>", "<svg onload=alert(1)>", "<http://evil.example>",
	"<mailto:x@evil.example>", "javascript:alert(1)", "data:text/html,<script>x</script>", "vbscript:msgbox(1)",
	"](javascript:alert(1))", "[x](javascript:alert(1))", "[x](http://evil.example)", "![i](http://evil.example/i.png)",
	"[x]: http://evil.example", "[^1]", "[^9]: forged", "[ ] ", "[x] ", "# ", "## ", "#", "###### h", "\n# Heading\n",
	"\n", "\r\n", "\r", "\n\n", "\n- ", "\n1. ", "- ", "-", "+ ", "* ", "1. ", "1) ", "12.", "---", "***", "___", "===",
	"\n---\n", "\n===\n", "|", "| a | b |\n| --- | --- |\n", "\\", "\\\\", "\\`", "\\|", "*em*", "_em_", "**b**", "__b__",
	"&amp;", "&lt;script&gt;", "&#106;avascript:", "&#x3C;", "&copy;", "&", ";", "<", ">", "(", ")", "[", "]", "!", ":",
	"{{.Title}}", "%3Cscript%3E", "    indented code", "\t", "  ", " ", "a", "Ω", "مرحبا", "שלום",
	"\u2028", "\u2029", "\u202e", "\u202d", "\u202a", "\u202b", "\u202c", "\u2066", "\u2067", "\u2068", "\u2069",
	"\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "😀", "👩‍👩‍👧", "🇺🇳", "\x01", "\x7f", "\u0085",
	strings.Repeat("W", 300), "www.evil.example", "x@evil.example", "@user", ":smile:",
}

// hostileURLs are link URLs: some that may be links, most that must not.
var hostileURLs = []string{
	"https://ok.example/doc", "http://ok.example/a?b=1&c=2", "https://ok.example/a)b(c", "https://ok.example/a b",
	"https://ok.example/`x`", "https://ok.example/\\", "https://ok.example/<x>", "https://ok.example/\"><script>x</script>",
	"https://ok.example/&amp;", "https://ok.example/\u202e", "https://ok.example/\n[x](javascript:alert(1))",
	"HTTPS://OK.EXAMPLE/", "mailto:someone@ok.example",
	"javascript:alert(1)", "JaVaScRiPt:alert(1)", " javascript:alert(1)", "java\tscript:alert(1)", "java\nscript:alert(1)",
	"javascript&#58;alert(1)", "data:text/html,<script>alert(1)</script>", "data:image/svg+xml;base64,PHN2Zz4=",
	"vbscript:msgbox(1)", "file:///etc/passwd", "ftp://ok.example/", "//evil.example/x", "/v1/reviews/2025-05",
	"#ref-1", "", "\x01javascript:alert(1)", "https:evil.example", "https:/\\evil.example",
}

// hostileString is one to five random pieces.
func hostileString(rng *rand.Rand) string {
	var b strings.Builder
	for range 1 + rng.IntN(5) {
		b.WriteString(hostilePieces[rng.IntN(len(hostilePieces))])
	}
	if strings.Trim(b.String(), bidiControls) == "" {
		// Stray closers alone go, and an empty chair is no chair: keep the twin's shape.
		b.WriteString("a")
	}
	return b.String()
}

// fillReview sets every text field of r that event text reaches to text(), and every link's
// URL to url(). Sections, counters and provenance keep their shape.
func fillReview(r *projections.Review, text, url func() string) {
	r.Title = text()
	r.Counters.AsOf = text()
	for i := range r.History {
		r.History[i].AsOf = text()
	}
	for si := range r.Sections {
		for ii := range r.Sections[si].Items {
			it := &r.Sections[si].Items[ii]
			it.Source, it.ID, it.Title, it.Summary, it.Dates = text(), text(), text(), text(), text()
			for li := range it.Links {
				it.Links[li] = projections.Link{URL: url(), Label: text()}
			}
			// An item with a link without a label and one whose label is in its title.
			it.Links = append(it.Links, projections.Link{URL: url()})
			it.Links = append(it.Links, projections.Link{URL: url(), Label: string([]rune(it.Title)[:len([]rune(it.Title))/2])})
		}
	}
	units := []*projections.Unit{r.Structure.CoordinationCommittee, r.Structure.Secretariat}
	for i := range r.Structure.WorkingGroups {
		units = append(units, &r.Structure.WorkingGroups[i])
	}
	for _, u := range units {
		u.Name, u.Chair, u.Description = text(), text(), text()
		u.CoChairs = []string{text(), text()}
		u.ViceChairs = []string{text()}
	}
}

// shownTexts are the texts a reader must see, whitespace aside, for r's fields.
func shownTexts(r *projections.Review) []string {
	out := []string{r.Title}
	for _, s := range r.Sections {
		for _, it := range s.Items {
			out = append(out, itemText(it), it.Dates, strings.TrimPrefix(it.Source, "/entities/")+"#"+it.ID)
			for _, l := range it.Links {
				if l.Label != "" {
					out = append(out, l.Label)
				} else {
					out = append(out, l.URL)
				}
			}
		}
	}
	// The working groups show their chairs; the committee and the secretariat their description.
	for _, u := range r.Structure.WorkingGroups {
		out = append(out, u.Name, u.Chair, strings.Join(u.CoChairs, ", "), strings.Join(u.ViceChairs, ", "))
	}
	for _, u := range []*projections.Unit{r.Structure.CoordinationCommittee, r.Structure.Secretariat} {
		out = append(out, u.Name, u.Chair, u.Description)
	}
	return out
}

// bidiControls are the explicit directional formatting characters.
const bidiControls = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"

var spaceRun = regexp.MustCompile(`[ \t\r\n]+`)

// normText is how a text is compared: directional controls aside (their balance is checked
// apart), any run of spaces and line ends as one space, ends trimmed.
func normText(s string) string {
	s = strings.Map(func(r rune) rune {
		if strings.ContainsRune(bidiControls, r) {
			return -1
		}
		return r
	}, s)
	return strings.TrimSpace(spaceRun.ReplaceAllString(s, " "))
}

// bidiBalanced says whether every embedding, override and isolate s opens is closed in s, in
// order, and nothing closes what s did not open: its direction cannot leak past it.
func bidiBalanced(s string) bool {
	var stack []rune
	for _, r := range s {
		switch r {
		case '\u202a', '\u202b', '\u202d', '\u202e':
			stack = append(stack, 'E')
		case '\u2066', '\u2067', '\u2068':
			stack = append(stack, 'I')
		case '\u202c', '\u2069':
			want := 'E'
			if r == '\u2069' {
				want = 'I'
			}
			if len(stack) == 0 || stack[len(stack)-1] != want {
				return false
			}
			stack = stack[:len(stack)-1]
		}
	}
	return len(stack) == 0
}

// page is what the tokenizer found in an HTML document.
type tokens struct {
	tags  []string        // start and end tags in order, "a" left out (links are checked apart)
	attrs map[string]bool // "tag attr" pairs
	hrefs []string
	text  string // all text but the style sheet's, concatenated
	parts []string
}

func tokenize(t *testing.T, doc string) tokens {
	t.Helper()
	tk := tokens{attrs: map[string]bool{}}
	z := html.NewTokenizer(strings.NewReader(doc))
	var text strings.Builder
	inStyle := false
	for {
		switch z.Next() {
		case html.ErrorToken:
			tk.text = text.String()
			return tk
		case html.TextToken:
			if !inStyle {
				s := string(z.Text())
				text.WriteString(s)
				tk.parts = append(tk.parts, s)
			}
		case html.StartTagToken, html.SelfClosingTagToken, html.EndTagToken:
			tok := z.Token()
			inStyle = tok.Type == html.StartTagToken && tok.Data == "style"
			if tok.Data != "a" {
				prefix := ""
				if tok.Type == html.EndTagToken {
					prefix = "/"
				}
				tk.tags = append(tk.tags, prefix+tok.Data)
			}
			for _, a := range tok.Attr {
				tk.attrs[tok.Data+" "+a.Key] = true
				tk.parts = append(tk.parts, a.Val)
				if a.Key == "href" {
					tk.hrefs = append(tk.hrefs, a.Val)
				}
			}
		}
	}
}

// ownAnchor are the in-page links the renderers write: items, references, footnotes.
var ownAnchor = regexp.MustCompile(`^#(item-\d+|ref-\d+|fn:\d+|fnref:\d+)$`)

// liveScheme says whether href is one of the links a page may hold.
func liveScheme(href string) bool {
	l := strings.ToLower(href)
	return ownAnchor.MatchString(href) || strings.HasPrefix(l, "https://") || strings.HasPrefix(l, "http://") ||
		strings.HasPrefix(l, "mailto:")
}

// markdownHTML turns Markdown into HTML as GitHub's CommonMark would (tables, strikethrough,
// task lists, footnotes) with raw HTML let through, so that any that got in shows.
func markdownHTML(t *testing.T, md []byte) string {
	t.Helper()
	gm := goldmark.New(
		goldmark.WithExtensions(extension.Table, extension.Strikethrough, extension.TaskList, extension.Footnote),
		goldmark.WithRendererOptions(gmhtml.WithUnsafe()),
	)
	var b bytes.Buffer
	if err := gm.Convert(md, &b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// renderBoth returns the HTML page and the Markdown turned into HTML.
func renderBoth(t *testing.T, r *projections.Review) (page, md string) {
	t.Helper()
	var m bytes.Buffer
	if err := Markdown(&m, r); err != nil {
		t.Fatal(err)
	}
	return renderHTML(t, r), markdownHTML(t, m.Bytes())
}

// checkHostile renders r (filled with hostile text) and its twin (the same review with plain
// text) and checks both outputs: the same elements in the same order (links aside), no
// attribute the plain one has not, links only to http, https, mailto or the page's own
// anchors, every field's text shown as text, and directional controls that end where their
// field ends.
func checkHostile(t *testing.T, r, twin *projections.Review) {
	t.Helper()
	page, md := renderBoth(t, r)
	twinPage, twinMD := renderBoth(t, twin)
	samplePage, sampleMD := renderBoth(t, sampleReview())
	for _, c := range []struct {
		name, out, twin, sample string
	}{{"html", page, twinPage, samplePage}, {"markdown", md, twinMD, sampleMD}} {
		got, want, sample := tokenize(t, c.out), tokenize(t, c.twin), tokenize(t, c.sample)
		if !slices.Equal(got.tags, want.tags) {
			i := 0
			for i < min(len(got.tags), len(want.tags)) && got.tags[i] == want.tags[i] {
				i++
			}
			t.Errorf("%s: the elements differ from plain text's at tag %d: got %q, want %q\n--- output ---\n%s", c.name, i,
				got.tags[i:min(i+6, len(got.tags))], want.tags[i:min(i+6, len(want.tags))], c.out)
			return
		}
		for a := range got.attrs {
			if !want.attrs[a] && !sample.attrs[a] {
				t.Errorf("%s: attribute %q, which the renderer never writes", c.name, a)
			}
		}
		for _, h := range got.hrefs {
			if !liveScheme(h) {
				t.Errorf("%s: a link to %q", c.name, h)
			}
		}
		text := normText(got.text)
		for _, s := range shownTexts(r) {
			if n := normText(s); !strings.Contains(text, n) {
				t.Errorf("%s: %q is not shown as text\n--- output ---\n%s", c.name, n, c.out)
				return
			}
		}
		for _, p := range got.parts {
			if !bidiBalanced(p) {
				t.Errorf("%s: %q leaves a direction open or closes one it did not open", c.name, p)
			}
		}
	}
	for _, bad := range []string{"<script", "<iframe", "<object", "<embed", "<img"} {
		if strings.Contains(strings.ToLower(page), bad) {
			t.Errorf("html: page contains %q", bad)
		}
	}
}

// hostileCase is a hostile review and its plain twin, from one seed.
func hostileCase(seed uint64) (r, twin *projections.Review) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	r, twin = sampleReview(), sampleReview()
	fillReview(r, func() string { return hostileString(rng) }, func() string { return hostileURLs[rng.IntN(len(hostileURLs))] })
	fillReview(twin, func() string { return "plain" }, func() string { return "https://ok.example/doc" })
	return r, twin
}

// TestRenderHostileText is the property: random hostile strings in every field, 300 reviews.
func TestRenderHostileText(t *testing.T) {
	for seed := range uint64(300) {
		r, twin := hostileCase(seed)
		checkHostile(t, r, twin)
		if t.Failed() {
			t.Fatalf("seed %d", seed)
		}
	}
}

// FuzzRenderHostileText puts the fuzzer's strings in every field.
func FuzzRenderHostileText(f *testing.F) {
	for _, p := range hostilePieces {
		f.Add(p, "https://ok.example/doc")
	}
	for _, u := range hostileURLs {
		f.Add("x", u)
	}
	f.Fuzz(func(t *testing.T, s, u string) {
		if strings.ContainsRune(s, 0) || strings.ContainsRune(u, 0) || !utf8.ValidString(s) || !utf8.ValidString(u) {
			return // the ledger refuses NUL and invalid UTF-8 (ledger.TestFastDecode…)
		}
		r, twin := sampleReview(), sampleReview()
		i := 0
		fillReview(r, func() string { i++; return s + string(rune('a'+i%26)) }, func() string { return u })
		fillReview(twin, func() string { return "plain" }, func() string { return "https://ok.example/doc" })
		checkHostile(t, r, twin)
	})
}

// TestJSONHostileText: the JSON holds every hostile string exactly, with no raw U+2028/2029.
func TestJSONHostileText(t *testing.T) {
	for seed := range uint64(50) {
		r, _ := hostileCase(seed)
		var b bytes.Buffer
		if err := JSON(&b, r); err != nil {
			t.Fatal(err)
		}
		if strings.ContainsAny(b.String(), "\u2028\u2029") {
			t.Fatalf("seed %d: raw U+2028/2029 in the JSON", seed)
		}
		var back projections.Review
		if err := json.Unmarshal(b.Bytes(), &back); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if !reflect.DeepEqual(&back, r) {
			t.Fatalf("seed %d: the JSON does not read back as the review", seed)
		}
	}
}

// TestServedHostileReview: served, a hostile review's page comes with its media type and
// charset, nosniff, and the CSP that blocks every script, plugin, base, form and framing.
func TestServedHostileReview(t *testing.T) {
	r, _ := hostileCase(7)
	srv := newServer(t, &memSource{reviews: map[string]*projections.Review{"2025-05": r}}, nil)
	for _, c := range []struct{ path, ctype string }{
		{"/reviews/2025-05", "text/html; charset=utf-8"},
		{"/v1/reviews/2025-05?format=html", "text/html; charset=utf-8"},
		{"/v1/reviews/2025-05?format=md", "text/markdown; charset=utf-8"},
		{"/v1/reviews/2025-05", "application/json"},
		{"/", "text/html; charset=utf-8"},
		{"/reviews/2025-04", "text/html; charset=utf-8"},
		{"/reviews/%3Cscript%3E", "text/html; charset=utf-8"},
		{"/v1/reviews/2025-04", "application/json"},
	} {
		res := get(t, srv.URL+c.path, nil)
		if got := res.header.Get("Content-Type"); got != c.ctype {
			t.Errorf("%s: Content-Type %q, want %q", c.path, got, c.ctype)
		}
		if got := res.header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options %q", c.path, got)
		}
		if !strings.HasPrefix(c.ctype, "text/html") {
			continue
		}
		csp := res.header.Get("Content-Security-Policy")
		for _, d := range []string{"default-src 'none'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, d) {
				t.Errorf("%s: the CSP %q lacks %q", c.path, csp, d)
			}
		}
		if strings.Contains(csp, "script-src") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: the CSP %q lets a script in", c.path, csp)
		}
		for _, tag := range []string{"<script", "<iframe", "<object", "<embed", "<img", "<base", "<form", "<meta http-equiv"} {
			if strings.Contains(strings.ToLower(res.body), tag) {
				t.Errorf("%s: the page holds %q", c.path, tag)
			}
		}
	}
}

// TestLedgerGate: what the ledger refuses (NUL, a link that is not http or https) and what it
// lets through to the renderers (markup, directional overrides, any other Unicode), checked
// on the real decoder with a valid example event.
func TestLedgerGate(t *testing.T) {
	base, err := os.ReadFile(filepath.Join("..", "..", "schemas", "examples", "valid", "compact.meeting.held.civil-society.json"))
	if err != nil {
		t.Fatal(err)
	}
	p := ledger.Principal{Entity: "CTED", Role: ledger.RolePublisher}
	const title, link = `"CTED and the GCSP organized`, `"https://www.un.org/securitycouncil/ctc/"`
	for _, c := range []struct {
		from, to string
		refused  bool
	}{
		{title, `"a \u0000 NUL`, true},
		{link, `"javascript:alert(1)"`, true},
		{link, `"data:text/html,x"`, true},
		{link, `"//evil.example/x"`, true},
		{link, `"https://ok.example/a b"`, true},
		{title, `"<script>alert(1)</script> ](javascript:alert(1)) # | `, false},
		{title, `"\u202e reversed \u2066 \u200b \ufeff \u2028 😀 \u0001`, false},
		{link, `"https://ok.example/\u202e\"><script>"`, false},
	} {
		ev := strings.Replace(string(base), c.from, c.to, 1)
		if ev == string(base) {
			t.Fatalf("%s not in the example", c.from)
		}
		_, fe := ledger.Decode([]byte(ev), p, schemas.Default())
		if (fe != nil) != c.refused {
			t.Errorf("%s: refused %v (%v), want %v", c.to, fe != nil, fe, c.refused)
		}
	}
}
